"""Walk the policy's scope one page at a time; each page is one short ``sweep_page`` activity.

Input: ``{"units": [...], "unit": index, "token", "offset", "stats", "pages"}``. ``continue_as_new``
every ``PAGES_PER_EXECUTION`` pages keeps the history small for 10,000 collections and more.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from .arm_calls import arm_activity, describe

bp = df.Blueprint()

PAGES_PER_EXECUTION = 20


@bp.orchestration_trigger(context_name="context")
def sweep(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    units: list[dict[str, Any]] = spec["units"]
    index, token, offset = int(spec.get("unit") or 0), spec.get("token"), int(spec.get("offset") or 0)
    stats: dict[str, int] = dict(spec.get("stats") or {})
    errors: list[str] = list(spec.get("errors") or [])
    pages = 0
    while index < len(units):
        context.set_custom_status({"unit": index, "units": len(units), "stats": stats, "errors": errors[-10:]})
        result = yield from arm_activity(
            context, "sweep_page", {"unit": units[index], "token": token, "offset": offset}
        )
        if not result.get("ok"):
            errors.append(f"unit {index}: {describe(result)}")
            index, token, offset = index + 1, None, 0
        else:
            page = result["value"]
            for key, n in page["counts"].items():
                stats[key] = stats.get(key, 0) + n
            if page["done"]:
                index, token, offset = index + 1, None, 0
            else:
                token, offset = page["token"], page["offset"]
        pages += 1
        if pages >= PAGES_PER_EXECUTION and index < len(units):
            context.continue_as_new(
                {"units": units, "unit": index, "token": token, "offset": offset, "stats": stats, "errors": errors}
            )
            return {}
    summary = {"state": "done" if not errors else "done-with-errors", "stats": stats, "errors": errors[-50:]}
    context.set_custom_status(summary)
    return summary
