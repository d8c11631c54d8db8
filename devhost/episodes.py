"""Applying one episode: new history events in, the orchestrator's actions out as scheduled work.

This is the Durable Task part of the host (what DTFx's orchestration dispatcher does with the runtime state):
it builds the SDK's history, replays the orchestrator, checks determinism, numbers new tasks the way the SDK
does, and turns actions into queued activities, timers, sub-orchestrations, completion or continue-as-new.
Callers run it inside a store transaction.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from . import actions as act
from . import history as h
from .app_loader import FunctionSpec
from .clock import Clock
from .replay import build_context, run_episode
from .store import Instance, Store
from .timefmt import iso, parse_iso

PENDING = "Pending"
RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
CONTINUED_AS_NEW = "ContinuedAsNew"
SUSPENDED = "Suspended"
CLOCK_KEY = "virtual_clock"  # last virtual time seen, so a restarted host never runs time backwards
ACTIVE_STATES = (PENDING, RUNNING, CONTINUED_AS_NEW, SUSPENDED)
TERMINAL_STATES = (COMPLETED, FAILED, TERMINATED)


def event_input(value: Any) -> str:
    """The JSON text the SDK should ``df_loads`` for a value a client sent.

    The Python client double-encodes (it posts ``json.dumps(df_dumps(x))``), other clients post plain JSON;
    both must reach the orchestrator as the same value.
    """
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except json.JSONDecodeError:
            return json.dumps(value)
    return json.dumps(value)


class Episodes:
    """Orchestration state transitions over the store (no threads here: the engine serialises calls)."""

    def __init__(
        self,
        store: Store,
        functions: dict[str, FunctionSpec],
        clock: Clock,
        *,
        preserve_unprocessed_events: bool = False,
    ) -> None:
        self.store = store
        self.functions = functions
        self.clock = clock
        self.preserve_unprocessed_events = preserve_unprocessed_events

    def apply(self, inst: Instance, batch: list[Any]) -> None:
        spec = self.functions.get(inst.name)
        now = self.clock.now()
        done_ids = h.completed_task_ids(inst.history)
        new_events: list[dict[str, Any]] = []
        if not inst.history:
            parent = (
                {
                    "OrchestrationInstance": {"InstanceId": inst.parent_instance_id},
                    "TaskScheduleId": inst.parent_task_id,
                }
                if inst.parent_instance_id
                else None
            )
            new_events.append(
                h.event(
                    h.EXECUTION_STARTED,
                    now,
                    Name=inst.name,
                    Input=inst.input,
                    Version="",
                    OrchestrationInstance={"InstanceId": inst.instance_id, "ExecutionId": inst.execution_id},
                    ParentInstance=parent,
                )
            )
        for msg in batch:
            if msg["kind"] != "event":
                continue
            if msg["execution_id"] and msg["execution_id"] != inst.execution_id:
                continue  # a completion for an execution that has since continued as new
            ev = json.loads(msg["payload"])
            key = h.COMPLETION_KEYS.get(ev["EventType"])
            if key is not None:
                if int(ev[key]) in done_ids:
                    continue  # duplicate delivery: apply each completion once
                done_ids.add(int(ev[key]))
            new_events.append(ev)
        if not new_events:
            return
        if spec is None or spec.trigger_type != "orchestrationTrigger":
            self.fail(inst, f"The function '{inst.name}' doesn't exist or is not an orchestrator function.", now)
            return

        scheduled: list[dict[str, Any]] = []
        self._retry_bookkeeping(inst, new_events, scheduled, now)

        started = h.event(h.ORCHESTRATOR_STARTED, now)
        played = [{**ev, "IsPlayed": True} for ev in inst.history]
        sdk_history = [*played, started, *new_events]
        context = build_context(inst.instance_id, sdk_history, _context_input(inst.input), inst.parent_instance_id)
        result = run_episode(spec.func, context)

        inst.runtime_status = RUNNING
        inst.history = [*inst.history, started, *new_events]
        flat = act.flatten(result.actions)
        recorded = [entry["action"] for entry in inst.actions]
        mismatch = act.first_mismatch(recorded, flat, finished=result.is_done)
        if mismatch is not None:
            self.fail(inst, mismatch.message(inst.name), now)
            return
        unsupported = [a for a in flat if a.get("actionType") not in act.SUPPORTED]
        if unsupported:
            what = act.describe(unsupported[0])
            self.fail(inst, f"devhost does not support this orchestrator action (entities, call_http): {what}", now)
            return
        if result.custom_status is not None or inst.custom_status is not None:
            inst.custom_status = result.custom_status

        # isCanceled may flip on replay: drop the timer so it neither fires nor holds virtual time back.
        for index, entry in enumerate(inst.actions):
            new = flat[index] if index < len(flat) else None
            if new is not None and new.get("isCanceled") and not entry["action"].get("isCanceled"):
                entry["action"]["isCanceled"] = True
                self.store.execute(
                    "DELETE FROM timers WHERE instance_id = ? AND execution_id = ? AND task_id = ?",
                    (inst.instance_id, inst.execution_id, entry["taskId"]),
                )

        for action in flat[len(recorded) :] if result.error is None else []:
            task_id: int | None = None
            if action.get("actionType") in act.NUMBERED:
                task_id = inst.next_seq
                inst.next_seq += 1
                self._schedule(inst, action, task_id, scheduled, now)
            inst.actions.append({"action": action, "taskId": task_id})

        inst.history.extend(scheduled)
        inst.history.append(h.event(h.ORCHESTRATOR_COMPLETED, now))
        inst.last_updated_time = iso(now)
        if result.error is not None:
            self.fail(inst, result.error, now)
        elif result.is_done:
            continue_as_new = [a for a in flat if a.get("actionType") == act.CONTINUE_AS_NEW]
            if continue_as_new:
                self._continue_as_new(inst, continue_as_new[-1].get("input"), flat, now)
            else:
                inst.history.append(h.event(h.EXECUTION_COMPLETED, now, Result=json.dumps(result.output)))
                self.finish(inst, COMPLETED, result.output, now)

    # ------------------------------------------------------------------ scheduling

    def _schedule(
        self, inst: Instance, action: dict[str, Any], task_id: int, scheduled: list[dict[str, Any]], now: datetime
    ) -> None:
        kind = action["actionType"]
        if kind in (act.CALL_ACTIVITY, act.CALL_ACTIVITY_WITH_RETRY):
            is_retry = kind == act.CALL_ACTIVITY_WITH_RETRY
            scheduled.append(
                h.event(h.TASK_SCHEDULED, now, task_id, Name=action["functionName"], Input=action.get("input"))
            )
            self._queue_activity(inst, task_id, action["functionName"], action.get("input"), is_retry)
            if is_retry:
                inst.retries[str(task_id)] = {"kind": "activity", "action": action, "attempt": 1, "current": task_id}
        elif kind in (act.CALL_SUB_ORCHESTRATOR, act.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            child_id = action.get("instanceId") or uuid.uuid4().hex
            action_input = action.get("input")
            scheduled.append(
                h.event(
                    h.SUB_ORCHESTRATION_CREATED,
                    now,
                    task_id,
                    Name=action["functionName"],
                    InstanceId=child_id,
                    Input=action_input,
                )
            )
            if kind == act.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
                inst.retries[str(task_id)] = {
                    "kind": "suborch",
                    "action": {**action, "instanceId": child_id},
                    "attempt": 1,
                    "current": task_id,
                }
            self._start_child(inst, action["functionName"], child_id, action_input, task_id, now)
        elif kind == act.CREATE_TIMER:
            fire_at = parse_iso(action["fireAt"])
            scheduled.append(h.event(h.TIMER_CREATED, now, task_id, FireAt=iso(fire_at)))
            if not action.get("isCanceled"):
                self._queue_timer(inst, task_id, fire_at, "durable")

    def _queue_activity(self, inst: Instance, task_id: int, name: str, input_: str | None, is_retry: bool) -> None:
        self.store.execute(
            "INSERT INTO activities (instance_id, execution_id, task_id, name, input, is_retry) VALUES (?,?,?,?,?,?)",
            (inst.instance_id, inst.execution_id, task_id, name, input_, int(is_retry)),
        )

    def _queue_timer(self, inst: Instance, task_id: int, fire_at: datetime, kind: str) -> None:
        self.store.execute(
            "INSERT INTO timers (instance_id, execution_id, task_id, fire_at, kind) VALUES (?,?,?,?,?)",
            (inst.instance_id, inst.execution_id, task_id, iso(fire_at), kind),
        )

    def _start_child(
        self, parent: Instance, name: str, child_id: str, action_input: str | None, task_id: int, now: datetime
    ) -> None:
        existing = self.store.get_instance(child_id)
        spec = self.functions.get(name)
        problem = None
        if child_id.lower() in (parent.instance_id.lower(), (parent.parent_instance_id or "").lower()):
            # The extension refuses this too (a child would overwrite its parent's history).
            problem = f"A sub-orchestration cannot reuse the instance ID '{child_id}' of its parent."
        elif existing is not None and existing.runtime_status in ACTIVE_STATES:
            problem = f"An Orchestration instance with the status {existing.runtime_status} already exists."
        elif spec is None or spec.trigger_type != "orchestrationTrigger":
            problem = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
        if problem:
            ev = h.event(h.SUB_ORCHESTRATION_FAILED, now, TaskScheduledId=task_id, Reason=problem, Details=problem)
            self.store.enqueue(parent.instance_id, parent.execution_id, "event", ev, isolate=_is_retry(parent, task_id))
            return
        child_input = None if action_input is None else json.dumps(action_input)
        self.create_instance(name, child_id, child_input, parent.instance_id, parent.execution_id, task_id)

    def create_instance(
        self,
        name: str,
        instance_id: str,
        input_text: str | None,
        parent_id: str | None,
        parent_execution: str | None,
        parent_task: int | None,
    ) -> None:
        for table in ("inbox", "activities", "timers"):
            self.store.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
        now = iso(self.clock.now())
        inst = Instance(
            instance_id=instance_id,
            name=name,
            execution_id=uuid.uuid4().hex,
            input=input_text,
            output=None,
            custom_status=None,
            runtime_status=PENDING,
            created_time=now,
            last_updated_time=now,
            parent_instance_id=parent_id,
            parent_execution_id=parent_execution,
            parent_task_id=parent_task,
        )
        self.store.save_instance(inst)
        self.store.enqueue(instance_id, inst.execution_id, "start", {})

    # ------------------------------------------------------------------ retries

    def _retry_bookkeeping(
        self, inst: Instance, new_events: list[dict[str, Any]], scheduled: list[dict[str, Any]], now: datetime
    ) -> None:
        """Mirror the SDK's retry numbering (DTFx RetryInterceptor semantics).

        After a failed attempt the SDK takes one number for a retry timer; when that timer fires it takes one
        for the next attempt, or (after the last attempt) fails the task. Retry events arrive alone in their
        episode, so these numbers are taken before any new action's.
        """
        for ev in new_events:
            etype = ev["EventType"]
            if etype in (h.TASK_FAILED, h.SUB_ORCHESTRATION_FAILED):
                entry = _retry_entry(inst, int(ev["TaskScheduledId"]), "current")
                if entry is None:
                    continue
                timer_id = inst.next_seq
                inst.next_seq += 1
                options = entry["action"].get("retryOptions") or {}
                delay = timedelta(milliseconds=int(options.get("firstRetryIntervalInMilliseconds", 1000)))
                fire_at = now + delay
                entry["timer"] = timer_id
                scheduled.append(h.event(h.TIMER_CREATED, now, timer_id, FireAt=iso(fire_at)))
                self._queue_timer(inst, timer_id, fire_at, "retry")
            elif etype == h.TIMER_FIRED:
                entry = _retry_entry(inst, int(ev["TimerId"]), "timer")
                if entry is None:
                    continue
                options = entry["action"].get("retryOptions") or {}
                if entry["attempt"] >= int(options.get("maxNumberOfAttempts", 1)):
                    entry["timer"] = None
                    continue
                task_id = inst.next_seq
                inst.next_seq += 1
                entry["attempt"] += 1
                entry["current"] = task_id
                entry["timer"] = None
                action = entry["action"]
                if entry["kind"] == "activity":
                    scheduled.append(
                        h.event(h.TASK_SCHEDULED, now, task_id, Name=action["functionName"], Input=action.get("input"))
                    )
                    self._queue_activity(inst, task_id, action["functionName"], action.get("input"), True)
                else:
                    scheduled.append(
                        h.event(
                            h.SUB_ORCHESTRATION_CREATED,
                            now,
                            task_id,
                            Name=action["functionName"],
                            InstanceId=action["instanceId"],
                            Input=action.get("input"),
                        )
                    )
                    self._start_child(
                        inst, action["functionName"], action["instanceId"], action.get("input"), task_id, now
                    )

    # ------------------------------------------------------------------ endings

    def _continue_as_new(
        self, inst: Instance, new_input: str | None, flat: list[dict[str, Any]], now: datetime
    ) -> None:
        """Start a fresh execution.

        Events still queued (not yet applied to this execution) always go to the new one. Events already in this
        execution's history that the code never waited for are discarded, as on Azure: the Python SDK has no
        ``preserveUnprocessedEvents`` (azure-functions-durable-python#331). ``preserve_unprocessed_events``
        re-delivers them instead (per event name, those beyond the number of waits issued).
        """
        waits: dict[str, int] = {}
        for a in flat:
            if a.get("actionType") == act.WAIT_FOR_EXTERNAL_EVENT:
                waits[a["externalEventName"]] = waits.get(a["externalEventName"], 0) + 1
        leftovers: list[dict[str, Any]] = []
        for ev in inst.history:
            if ev["EventType"] == h.EVENT_RAISED:
                if waits.get(ev["Name"], 0) > 0:
                    waits[ev["Name"]] -= 1
                elif self.preserve_unprocessed_events:
                    leftovers.append({**ev, "IsPlayed": False})
        self._drop_pending_work(inst)
        inst.execution_id = uuid.uuid4().hex
        inst.input = None if new_input is None else json.dumps(new_input)
        inst.history = []
        inst.actions = []
        inst.retries = {}
        inst.next_seq = 0
        inst.runtime_status = RUNNING
        inst.last_updated_time = iso(now)
        self.store.enqueue(inst.instance_id, inst.execution_id, "start", {})
        for ev in leftovers:
            self.store.enqueue(inst.instance_id, None, "event", ev)

    def fail(self, inst: Instance, error: str, now: datetime) -> None:
        message = f"Orchestrator function '{inst.name}' failed: {error}"
        inst.history.append(h.event(h.EXECUTION_FAILED, now, Reason=message, Details=error))
        self.finish(inst, FAILED, message, now, failure=(message, error))

    def finish(
        self, inst: Instance, status: str, output: Any, now: datetime, failure: tuple[str, str] | None = None
    ) -> None:
        inst.runtime_status = status
        inst.output = output
        inst.last_updated_time = iso(now)
        self._drop_pending_work(inst)
        if inst.parent_instance_id and inst.parent_task_id is not None:
            parent = self.store.get_instance(inst.parent_instance_id)
            if parent is None or parent.execution_id != inst.parent_execution_id:
                return
            if failure is None:
                ev = h.event(
                    h.SUB_ORCHESTRATION_COMPLETED, now, TaskScheduledId=inst.parent_task_id, Result=json.dumps(output)
                )
                isolate = False
            else:
                ev = h.event(
                    h.SUB_ORCHESTRATION_FAILED,
                    now,
                    TaskScheduledId=inst.parent_task_id,
                    Reason=failure[0],
                    Details=failure[1],
                )
                isolate = _is_retry(parent, inst.parent_task_id)
            self.store.enqueue(parent.instance_id, parent.execution_id, "event", ev, isolate=isolate)

    def _drop_pending_work(self, inst: Instance) -> None:
        for table in ("activities", "timers"):
            self.store.execute(f"DELETE FROM {table} WHERE instance_id = ?", (inst.instance_id,))


def _retry_entry(inst: Instance, task_id: int, field: str) -> dict[str, Any] | None:
    for entry in inst.retries.values():
        if entry.get(field) == task_id:
            return entry
    return None


def _is_retry(inst: Instance, task_id: int) -> bool:
    return _retry_entry(inst, task_id, "current") is not None


def _context_input(stored: str | None) -> Any:
    """The orchestration input as JSON text for the context (the SDK ``df_loads`` it; only dicts are re-dumped)."""
    if stored is None:
        return None
    return event_input(json.loads(stored))
