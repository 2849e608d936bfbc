"""Which of the resources the rotator owns a stack update would modify.

CloudFormation re-resolves {{resolve:secretsmanager:...}} in a resource only when an update
modifies that resource, and then writes AWSCURRENT over what edgeguard-sync set (the
template's opening comment). So what matters about an update is whether it modifies one of
the owned resources: those are what stack-policy.json denies, and what
scripts/deploy-stack lifts the policy for, under the deploy lock, only between rotations.

This renders the template with both parameter sets (cloud-radar, as check_variants.py does)
and compares each owned resource: created, deleted, or modified (its rendered properties
differ). check_variants.py runs it for a table of typical updates; run it yourself before an
update to see what it will touch:

    python owned_changes.py TEMPLATE OLD.json NEW.json    (parameter files: {"Key": "value"})
"""

import json
import sys

# The resources stack-policy.json protects: the four that hold the value, and the secret.
OWNED = ("WebAcl", "OriginVerifyRule", "RestStage", "HttpIntegration", "Distribution", "OriginSecret")


def owned_changes(render, raw, old_params, new_params):
    """{resource: "created" | "deleted" | "modified"} for each owned resource the update touches."""
    old = render(raw, old_params)["Resources"]
    new = render(raw, new_params)["Resources"]
    changes = {}
    for name in OWNED:
        if name in old and name not in new:
            changes[name] = "deleted"
        elif name in new and name not in old:
            changes[name] = "created"
        elif name in new and json.dumps(old[name], sort_keys=True) != json.dumps(new[name], sort_keys=True):
            changes[name] = "modified"
    return changes


def main():
    from check_variants import load, render

    template, old_path, new_path = sys.argv[1:4]
    raw = load(template)
    old = json.load(open(old_path))
    new = json.load(open(new_path))
    changes = owned_changes(render, raw, old, new)
    if not changes:
        print("the update modifies none of the resources the rotator owns")
        return
    for name, what in changes.items():
        print(f"{name}: {what} (CloudFormation writes AWSCURRENT there: deploy with scripts/deploy-stack)")


if __name__ == "__main__":
    main()
