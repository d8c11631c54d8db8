"""One orchestrator episode through the SDK's out-of-process replay protocol.

The Functions host hands the Python worker a context JSON (history + input) and gets back the orchestrator
state JSON. Doing exactly that here means the app's orchestrators run the same code path as in Azure,
including the SDK's own task bookkeeping, instead of a re-implementation of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OUT_OF_PROC_MARKER = "$OutOfProcData$:"

# What the extension (2.x, Azure Storage) announces: schema V3, with long timers split at 6 days into 3-day hops.
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2
MAXIMUM_SHORT_TIMER_DURATION = "6.00:00:00"
LONG_RUNNING_TIMER_INTERVAL = "3.00:00:00"


@dataclass
class EpisodeResult:
    """The orchestrator's answer for one episode."""

    is_done: bool
    actions: list[Any] = field(default_factory=list)
    output: Any = None
    custom_status: Any = None
    error: str | None = None


def build_context(
    instance_id: str, history: list[dict[str, Any]], input_json: str | None, parent_instance_id: str | None
) -> str:
    return json.dumps(
        {
            "history": history,
            "input": input_json,
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
            "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER_DURATION,
            "longRunningTimerIntervalDuration": LONG_RUNNING_TIMER_INTERVAL,
        }
    )


def _from_state(state: dict[str, Any]) -> EpisodeResult:
    return EpisodeResult(
        is_done=bool(state.get("isDone")),
        actions=state.get("actions") or [],
        output=state.get("output"),
        custom_status=state.get("customStatus"),
        error=state.get("error"),
    )


def run_episode(handle: Callable[[str], str], context_json: str) -> EpisodeResult:
    """Call the orchestrator handle; an orchestrator exception comes back as a result with ``error`` set."""
    try:
        raw = handle(context_json)
    except Exception as exc:  # the SDK signals orchestrator failure by raising with the state appended
        text = str(exc)
        if OUT_OF_PROC_MARKER in text:
            message, _, state_json = text.rpartition(OUT_OF_PROC_MARKER)
            try:
                state = json.loads(state_json)
            except json.JSONDecodeError:
                state = {}
            result = _from_state(state)
            result.is_done = False
            result.error = state.get("error") or message.strip()
            return result
        return EpisodeResult(is_done=False, error=f"{type(exc).__name__}: {exc}")
    return _from_state(json.loads(raw))
