"""The SDK's action schema (``actionType`` numbers, as ``OutOfProcOrchestrationShim.AsyncActionType`` reads them).

The SDK returns *all* actions since the execution started (schema V2/V3: one list, fan-outs nested in
WhenAll/WhenAny compound actions). What they mean for DurableTask is decided in ``shim.py``.
"""

from __future__ import annotations

import json
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
SCHEDULED_SIGNAL_ENTITY = 10
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
    SCHEDULED_SIGNAL_ENTITY: "ScheduledSignalEntity",
    WHEN_ANY: "WhenAny",
    WHEN_ALL: "WhenAll",
}


def describe(action: dict[str, Any]) -> str:
    kind = NAMES.get(action.get("actionType", -1), f"action type {action.get('actionType')}")
    detail = {k: v for k, v in action.items() if k not in ("actionType", "isCanceled", "compoundActions")}
    return f"{kind} {json.dumps(detail, sort_keys=True, default=str)}"
