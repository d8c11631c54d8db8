"""DurableTask.Core's side of one orchestrator episode: task numbering, open tasks, replay checks, completion.

A model of three classes of Azure/durabletask ``src/DurableTask.Core`` (read at commit 5217032, the same logic as
the DurableTask.Core 2.17 the extension references):

* ``TaskOrchestrationContext``: every ``ScheduleTask`` / ``CreateTimer`` / ``CreateSubOrchestrationInstance``
  takes the next number of one counter (``idCounter++``) at the moment .NET code calls it; external events and
  ``ContinueAsNew`` take none. The call adds an action to ``orchestratorActionsMap`` and (timers, activities,
  sub-orchestrations) an entry to ``openTasks``. History events then match against them:
  ``HandleTaskScheduledEvent`` / ``HandleTimerCreatedEvent`` / ``HandleSubOrchestrationCreatedEvent`` throw
  ``NonDeterministicOrchestrationException`` when the replay has no action with that id, an action of another type,
  or another name (case-insensitive), and remove the matched action; completions complete the open task with that
  id and a completion for an id that is not open (a duplicate) is only logged (``LogDuplicateEvent``). A cancelled
  timer leaves ``openTasks`` but not ``orchestratorActionsMap`` (its timer is still created and will fire).
  ``HandleEventRaisedEvent`` hands an event to the orchestration, or, once ``ContinueAsNew`` was called and the
  backend carries events over (Azure Storage's default, ``BehaviorOnContinueAsNew.Carryover``), keeps it for the
  next execution. ``CompleteOrchestration`` / ``FailOrchestration`` add the completion action (it also takes a
  number).
* ``TaskOrchestrationExecutor.ExecuteCore``: processes past then new events in order (``OrchestratorStarted`` only
  sets ``CurrentUtcDateTime``; every other event is marked ``IsPlayed`` after it is processed), calls the
  orchestration's ``Execute`` on ``ExecutionStarted``, and completes or fails the orchestration only if its
  result task is complete **and no task is open** (``if (!this.context.HasOpenTasks)``); a non-determinism
  exception fails it at once.
* ``RetryInterceptor<T>.Invoke``: the retry loop behind ``ScheduleWithRetry`` /
  ``CreateSubOrchestrationInstanceWithRetry`` (a timer of ``FirstRetryInterval * BackoffCoefficient^n`` capped at
  ``MaxRetryInterval`` between attempts, and after the last failed attempt a timer that fires at once, kept "for
  back-compat").

The orchestration itself (``execute`` / ``raise_event`` / ``get_status``) is the extension's shim, ``shim.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from . import history as h
from .nettask import Async, NetError, Task, TaskCompletionSource, run
from .timefmt import iso, parse_iso

SCHEDULE_TASK = "ScheduleTask"
CREATE_TIMER = "CreateTimer"
CREATE_SUB_ORCHESTRATION = "CreateSubOrchestration"
ORCHESTRATION_COMPLETE = "OrchestrationComplete"
SEND_EVENT = "SendEvent"

COMPLETED = "Completed"
FAILED = "Failed"
TERMINATED = "Terminated"
CONTINUED_AS_NEW = "ContinuedAsNew"

_ACTION_CLASS = {  # the .NET type names the non-determinism messages print
    SCHEDULE_TASK: "ScheduleTaskOrchestratorAction",
    CREATE_TIMER: "CreateTimerOrchestratorAction",
    CREATE_SUB_ORCHESTRATION: "CreateSubOrchestrationAction",
    ORCHESTRATION_COMPLETE: "OrchestrationCompleteOrchestratorAction",
    SEND_EVENT: "SendEventOrchestratorAction",
}
_CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"


class NonDeterministicError(NetError):
    net_type = "DurableTask.Core.Exceptions.NonDeterministicOrchestrationException"

    def __init__(self, details: str) -> None:
        super().__init__("Non-Deterministic workflow detected: " + details)


class TaskFailedError(NetError):
    net_type = "DurableTask.Core.Exceptions.TaskFailedException"


class SubOrchestrationFailedError(NetError):
    net_type = "DurableTask.Core.Exceptions.SubOrchestrationFailedException"


class OrchestrationFailureError(NetError):
    """``OrchestrationFailureException``: its ``Message`` becomes the failure reason, ``Details`` the details."""

    net_type = "DurableTask.Core.Exceptions.OrchestrationFailureException"


@dataclass
class OrchestratorAction:
    """One entry of ``orchestratorActionsMap`` (what the dispatcher turns into messages and history events)."""

    id: int
    kind: str
    name: str = ""
    input: Any = None
    fire_at: str | None = None
    instance_id: str | None = None
    status: str | None = None  # OrchestrationComplete: Completed / Failed / Terminated / ContinuedAsNew
    result: str | None = None  # OrchestrationComplete: output JSON, failure reason or the new execution's input
    details: str | None = None
    carryover: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RetryOptions:
    """DurableTask.Core ``RetryOptions`` as the extension builds them from the SDK's ``retryOptions`` JSON."""

    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta = timedelta(days=6)  # the extension's RetryOptions.DefaultMaxRetryinterval
    retry_timeout: timedelta | None = None  # None = TimeSpan.MaxValue


