"""Helpers for the infrastructure tests: Bicep parsing (pycep) and AST discovery in the app code.

Loaded by tests/infra/conftest.py (the suite runs with --import-mode=importlib, so test modules import
it as ``infra_lib`` after conftest registered it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

# Python sources of the deployed app, where ARM calls and setting reads may live.
APP_SOURCE_DIRS = ("replication", "functions", "orchestrators")
APP_SOURCE_FILES = ("function_app.py",)


# --------------------------------------------------------------------------------------------- Bicep


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def parse_bicep(path: Path) -> dict[str, Any]:
    from pycep import BicepParser  # imported here so a missing package fails the test, not collection

    return cast(dict[str, Any], BicepParser().parse(text=path.read_text(encoding="utf-8")))


def resource_config(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body; pycep nests a conditional one (``= if (...) {...}``) one level deeper."""
    config = cast(dict[str, Any], resource["config"])
    if "condition" in config and set(config) == {"condition", "config"}:
        return cast(dict[str, Any], config["config"])
    return config


def walk_json(node: Any) -> Iterator[Any]:
    """Every dict, list and scalar in a pycep tree, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk_json(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_json(value)


def string_literals(node: Any) -> list[str]:
    """The string scalars of a pycep array value (a Bicep array literal of strings)."""
    if not isinstance(node, list):
        raise AssertionError(f"expected a Bicep array literal, got {type(node).__name__}: {node!r:.200}")
    out: list[str] = []
    for item in node:
        if not isinstance(item, str):
            raise AssertionError(f"expected only string literals in the array, got {item!r:.200}")
        out.append(item)
    return out


def unquote(value: str) -> str:
    """pycep keeps string literals as written; strip one level of quotes if present."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def app_setting_names(trees: Iterable[dict[str, Any]]) -> set[str]:
    """Names of app settings written as ``{ name: 'X', value: ... }`` objects anywhere in the trees."""
    names: set[str] = set()
    for tree in trees:
        for node in walk_json(tree):
            if isinstance(node, dict) and set(node) == {"name", "value"} and isinstance(node["name"], str):
                names.add(unquote(node["name"]))
    return names


# ------------------------------------------------------------------------------------------- App code


def app_python_files(repo: Path = REPO) -> list[Path]:
    files: list[Path] = []
    for d in APP_SOURCE_DIRS:
        files.extend(sorted((repo / d).rglob("*.py")))
    for f in APP_SOURCE_FILES:
        if (repo / f).is_file():
            files.append(repo / f)
    return files


# Compute SDK operation groups and methods -> ARM action (azure-mgmt-compute 39).
ARM_ACTIONS: dict[tuple[str, str], str] = {
    ("restore_point_collections", "get"): "Microsoft.Compute/restorePointCollections/read",
    ("restore_point_collections", "list"): "Microsoft.Compute/restorePointCollections/read",
    ("restore_point_collections", "list_all"): "Microsoft.Compute/restorePointCollections/read",
    ("restore_point_collections", "create_or_update"): "Microsoft.Compute/restorePointCollections/write",
    ("restore_point_collections", "update"): "Microsoft.Compute/restorePointCollections/write",
    ("restore_point_collections", "begin_delete"): "Microsoft.Compute/restorePointCollections/delete",
    ("restore_points", "get"): "Microsoft.Compute/restorePointCollections/restorePoints/read",
    ("restore_points", "begin_create"): "Microsoft.Compute/restorePointCollections/restorePoints/write",
    ("restore_points", "begin_delete"): "Microsoft.Compute/restorePointCollections/restorePoints/delete",
}
OPERATION_GROUPS = {"restore_point_collections", "restore_points"}


@dataclass(frozen=True)
class ArmCall:
    group: str
    method: str
    where: str  # file:line

    @property
    def action(self) -> str | None:
        return ARM_ACTIONS.get((self.group, self.method))


