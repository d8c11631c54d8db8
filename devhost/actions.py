"""The orchestrator's action list: flattening, sequence numbers and the determinism check.

The SDK returns *all* actions since the execution started, nested in WhenAll/WhenAny compound actions (replay
schema >= V2). It numbers tasks 0, 1, 2... in the order it first yields them; a compound's children take numbers
in list order, i.e. the depth-first order of the flattened list. External-event waits and ContinueAsNew take no
number. So the n-th numbered action in the flattened list is task n, except for the extra numbers retries take
(handled by the engine, which isolates retry events in their own episodes so its own counter stays in step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
WHEN_ANY = 11
WHEN_ALL = 12

NAMES = {
    CALL_ACTIVITY: "CallActivity",
    CALL_ACTIVITY_WITH_RETRY: "CallActivityWithRetry",
    CALL_SUB_ORCHESTRATOR: "CallSubOrchestrator",
    CALL_SUB_ORCHESTRATOR_WITH_RETRY: "CallSubOrchestratorWithRetry",
    CONTINUE_AS_NEW: "ContinueAsNew",
    CREATE_TIMER: "CreateTimer",
    WAIT_FOR_EXTERNAL_EVENT: "WaitForExternalEvent",
    CALL_ENTITY: "CallEntity",
    CALL_HTTP: "CallHttp",
    SIGNAL_ENTITY: "SignalEntity",
}

NUMBERED = {
    CALL_ACTIVITY,
    CALL_ACTIVITY_WITH_RETRY,
    CALL_SUB_ORCHESTRATOR,
    CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    CREATE_TIMER,
}
SUPPORTED = NUMBERED | {CONTINUE_AS_NEW, WAIT_FOR_EXTERNAL_EVENT}


def flatten(actions: list[Any]) -> list[dict[str, Any]]:
    """Depth-first list of atomic actions, compound wrappers removed (works for V1 nested lists too)."""
    out: list[dict[str, Any]] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            if item.get("actionType") in (WHEN_ALL, WHEN_ANY) or "compoundActions" in item:
                for child in item.get("compoundActions", []):
                    walk(child)
            else:
                out.append(item)

    walk(actions)
    return out


def identity(action: dict[str, Any]) -> dict[str, Any]:
    """What must be identical on replay: everything except ``isCanceled``."""
    return {k: v for k, v in action.items() if k != "isCanceled"}


def describe(action: dict[str, Any]) -> str:
    kind = NAMES.get(action.get("actionType", -1), f"action type {action.get('actionType')}")
    detail = {k: v for k, v in action.items() if k not in ("actionType", "isCanceled")}
    return f"{kind} {json.dumps(detail, sort_keys=True, default=str)}"


@dataclass(frozen=True)
class Mismatch:
    """The first difference between the recorded and the replayed actions."""

    index: int
    recorded: dict[str, Any] | None
    replayed: dict[str, Any] | None

    def message(self, orchestrator: str) -> str:
        before = describe(self.recorded) if self.recorded else "nothing"
        now = describe(self.replayed) if self.replayed else "nothing"
        return (
            f"NonDeterministic: orchestrator '{orchestrator}' did not replay the same actions. "
            f"Action #{self.index} was recorded as {before} but replay produced {now}. "
            "Orchestrator code must be deterministic (use context.current_utc_datetime, context.new_uuid(), "
            "no I/O, no datetime.now(), no random)."
        )


def first_mismatch(
    recorded: list[dict[str, Any]], replayed: list[dict[str, Any]], *, finished: bool
) -> Mismatch | None:
    """Compare the replayed actions with those recorded by earlier episodes, as Durable Task does.

    Every recorded action must come back in the same position with the same identity. A shorter replay is only
    a mismatch when the orchestrator finished (returned or continued as new) without re-issuing them.
    """
    for index, old in enumerate(recorded):
        if index >= len(replayed):
            return Mismatch(index, old, None) if finished else None
        if identity(old) != identity(replayed[index]):
            return Mismatch(index, old, replayed[index])
    return None
