#!/bin/sh
# azd preprovision hook: load the replication policy file into the azd environment (REPLICATION_POLICY, a
# compact JSON object that infra/main.parameters.json passes to main.bicep), and set the role scopes
# SOURCE_SCOPES / TARGET_SCOPES from the policy (scripts/derive_scopes.py) unless the environment already
# sets them. Runs before every `azd provision` / `azd up`, so editing the policy file and re-running
# `azd provision` updates the app setting and the role assignments.
set -eu

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
policy_file=${REPLICATION_POLICY_FILE:-$repo_root/policy.json}

# The policy is validated by the app's own validator (replication.policy), so a policy the app would refuse
# at start-up never deploys. That needs a Python with the app's requirements: REPLICATION_HOOK_PYTHON, else
# the repository's .venv (`make test` creates it), else python3 / python if they have them.
python=""
for candidate in "${REPLICATION_HOOK_PYTHON:-}" "$repo_root/.venv/bin/python" python3 python; do
  [ -n "$candidate" ] || continue
  found=$(command -v "$candidate" 2>/dev/null || true)
  [ -n "$found" ] || continue
  if "$found" -c 'import azure.mgmt.core' >/dev/null 2>&1; then
    python=$found
    break
  fi
done
if [ -z "$python" ]; then
  echo "preprovision: validating the policy needs Python 3 with the app's requirements." >&2
  echo "  Run 'make test' once (creates .venv), or 'pip install -r requirements.txt', or" >&2
  echo "  point to such a Python with: azd env set REPLICATION_HOOK_PYTHON /path/to/python" >&2
  exit 1
fi
if [ ! -f "$policy_file" ]; then
  echo "preprovision: policy file '$policy_file' not found." >&2
  echo "  Write one (see README.md "Deploy" and policy.sample.json), or point to it with" >&2
  echo "  azd env set REPLICATION_POLICY_FILE /path/to/policy.json" >&2
  exit 1
fi

# Validated with the app's validator (every problem, each naming its field), then compacted to one line.
policy_json=$(PYTHONPATH="$repo_root${PYTHONPATH:+:$PYTHONPATH}" "$python" - "$policy_file" <<'PY'
import json, sys
from replication.policy import policy_errors
path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as f:
        policy = json.load(f)
except (OSError, UnicodeDecodeError, ValueError) as e:
    sys.exit(f"preprovision: cannot read {path}: {e}")
if not isinstance(policy, dict):
    sys.exit(f"preprovision: {path} must hold a JSON object")
errors = policy_errors(policy)
if errors:
    print(f"preprovision: {path} is not a valid replication policy ({len(errors)} problem(s)):", file=sys.stderr)
    for error in errors:
        print(f"  {error}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(policy, separators=(",", ":"), sort_keys=True))
PY
)
azd env set REPLICATION_POLICY "$policy_json"
echo "preprovision: REPLICATION_POLICY set from $policy_file (${#policy_json} characters)"

# Scopes: JSON arrays of {"subscriptionId": "...", "resourceGroup": "..."} (resourceGroup optional).
# Explicit values win; otherwise derive them from the policy. A value this hook derived earlier (remembered
# in <NAME>_DERIVED) is derived again, so policy edits reach the role assignments.
derived=""
previous=""
for name in SOURCE_SCOPES TARGET_SCOPES; do
  eval "value=\${$name:-}"
  eval "previous=\${${name}_DERIVED:-}"
  if [ -z "$value" ] || [ "$value" = "$previous" ]; then
    if [ -z "$derived" ]; then
      if ! derived=$("$python" "$repo_root/scripts/derive_scopes.py" "$policy_file"); then
        echo "preprovision: could not derive the role scopes from the policy; set them explicitly, e.g." >&2
        echo "  azd env set $name '[{\"subscriptionId\":\"<guid>\",\"resourceGroup\":\"<rg>\"}]'" >&2
        exit 1
      fi
    fi
    value=$("$python" -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])[sys.argv[2]], separators=(",", ":")))' "$derived" "$name")
    azd env set "$name" "$value"
    azd env set "${name}_DERIVED" "$value"
    echo "preprovision: $name derived from the policy: $value"
  fi
  "$python" - "$name" "$value" <<'PY'
import json, re, sys
name, raw = sys.argv[1], sys.argv[2]
guid = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
try:
    scopes = json.loads(raw)
except ValueError as e:
    sys.exit(f"preprovision: {name} is not JSON: {e}")
if not isinstance(scopes, list) or not scopes:
    sys.exit(f"preprovision: {name} must be a non-empty JSON array")
for s in scopes:
    if not isinstance(s, dict) or not guid.match(str(s.get("subscriptionId", ""))):
        sys.exit(f"preprovision: {name}: each entry needs a subscriptionId GUID: {s!r}")
    if set(s) - {"subscriptionId", "resourceGroup"}:
        sys.exit(f"preprovision: {name}: unknown keys in {s!r}")
PY
done