def find_compute_calls(source: str, filename: str) -> list[ArmCall]:
    """Calls of the form ``<anything>.restore_point_collections.<method>(...)`` / ``...restore_points...``.

    Also catches a bound method taken without calling it right away (``f = c.restore_points.get``), since
    the call then happens elsewhere; and ``getattr(<x>.restore_points, "name")`` with a literal name.
    """
    tree = ast.parse(source, filename=filename)
    calls: list[ArmCall] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr in OPERATION_GROUPS
        ):
            calls.append(ArmCall(node.value.attr, node.attr, f"{filename}:{node.lineno}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Attribute)
            and node.args[0].attr in OPERATION_GROUPS
        ):
            name = node.args[1]
            method = name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else "<dynamic>"
            calls.append(ArmCall(node.args[0].attr, method, f"{filename}:{node.lineno}"))
    return calls


def compute_calls_in(files: Iterable[Path]) -> list[ArmCall]:
    calls: list[ArmCall] = []
    for f in files:
        calls.extend(find_compute_calls(f.read_text(encoding="utf-8"), str(f)))
    return calls


# --------------------------------------------------------------------------------------- App settings

SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
BINDING_EXPRESSION = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


@dataclass(frozen=True)
class SettingRead:
    name: str
    has_default: bool
    where: str


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


_ENV_GETTERS = {"os.environ.get", "os.getenv", "environ.get", "getenv", "os.environ.setdefault"}


def _is_env_getter(func: ast.AST) -> bool:
    return _dotted(func) in _ENV_GETTERS


def _env_helpers(tree: ast.Module) -> set[str]:
    """Module functions that pass their first parameter to an env getter or to another such helper."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.args.args}
    helpers: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            if name in helpers:
                continue
            first = fn.args.args[0].arg
            for node in ast.walk(fn):
                if not isinstance(node, ast.Call) or not node.args:
                    if (
                        isinstance(node, ast.Subscript)
                        and _dotted(node.value) in {"os.environ", "environ"}
                        and isinstance(node.slice, ast.Name)
                        and node.slice.id == first
                    ):
                        helpers.add(name)
                        changed = True
                        break
                    continue
                arg0 = node.args[0]
                if not (isinstance(arg0, ast.Name) and arg0.id == first):
                    continue
                if _is_env_getter(node.func) or (isinstance(node.func, ast.Name) and node.func.id in helpers):
                    helpers.add(name)
                    changed = True
                    break
    return helpers


def env_helper_names(files: Iterable[Path]) -> set[str]:
    """Env-reading helper functions defined anywhere in the app (they are imported across modules)."""
    names: set[str] = set()
    for f in files:
        names |= _env_helpers(ast.parse(f.read_text(encoding="utf-8"), filename=str(f)))
    return names


def find_setting_reads(source: str, filename: str, extra_helpers: Iterable[str] = ()) -> list[SettingRead]:
    """String-literal setting names read from the environment, with whether the code supplies a default.

    A read counts as defaulted when the call passes a default (second positional or ``default=``) or is
    the left side of ``or`` (``_setting("X") or fallback``).
    """
    tree = ast.parse(source, filename=filename)
    helpers = _env_helpers(tree) | set(extra_helpers)
    or_left: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for value in node.values[:-1]:
                or_left.add(id(value))
    reads: list[SettingRead] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            is_reader = _is_env_getter(node.func) or (
                isinstance(node.func, ast.Name | ast.Attribute) and _dotted(node.func).split(".")[-1] in helpers
            )
            arg0 = node.args[0]
            if is_reader and isinstance(arg0, ast.Constant) and isinstance(arg0.value, str):
                has_default = (
                    (
                        len(node.args) >= 2
                        and not (isinstance(node.args[1], ast.Constant) and node.args[1].value is None)
                    )
                    or any(k.arg == "default" for k in node.keywords)
                    or id(node) in or_left
                )
                reads.append(SettingRead(arg0.value, has_default, f"{filename}:{node.lineno}"))
        elif (
            isinstance(node, ast.Subscript)
            and _dotted(node.value) in {"os.environ", "environ"}
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and isinstance(node.ctx, ast.Load)
        ):
            reads.append(SettingRead(node.slice.value, False, f"{filename}:{node.lineno}"))
    return reads


def find_binding_expressions(source: str, filename: str) -> list[tuple[str, str]]:
    """``%NAME%`` app-setting expressions in string constants (binding arguments such as a timer schedule)."""
    out: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for m in BINDING_EXPRESSION.finditer(node.value):
                out.append((m.group(1), f"{filename}:{node.lineno}"))
    return out


# ------------------------------------------------------------------------------- Bicep evaluation
# Enough of Bicep's expression language to evaluate app-setting variables for given parameter values
# (Bicep CLI cannot be installed here). pycep drops the quotes of string literals, so a bare string is a
# reference when it names a symbol in ``env`` and a literal otherwise; ``${x}`` interpolations are filled
# from ``env``. Anything else (resource properties, other functions) raises, so a test never passes on
# an expression it did not understand.

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Unevaluable(AssertionError):
    pass


def evaluate(node: Any, env: dict[str, Any]) -> Any:
    if isinstance(node, bool | int | float) or node is None:
        return node
    if isinstance(node, str):
        if node in env:
            return env[node]

        def fill(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise Unevaluable(f"interpolation of unknown symbol {m.group(1)!r} in {node!r}")
            return str(env[m.group(1)])

        return _INTERPOLATION.sub(fill, unquote(node))
    if isinstance(node, list):
        return [evaluate(item, env) for item in node]
    if isinstance(node, dict) and "operator" in node:
        op = node["operator"]
        kind, operands = op["type"], op["operands"]
        if kind == "conditional":
            branch = "true_value" if evaluate(operands["condition"], env) else "false_value"
            return evaluate(operands[branch], env)
        if kind == "equals":
            return evaluate(operands["operand_1"], env) == evaluate(operands["operand_2"], env)
        if kind == "not_equals":
            return evaluate(operands["operand_1"], env) != evaluate(operands["operand_2"], env)
        if kind == "and":
            return bool(evaluate(operands["operand_1"], env)) and bool(evaluate(operands["operand_2"], env))
        if kind == "or":
            return bool(evaluate(operands["operand_1"], env)) or bool(evaluate(operands["operand_2"], env))
        if kind == "logical_not":
            return not evaluate(operands["bool_value"], env)
        raise Unevaluable(f"operator {kind!r} not supported: {node!r:.300}")
    if isinstance(node, dict) and "function" in node:
        fn = node["function"]
        args = list((fn.get("parameters") or {}).values())
        if fn["type"] == "concat":
            out: list[Any] = []
            for arg in args:
                value = evaluate(arg, env)
                if not isinstance(value, list):
                    raise Unevaluable(f"concat of a non-array: {arg!r:.200}")
                out.extend(value)
            return out
        if fn["type"] == "empty":
            return not evaluate(args[0], env)
        raise Unevaluable(f"function {fn['type']!r} not supported: {node!r:.300}")
    if isinstance(node, dict):
        return {k: evaluate(v, env) for k, v in node.items()}
    raise Unevaluable(f"cannot evaluate {node!r:.300}")


def evaluate_variables(tree: dict[str, Any], env: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Evaluate the named variables in order, each seeing the parameters in ``env`` and the ones before."""
    scope = dict(env)
    variables = tree.get("variables") or {}
    for name in names:
        scope[name] = evaluate(variables[name]["value"], scope)
    return scope


def settings_by_name(settings: list[Any]) -> dict[str, Any]:
    """``[{name, value}, ...]`` as a dict, failing on a duplicate name (the later would silently win)."""
    out: dict[str, Any] = {}
    for item in settings:
        assert isinstance(item, dict) and set(item) == {"name", "value"}, f"not an app setting: {item!r:.200}"
        assert item["name"] not in out, f"app setting {item['name']} set twice"
        out[item["name"]] = item["value"]
    return out
