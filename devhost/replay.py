"""Calling the Python orchestrator through the SDK's out-of-process protocol (what the Python worker does).

The extension hands the worker a context JSON and gets back the orchestrator state JSON, or an exception whose
message carries that state after ``$OutOfProcData$:`` (Azure/azure-functions-durable-extension
``OutOfProcExceptionHelpers.cs``, ``TryExtractOutOfProcStateJson``). The context is built like
``Bindings/OrchestrationTriggerAttributeBindingProvider.cs``, ``OrchestrationContextToString``: the history as
stored, ``input`` = the ExecutionStarted input parsed as a JSON token (``GetInputAsJson``), ``isReplaying`` =
``ExecutionStartedEvent.IsPlayed`` (``DurableTaskExtension.cs``, ``OrchestrationMiddleware``),
``upperSchemaVersion`` V2 and ``upperSchemaVersionNew`` V3 (so the 1.x SDK answers with schema V3), and the
backend's timer lengths.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import history as h

OUT_OF_PROC_MARKER = "$OutOfProcData$:"
UPPER_SCHEMA_VERSION = 1  # SchemaVersion.V2
UPPER_SCHEMA_VERSION_NEW = 2  # SchemaVersion.V3
DEFAULT_HTTP_ASYNC_SLEEP_MS = 30000  # HttpOptions.DefaultAsyncRequestSleepTimeMilliseconds


@dataclass
class SdkOutcome:
    """What the worker returned: the state JSON, or the exception it raised (with the state if it carried one)."""

    state: dict[str, Any] | None
    raised: str | None = None
    traceback: str = ""


def timespan(delta: timedelta) -> str:
    """A .NET ``TimeSpan`` as Json.NET writes it (``d.hh:mm:ss``)."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{clock}" if days else clock


def build_context(
    instance_id: str,
    history: list[dict[str, Any]],
    parent_instance_id: str | None,
    *,
    maximum_short_timer: timedelta,
    long_timer_interval: timedelta,
) -> str:
    started = next((e for e in history if e["EventType"] == h.EXECUTION_STARTED), None)
    raw_input = started.get("Input") if started else None
    return json.dumps(
        {
            "history": history,
            "input": None if raw_input is None else json.loads(raw_input),
            "instanceId": instance_id,
            "isReplaying": bool(started and started.get("IsPlayed")),
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
            "longRunningTimerIntervalDuration": timespan(long_timer_interval),
            "maximumShortTimerDuration": timespan(maximum_short_timer),
            "defaultHttpAsyncRequestSleepTimeMillseconds": DEFAULT_HTTP_ASYNC_SLEEP_MS,
        }
    )


def invoke(handle: Callable[[str], str], context_json: str) -> SdkOutcome:
    """Call the orchestrator handle once."""
    try:
        raw = handle(context_json)
    except Exception as exc:  # the SDK signals orchestrator failure by raising with the state appended
        text = str(exc)
        # Only the frames: on Azure the details carry the host's .NET StackTrace, never the message (whose
        # $OutOfProcData$ would otherwise end up in a parent's failure details and be found there first).
        trace = "".join(traceback.format_tb(exc.__traceback__))
        if OUT_OF_PROC_MARKER in text:
            message, _, state_json = text.partition(OUT_OF_PROC_MARKER)
            try:
                return SdkOutcome(json.loads(state_json), raised=message.strip(), traceback=trace)
            except json.JSONDecodeError:
                return SdkOutcome(None, raised=message.strip(), traceback=trace)
        return SdkOutcome(None, raised=f"{type(exc).__name__}: {exc}", traceback=trace)
    return SdkOutcome(json.loads(raw))
