"""The custom roles grant exactly the restore-point actions the code performs, derived from its Compute calls.

The ARM operations are not a hand-kept list: they are read from the app's Python sources (every
``<client>.restore_point_collections.<method>`` / ``<client>.restore_points.<method>`` use) and mapped to
ARM actions. The Bicep roles must grant each of them and nothing else; the source role must be read-only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import infra_lib

FIXTURE = Path(__file__).with_name("fixtures") / "compute_calls_sample.py"
ROLES_BICEP = infra_lib.INFRA / "modules" / "restore-point-roles.bicep"

# Built-in roles broader than the product needs; none may appear anywhere in infra/.
FORBIDDEN_BUILTIN_ROLES = {
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
    "7efff54f-a5b4-42b5-a1c5-5411624893ce": "Disk Snapshot Contributor",
}
# The only built-in roles the deployment may assign (on its own storage account / App Insights / task hub).
ALLOWED_BUILTIN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    # On the app's own task hub only, and only with DURABLE_BACKEND=dts (tests/infra/test_durable_backend.py).
    "0ad04412-c4d5-4796-b79c-f76d14c8d402": "Durable Task Data Contributor",
    # On the app's own events topic only, and only with eventsTopic (infra/modules/events-topic.bicep).
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
}
DANGEROUS_FRAGMENTS = ("retrieveSasUris", "beginGetAccess", "*")


def derived_actions() -> tuple[set[str], list[infra_lib.ArmCall]]:
    files = infra_lib.app_python_files()
    assert files, "no app Python files found under replication/, functions/, orchestrators/"
    calls = infra_lib.compute_calls_in(files)
    unknown = [c for c in calls if c.action is None]
    assert not unknown, (
        "Compute calls with no known ARM action mapping (add them to infra_lib.ARM_ACTIONS and to the roles "
        "in infra/modules/restore-point-roles.bicep): "
        + ", ".join(f"{c.group}.{c.method} at {c.where}" for c in unknown)
    )
    assert calls, (
        "the app code makes no restore_point_collections / restore_points calls yet "
        "(expected in replication/): cannot derive the ARM operations the roles must grant"
    )
    return {c.action for c in calls if c.action}, calls


def role_definitions() -> dict[str, dict[str, Any]]:
    """Symbolic name -> properties.permissions[0] with actions resolved, for every roleDefinitions resource."""
    roles: dict[str, dict[str, Any]] = {}
    for path in infra_lib.bicep_files():
        tree = infra_lib.parse_bicep(path)
        variables = tree.get("variables") or {}
        for name, res in (tree.get("resources") or {}).items():
            if res.get("type") != "Microsoft.Authorization/roleDefinitions":
                continue
            assert not res.get("existing"), f"{path}:{name}: roles must be defined here, not referenced"
            config = res["config"]
            permissions = config["properties"]["permissions"]
            assert isinstance(permissions, list) and len(permissions) == 1, f"{path}:{name}: one permission block"
            perm = dict(permissions[0])
            for key in ("actions", "notActions", "dataActions", "notDataActions"):
                value = perm.get(key, [])
                if isinstance(value, str):
                    assert value in variables, f"{path}:{name}: {key} must be a literal list or a variable"
                    value = variables[value]["value"]
                perm[key] = infra_lib.string_literals(value)
            roles[f"{path.relative_to(infra_lib.INFRA).as_posix()}:{name}"] = perm
    return roles


def test_extractor_on_fixture() -> None:
    calls = infra_lib.find_compute_calls(FIXTURE.read_text(encoding="utf-8"), FIXTURE.name)
    found = {(c.group, c.method) for c in calls}
    assert found == {
        ("restore_point_collections", "get"),
        ("restore_point_collections", "list_all"),
        ("restore_points", "get"),
        ("restore_point_collections", "create_or_update"),
        ("restore_points", "begin_create"),
        ("restore_points", "begin_delete"),
        ("restore_point_collections", "update"),
    }
    assert {c.action for c in calls} == {
        "Microsoft.Compute/restorePointCollections/read",
        "Microsoft.Compute/restorePointCollections/write",
        "Microsoft.Compute/restorePointCollections/restorePoints/read",
        "Microsoft.Compute/restorePointCollections/restorePoints/write",
        "Microsoft.Compute/restorePointCollections/restorePoints/delete",
    }


def test_extractor_flags_unknown_methods() -> None:
    calls = infra_lib.find_compute_calls("c.restore_points.retrieve_sas_uris('a')\n", "x.py")
    assert [(c.group, c.method, c.action) for c in calls] == [("restore_points", "retrieve_sas_uris", None)]


def test_roles_are_restore_point_only_and_narrow() -> None:
    roles = role_definitions()
    assert set(roles) == {
        "modules/restore-point-roles.bicep:sourceRole",
        "modules/restore-point-roles.bicep:targetRole",
    }, f"unexpected role definitions: {sorted(roles)}"
    for name, perm in roles.items():
        assert perm["actions"], f"{name}: no actions"
        assert not perm["notActions"] and not perm["dataActions"] and not perm["notDataActions"], name
        for action in perm["actions"]:
            assert action.startswith("Microsoft.Compute/restorePointCollections/"), f"{name}: {action}"
            assert not any(f in action for f in DANGEROUS_FRAGMENTS), f"{name}: forbidden action {action}"
        assert len(set(perm["actions"])) == len(perm["actions"]), f"{name}: duplicate actions"


def test_roles_grant_exactly_what_the_code_uses() -> None:
    needed, calls = derived_actions()
    roles = role_definitions()
    source = set(roles["modules/restore-point-roles.bicep:sourceRole"]["actions"])
    target = set(roles["modules/restore-point-roles.bicep:targetRole"]["actions"])
    granted = source | target
    by_action: dict[str, list[str]] = {}
    for c in calls:
        by_action.setdefault(c.action or "?", []).append(f"{c.group}.{c.method} ({c.where})")
    missing = needed - granted
    extra = granted - needed
    assert not missing, "roles lack actions the code needs: " + json.dumps(
        {a: by_action[a] for a in sorted(missing)}, indent=1
    )
    assert not extra, f"roles grant actions the code never uses: {sorted(extra)}"
    # A copy reads the source and writes the target.
    assert all(a.endswith("/read") for a in source), f"source role must be read-only: {sorted(source)}"
    writes = {a for a in needed if not a.endswith("/read")}
    assert writes <= target, f"target role lacks {sorted(writes - target)}"


def test_roles_assigned_at_their_own_scopes() -> None:
    tree = infra_lib.parse_bicep(ROLES_BICEP)
    modules = tree.get("modules") or {}
    assert modules, "restore-point-roles.bicep assigns nothing"
    for name, module in modules.items():
        text = json.dumps(module)
        uses_source = "sourceRole.name" in text or "sourceRole" in text.replace("sourceRoleGuid", "")
        uses_target = "targetRole.name" in text or "targetRole" in text.replace("targetRoleGuid", "")
        assert uses_source != uses_target, f"{name}: must assign exactly one of the two roles"
        if uses_source:
            assert "sourceRgScopes" in text or "sourceSubScopes" in text, f"{name}: source role outside sourceScopes"
            assert "target" not in text.replace("targetScope", ""), f"{name}: source role mixed with target scopes"
        else:
            assert "targetRgScopes" in text or "targetSubScopes" in text, f"{name}: target role outside targetScopes"


def test_no_broad_builtin_roles_anywhere() -> None:
    for path in infra_lib.bicep_files():
        text = path.read_text(encoding="utf-8").lower()
        for guid, role in FORBIDDEN_BUILTIN_ROLES.items():
            assert guid not in text, f"{path}: uses the built-in role {role}"
        assert "'contributor'" not in text and "'owner'" not in text, f"{path}: names a broad built-in role"


def test_role_assignments_use_only_known_roles() -> None:
    """Every roleAssignments resource uses an allowed built-in role or one of the custom restore-point roles."""
    for path in infra_lib.bicep_files():
        tree = infra_lib.parse_bicep(path)
        variables = tree.get("variables") or {}
        for name, res in (tree.get("resources") or {}).items():
            if res.get("type") != "Microsoft.Authorization/roleAssignments":
                continue
            role_id = json.dumps(infra_lib.resource_config(res)["properties"]["roleDefinitionId"])
            guids = [v["value"] for k, v in variables.items() if isinstance(v.get("value"), str) and k in role_id]
            if "roleDefinitionGuid" in role_id:
                continue  # custom role, passed in by restore-point-roles.bicep
            assert guids, f"{path}:{name}: role definition not from a named variable: {role_id}"
            for g in guids:
                assert g in ALLOWED_BUILTIN_ROLES, f"{path}:{name}: built-in role {g} is not on the allowed list"
