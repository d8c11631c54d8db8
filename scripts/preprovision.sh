#!/bin/sh
# azd preprovision hook: load the replication policy file into the azd environment (REPLICATION_POLICY, a
# compact JSON object that infra/main.parameters.json passes to main.bicep), and set the role scopes
# SOURCE_SCOPES / TARGET_SCOPES from the policy (scripts/derive_scopes.py) unless the environment already
# sets them. Runs before every `azd provision` / `azd up`, so editing the policy file and re-running
# `azd provision` updates the app setting and the role assignments.
set -eu

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
policy_file=${REPLICATION_POLICY_FILE:-$repo_root/policy.json}

python=$(command -v python3 || command -v python || true)
if [ -z "$python" ]; then
  echo "preprovision: Python 3 is required to read the policy file" >&2
  exit 1
fi
if [ ! -f "$policy_file" ]; then
  echo "preprovision: policy file '$policy_file' not found." >&2
  echo "  Write one (see README.md "Deploy" and policy.sample.json), or point to it with" >&2
  echo "  azd env set REPLICATION_POLICY_FILE /path/to/policy.json" >&2
  exit 1
fi

# Compact, validated JSON object (no newlines, so it fits one azd env value).
policy_json=$("$python" - "$policy_file" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    policy = json.load(f)
if not isinstance(policy, dict):
    sys.exit(f"preprovision: {sys.argv[1]} must hold a JSON object")
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
