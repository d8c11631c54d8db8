"""HTTP trigger route templates (``replications/{instanceId}``, ``{id?}``, ``{id:int}``, ``{*rest}``) as regexes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .app_loader import FunctionSpec


@dataclass(frozen=True)
class Route:
    spec: FunctionSpec
    pattern: re.Pattern[str]
    methods: frozenset[str]
    auth_level: str

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def compile_template(template: str) -> re.Pattern[str]:
    regex = ""
    for index, segment in enumerate(template.strip("/").split("/")):
        sep = "" if index == 0 else "/"
        param = re.fullmatch(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?=]*)?(\?)?(?:=[^}]*)?\}", segment)
        if param is None:
            regex += sep + re.escape(segment)
        elif param.group(1):
            regex += f"(?:{sep}(?P<{param.group(2)}>.*))?"
        elif param.group(3):
            regex += f"(?:{sep}(?P<{param.group(2)}>[^/]+))?"
        else:
            regex += f"{sep}(?P<{param.group(2)}>[^/]+)"
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def build_routes(specs: list[FunctionSpec]) -> list[Route]:
    routes = []
    for spec in specs:
        if spec.trigger_type != "httpTrigger":
            continue
        template = spec.trigger.get("route") or spec.name
        methods = frozenset(m.upper() for m in (spec.trigger.get("methods") or []))
        auth = str(spec.trigger.get("authLevel") or "function").lower()
        routes.append(Route(spec, compile_template(template), methods, auth))
    # Literal routes win over parameterised ones, as in ASP.NET routing.
    routes.sort(key=lambda r: r.pattern.pattern.count("(?P<"))
    return routes
