"""Index a Python v2 Functions app the way the host/worker does: import ``function_app.py``, ask ``app``.

Everything the host knows about a function (name, trigger, route, methods, auth level, schedule, client binding)
comes from the binding metadata the decorators recorded, not from conventions, so the app runs here exactly as
it would be indexed by the Functions host.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HTTP_TRIGGER = "httpTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
TIMER_TRIGGER = "timerTrigger"
DURABLE_CLIENT = "durableClient"


@dataclass
class FunctionSpec:
    """One indexed function: what triggers it and how to call it."""

    name: str
    trigger_type: str
    trigger: dict[str, Any]
    func: Callable[..., Any]
    bindings: list[dict[str, Any]] = field(default_factory=list)
    client_param: str | None = None

    @property
    def trigger_param(self) -> str:
        return str(self.trigger.get("name"))

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    @property
    def wants_context(self) -> bool:
        """The worker passes ``context`` (func.Context) when the signature asks for it."""
        try:
            params = inspect.signature(self.func).parameters
        except (TypeError, ValueError):
            return False
        bound = {b.get("name") for b in self.bindings}
        return "context" in params and "context" not in bound


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_SETTING_REF = re.compile(r"%([^%]+)%")


def resolve_setting_refs(text: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``%NAME%`` with the app setting, as the host does for binding expressions like schedules."""
    env = os.environ if environ is None else environ

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in env:
            raise KeyError(f"app setting '{key}' referenced by a binding is not set")
        return env[key]

    return _SETTING_REF.sub(sub, text)


_cache: dict[tuple[str, str], list[FunctionSpec]] = {}
_cache_lock = threading.Lock()


def load_functions(app_dir: str | Path, app_module: str = "function_app") -> list[FunctionSpec]:
    """Import the app and index its functions; cached per process (``get_functions()`` may run only once)."""
    root = str(Path(app_dir).resolve())
    key = (root, app_module)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        if root not in sys.path:
            sys.path.insert(0, root)
        module = _import_app(root, app_module)
        app = getattr(module, "app", None)
        if app is None or not hasattr(app, "get_functions"):
            raise ImportError(f"{app_module}.py in {root} does not expose a Functions 'app'")
        specs = [_spec(fn) for fn in app.get_functions()]
        _cache[key] = specs
        return specs


def _import_app(root: str, app_module: str) -> ModuleType:
    """Import ``app_module`` from ``root``; if another app of that module name is already loaded in this process
    (a test session can host several apps), load this one under a private alias instead of reusing the other."""
    existing = sys.modules.get(app_module)
    wanted = Path(root) / f"{app_module}.py"
    loaded_from = getattr(existing, "__file__", None) if existing is not None else None
    if existing is None or loaded_from is None or not wanted.exists() or Path(loaded_from).resolve() == wanted:
        return importlib.import_module(app_module)
    alias = f"_devhost_app_{abs(hash(root)):x}_{app_module}"
    if alias in sys.modules:
        return sys.modules[alias]
    spec = importlib.util.spec_from_file_location(alias, wanted)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {wanted}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def _spec(fn: Any) -> FunctionSpec:
    bindings = [_plain(b.get_dict_repr()) for b in fn.get_bindings()]
    trigger = _plain(fn.get_trigger().get_dict_repr())
    client = next((b["name"] for b in bindings if b.get("type") == DURABLE_CLIENT), None)
    return FunctionSpec(
        name=fn.get_function_name(),
        trigger_type=str(trigger.get("type")),
        trigger=trigger,
        func=fn.get_user_function(),
        bindings=bindings,
        client_param=client,
    )
