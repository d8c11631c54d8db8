"""Derive the role scopes (SOURCE_SCOPES, TARGET_SCOPES) from a replication policy file.

Used by scripts/preprovision.sh when the azd environment does not set the scopes itself. Standard library
only (it runs before anything is installed). Prints ``{"SOURCE_SCOPES": [...], "TARGET_SCOPES": [...]}``;
each scope is ``{"subscriptionId": ..., "resourceGroup": ...}`` (no resourceGroup = whole subscription).

Sources are what the policy names (subscriptions, resource groups, the resource groups of listed
collections). Targets are the policy's target templates resolved for each source; a template that cannot
be resolved to one resource group (e.g. ``{sourceResourceGroup}`` for a whole-subscription source) is an
error rather than a guess: write access is then given only where the operator says, via TARGET_SCOPES.
"""

from __future__ import annotations

import json
import re
import string
import sys
from typing import Any

_RG_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)$", re.IGNORECASE)
_COLLECTION_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/restorePointCollections/([^/]+)$",
    re.IGNORECASE,
)

Scope = tuple[str, str | None]  # (subscription id, resource group or None)


class PolicyScopeError(ValueError):
    pass


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def source_scopes(policy: dict[str, Any]) -> list[tuple[Scope, str | None]]:
    """(scope, collection name if the source is one collection) for every source the policy names."""
    sources = policy.get("sources")
    if not isinstance(sources, dict):
        raise PolicyScopeError("policy.sources: expected an object")
    out: list[tuple[Scope, str | None]] = []
    for sub in sources.get("subscriptions") or []:
        out.append(((str(sub).lower(), None), None))
    for i, rg in enumerate(sources.get("resourceGroups") or []):
        m = _RG_ID.match(str(rg))
        if not m:
            raise PolicyScopeError(
                f"sources.resourceGroups[{i}]: '{rg}' is not /subscriptions/<id>/resourceGroups/<name>"
            )
        out.append(((m.group(1).lower(), m.group(2)), None))
    for i, cid in enumerate(sources.get("collections") or []):
        m = _COLLECTION_ID.match(str(cid))
        if not m:
            raise PolicyScopeError(f"sources.collections[{i}]: '{cid}' is not a restore point collection id")
        out.append(((m.group(1).lower(), m.group(2)), m.group(3)))
    if not out:
        raise PolicyScopeError("policy.sources names no subscription, resource group or collection")
    return out


def target_scopes(policy: dict[str, Any], sources: list[tuple[Scope, str | None]]) -> list[Scope]:
    targets = policy.get("targets")
    if not isinstance(targets, list) or not targets:
        raise PolicyScopeError("policy.targets: expected a non-empty list")
    out: list[Scope] = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or not isinstance(t.get("resourceGroup"), str):
            raise PolicyScopeError(f"targets[{i}]: needs a resourceGroup")
        sub_t = str(t.get("subscriptionId", "{sourceSubscriptionId}"))
        rg_t = t["resourceGroup"]
        for (sub, rg), collection in sources:
            values = {"sourceSubscriptionId": sub, "region": str(t.get("region", ""))}
            if rg is not None:
                values["sourceResourceGroup"] = rg
            if collection is not None:
                values["sourceCollectionName"] = collection
            missing = (_fields(sub_t) | _fields(rg_t)) - set(values)
            if missing:
                where = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
                raise PolicyScopeError(
                    f"targets[{i}] uses {{{', '.join(sorted(missing))}}}, unknown until run time for source {where}; "
                    "set TARGET_SCOPES explicitly"
                )
            out.append((sub_t.format(**values).lower(), rg_t.format(**values)))
    return out


def _narrowest(scopes: list[Scope]) -> list[dict[str, str]]:
    """Deduplicated (case-insensitively), dropping resource groups covered by a whole-subscription scope."""
    whole = {sub for sub, rg in scopes if rg is None}
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []
    for sub, rg in scopes:
        key = (sub, (rg or "").lower())
        if key in seen or (rg is not None and sub in whole):
            continue
        seen.add(key)
        out.append({"subscriptionId": sub} if rg is None else {"subscriptionId": sub, "resourceGroup": rg})
    return out


def derive(policy: Any) -> dict[str, list[dict[str, str]]]:
    if not isinstance(policy, dict):
        raise PolicyScopeError("the policy must be a JSON object")
    sources = source_scopes(policy)
    return {
        "SOURCE_SCOPES": _narrowest([scope for scope, _ in sources]),
        "TARGET_SCOPES": _narrowest(target_scopes(policy, sources)),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: derive_scopes.py POLICY_FILE", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            result = derive(json.load(f))
    except (OSError, ValueError) as error:
        print(f"derive_scopes: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
