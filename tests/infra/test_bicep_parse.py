"""Every .bicep file under infra/ parses with pycep-parser (Bicep CLI cannot be installed here)."""

from __future__ import annotations

from pathlib import Path

import infra_lib
import pytest

EXPECTED = {
    "main.bicep",
    "eventgrid.bicep",
    "modules/alerts.bicep",
    "modules/events-topic.bicep",
    "modules/app-rbac.bicep",
    "modules/durable-task-scheduler.bicep",
    "modules/functionapp.bicep",
    "modules/identity.bicep",
    "modules/monitoring.bicep",
    "modules/restore-point-roles.bicep",
    "modules/role-assignment-rg.bicep",
    "modules/role-assignment-sub.bicep",
    "modules/storage.bicep",
}


def test_expected_bicep_files_exist() -> None:
    found = {p.relative_to(infra_lib.INFRA).as_posix() for p in infra_lib.bicep_files()}
    missing = EXPECTED - found
    assert not missing, f"missing Bicep files: {sorted(missing)}"


@pytest.mark.parametrize("path", infra_lib.bicep_files(), ids=lambda p: Path(p).relative_to(infra_lib.INFRA).as_posix())
def test_bicep_parses(path: Path) -> None:
    tree = infra_lib.parse_bicep(path)
    assert tree.get("resources") or tree.get("modules"), f"{path}: parsed, but declares no resource or module"


def test_module_references_resolve() -> None:
    """Every local module path used by a Bicep file exists (pycep does not check this)."""
    for path in infra_lib.bicep_files():
        tree = infra_lib.parse_bicep(path)
        for name, module in (tree.get("modules") or {}).items():
            assert module.get("type") == "local", f"{path}:{name}: registry modules cannot be scanned by checkov"
            ref = infra_lib.unquote(module["detail"]["path"])
            assert (path.parent / ref).is_file(), f"{path}:{name}: module file {ref} not found"


def test_main_parameters_cover_required_params() -> None:
    """infra/main.parameters.json gives a value for every main.bicep parameter without a default."""
    import json

    params = json.loads((infra_lib.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    tree = infra_lib.parse_bicep(infra_lib.INFRA / "main.bicep")
    required = {n for n, p in tree["parameters"].items() if p.get("default") is None}
    missing = required - set(params)
    assert not missing, f"main.parameters.json lacks values for required parameters {sorted(missing)}"
    unknown = set(params) - set(tree["parameters"])
    assert not unknown, f"main.parameters.json sets parameters main.bicep does not declare: {sorted(unknown)}"


# Built-in Bicep function and decorator names: a symbol with one of these names shadows it (e.g. a
# parameter called `description` breaks every @description decorator in the file). Bicep CLI would catch
# this; it cannot be installed here, so check it.
BUILTIN_NAMES = {
    "description", "metadata", "allowed", "minValue", "maxValue", "minLength", "maxLength", "secure", "export",
    "sys", "az", "resourceGroup", "subscription", "tenant", "managementGroup", "deployment", "environment",
    "guid", "union", "string", "filter", "map", "empty", "take", "toLower", "toUpper", "uniqueString", "concat",
    "contains", "length", "json", "base64", "items", "range", "subscriptionResourceId", "resourceId",
    "reference", "split", "join", "replace", "format", "first", "last", "any", "int", "bool", "array", "object",
}  # fmt: skip


@pytest.mark.parametrize("path", infra_lib.bicep_files(), ids=lambda p: Path(p).relative_to(infra_lib.INFRA).as_posix())
def test_symbols_unique_and_not_shadowing_builtins(path: Path) -> None:
    tree = infra_lib.parse_bicep(path)
    seen: dict[str, str] = {}
    for kind in ("parameters", "variables", "resources", "modules"):
        for name in tree.get(kind) or {}:
            assert name not in BUILTIN_NAMES, f"{path}: {kind[:-1]} '{name}' shadows a Bicep built-in"
            assert name not in seen, f"{path}: '{name}' declared as {seen[name]} and {kind[:-1]}"
            seen[name] = kind[:-1]
