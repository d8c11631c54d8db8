"""Calling an ARM activity from an orchestrator, riding out throttling and transient failures.

Activities never raise for ARM failures; they return an envelope (``replication.model.ArmResult``).
Here, ``throttled`` waits the server's ``Retry-After`` and ``transient`` backs off, both on durable
timers (free while waiting, survive restarts), a bounded number of times. Anything else goes back
to the caller, which knows what a conflict or a missing resource means in its context. This loop
replaces ``call_activity_with_retry``, which can hang an orchestration (py#603).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

MAX_TRANSIENT_RETRIES = 8
MAX_THROTTLE_WAITS = 48
MAX_BACKOFF_SECONDS = 600.0


def backoff_seconds(attempt: int, base: float = 30.0) -> float:
    """Exponential backoff, capped: 30 s, 60 s, 120 s ... 10 min."""
    return float(min(MAX_BACKOFF_SECONDS, base * (2 ** max(0, attempt - 1))))


def sleep(context: df.DurableOrchestrationContext, seconds: float) -> Generator[Any, Any, None]:
    """A durable timer from the orchestration clock (never the wall clock)."""
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=max(1.0, seconds)))


def arm_activity(
    context: df.DurableOrchestrationContext, name: str, payload: Any
) -> Generator[Any, Any, dict[str, Any]]:
    """Run activity ``name`` until it succeeds or fails for a reason that waiting will not fix."""
    transient = throttled = 0
    while True:
        result: dict[str, Any] = yield context.call_activity(name, payload)
        if result.get("ok"):
            return result
        error = result.get("error") or {}
        kind = error.get("kind")
        if kind == "throttled" and throttled < MAX_THROTTLE_WAITS:
            throttled += 1
            yield from sleep(context, float(error.get("retryAfterSeconds") or 60.0))
            continue
        if kind == "transient" and transient < MAX_TRANSIENT_RETRIES:
            transient += 1
            wait = max(backoff_seconds(transient), float(error.get("retryAfterSeconds") or 0.0))
            yield from sleep(context, wait)
            continue
        return result


def describe(result: dict[str, Any]) -> str:
    """A failure envelope as one line a person can act on."""
    error = result.get("error") or {}
    status = f" (HTTP {error['status']})" if error.get("status") else ""
    return f"{error.get('kind', 'error')}{status}: {error.get('message', 'no details')}"