class CancellationToken:
    """Just enough of ``CancellationTokenSource``/``CancellationToken`` for ``CreateTimer``."""

    def __init__(self) -> None:
        self.cancelled = False
        self._callbacks: list[Callable[[], None]] = []

    def register(self, callback: Callable[[], None]) -> None:
        if self.cancelled:
            callback()
        else:
            self._callbacks.append(callback)

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class Orchestration(Protocol):
    """``TaskOrchestration``: what DurableTask calls (here the extension's ``TaskOrchestrationShim``)."""

    def execute(self, context: OrchestrationContext, serialized_input: str | None) -> Task: ...

    def raise_event(self, context: OrchestrationContext, name: str, serialized_input: str | None) -> None: ...

    def get_status(self) -> str | None: ...


@dataclass
class _OpenTask:
    name: str | None
    source: TaskCompletionSource


class OrchestrationContext:
    """``TaskOrchestrationContext``: task numbering, open tasks and the actions of one replay."""

    def __init__(self, instance_id: str, execution_id: str, *, carry_over_events: bool = True) -> None:
        self.instance_id = instance_id
        self.execution_id = execution_id
        self.carry_over_events = carry_over_events
        self.current_utc_datetime = datetime.min.replace(tzinfo=UTC)
        self.is_replaying = False
        self._id_counter = 0
        self._open: dict[int, _OpenTask] = {}
        self._actions: dict[int, OrchestratorAction] = {}
        self._continue_as_new: OrchestratorAction | None = None
        self._completed_or_terminated = False
        self.duplicates: list[dict[str, Any]] = []  # completions for tasks that were not open (LogDuplicateEvent)

    # ------------------------------------------------------------------ what code calls

    @property
    def has_open_tasks(self) -> bool:
        return bool(self._open)

    @property
    def has_continue_as_new(self) -> bool:
        return self._continue_as_new is not None

    def actions(self) -> list[OrchestratorAction]:
        """``OrchestratorActions``: the unmatched actions, in id order (a ``SortedDictionary``)."""
        return [self._actions[k] for k in sorted(self._actions)]

    def _next_id(self) -> int:
        task_id = self._id_counter
        self._id_counter += 1
        return task_id

    def _open_task(self, task_id: int, name: str | None) -> Task:
        source = TaskCompletionSource(f"{name or 'timer'}#{task_id}")
        self._open[task_id] = _OpenTask(name, source)
        return source.task

    def schedule_task(self, name: str, input_: Any) -> Task:
        task_id = self._next_id()
        self._actions[task_id] = OrchestratorAction(task_id, SCHEDULE_TASK, name=name, input=input_)
        return self._open_task(task_id, name)

    def create_sub_orchestration(self, name: str, instance_id: str | None, input_: Any) -> Task:
        task_id = self._next_id()
        actual_id = instance_id if instance_id and instance_id.strip() else f"{self.execution_id}:{task_id}"
        self._actions[task_id] = OrchestratorAction(
            task_id, CREATE_SUB_ORCHESTRATION, name=name, input=input_, instance_id=actual_id
        )
        return self._open_task(task_id, name)

    def create_timer(self, fire_at: datetime, token: CancellationToken | None) -> Task:
        task_id = self._next_id()
        self._actions[task_id] = OrchestratorAction(task_id, CREATE_TIMER, fire_at=iso(fire_at))
        task = self._open_task(task_id, None)
        if token is not None:

            def cancelled() -> None:
                open_task = self._open.get(task_id)
                if open_task is not None and open_task.source.try_set_canceled():
                    del self._open[task_id]  # no longer open; the timer itself is still created and fires

            token.register(cancelled)
        return task

    def send_event(self, instance_id: str, event_name: str, serialized_data: str) -> None:
        """``SendEvent``: takes a number and adds a ``SendEventOrchestratorAction``; no task is opened (the
        extension's entity calls wait for the answer as an external event named by the request id)."""
        if not instance_id or not instance_id.strip():
            raise NetError("orchestrationInstance", net_type="System.ArgumentException")
        task_id = self._next_id()
        self._actions[task_id] = OrchestratorAction(
            task_id, SEND_EVENT, name=event_name, input=serialized_data, instance_id=instance_id
        )

    def continue_as_new(self, serialized_input: str | None) -> None:
        self._continue_as_new = OrchestratorAction(
            -1, ORCHESTRATION_COMPLETE, status=CONTINUED_AS_NEW, result=serialized_input
        )

    def schedule_with_retry(self, name: str, options: RetryOptions, input_: Any) -> Task:
        return run(self._retry(options, lambda: self.schedule_task(name, input_)), f"retry {name}")

    def create_sub_orchestration_with_retry(
        self, name: str, instance_id: str | None, options: RetryOptions, input_: Any
    ) -> Task:
        return run(
            self._retry(options, lambda: self.create_sub_orchestration(name, instance_id, input_)), f"retry {name}"
        )

    def _retry(self, options: RetryOptions, call: Callable[[], Task]) -> Async:
        """``RetryInterceptor<T>.Invoke``."""
        last: NetError | None = None
        first_attempt = self.current_utc_datetime
        for attempt in range(options.max_number_of_attempts):
            try:
                return (yield call())
            except NetError as exc:
                last = exc
            if attempt + 1 == options.max_number_of_attempts:
                yield self.create_timer(self.current_utc_datetime, None)  # fires at once ("back-compat" timer)
                break
            delay = self._next_delay(options, attempt, first_attempt)
            if delay <= timedelta(0):
                break
            yield self.create_timer(self.current_utc_datetime + delay, None)
        if last is not None:
            raise last
        return None

    def _next_delay(self, options: RetryOptions, attempt: int, first_attempt: datetime) -> timedelta:
        if options.retry_timeout is not None and self.current_utc_datetime >= first_attempt + options.retry_timeout:
            return timedelta(0)
        delay = options.first_retry_interval * (options.backoff_coefficient**attempt)
        return min(delay, options.max_retry_interval)

    # ------------------------------------------------------------------ history events

    def handle_task_scheduled(self, event: dict[str, Any]) -> None:
        task_id = int(event["EventId"])
        name = event.get("Name", "")
        action = self._actions.get(task_id)
        if action is None:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled an activity task with sequence ID {task_id} "
                f"and name '{name}' (version ''), but the current replay execution hasn't (yet?) scheduled this "
                f"task. {_CHANGED}"
            )
        if action.kind != SCHEDULE_TASK:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled an activity task with sequence number "
                f"{task_id} named '{name}', but the current orchestration replay instead produced a "
                f"{_ACTION_CLASS[action.kind]} action with this sequence number. {_CHANGED}"
            )
        if action.name.lower() != str(name).lower():
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled an activity task with sequence number "
                f"{task_id} named '{name}', but the current orchestration replay instead scheduled an activity task "
                f"named '{action.name}' with this sequence number.  {_CHANGED}"
            )
        del self._actions[task_id]

    def handle_timer_created(self, event: dict[str, Any]) -> None:
        task_id = int(event["EventId"])
        action = self._actions.get(task_id)
        if action is None:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled a timer task with sequence number {task_id} "
                f"but the current replay execution hasn't (yet?) scheduled this task. {_CHANGED}"
            )
        if action.kind != CREATE_TIMER:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled a timer task with sequence number {task_id} "
                f"named but the current orchestration replay instead produced a {_ACTION_CLASS[action.kind]} action "
                f"with this sequence number. {_CHANGED}"
            )
        del self._actions[task_id]

    def handle_sub_orchestration_created(self, event: dict[str, Any]) -> None:
        task_id = int(event["EventId"])
        what = (
            f"a sub-orchestration task with sequence ID {task_id} and name '{event.get('Name', '')}' "
            f"(version '', instance ID '{event.get('InstanceId', '')}')"
        )
        action = self._actions.get(task_id)
        if action is None:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled {what}, but the current replay execution "
                f"hasn't (yet?) scheduled this task. {_CHANGED}"
            )
        if action.kind != CREATE_SUB_ORCHESTRATION:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled {what}, but the current orchestration replay "
                f"instead produced a {_ACTION_CLASS[action.kind]} action at this sequence number. {_CHANGED}"
            )
        if action.name.lower() != str(event.get("Name", "")).lower():
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled {what}, but the current orchestration replay "
                f"instead scheduled a sub-orchestration task with name {action.name} at this sequence number. "
                f"{_CHANGED}"
            )
        del self._actions[task_id]

    def handle_event_sent(self, event: dict[str, Any]) -> None:
        """``HandleEventSentEvent``: the replay must have sent an event with this id and (case-insensitive) name."""
        task_id = int(event["EventId"])
        name, target = event.get("Name", ""), event.get("InstanceId", "")
        action = self._actions.get(task_id)
        if action is None:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled a send event task with sequence ID {task_id}, "
                f"type 'EventSent' name '{name}', instance ID '{target}', but the current replay execution hasn't "
                f"(yet?) scheduled this task. {_CHANGED}"
            )
        if action.kind != SEND_EVENT:
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled a send event task with sequence ID {task_id}, "
                f"type 'EventSent', name '{name}', instance ID '{target}', but the current orchestration replay "
                f"instead scheduled a {_ACTION_CLASS[action.kind]} task at this sequence number. {_CHANGED}"
            )
        if action.name.lower() != str(name).lower():
            raise NonDeterministicError(
                f"A previous execution of this orchestration scheduled a send event task with sequence ID {task_id}, "
                f"type 'EventSent', name '{name}', instance ID '{target}'), but the current orchestration replay "
                f"instead scheduled a send event task with name {action.name}at this sequence number. {_CHANGED}"
            )
        del self._actions[task_id]

    def handle_completion(self, event: dict[str, Any]) -> None:
        etype = event["EventType"]
        task_id = int(event["TimerId"] if etype == h.TIMER_FIRED else event["TaskScheduledId"])
        open_task = self._open.pop(task_id, None)
        if open_task is None:
            self.duplicates.append(event)  # LogDuplicateEvent: ignored
            return
        if etype in (h.TASK_COMPLETED, h.SUB_ORCHESTRATION_COMPLETED):
            open_task.source.set_result(event.get("Result"))
        elif etype == h.TIMER_FIRED:
            open_task.source.set_result(str(task_id))
        elif etype == h.TASK_FAILED:
            open_task.source.set_exception(
                TaskFailedError(str(event.get("Reason") or ""), details=event.get("Details"))
            )
        else:
            open_task.source.set_exception(
                SubOrchestrationFailedError(str(event.get("Reason") or ""), details=event.get("Details"))
            )

    def handle_event_raised(self, event: dict[str, Any], orchestration: Orchestration) -> None:
        if not self.carry_over_events or self._continue_as_new is None:
            orchestration.raise_event(self, str(event.get("Name", "")), event.get("Input"))
        else:
            self._continue_as_new.carryover.append(event)

    # ------------------------------------------------------------------ completion

    def complete_orchestration(self, result: str | None, details: str | None, status: str) -> None:
        task_id = self._next_id()
        if status == COMPLETED and self._continue_as_new is not None:
            action = self._continue_as_new
        else:
            if self._completed_or_terminated:
                return
            self._completed_or_terminated = True
            action = OrchestratorAction(task_id, ORCHESTRATION_COMPLETE, status=status, result=result, details=details)
        action.id = task_id
        self._actions[task_id] = action

    def fail_orchestration(self, failure: NetError) -> None:
        if isinstance(failure, OrchestrationFailureError):
            details = failure.details
        else:
            details = f"Unhandled exception while executing orchestration: {failure.net_type}: {failure.message}"
        self.complete_orchestration(failure.message, details, FAILED)


