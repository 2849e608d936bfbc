"""Renders edgeguard.yaml for every variant (each combination of front doors, with the
optional parts off and on) with cloud-radar, a CloudFormation renderer for tests, and checks
what a real account would trip over and cfn-lint cannot see:

- the rotation schedule (whose creation runs testSecret, which probes) depends on every
  resource the probes and targets reach;
- the rotation role: per mode (no deployments: no POST), UpdateWebACL on what the ACL can
  reference, GetWebACL on the distribution's web ACL when it has one;
- the private zone: associated with each peered VPC given, and holding the origin name
  when that name is under the service's;
- the header redacted from the WAF logs, access logs on both ALBs, HTTP redirected to HTTPS
  on the internal ALB;
- every alarm sends to the topic; the dashboard's body is JSON;
- the public name on exactly the front door chosen (a custom domain mapped to its stage, or
  the distribution's alias), its public record to that front door, never to the ALB;
- the secret's value (a marker stands in for every {{resolve:secretsmanager:…}}) only in
  the four places that inject or match it: never in an environment variable or an output;
  and stack-policy.json protects exactly those four and the secret;
- the stack creates on every account: the rotation function without reserved concurrency or
  a fixed name (and an alarm on its throttles), the service after every listener that
  forwards to its target groups, subnets in AZ IDs that host VPC links where a region has
  some that do not, names within their services' limits for a 120-character stack name, a
  log bucket kept on delete, the app's health check built from its port and path;
- the evidence: the sidecar's log driver in blocking mode, its metrics in the stack's own
  namespace, the rotation configuration's origins, EMF interval and the 2-minute prune;
- the REST deployment's logical id carries the digest of what it snapshots, so a changed
  method reaches the stage; the origin's name reaches it through a stage variable;
- and, for a table of typical updates, which owned resources each would modify
  (owned_changes.py), as the README says.

Usage: python check_variants.py TEMPLATE
"""

import contextlib
import hashlib
import io
import itertools
import json
import os
import sys

from cfn_tools import load_yaml
from cloud_radar.cf.unit import Template, functions

from owned_changes import OWNED, owned_changes

MARKER = "SECRET-VALUE-MARKER"
# The stack name the variants render with (cloud-radar's own unless set).
STACK = "edgeguard-checks"
# Where the value must be: the WAF rule, the REST stage variable, the HTTP API mapping, the
# CloudFront origin header.
MAY_HOLD_THE_VALUE = {"WebAcl", "OriginVerifyRule", "RestStage", "HttpIntegration", "Distribution"}
REGION = "us-east-1"

REQUIRED = {
    "DomainName": "api.example.com",
    "OriginDomainName": "origin.api.example.com",
    "CertificateArn": "arn:aws:acm:us-east-1:111111111111:certificate/service",
    "OriginCertificateArn": "arn:aws:acm:us-east-1:111111111111:certificate/origin",
    "AppImage": "app:1",
    "ProxyImage": "edgeguard-proxy:1",
    "RotationLambdaS3Bucket": "artifacts",
    # cloud-radar substitutes Number parameters as numbers, which Fn::Sub rejects.
    "DualAcceptWindowMinutes": "15",
    "AppPort": "8080",
    "LogRetentionDays": "90",
    "DesiredCount": "2",
    "ReportModeAlarmDays": "7",
}
OPTIONAL_ON = {
    "PublicHostedZoneId": "Z0000000000000000000",
    "CloudFrontCertificateArn": "arn:aws:acm:us-east-1:111111111111:certificate/cdn",
    "CloudFrontWebAclArn": "arn:aws:wafv2:us-east-1:111111111111:global/webacl/cdn/abc",
    "PeeredCidr1": "10.50.0.0/16",
    "PeerVpc1Id": "vpc-00000000000000001",
    "PeerVpc2Id": "vpc-00000000000000002",
    "PeerVpc2Region": "eu-west-1",
    # An origin name outside the service's, as OriginInServiceZone=false says.
    "OriginInServiceZone": "false",
    "OriginDomainName": "origin.example.net",
    "AlarmEmail": "oncall@example.com",
    "AppSocket": "app.sock",
    # Adoption: the sidecars in report mode, paging after three days of it.
    "ProxyMode": "report",
    "ProxyH1FastPath": "off",
    # The WAF rule and the listener rule both.
    "Acceptor": "both",
    "ReportModeAlarmDays": "3",
    # Graviton: the tasks and the function on arm64.
    "Architecture": "arm64",
    # A distribution in a central edge account, switched through its role.
    "ExternalDistributionId": "E2CENTRAL00001",
    "ExternalDistributionRoleArn": "arn:aws:iam::222222222222:role/edgeguard-origin-header",
    "ExternalDistributionExternalId": "edgeguard-workload-1",
}


