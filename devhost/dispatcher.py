"""DurableTask's orchestration dispatcher on top of the SQLite store, as DurableTask.AzureStorage persists things.

One call of ``Dispatcher.apply`` is one orchestration work item, run inside a store transaction. It follows
Azure/durabletask ``src/DurableTask.Core/TaskOrchestrationDispatcher.cs``:

* ``ReconcileMessagesWithState``: a second ExecutionStarted is a "Duplicate start event" and dropped; a message for
  another execution id is dropped ("eat up any events for previous executions"). Every other message becomes a
  history event after a new ``OrchestratorStarted`` - duplicates included (a second ``TaskCompleted`` for the same
  task stays in history; only the .NET replay ignores it, ``TaskOrchestrationContext.LogDuplicateEvent``).
* ``OnProcessWorkItemAsync``: runs the episode (``shim.py`` + ``dtfx.py``), then turns the decisions, in id order,
  into history events and messages: ``TaskScheduled`` / ``TimerCreated`` / ``SubOrchestrationInstanceCreated``
  carrying the .NET task id as ``EventId``, then ``ExecutionCompleted`` or ``ContinueAsNew`` (whose ``EventId`` is
  the completion action's id), then ``OrchestratorCompleted``. A sub-orchestration's parent hears only of its final
  completion (``ProcessWorkflowCompletedTaskDecision``: ``SubOrchestrationInstanceCompleted``, or
  ``SubOrchestrationInstanceFailed`` with the child's reason and details, also for a terminated child).
* Continue-as-new: the new execution starts in the same work item with ``[OrchestratorStarted, ExecutionStarted,
  <carried-over events>, OrchestratorCompleted]`` and runs at once; its custom status is its own, or the previous
  execution's when it sets none (``carryOverStatus``). The carried-over events are the ``EventRaised`` events the
  .NET replay processed after ``ContinueAsNew`` was called (``HandleEventRaisedEvent``; Azure Storage's
  ``EventBehaviourForContinueAsNew`` is ``Carryover``,
  ``src/DurableTask.AzureStorage/AzureStorageOrchestrationServiceSettings.cs``). Events the extension had queued
  before that point are lost with the old execution (the Python shim never passes ``preserveUnprocessedEvents``).

and these DurableTask.AzureStorage rules:

* ``IsPlayed`` as stored: the executor sets ``IsPlayed = true`` on every event it processes except
  ``OrchestratorStarted`` (``TaskOrchestrationExecutor.ExecuteCore``) and only the episode's *new* events are
  written (``Tracking/AzureTableTrackingStore.cs``, ``UpdateStateAsync``), so on the next replay the SDK sees
  ``true`` on ExecutionStarted, completions and raised events, and ``false`` on every ``OrchestratorStarted``, on
  ``TaskScheduled`` / ``TimerCreated`` / ``SubOrchestrationInstanceCreated`` / ``OrchestratorCompleted`` /
  ``ExecutionCompleted`` (appended after the replay) and on the current episode's new events.
* Custom status is written every episode (``["CustomStatus"] = newRuntimeState.Status ?? "null"``): an episode whose
  answer has none clears it.
* A sub-orchestration start for an instance id that exists is not refused: ExecutionStarted de-duplication is done
  "for top-level orchestrations but not for sub-orchestrations" (``OrchestrationSessionManager.cs``,
  ``DedupeExecutionStartedMessagesAsync``) and the history lookup for the new execution id finds nothing
  (``AzureTableTrackingStore.GetHistoryEventsAsync``: an ``expectedExecutionId`` that does not match is "a previous
  generation"), so the existing instance - Running or not - is silently replaced by a new execution; the old
  execution's pending messages are then dropped (execution id mismatch) and its parent is never told.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any

from . import dtfx
from . import history as h
from .app_loader import FunctionSpec
from .backends import Backend
from .clock import Clock
from .payload import dotnet_json
from .replay import SdkOutcome, build_context, invoke
from .shim import (
    DEFAULT_MAX_ORCHESTRATION_ACTIONS,
    ENTITY,
    ORCHESTRATOR,
    REQUEST_EVENT,
    ExtensionContext,
    TaskOrchestrationShim,
    is_entity_id,
    parse_scheduler_id,
)
from .store import Instance, Store
from .timefmt import iso

log = logging.getLogger("devhost.dispatcher")

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

# DurableTask.Core OrchestrationStatus, as Json.NET writes the enum into ExecutionCompleted events.
ORCHESTRATION_STATUS = {"Running": 0, COMPLETED: 1, CONTINUED_AS_NEW: 2, FAILED: 3, "Canceled": 4, TERMINATED: 5}


class Dispatcher:
    """Orchestration work items over the store (no threads here: the engine serialises calls)."""

    def __init__(
        self,
        store: Store,
        functions: dict[str, FunctionSpec],
        clock: Clock,
        *,
        backend: Backend,
        max_orchestration_actions: int = DEFAULT_MAX_ORCHESTRATION_ACTIONS,
    ) -> None:
        self.store = store
        self.functions = functions
        self.clock = clock
        self.backend = backend
        self.max_orchestration_actions = max_orchestration_actions
        self.triggers = {name: spec.trigger_type for name, spec in functions.items()}

    # ------------------------------------------------------------------ one work item

    def apply(self, inst: Instance, batch: list[Any]) -> None:
        now = self.clock.now()
        if is_entity_id(inst.instance_id):
            self._entity_batch(inst, batch, now)
            return
        started = any(ev["EventType"] == h.EXECUTION_STARTED for ev in inst.history)
        new_events: list[dict[str, Any]] = []
        for msg in batch:
            if msg["kind"] == "start":
                if not started and msg["execution_id"] == inst.execution_id:
                    new_events.append(self._execution_started(inst, now))
                    started = True
                continue  # a duplicate start event
            if msg["kind"] != "event":
                continue
            if msg["execution_id"] and msg["execution_id"] != inst.execution_id:
                continue  # a message for an execution that was replaced or continued as new
            new_events.append(json.loads(msg["payload"]))
        if not new_events or not started:
            return
        self._run(inst, new_events, now)

    def _execution_started(self, inst: Instance, now: datetime) -> dict[str, Any]:
        parent = None
        if inst.parent_instance_id:
            parent = {
                "OrchestrationInstance": {
                    "InstanceId": inst.parent_instance_id,
                    "ExecutionId": inst.parent_execution_id,
                },
                "TaskScheduleId": inst.parent_task_id,
            }
        return h.event(
            h.EXECUTION_STARTED,
            now,
            Name=inst.name,
            Input=inst.input,
            Version="",
            OrchestrationInstance={"InstanceId": inst.instance_id, "ExecutionId": inst.execution_id},
            ParentInstance=parent,
        )

    def _run(self, inst: Instance, new_events: list[dict[str, Any]], now: datetime) -> None:
        past = [dict(ev) for ev in inst.history]
        new = [h.event(h.ORCHESTRATOR_STARTED, now), *new_events]
        carried_status: str | None = None
        while True:
            result, ext = self._execute(inst, past, new)
            for index, ev in enumerate(new):
                ev["IsPlayed"] = (len(past) + index) in result.processed
            history = [*past, *new]
            for message in ext.rejections:
                log.warning(
                    "%s (%s): the extension faulted an action before scheduling it and the shim swallowed the fault; "
                    "nothing was scheduled and the SDK keeps waiting for it: %s",
                    inst.instance_id,
                    inst.name,
                    message,
                )
            if isinstance(result.failure, dtfx.NonDeterministicError) and result.orchestration_error is not None:
                log.warning(
                    "%s (%s): the orchestrator episode itself failed first, before DurableTask met the recorded "
                    "history (which is why the instance fails as non-deterministic): %s",
                    inst.instance_id,
                    inst.name,
                    result.orchestration_error.message,
                )
            for dup in result.duplicates:
                log.info("%s: duplicate completion kept in history, ignored by the replay: %s", inst.instance_id, dup)
            status = result.custom_status if result.custom_status is not None else carried_status
            inst.custom_status = None if status is None else json.loads(status)
            inst.runtime_status = RUNNING
            inst.last_updated_time = iso(now)
            problem = self._backend_problem(result)
            if problem:
                inst.history = history
                self.fail(inst, problem, None, now)
                return
            completion: dtfx.OrchestratorAction | None = None
            for action in result.actions:
                if action.kind == dtfx.ORCHESTRATION_COMPLETE:
                    completion = action
                self._decision(inst, action, history, now)
            continued = completion is not None and completion.status == dtfx.CONTINUED_AS_NEW
            if not continued and history[-1]["EventType"] != h.ORCHESTRATOR_COMPLETED:
                history.append(h.event(h.ORCHESTRATOR_COMPLETED, now))
            inst.history = history
            if completion is None:
                return
            if not continued:
                self._finish(inst, completion, now)
                return
            assert completion is not None
            carried_status = result.custom_status
            self._drop_timers(inst)
            inst.execution_id = uuid.uuid4().hex
            inst.input = completion.result
            carried = [{**ev, "IsPlayed": True} for ev in completion.carryover]
            past = []
            new = [
                h.event(h.ORCHESTRATOR_STARTED, now),
                self._execution_started(inst, now),
                *carried,
                h.event(h.ORCHESTRATOR_COMPLETED, now),
            ]

    def _execute(
        self, inst: Instance, past: list[dict[str, Any]], new: list[dict[str, Any]]
    ) -> tuple[dtfx.ExecutionResult, ExtensionContext]:
        inner = dtfx.OrchestrationContext(inst.instance_id, inst.execution_id, carry_over_events=True)
        ext = ExtensionContext(
            inner,
            name=inst.name,
            parent_instance_id=inst.parent_instance_id,
            functions=self.triggers,
            backend=self.backend,
            max_actions=self.max_orchestration_actions,
        )
        spec = self.functions.get(inst.name)

        def call_sdk() -> SdkOutcome:
            if spec is None or spec.trigger_type != ORCHESTRATOR:
                # DurableTaskExtension.OrchestrationMiddleware: GetInvalidOrchestratorFunctionMessage
                missing = f"The function '{inst.name}' doesn't exist, is disabled, or is not an orchestrator function."
                return SdkOutcome(None, raised=missing)
            context = build_context(
                inst.instance_id,
                [*past, *new],
                inst.parent_instance_id,
                maximum_short_timer=self.backend.maximum_delay,
                long_timer_interval=self.backend.long_timer_interval,
            )
            return invoke(spec.func, context)

        return dtfx.execute(inner, TaskOrchestrationShim(ext, call_sdk), past, new), ext

    def _backend_problem(self, result: dtfx.ExecutionResult) -> str | None:
        """Payloads and ids the backend would not take (Durable Task Scheduler limits; see ``backends.py``)."""
        backend = self.backend
        checks = [backend.payload_problem("orchestration custom status", result.custom_status)]
        for action in result.actions:
            if action.kind == dtfx.SCHEDULE_TASK:
                checks.append(backend.payload_problem(f"input of activity '{action.name}'", _text(action.input)))
            elif action.kind == dtfx.CREATE_SUB_ORCHESTRATION:
                checks.append(backend.sub_orchestration_id_problem(action.instance_id or ""))
                checks.append(backend.payload_problem(f"input of sub-orchestration '{action.name}'", action.input))
            elif action.kind == dtfx.ORCHESTRATION_COMPLETE and action.status == dtfx.COMPLETED:
                checks.append(backend.payload_problem("orchestration output", action.result))
            elif action.kind == dtfx.ORCHESTRATION_COMPLETE and action.status == dtfx.CONTINUED_AS_NEW:
                checks.append(backend.payload_problem("continue-as-new input", action.result))
        return next((c for c in checks if c), None)

    # ------------------------------------------------------------------ decisions

    def _decision(
        self, inst: Instance, action: dtfx.OrchestratorAction, history: list[dict[str, Any]], now: datetime
    ) -> None:
        if action.kind == dtfx.SCHEDULE_TASK:
            history.append(h.event(h.TASK_SCHEDULED, now, action.id, Name=action.name, Version="", Input=action.input))
            self.store.execute(
                "INSERT INTO activities (instance_id, execution_id, task_id, name, input) VALUES (?,?,?,?,?)",
                (inst.instance_id, inst.execution_id, action.id, action.name, _text(action.input)),
            )
        elif action.kind == dtfx.CREATE_TIMER:
            assert action.fire_at is not None
            history.append(h.event(h.TIMER_CREATED, now, action.id, FireAt=action.fire_at))
            self.store.execute(
                "INSERT INTO timers (instance_id, execution_id, task_id, fire_at, kind) VALUES (?,?,?,?,?)",
                (inst.instance_id, inst.execution_id, action.id, action.fire_at, "durable"),
            )
        elif action.kind == dtfx.CREATE_SUB_ORCHESTRATION:
            child_id = action.instance_id or ""
            child_input = None if action.input is None else dotnet_json(action.input)  # SerializeInternal(input)
            history.append(
                h.event(
                    h.SUB_ORCHESTRATION_CREATED,
                    now,
                    action.id,
                    Name=action.name,
                    Version="",
                    InstanceId=child_id,
                    Input=child_input,
                )
            )
            self.create_instance(action.name, child_id, child_input, inst.instance_id, inst.execution_id, action.id)
        elif action.kind == dtfx.SEND_EVENT:
            target = action.instance_id or ""
            history.append(
                h.event(h.EVENT_SENT, now, action.id, InstanceId=target, Name=action.name, Input=action.input)
            )
            self.send_event(target, action.name, action.input, now)
        elif action.kind == dtfx.ORCHESTRATION_COMPLETE:
            if action.status == dtfx.CONTINUED_AS_NEW:
                history.append(h.event(h.CONTINUE_AS_NEW, now, action.id, Result=action.result))
            else:
                history.append(
                    h.event(
                        h.EXECUTION_COMPLETED,
                        now,
                        action.id,
                        OrchestrationStatus=ORCHESTRATION_STATUS[action.status or FAILED],
                        Result=action.result,
                        Details=action.details,
                    )
                )

    # ------------------------------------------------------------------ entities

    def entity_function(self, name: str) -> FunctionSpec | None:
        """The entity function of that name (FunctionName compares case-insensitively)."""
        return next(
            (s for s in self.functions.values() if s.name.lower() == name.lower() and s.trigger_type == ENTITY), None
        )

    def send_event(
        self, target: str, name: str, input_text: str | None, now: datetime, execution_id: str | None = None
    ) -> None:
        """``ProcessSendEventDecision``: an ``EventRaised`` message to the target. A message to an entity that has
        no instance yet starts one (``Entities.AutoStart``); to any other missing instance it is discarded when its
        work item runs ("No such instance")."""
        if is_entity_id(target) and self.store.get_instance(target) is None:
            entity_name, _key = parse_scheduler_id(target)
            spec = self.entity_function(entity_name)
            stamp = iso(now)
            self.store.save_instance(
                Instance(
                    instance_id=target,
                    name=spec.name if spec else entity_name,
                    execution_id=uuid.uuid4().hex,
                    input=None,  # SchedulerState: none yet (TaskEntityShim.Rehydrate)
                    output=None,
                    custom_status=None,
                    runtime_status=RUNNING,
                    created_time=stamp,
                    last_updated_time=stamp,
                    parent_instance_id=None,
                    parent_execution_id=None,
                    parent_task_id=None,
                )
            )
        ev = h.event(h.EVENT_RAISED, now, Name=name, Input=input_text)
        self.store.enqueue(target, execution_id, "event", ev)

    def _entity_batch(self, inst: Instance, batch: list[Any], now: datetime) -> None:
        """One entity work item (``DurableTaskExtension.EntityMiddleware`` + ``TaskEntityShim.ExecuteOutOfProcBatch``).

        The requests of this work item, in arrival order, are one batch: ONE call of the Python entity function,
        which runs them one after the other and returns the final state and one result per operation. The state is
        taken as the batch left it - an out-of-process batch has no per-operation rollback
        (``RollbackEntityOperationsOnExceptions`` applies to .NET entities only) - and each call (not signal) gets
        its result back as an ``EventRaised`` named by its request id, ``{"result", "exceptionType"?: "Error"}``
        (``ResponseMessage``). Work items of one instance never overlap, so operations on one entity run one at a
        time. *Stricter*: a batch whose function call itself fails (or answers malformed JSON) changes nothing and
        answers nobody (Azure aborts such a batch as an internal error)."""
        requests: list[dict[str, Any]] = []
        for msg in batch:
            if msg["kind"] != "event":
                continue
            ev = json.loads(msg["payload"])
            if ev.get("EventType") == h.EVENT_RAISED and str(ev.get("Name", "")).startswith(REQUEST_EVENT):
                requests.append(json.loads(ev.get("Input") or "{}"))
        if not requests:
            return
        name, key = parse_scheduler_id(inst.instance_id)
        scheduler: dict[str, Any] = json.loads(inst.input) if inst.input else {}
        spec = self.entity_function(name)
        if spec is None:
            log.error("%s: no entity function '%s': %d operation(s) dropped", inst.instance_id, name, len(requests))
            return
        context = {
            "self": {"name": name, "key": key},
            "exists": bool(scheduler.get("exists")),
            "state": scheduler.get("state"),
            "batch": [
                {"name": r.get("op"), "input": r.get("input"), "isSignal": bool(r.get("signal"))} for r in requests
            ],
        }
        try:
            answer = json.loads(spec.func(json.dumps(context)))
            results = list(answer["results"])
            if len(results) != len(requests):
                raise ValueError(f"{len(results)} results for {len(requests)} operations")
        except Exception:
            log.exception("%s: the entity function failed as a whole; the batch is dropped", inst.instance_id)
            return
        inst.input = json.dumps({"exists": bool(answer.get("entityExists")), "state": answer.get("entityState")})
        inst.runtime_status = RUNNING
        inst.last_updated_time = iso(now)
        for request, result in zip(requests, results, strict=True):
            if request.get("signal") or not request.get("parent"):
                continue
            response: dict[str, Any] = {"result": result.get("result")}
            if result.get("isError"):
                response["exceptionType"] = "Error"
            self.send_event(
                request["parent"], str(request["id"]), dotnet_json(response), now, request.get("parentExecution")
            )
        for signal in answer.get("signals") or []:
            target = signal.get("target") or {}
            request = {"op": signal.get("name"), "signal": True, "id": str(uuid.uuid4()), "parent": inst.instance_id}
            if signal.get("input") is not None:
                request["input"] = signal["input"]
            scheduler_id = f"@{str(target.get('name', '')).lower()}@{target.get('key', '')}"
            self.send_event(scheduler_id, REQUEST_EVENT, dotnet_json(request), now)

    def entity_state(self, instance_id: str) -> tuple[bool, str | None] | None:
        """(exists, serialized state) of an entity, None if it has no instance."""
        inst = self.store.get_instance(instance_id)
        if inst is None:
            return None
        scheduler: dict[str, Any] = json.loads(inst.input) if inst.input else {}
        return bool(scheduler.get("exists")), scheduler.get("state")

    def create_instance(
        self,
        name: str,
        instance_id: str,
        input_text: str | None,
        parent_id: str | None,
        parent_execution: str | None,
        parent_task: int | None,
    ) -> None:
        """Start a new execution of ``instance_id`` (replacing whatever execution it had)."""
        self.store.execute("DELETE FROM timers WHERE instance_id = ?", (instance_id,))
        self.store.execute("DELETE FROM inbox WHERE instance_id = ? AND kind = 'start'", (instance_id,))
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

    # ------------------------------------------------------------------ endings

    def _finish(self, inst: Instance, completion: dtfx.OrchestratorAction, now: datetime) -> None:
        status = completion.status or FAILED
        if status == COMPLETED:
            output = None if completion.result is None else json.loads(completion.result)
        else:
            output = completion.result
        self._end(inst, status, output, completion.result, completion.details, now)

    def fail(self, inst: Instance, reason: str, details: str | None, now: datetime) -> None:
        """Fail the instance for a reason found outside the replay (backend limits, devhost errors)."""
        inst.history = [
            *inst.history,
            h.event(
                h.EXECUTION_COMPLETED,
                now,
                OrchestrationStatus=ORCHESTRATION_STATUS[FAILED],
                Result=reason,
                Details=details,
            ),
            h.event(h.ORCHESTRATOR_COMPLETED, now),
        ]
        self._end(inst, FAILED, reason, reason, details, now)

    def terminate(self, inst: Instance, reason: str, now: datetime) -> None:
        """``ExecutionTerminated``: completes the orchestration as Terminated whatever is open."""
        inst.history = [
            *inst.history,
            h.event(h.ORCHESTRATOR_STARTED, now, IsPlayed=False),
            h.event(h.EXECUTION_TERMINATED, now, Input=reason, IsPlayed=True),
            h.event(h.EXECUTION_COMPLETED, now, OrchestrationStatus=ORCHESTRATION_STATUS[TERMINATED], Result=reason),
            h.event(h.ORCHESTRATOR_COMPLETED, now),
        ]
        self._end(inst, TERMINATED, reason, reason, None, now)

    def _end(
        self, inst: Instance, status: str, output: Any, result: str | None, details: str | None, now: datetime
    ) -> None:
        inst.runtime_status = status
        inst.output = output
        inst.last_updated_time = iso(now)
        # Timers of a finished instance would only fire into "Instance is Completed" and be discarded; queued
        # activities still run (their completions are discarded the same way).
        self._drop_timers(inst)
        if not inst.parent_instance_id or inst.parent_task_id is None:
            return
        if status == COMPLETED:
            ev = h.event(h.SUB_ORCHESTRATION_COMPLETED, now, TaskScheduledId=inst.parent_task_id, Result=result)
        else:
            ev = h.event(
                h.SUB_ORCHESTRATION_FAILED, now, TaskScheduledId=inst.parent_task_id, Reason=result, Details=details
            )
        self.store.enqueue(inst.parent_instance_id, inst.parent_execution_id, "event", ev)

    def _drop_timers(self, inst: Instance) -> None:
        self.store.execute("DELETE FROM timers WHERE instance_id = ?", (inst.instance_id,))


def _text(value: Any) -> str | None:
    """An action input as the text the activity receives (the SDK sends JSON text already)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
