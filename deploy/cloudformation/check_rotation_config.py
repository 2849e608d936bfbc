"""Renders the rotation Lambda's EDGEGUARD_SYNC_CONFIG from edgeguard.yaml for every
combination of front doors and checks it is the JSON document edgeguard-sync reads: the
template builds it from string pieces, which cfn-lint cannot check. Writes each rendering to
the directory given, for `edgeguard-sync check-config` to parse with the real parser.

With PROXY (the edgeguard-proxy binary), also runs `edgeguard-proxy --check-config` with
exactly the environment the task definition gives the sidecar container.

Usage: python check_rotation_config.py TEMPLATE OUT_DIR [PROXY]
"""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import decode


def evaluate(node, conditions, names):
    """Evaluates the intrinsic functions the configuration uses, with stand-in values."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [evaluate(n, conditions, names) for n in node]
    if isinstance(node, dict) and len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            return names.get(arg, f"ref-{arg}")
        if fn == "Fn::GetAtt":
            resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            value = f"{resource}-{attribute}".lower()
            # An endpoint attribute (HttpApi.ApiEndpoint) is a URL.
            return f"https://{value}.example" if attribute.endswith("Endpoint") else value
        if fn == "Fn::If":
            name, yes, no = arg
            return evaluate(yes if conditions[name] else no, conditions, names)
        if fn == "Fn::Join":
            sep, parts = arg
            return sep.join(evaluate(p, conditions, names) for p in parts)
        if fn == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else arg
            local = {k: evaluate(v, conditions, names) for k, v in local.items()}

            def substitute(m):
                key = m.group(1)
                if key in local:
                    return local[key]
                if "." in key and not key.startswith("AWS::"):
                    return evaluate({"Fn::GetAtt": key.split(".", 1)}, conditions, names)
                return evaluate({"Ref": key}, conditions, names)

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    raise ValueError(f"unexpected node {node!r}")


def main():
    template_path, out_dir = sys.argv[1], Path(sys.argv[2])
    template, matches = decode(template_path)
    if matches:
        sys.exit(f"{template_path}: cannot parse: {matches}")
    node = template["Resources"]["RotationFunction"]["Properties"]["Environment"]["Variables"][
        "EDGEGUARD_SYNC_CONFIG"
    ]
    names = {
        "AWS::StackName": "stack",
        "AWS::Region": "us-east-1",
        "AWS::URLSuffix": "amazonaws.com",
        "OriginSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:stack/origin-verify-AbCdEf",
        "OriginDomainName": "origin.api.example.com",
        # What Ref gives for a listener: its ARN (the HTTP API's private integration target).
        "VpcLinkListener": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/stack-internal/50dc6c495c0c9188/f2f7dc8efc522ab2",
        # What Ref gives for a listener rule: its ARN.
        "OriginVerifyRule": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/stack-public/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
        "DualAcceptWindowMinutes": "15",
        "ExternalDistributionId": "E2CENTRAL00001",
        "ExternalDistributionOriginId": "workload-alb",
        "ExternalDistributionRoleArn": "arn:aws:iam::222222222222:role/edgeguard-origin-header",
        "ExternalDistributionExternalId": "edgeguard-workload-1",
        "ProbePath": "/",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    renderings = 0
    # The distribution in another account: none, through a role, through a role with an
    # external id.
    for rest, http, cloudfront, acceptor, external in itertools.product(
        [True, False], [True, False], [True, False], ["waf", "alb-rule", "both"],
        ["none", "role", "external-id"],
    ):
        if external != "none" and acceptor != "waf":
            continue
        waf, alb_rule = acceptor != "alb-rule", acceptor != "waf"
        conditions = {"UseRestApi": rest, "UseHttpApi": http, "UseCloudFront": cloudfront,
                      "UseWaf": waf, "UseAlbRule": alb_rule,
                      "UseExternalDistribution": external != "none",
                      "HasExternalDistributionExternalId": external == "external-id"}
        text = evaluate(node, conditions, names)
        doc = json.loads(text)
        assert len(doc["waf"]) == waf and len(doc["alb_rule"]) == alb_rule, doc
        assert doc["alb_rule"] in ([], [{"rule_arn": names["OriginVerifyRule"]}]), doc
        assert len(doc["rest_api"]) == rest and len(doc["http_api"]) == http, doc
        assert len(doc["cloudfront"]) == cloudfront + (external != "none"), doc
        if external != "none":
            other = doc["cloudfront"][-1]
            assert other["distribution_id"] == names["ExternalDistributionId"], doc
            assert other["origin_ids"] == [names["ExternalDistributionOriginId"]], doc
            assert other["role_arn"] == names["ExternalDistributionRoleArn"], doc
            assert other.get("external_id") == (names["ExternalDistributionExternalId"] if external == "external-id" else None), doc
        assert len(doc["probe"]) == 1 + rest + http + cloudfront, doc
        assert [p.get("direct", False) for p in doc["probe"]].count(True) == 1, doc
        assert doc["origins"] == ["https://origin.api.example.com"] + ([names["VpcLinkListener"]] if http else []), doc
        name = f"rest-{rest}-http-{http}-cloudfront-{cloudfront}-{acceptor}-external-{external}.json".lower()
        (out_dir / name).write_text(text)
        renderings += 1
    print(f"{template_path}: rotation configuration renders as JSON for all {renderings} front-door, acceptor and other-account choices")
    if len(sys.argv) > 3:
        check_proxy_environment(template, names, sys.argv[3])


def check_proxy_environment(template, names, proxy):
    """The sidecar's environment, as the task definition sets it, is a valid configuration."""
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    sidecar = next(c for c in containers if c["Name"] == "edgeguard-proxy")
    # Over loopback TCP enforcing, and over the Unix socket of AppSocket in report mode.
    for socket, mode in ((False, "enforce"), (True, "report")):
        names = dict(names, AppPort="8080", HealthPath="/healthz", AppSocket="app.sock", ProxyMode=mode,
                     ProxyH1FastPath="on" if socket else "off")
        conditions = {"UseAppSocket": socket}
        env = {e["Name"]: evaluate(e["Value"], conditions, names) for e in sidecar["Environment"]}
        env["EDGEGUARD_CHECK_CONFIG"] = "true"
        result = subprocess.run([proxy], env=env, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            sys.exit(f"the sidecar's environment is not a valid configuration:\n{result.stderr}")
        upstream = env["EDGEGUARD_UPSTREAM"]
        print(f"the sidecar's environment in the task definition (upstream {upstream}, mode {mode}): {result.stdout.strip()}")


if __name__ == "__main__":
    main()