_COMPLETIONS = (
    h.TASK_COMPLETED,
    h.TASK_FAILED,
    h.SUB_ORCHESTRATION_COMPLETED,
    h.SUB_ORCHESTRATION_FAILED,
    h.TIMER_FIRED,
)


@dataclass
class ExecutionResult:
    """``OrchestratorExecutionResult`` plus what the dispatcher needs to persist the episode."""

    actions: list[OrchestratorAction]
    custom_status: str | None
    processed: set[int]  # indexes (into past + new) of the events the executor processed (now IsPlayed)
    duplicates: list[dict[str, Any]]
    failure: NetError | None = None  # the exception that failed the orchestration, if it failed
    orchestration_error: NetError | None = None  # the orchestration's own fault (also when another one won)


def execute(
    context: OrchestrationContext,
    orchestration: Orchestration,
    past: list[dict[str, Any]],
    new: list[dict[str, Any]],
) -> ExecutionResult:
    """``TaskOrchestrationExecutor.ExecuteCore`` over one episode's runtime state."""
    result: Task | None = None
    processed: set[int] = set()
    failure: NetError | None = None
    try:
        for index, event in enumerate([*past, *new]):
            context.is_replaying = index < len(past)
            etype = event["EventType"]
            if etype == h.ORCHESTRATOR_STARTED:
                context.current_utc_datetime = parse_iso(event["Timestamp"])
                continue
            if etype == h.EXECUTION_STARTED:
                result = orchestration.execute(context, event.get("Input"))
            elif etype == h.TASK_SCHEDULED:
                context.handle_task_scheduled(event)
            elif etype == h.TIMER_CREATED:
                context.handle_timer_created(event)
            elif etype == h.SUB_ORCHESTRATION_CREATED:
                context.handle_sub_orchestration_created(event)
            elif etype == h.EVENT_SENT:
                context.handle_event_sent(event)
            elif etype in _COMPLETIONS:
                context.handle_completion(event)
            elif etype == h.EVENT_RAISED:
                context.handle_event_raised(event, orchestration)
            processed.add(index)
        if not context.has_open_tasks and result is not None and result.done:
            value, error = result.outcome()
            if error is not None:
                failure = error
                context.fail_orchestration(error)
            else:
                context.complete_orchestration(value, None, COMPLETED)
    except NonDeterministicError as exc:
        failure = exc
        context.fail_orchestration(exc)
    own_error = result.outcome()[1] if result is not None and result.done else None
    return ExecutionResult(
        context.actions(), orchestration.get_status(), processed, context.duplicates, failure, own_error
    )
