"""Calling an ARM activity from an orchestrator, riding out what waiting fixes.

Activities never raise for ARM failures; they return an envelope (``replication.model.ArmResult``).
Here every failure that waiting fixes (throttling, Compute's copy quota, 5xx, connection errors, an
identity endpoint outage) is waited out on durable timers: the server's ``Retry-After`` when it gives
one, else an exponential backoff to a ceiling. Waiting is free (no compute while a timer is pending)
and survives restarts. Anything else goes back to the caller, which knows what a refusal means in its
context. This loop replaces ``call_activity_with_retry``, which can hang an orchestration (py#603).

A wait has no overall deadline: an outage costs the minutes it lasts, never a lane. To keep histories
bounded, :func:`arm_activity` hands the failure back after ``WAITS_PER_CALL`` waits with
``"waiting": True``; the caller then continues as new and calls again.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from replication.model import WAIT_FIXES

WAITS_PER_CALL = 12
MAX_BACKOFF_SECONDS = 600.0
REASON_CHARS = 300  # reasons are shown in custom status, which must stay small

Publish = Callable[[str, str, str], None]  # (kind, reason, until ISO)


def backoff_seconds(attempt: int, base: float = 30.0, ceiling: float = MAX_BACKOFF_SECONDS) -> float:
    """Exponential backoff, capped: 30 s, 60 s, 120 s ... 10 min."""
    return float(min(ceiling, base * (2 ** max(0, attempt - 1))))


def sleep(context: df.DurableOrchestrationContext, seconds: float) -> Generator[Any, Any, None]:
    """A durable timer from the orchestration clock (never the wall clock)."""
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=max(1.0, seconds)))


def waiting_fixes(result: dict[str, Any]) -> bool:
    """Whether this failure envelope is one that waiting fixes."""
    return (result.get("error") or {}).get("kind") in WAIT_FIXES


def wait_seconds(result: dict[str, Any], attempt: int) -> float:
    """How long to wait after failure number ``attempt``: at least the server's Retry-After."""
    error = result.get("error") or {}
    retry_after = float(error.get("retryAfterSeconds") or 0.0)
    if error.get("kind") in ("throttled", "copy_quota") and retry_after:
        return retry_after
    return max(backoff_seconds(attempt), retry_after)


def arm_activity(
    context: df.DurableOrchestrationContext,
    name: str,
    payload: Any,
    on_wait: Publish | None = None,
) -> Generator[Any, Any, dict[str, Any]]:
    """Run activity ``name`` until it succeeds, fails for a reason waiting will not fix, or has waited
    ``WAITS_PER_CALL`` times (then the failure comes back marked ``"waiting": True``)."""
    waits = 0
    while True:
        result: dict[str, Any] = yield context.call_activity(name, payload)
        if result.get("ok") or not waiting_fixes(result):
            return result
        if waits >= WAITS_PER_CALL:
            return {**result, "waiting": True}
        waits += 1
        seconds = wait_seconds(result, waits)
        if on_wait is not None:
            until = context.current_utc_datetime + timedelta(seconds=max(1.0, seconds))
            on_wait(str((result.get("error") or {}).get("kind")), describe(result), until.isoformat())
        yield from sleep(context, seconds)


def describe(result: dict[str, Any]) -> str:
    """A failure envelope as one short line a person can act on."""
    error = result.get("error") or {}
    status = f" (HTTP {error['status']})" if error.get("status") else ""
    return short(f"{error.get('kind', 'error')}{status}: {error.get('message', 'no details')}")


def short(text: str) -> str:
    """Trim a reason to what custom status can carry."""
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"
