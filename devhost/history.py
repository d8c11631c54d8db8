"""History events in the shape the SDK reads them (PascalCase keys, integer ``EventType``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .timefmt import iso

EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_FAILED = 2
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15
CONTINUE_AS_NEW = 16

TYPE_NAMES = {
    EXECUTION_STARTED: "ExecutionStarted",
    EXECUTION_COMPLETED: "ExecutionCompleted",
    EXECUTION_FAILED: "ExecutionFailed",
    EXECUTION_TERMINATED: "ExecutionTerminated",
    TASK_SCHEDULED: "TaskScheduled",
    TASK_COMPLETED: "TaskCompleted",
    TASK_FAILED: "TaskFailed",
    SUB_ORCHESTRATION_CREATED: "SubOrchestrationInstanceCreated",
    SUB_ORCHESTRATION_COMPLETED: "SubOrchestrationInstanceCompleted",
    SUB_ORCHESTRATION_FAILED: "SubOrchestrationInstanceFailed",
    TIMER_CREATED: "TimerCreated",
    TIMER_FIRED: "TimerFired",
    ORCHESTRATOR_STARTED: "OrchestratorStarted",
    ORCHESTRATOR_COMPLETED: "OrchestratorCompleted",
    EVENT_RAISED: "EventRaised",
    CONTINUE_AS_NEW: "ContinueAsNew",
}

# Completion events and the key naming the task they complete (how the host spots duplicates).
COMPLETION_KEYS = {
    TASK_COMPLETED: "TaskScheduledId",
    TASK_FAILED: "TaskScheduledId",
    SUB_ORCHESTRATION_COMPLETED: "TaskScheduledId",
    SUB_ORCHESTRATION_FAILED: "TaskScheduledId",
    TIMER_FIRED: "TimerId",
}


def event(event_type: int, when: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """A new (not yet played) history event."""
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": iso(when), **fields}


def completed_task_ids(history: list[dict[str, Any]]) -> set[int]:
    """Task ids that already have a completion in this history (a second one would be a duplicate)."""
    done: set[int] = set()
    for ev in history:
        key = COMPLETION_KEYS.get(ev["EventType"])
        if key is not None:
            done.add(int(ev[key]))
    return done