class AnySecret(dict):
    """Every dynamic reference to Secrets Manager resolves to the marker."""

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return MARKER


def load(path):
    raw = load_yaml(open(path).read())
    # cloud-radar reads any "Condition" key as the condition function; a container's
    # DependsOn entry has one ("HEALTHY") that is not. Renamed here only.
    for container in raw["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]:
        for dep in container.get("DependsOn", []):
            dep["ContainerCondition"] = dep.pop("Condition")
    return json.loads(json.dumps(raw))


def render(raw, params, region=REGION, stack_name=None):
    # Fn::GetAZs would fetch the region list from the internet.
    functions.REGION_DATA = [{"code": region, "zones": [f"{region}a", f"{region}b"]}]
    # cloud-radar prints the template object while rendering: not ours to show.
    with contextlib.redirect_stdout(io.StringIO()):
        template = Template(json.loads(json.dumps(raw)), imports={}, dynamic_references={"secretsmanager": AnySecret()})
        if stack_name:
            template.StackName = stack_name
        stack = template.create_stack(params, region=region)
    # cloud-radar leaves an AWS::NoValue list element as ""; CloudFormation drops it.
    for c in stack.data["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]:
        c["Environment"] = [e for e in c.get("Environment", []) if e != ""]
    return stack.data


def statements(resources, role):
    for policy in resources[role]["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            if st:  # AWS::NoValue renders as ""
                yield st


def as_list(x):
    return x if isinstance(x, list) else [x]


def check(rendered, params, problems, name):
    res = rendered["Resources"]

    def fail(text):
        problems.append(f"{name}: {text}")

    # The rotation schedule waits for everything the rotation reaches.
    reached = {"Service", "PublicListener", "PrivateRecord", "OriginRecord", "PrivateOriginRecord",
               "RestStage", "HttpStage", "HttpRoute", "Distribution", "WebAclAssociation",
               "OriginVerifyRule"} & set(res)
    handle = res.get("RotationPrerequisites", {})
    referenced = {v for v in handle.get("Metadata", {}).values() if v}
    if not {"RotationPrerequisites", "RotationInvokePermission"} <= set(as_list(res["SecretRotation"].get("DependsOn", []))):
        fail("SecretRotation does not depend on RotationPrerequisites and RotationInvokePermission")

    # The acceptor: the WAF rule, the listener rule, or both, as Acceptor says; with the
    # listener rule, nothing reaches the proxies but through it.
    acceptor = params.get("Acceptor", "waf")
    if ("WebAcl" in res) != (acceptor in ("waf", "both")) or ("OriginVerifyRule" in res) != (acceptor in ("alb-rule", "both")):
        fail(f"Acceptor={acceptor} but the web ACL is {'in' if 'WebAcl' in res else 'out'} and the listener rule {'in' if 'OriginVerifyRule' in res else 'out'}")
    default = res["PublicListener"]["Properties"]["DefaultActions"]
    if "OriginVerifyRule" in res:
        rule = res["OriginVerifyRule"]["Properties"]
        header = [c for c in rule["Conditions"] if c["Field"] == "http-header"]
        if default != [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403", "ContentType": "text/plain", "MessageBody": "forbidden"}}]:
            fail(f"with the listener rule the listener's default must answer 403, not {default}")
        if len(header) != 1 or header[0]["HttpHeaderConfig"]["HttpHeaderName"] != "x-origin-verify" \
                or rule["Actions"] != [{"Type": "forward", "TargetGroupArn": "PublicTargetGroup"}]:
            fail(f"the listener rule does not forward to the proxies on x-origin-verify alone: {rule}")
    elif default != [{"Type": "forward", "TargetGroupArn": "PublicTargetGroup"}]:
        fail(f"without the listener rule the listener forwards to the proxies, not {default}")
    if reached - referenced:
        fail(f"the rotation schedule does not wait for {sorted(reached - referenced)}")

    # The rotation role.
    role = list(statements(res, "RotationRole"))
    for st in role:
        actions = as_list(st["Action"])
        if st["Effect"] == "Allow" and any(a in ("*", "apigateway:*", "apigateway:POST", "wafv2:*") for a in actions):
            fail(f"the rotation role allows {actions} (no deployment is needed in these modes)")
        # GetMetricData and DescribeRules have no resource-level permissions: "*" is the only
        # way to grant them.
        if st["Effect"] == "Allow" and "*" in as_list(st["Resource"]) and actions not in (["cloudwatch:GetMetricData"], ["elasticloadbalancing:DescribeRules"]):
            fail(f"the rotation role allows {actions} on every resource")
    if not any(as_list(st["Action"]) == ["cloudwatch:GetMetricData"] for st in role):
        fail("the rotation role cannot read the evidence (cloudwatch:GetMetricData)")
    if "RestApi" in res:
        rest = [st for st in role if any(str(r).startswith("arn:aws:apigateway:") and "/restapis/" in str(r) for r in as_list(st["Resource"]))]
        if [sorted(as_list(st["Action"])) for st in rest] != [["apigateway:GET", "apigateway:PATCH"]] or \
                as_list(rest[0]["Resource"]) != [f"arn:aws:apigateway:{REGION}::/restapis/RestApi/stages/prod"]:
            fail(f"REST API (stage_variable mode) grants other than GET/PATCH on the stage: {rest}")
    if "HttpApi" in res:
        patch = [st for st in role if "apigateway:PATCH" in as_list(st["Action"]) and any("/apis/" in str(r) for r in as_list(st["Resource"]))]
        if [as_list(st["Resource"]) for st in patch] != [[f"arn:aws:apigateway:{REGION}::/apis/HttpApi/integrations/HttpIntegration"]]:
            fail(f"HTTP API: PATCH beyond the one integration: {patch}")
    update_acl = {r for st in role if "wafv2:UpdateWebACL" in as_list(st["Action"]) for r in as_list(st["Resource"])}
    for kind in ("managedruleset", "rulegroup", "ipset", "regexpatternset"):
        if ("WebAcl" in res) != any(f":regional/{kind}/" in r for r in update_acl):
            fail(f"UpdateWebACL on the {kind}s a web ACL may reference: granted without one, or missing with one")
    # One architecture for the task (every container) and the function.
    arch = params.get("Architecture", "x86_64")
    platform = res["TaskDefinition"]["Properties"]["RuntimePlatform"]
    if platform != {"CpuArchitecture": {"x86_64": "X86_64", "arm64": "ARM64"}[arch], "OperatingSystemFamily": "LINUX"} \
            or res["RotationFunction"]["Properties"]["Architectures"] != [arch]:
        fail(f"Architecture={arch} but the task runs on {platform} and the function on {res['RotationFunction']['Properties']['Architectures']}")

    # AssumeRole on the configured role alone, and only when one is configured.
    assume = [as_list(st["Resource"]) for st in role if "sts:AssumeRole" in as_list(st["Action"])]
    want = [[params["ExternalDistributionRoleArn"]]] if params.get("ExternalDistributionId") else []
    if assume != want:
        fail(f"the rotation role's sts:AssumeRole is {assume}, not {want}")
    modify = [as_list(st["Resource"]) for st in role if "elasticloadbalancing:ModifyRule" in as_list(st["Action"])]
    describe = [st for st in role if "elasticloadbalancing:DescribeRules" in as_list(st["Action"])]
    if "OriginVerifyRule" in res:
        if modify != [["OriginVerifyRule"]] or len(describe) != 1:
            fail(f"the rotation role's ELB grants are not ModifyRule on the one rule and DescribeRules: {modify}")
    elif modify or describe:
        fail("the rotation role has ELB grants without a listener rule")
    cdn_acl = params.get("CloudFrontWebAclArn", "")
    get_cdn_acl = any("wafv2:GetWebACL" in as_list(st["Action"]) and cdn_acl in as_list(st["Resource"]) for st in role)
    if bool("Distribution" in res and cdn_acl) != get_cdn_acl:
        fail("wafv2:GetWebACL on the distribution's web ACL: granted without one, or missing with one")

    # DNS inside the VPC.
    vpcs = [v for v in res["PrivateZone"]["Properties"]["VPCs"] if v]
    wanted = [("Vpc", REGION)]
    for n in ("1", "2"):
        if params.get(f"PeerVpc{n}Id"):
            wanted.append((params[f"PeerVpc{n}Id"], params.get(f"PeerVpc{n}Region") or REGION))
    if [(v["VPCId"], v["VPCRegion"]) for v in vpcs] != wanted:
        fail(f"the private zone is associated with {vpcs}, not {wanted}")
    if ("PrivateOriginRecord" in res) != (params.get("OriginInServiceZone", "true") == "true"):
        fail("the private zone's record for the origin name does not follow OriginInServiceZone")
    # Inside the VPC the zone answers every name under DomainName: each such name the
    # template uses must have a record there, or it is NXDOMAIN inside and fine outside.
    zone = params["DomainName"]
    private = {r["Properties"]["Name"] for r in res.values()
               if r["Type"] == "AWS::Route53::RecordSet" and r["Properties"]["HostedZoneId"] == "PrivateZone"}
    for used in (params["DomainName"], params["OriginDomainName"]):
        if (used == zone or used.endswith("." + zone)) and used not in private:
            fail(f"{used} is under the private zone {zone} but has no record there")

    # Logs.
    if "WebAcl" in res:
        redacted = res["WafLogging"]["Properties"].get("RedactedFields") or []
        if {"SingleHeader": {"Name": "x-origin-verify"}} not in redacted:
            fail("the WAF logs do not redact x-origin-verify")
        if not res["WafLogGroup"]["Properties"]["LogGroupName"].startswith("aws-waf-logs-"):
            fail("the WAF log group's name must start with aws-waf-logs-")
    for alb in ("PublicAlb", "InternalAlb"):
        attrs = {a["Key"]: a["Value"] for a in res[alb]["Properties"]["LoadBalancerAttributes"]}
        if attrs.get("access_logs.s3.enabled") != "true":
            fail(f"{alb} has no access logs")
    redirects = [r for r in res.values() if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"
                 and r["Properties"].get("Port") == 80]
    if [r["Properties"]["LoadBalancerArn"] for r in redirects] != ["InternalAlb"] or \
            redirects[0]["Properties"]["DefaultActions"][0]["Type"] != "redirect":
        fail("port 80 must exist on the internal ALB only, as a redirect to HTTPS")

    # The public name: on the chosen front door only, and never on the ALB.
    door = params.get("PublicFrontDoor", "none")
    owners = {k for k in ("RestDomainName", "HttpDomainName") if k in res}
    if "Distribution" in res and REQUIRED["DomainName"] in as_list(res["Distribution"]["Properties"]["DistributionConfig"].get("Aliases") or []):
        owners.add("Distribution")
    expected = {"none": set(), "rest": {"RestDomainName"}, "http": {"HttpDomainName"}, "cloudfront": {"Distribution"}}[door]
    if owners != expected:
        fail(f"the public name is on {sorted(owners)}, not on the {door} front door")
    if "RestDomainName" in res and res["RestBasePathMapping"]["Properties"]["Stage"] != "RestStage":
        fail("the REST custom domain is not mapped to the stage")
    if "HttpDomainName" in res and res["HttpApiMapping"]["Properties"]["Stage"] != "HttpStage":
        fail("the HTTP API custom domain is not mapped to the stage")
    public_records = [r for r in res.values() if r["Type"] == "AWS::Route53::RecordSet"
                      and r["Properties"]["HostedZoneId"] == params.get("PublicHostedZoneId")
                      and r["Properties"]["Name"] == REQUIRED["DomainName"]]
    if params.get("PublicHostedZoneId") and door != "none" and len(public_records) != 1:
        fail(f"{len(public_records)} public records for the public name, not 1")
    for r in public_records:
        if "PublicAlb" in json.dumps(r):
            fail("the public name points at the public ALB, not at a front door")

    # The dashboard's body is JSON once substituted (CloudFormation only sees a string).
    try:
        widgets = json.loads(res["Dashboard"]["Properties"]["DashboardBody"])["widgets"]
        if not widgets:
            fail("the dashboard has no widgets")
    except (ValueError, KeyError) as e:
        fail(f"the dashboard's body is not JSON with widgets: {e}")

    # Alarms page.
    for rname, r in res.items():
        if r["Type"] == "AWS::CloudWatch::Alarm" and "AlarmTopic" not in as_list(r["Properties"].get("AlarmActions", [])):
            fail(f"alarm {rname} does not send to AlarmTopic")
    if ("AlarmEmailSubscription" in res) != bool(params.get("AlarmEmail")):
        fail("the e-mail subscription does not follow AlarmEmail")

    # The secret's value stays where it is injected or matched.
    holders = {rname for rname, r in res.items() if MARKER in json.dumps(r)}
    if holders - MAY_HOLD_THE_VALUE:
        fail(f"the secret's value reaches {sorted(holders - MAY_HOLD_THE_VALUE)}")
    if MARKER in json.dumps(rendered.get("Outputs", {})):
        fail("the secret's value is in an output")
    for c in res["TaskDefinition"]["Properties"]["ContainerDefinitions"]:
        if MARKER in json.dumps(c.get("Environment", [])):
            fail(f"the secret's value is in container {c['Name']}'s environment")

    # The app's socket: on a volume both containers mount, the sidecar read-only, at the
    # path the app is told; over loopback TCP to AppPort without one.
    containers = {c["Name"]: c for c in res["TaskDefinition"]["Properties"]["ContainerDefinitions"]}
    env_of = lambda c: {e["Name"]: e["Value"] for e in containers[c].get("Environment", [])}
    upstream = env_of("edgeguard-proxy").get("EDGEGUARD_UPSTREAM")
    socket = params.get("AppSocket")
    if socket:
        path = f"/run/app/{socket}"
        volumes = [v["Name"] for v in res["TaskDefinition"]["Properties"].get("Volumes", [])]
        mounts = {c: containers[c].get("MountPoints", []) for c in containers}
        if upstream != f"unix:{path}" or env_of("app").get("APP_SOCKET") != path:
            fail(f"the sidecar connects to {upstream}, the app is told {env_of('app').get('APP_SOCKET')}")
        for c, read_only in (("app", False), ("edgeguard-proxy", True)):
            if not any(m["SourceVolume"] in volumes and m["ContainerPath"] == "/run/app"
                       and m.get("ReadOnly", False) == read_only for m in mounts[c]):
                fail(f"container {c} does not mount the socket's volume at /run/app (read-only: {read_only})")
    else:
        if upstream != "http://127.0.0.1:8080" or res["TaskDefinition"]["Properties"].get("Volumes"):
            fail(f"without AppSocket the sidecar connects to {upstream}, with volumes")

    # The evidence: the sidecars write the namespace the rotation reads and the dashboard
    # shows (a mismatch makes every prune refuse with "no proof that the proxies report").
    emf = {}
    for c in res["TaskDefinition"]["Properties"]["ContainerDefinitions"]:
        for e in c.get("Environment", []):
            if e["Name"].startswith("EDGEGUARD_EMF"):
                emf[e["Name"]] = e["Value"]
    if emf.get("EDGEGUARD_EMF") != "stdout":
        fail("the sidecar does not write embedded metrics (EDGEGUARD_EMF=stdout)")
    namespace = emf.get("EDGEGUARD_EMF_NAMESPACE")
    try:
        sync_config = json.loads(res["RotationFunction"]["Properties"]["Environment"]["Variables"]["EDGEGUARD_SYNC_CONFIG"])
        if sync_config.get("evidence", {}).get("namespace") != namespace:
            fail(f"the rotation reads evidence from {sync_config.get('evidence')}, the sidecars write to {namespace}")
    except (ValueError, KeyError) as e:
        fail(f"the rotation configuration is not JSON: {e}")
    body = res["Dashboard"]["Properties"]["DashboardBody"]
    if "{" + f"{namespace},VersionId" + "}" not in body:
        fail(f"the dashboard does not show AcceptedRequests from {namespace}")
    # Adoption: the sidecars' mode is the parameter's; who would be refused is on the
    # dashboard per front door; a forgotten report mode pages.
    mode = env_of("edgeguard-proxy").get("EDGEGUARD_MODE")
    if mode != params.get("ProxyMode", "enforce"):
        fail(f"the sidecars run in mode {mode!r}, not ProxyMode's {params.get('ProxyMode', 'enforce')!r}")
    # The fast path's switch is the parameter's: off without a new image.
    fast = env_of("edgeguard-proxy").get("EDGEGUARD_H1_FAST_PATH")
    if fast != params.get("ProxyH1FastPath", "on"):
        fail(f"the sidecars' HTTP/1.1 fast path is {fast!r}, not ProxyH1FastPath's {params.get('ProxyH1FastPath', 'on')!r}")
    if "{" + f"{namespace},Reason,Edge" + "}" not in body or "NotEnforcing" not in body:
        fail("the dashboard does not show rejected (reported) requests by reason and edge and NotEnforcing")
    not_enforcing = [r["Properties"] for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"
                     and r["Properties"].get("MetricName") == "NotEnforcing"]
    days = int(params.get("ReportModeAlarmDays", 7))
    if len(not_enforcing) != 1 or not_enforcing[0]["Namespace"] != namespace \
            or int(not_enforcing[0]["EvaluationPeriods"]) * int(not_enforcing[0]["Period"]) != days * 86400:
        fail(f"no alarm on NotEnforcing in {namespace} over {days} days: {not_enforcing}")
    wanted_waf = [{"scope": "REGIONAL", "name": f"{STACK}-origin", "id": "WebAcl.Id", "rule": "origin-verify"}] if "WebAcl" in res else []
    wanted_rule = [{"rule_arn": "OriginVerifyRule"}] if "OriginVerifyRule" in res else []
    if [{**w, "id": "WebAcl.Id"} for w in sync_config.get("waf", [])] != wanted_waf or sync_config.get("alb_rule", []) != wanted_rule:
        fail(f"the rotation's acceptors {sync_config.get('waf')} {sync_config.get('alb_rule')} are not the stack's")
    evidence = sync_config.get("evidence", {})
    if evidence.get("emf_interval") != emf.get("EDGEGUARD_EMF_INTERVAL"):
        fail(f"the rotation's emf_interval {evidence.get('emf_interval')} is not the sidecars' {emf.get('EDGEGUARD_EMF_INTERVAL')}")
    # Keep every record: a dropped line is a lost count.
    sidecar_logs = containers["edgeguard-proxy"]["LogConfiguration"]["Options"]
    if sidecar_logs.get("mode") != "blocking":
        fail(f"the sidecar's awslogs mode is {sidecar_logs.get('mode')!r}, not blocking: records could be dropped")
    if res["PruneSchedule"]["Properties"]["ScheduleExpression"] != "rate(2 minutes)":
        fail("the scheduled prune (which keeps an idle service's evidence fresh) does not run every 2 minutes")
    # The header goes only to the origins: the ALB's name, and the VPC link's listener.
    origins = sync_config.get("origins", [])
    wanted_origins = [f"https://{params['OriginDomainName']}"] + (["VpcLinkListener"] if "HttpApi" in res else [])
    if origins != wanted_origins:
        fail(f"the rotation's origins are {origins}, not {wanted_origins}")
    # A custom metric of the stack's own: two stacks in one account never fire each other's alarms.
    own = f"edgeguard/{STACK}"
    filters = [r for r in res.values() if r["Type"] == "AWS::Logs::MetricFilter"]
    for f in filters:
        for t in f["Properties"]["MetricTransformations"]:
            if t["MetricNamespace"] != own:
                fail(f"a log metric filter writes to {t['MetricNamespace']}, not the stack's {own}")
    for rname, r in res.items():
        ns = r["Properties"].get("Namespace") if r["Type"] == "AWS::CloudWatch::Alarm" else None
        if ns and not ns.startswith("AWS/") and ns != own:
            fail(f"alarm {rname} watches {ns}, not the stack's {own}")

    # It creates on every account.
    function = res["RotationFunction"]["Properties"]
    if "ReservedConcurrentExecutions" in function:
        fail("the rotation function reserves concurrency (fails on low-quota accounts, throttles the rotation behind the prune)")
    if "FunctionName" in function:
        fail("the rotation function has a fixed name (64 characters at most, whatever the stack's name)")
    if function.get("LoggingConfig", {}).get("LogGroup") != "RotationLogGroup":
        fail("the rotation function does not log to RotationLogGroup")
    throttles = [r for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"
                 and r["Properties"].get("MetricName") == "Throttles"
                 and r["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": "RotationFunction"}]]
    if len(throttles) != 1:
        fail("no alarm on the rotation function's throttles")
    forwarding = {}
    for lname, r in res.items():
        # A listener's default action, or a listener rule's action (the listener rule
        # acceptor), attaches a target group to the load balancer.
        actions = {"AWS::ElasticLoadBalancingV2::Listener": "DefaultActions",
                   "AWS::ElasticLoadBalancingV2::ListenerRule": "Actions"}.get(r["Type"])
        for action in r["Properties"].get(actions, []) if actions else []:
            if action.get("TargetGroupArn"):
                forwarding[action["TargetGroupArn"]] = lname
    groups = [lb["TargetGroupArn"] for lb in res["Service"]["Properties"]["LoadBalancers"]]
    listeners = {forwarding.get(g) for g in groups}
    waited = {v for v in res.get("ServiceListeners", {}).get("Metadata", {}).values() if v}
    if "ServiceListeners" not in as_list(res["Service"].get("DependsOn", [])) or not listeners <= waited:
        fail(f"the service does not wait for every listener that forwards to its target groups: {sorted(l for l in listeners if l)} vs {sorted(waited)}")
    app = containers["app"]
    command = params.get("AppHealthCheckCommand", "")
    proxy_waits = containers["edgeguard-proxy"]["DependsOn"][0]["ContainerCondition"]
    if command == "none":
        if app.get("HealthCheck") or proxy_waits != "START":
            fail("with AppHealthCheckCommand=none the app has a health check, or the sidecar waits for HEALTHY")
    else:
        wanted_check = command or f"wget -q -O /dev/null http://127.0.0.1:{params['AppPort']}{params.get('HealthPath', '/healthz')} || exit 1"
        if app.get("HealthCheck", {}).get("Command") != ["CMD-SHELL", wanted_check] or proxy_waits != "HEALTHY":
            fail(f"the app's health check is {app.get('HealthCheck')}, not {wanted_check!r} with the sidecar waiting for HEALTHY")

    # The REST API: the origin's name from a stage variable, so a new one reaches the stage.
    if "RestApi" in res:
        for m in ("RestRootMethod", "RestProxyMethod"):
            uri = res[m]["Properties"]["Integration"]["Uri"]
            if not uri.startswith("https://${stageVariables.originHost}/"):
                fail(f"{m} sends to {uri}, not the stage variable originHost")
        if res["RestStage"]["Properties"]["Variables"].get("originHost") != params["OriginDomainName"]:
            fail("the REST stage's originHost is not OriginDomainName")


# What the longest stack name may be: the longest name derived from it is the WAF web ACL's
# (`<stack>-origin`, 128 characters at most). scripts/deploy-stack refuses longer ones.
LONGEST_STACK_NAME = 120
# Names CloudFormation passes on, and their services' limits.
NAME_LIMITS = {
    ("WebAcl", "Name"): 128,
    ("HttpVpcLink", "Name"): 128,
    ("HttpApi", "Name"): 128,
    ("RestApi", "Name"): 1024,
    ("AlarmTopic", "TopicName"): 256,
    ("Dashboard", "DashboardName"): 255,
    ("OriginSecret", "Name"): 512,
    ("TaskDefinition", "Family"): 255,
    ("LogGroup", "LogGroupName"): 512,
    ("RotationLogGroup", "LogGroupName"): 512,
    ("WafLogGroup", "LogGroupName"): 512,
}


def digest(raw, names):
    """The digest a REST deployment's logical id ends in: the resources it snapshots, as written."""
    parts = {n: raw["Resources"][n] for n in names}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]


def check_across_variants(raw, path, everything, problems):
    res = raw["Resources"]
    # The REST deployment's id follows what it snapshots.
    deployments = [n for n, r in res.items() if r["Type"] == "AWS::ApiGateway::Deployment"]
    wanted = "RestDeployment" + digest(raw, ["RestProxyResource", "RestRootMethod", "RestProxyMethod"])
    if deployments != [wanted]:
        problems.append(f"the REST deployment is {deployments}: the methods changed, so the stage would keep the old snapshot; rename it {wanted} (and the stage's DeploymentId)")

    # The stack policy protects exactly what the rotator owns.
    policy = json.load(open(os.path.join(os.path.dirname(path), "stack-policy.json")))
    denied = {r.removeprefix("LogicalResourceId/") for st in policy["Statement"] if st["Effect"] == "Deny"
              and st["Action"] == "Update:*" for r in as_list(st["Resource"])}
    if denied != set(OWNED) or set(OWNED) != MAY_HOLD_THE_VALUE | {"OriginSecret"}:
        problems.append(f"stack-policy.json denies updates to {sorted(denied)}, not to {sorted(MAY_HOLD_THE_VALUE | {'OriginSecret'})}")
    if "OriginSecret" not in res or "GenerateSecretString" not in res["OriginSecret"]["Properties"]:
        problems.append("the secret is not generated by the stack: check stack-policy.json's reason")

    # Names within their limits for the longest stack name allowed.
    long_name = "s" * LONGEST_STACK_NAME
    rendered = render(raw, everything, stack_name=long_name)["Resources"]
    for (resource, prop), limit in NAME_LIMITS.items():
        value = rendered[resource]["Properties"].get(prop)
        if value is None or len(value) > limit:
            problems.append(f"{resource}.{prop} is {len(value or '')} characters for a {LONGEST_STACK_NAME}-character stack name (at most {limit})")
    # Every name built from the stack's has its limit checked above.
    named = {(k, p) for k, r in rendered.items() for p, v in r["Properties"].items()
             if (p.endswith("Name") or p == "Family") and isinstance(v, str) and long_name in v}
    unchecked = named - set(NAME_LIMITS)
    if unchecked:
        problems.append(f"names without a checked limit: {sorted(unchecked)}")

    # Subnets: AZ IDs that host VPC links where a region has some that do not (the
    # mapping), the user's IDs when given, the region's first names elsewhere.
    def zones(params, region):
        r = render(raw, params, region=region, stack_name=STACK)["Resources"]
        return [(r[s]["Properties"].get("AvailabilityZone"), r[s]["Properties"].get("AvailabilityZoneId"))
                for s in ("PublicSubnet1", "PublicSubnet2", "PrivateSubnet1", "PrivateSubnet2")]
    if zones(everything, "us-east-1") != [(None, "use1-az1"), (None, "use1-az2")] * 2:
        problems.append(f"us-east-1 subnets are not in VPC-link AZ IDs: {zones(everything, 'us-east-1')}")
    given = dict(everything, AvailabilityZoneId1="use1-az4", AvailabilityZoneId2="use1-az6")
    if zones(given, "us-east-1") != [(None, "use1-az4"), (None, "use1-az6")] * 2:
        problems.append(f"the AZ IDs given are not used: {zones(given, 'us-east-1')}")
    if zones(everything, "eu-west-1") != [("eu-west-1a", None), ("eu-west-1b", None)] * 2:
        problems.append(f"eu-west-1 subnets are not in the region's first zones: {zones(everything, 'eu-west-1')}")
    # The app's health check, off.
    check(render(raw, dict(everything, AppHealthCheckCommand="none"), stack_name=STACK),
          dict(everything, AppHealthCheckCommand="none"), problems, "AppHealthCheckCommand=none")

    # The log bucket outlives the stack (a versioned bucket with logs cannot be deleted).
    bucket = res["AccessLogBucket"]
    if bucket.get("DeletionPolicy") != "Retain" or bucket.get("UpdateReplacePolicy") != "Retain":
        problems.append("the access-log bucket is not kept on delete and replace")


# Typical updates, and the owned resources each modifies: what the guard is for.
UPDATES = [
    ("the dual-accept window", {"DualAcceptWindowMinutes": "30"}, {}),
    ("a new proxy image", {"ProxyImage": "edgeguard-proxy:2"}, {}),
    ("the task size", {"TaskCpu": "1024", "TaskMemory": "2048"}, {}),
    ("the origin's name", {"OriginDomainName": "origin2.example.net"}, {"RestStage": "modified", "Distribution": "modified"}),
    ("CloudFront's certificate", {"CloudFrontCertificateArn": "arn:aws:acm:us-east-1:111111111111:certificate/cdn2"}, {"Distribution": "modified"}),
    ("the HTTP API off", {"EnableHttpApi": "false"}, {"HttpIntegration": "deleted"}),
]


def print_owned_changes(raw, everything):
    print("owned resources a stack update modifies (CloudFormation writes AWSCURRENT there):")
    failed = []
    for what, change, expected in UPDATES:
        got = owned_changes(lambda r, p: render(r, p, stack_name=STACK), raw, everything, dict(everything, **change))
        print(f"  {what}: {', '.join(f'{k} {v}' for k, v in got.items()) or 'none'}")
        if got != expected:
            failed.append(f"{what}: {got}, expected {expected}")
    if failed:
        print("\n".join(failed))
        sys.exit(1)


def main():
    path = sys.argv[1]
    raw = load(path)
    problems = []
    count = 0
    for rest, http, cdn in itertools.product(["true", "false"], repeat=3):
        enabled = [d for d, on in (("rest", rest), ("http", http), ("cloudfront", cdn)) if on == "true"]
        # Optional parts off (no public name), then on with each enabled door public.
        for optional, door in [(False, "none")] + [(True, d) for d in enabled or ["none"]]:
            params = dict(REQUIRED, EnableRestApi=rest, EnableHttpApi=http, EnableCloudFront=cdn, PublicFrontDoor=door)
            if optional:
                params.update(OPTIONAL_ON)
            name = f"rest={rest} http={http} cloudfront={cdn} optional={'on' if optional else 'off'} public={door}"
            check(render(raw, params, stack_name=STACK), params, problems, name)
            count += 1
        # The listener rule alone (no WAF), with the optional parts off.
        params = dict(REQUIRED, EnableRestApi=rest, EnableHttpApi=http, EnableCloudFront=cdn, PublicFrontDoor="none", Acceptor="alb-rule")
        check(render(raw, params, stack_name=STACK), params, problems, f"rest={rest} http={http} cloudfront={cdn} acceptor=alb-rule")
        count += 1
    everything = dict(REQUIRED, **OPTIONAL_ON, EnableRestApi="true", EnableHttpApi="true", EnableCloudFront="true", PublicFrontDoor="cloudfront")
    check_across_variants(raw, path, everything, problems)
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"{path}: {count} variants rendered; dependencies, IAM, DNS, logs, alarms, names, zones and the secret's places check out")
    print_owned_changes(raw, everything)


if __name__ == "__main__":
    main()
