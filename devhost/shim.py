"""The Durable extension's orchestrator shim: what happens to the SDK's answer before DurableTask sees anything.

For Python the extension uses the legacy out-of-process protocol (Azure/azure-functions-durable-extension
``src/WebJobs.Extensions.DurableTask/DurableTaskExtension.cs``: ``OutOfProcOrchestrationProtocol.OrchestratorShim``
for every runtime except .NET isolated, Java and custom handlers). DurableTask runs a ``TaskOrchestrationShim``;
its ``Execute`` invokes the Python function once per episode (with the whole history) and hands the answer to
``Listener/OutOfProcOrchestrationShim.cs``, which replays it through the extension's .NET context
(``ContextImplementations/DurableOrchestrationContext.cs``). This module models those three classes:

``OutOfProcShim`` (``OutOfProcOrchestrationShim``)
  ``ScheduleDurableTaskEvents``: (1) ``SetCustomStatus`` first, (2) ``ReplayOOProcOrchestration`` - the SDK's
  ``schemaVersion`` picks the path; the 1.x SDK, given ``upperSchemaVersionNew`` = V3, answers ``schemaVersion`` 2
  (``SchemaVersion.V3``) with one action list, so ``ProcessAsyncActionsV2`` runs: each action is turned into a .NET
  task (``InvokeAPIFromAction``; WhenAll = ``Task.WhenAll``, WhenAny = ``Task.WhenAny``) and **awaited before the
  next action is even looked at**; a task's exception is swallowed ("Exception handling ... is managed in the
  OOProc SDKs"), an exception while *creating* the task is not. (3) Only then ``error`` (throws
  ``OrchestrationFailureException("Orchestrator function 'x' failed: <error>")``) and ``isDone`` (``SetOutput``;
  otherwise ``Task.Delay(Timeout.Infinite)`` keeps the orchestration open).

``ExtensionContext`` (``DurableOrchestrationContext``)
  * ``SetCustomStatus``: serialized with ``MessagePayloadDataConverter.Serialize(value, 16)``, which throws
    ``ArgumentException("The UTF-16 size of the JSON-serialized payload must not exceed 16 KB. The current payload
    size is N KB.")`` when ``(int)(UTF-16 bytes / 1024.0) > 16`` (Learn "Custom orchestration status": at most
    16 KB of UTF-16 JSON).
  * ``CallDurableTaskFunctionAsync`` (activities, sub-orchestrations, with or without retry) is ``async``: its
    checks (``ThrowIfFunctionDoesNotExist``, a sub-orchestration id equal to the instance's or its parent's, an id
    starting with ``@``, retry intervals over the backend's maximum delay, ``MaxOrchestrationActions``) fault the
    returned task *before* DurableTask numbers anything, and the shim swallows that fault: nothing is scheduled,
    the SDK waits for it forever and every later .NET number shifts by one.
  * ``CreateTimer``: a timer further out than ``MaximumDelayTime`` is split into ``LongRunningTimerIntervalLength``
    hops by .NET itself; ``IsCanceled`` cancels the token right after creating the timer (the timer leaves
    ``openTasks`` but is still created).
  * ``WaitForExternalEvent`` / ``RaiseEvent``: waiters per event name (case-insensitive) on a stack; an event with
    no waiter is queued per name and each later wait takes ONE queued event. ``ContinueAsNew(input)`` is called
    without ``preserveUnprocessedEvents``, so queued events are dropped with the old execution.

``TaskOrchestrationShim``
  ``InvokeUserCodeAndHandleResults``: if the SDK returned normally, any exception of the replay becomes
  ``OrchestrationFailureException("Orchestrator function 'x' failed: <message>")``; if the SDK raised with its state
  attached, the replay runs and an ``OrchestrationFailureException`` passes through while any other exception (e.g.
  the custom-status one) escapes as it is, so its message alone becomes the failure reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import actions as act
from .backends import Backend
from .dtfx import (
    CancellationToken,
    OrchestrationContext,
    OrchestrationFailureError,
    RetryOptions,
    SubOrchestrationFailedError,
    TaskFailedError,
)
from .nettask import (
    ArgumentError,
    Async,
    InvalidOperationError,
    NetError,
    Task,
    TaskCompletionSource,
    completed,
    never,
    run,
    when_all,
    when_any,
)
from .payload import dotnet_json, utf16_bytes
from .replay import SdkOutcome
from .timefmt import parse_iso

log = logging.getLogger("devhost.shim")

SCHEMA_ORIGINAL = 0
SCHEMA_V2 = 1
SCHEMA_V3 = 2
MAX_CUSTOM_STATUS_KB = 16
DEFAULT_MAX_ORCHESTRATION_ACTIONS = 100_000  # DurableTaskOptions.MaxOrchestrationActions


class UnsupportedActionError(NetError):
    """An action devhost does not run (entities, durable HTTP): fails the orchestration (stricter than Azure)."""

    net_type = "devhost.UnsupportedAction"


class EntityOperationFailedError(NetError):
    """``ResponseMessage.GetResult`` of a response whose ``exceptionType`` is set (an operation that raised)."""

    net_type = "Microsoft.Azure.WebJobs.Extensions.DurableTask.EntitySchedulerException"


class FunctionFailedError(NetError):
    net_type = "Microsoft.Azure.WebJobs.Extensions.DurableTask.FunctionFailedException"


ACTIVITY = "activityTrigger"
ORCHESTRATOR = "orchestrationTrigger"
ENTITY = "entityTrigger"
REQUEST_EVENT = "op"  # EntityMessageEventNames.RequestMessageEventName


def parse_scheduler_id(scheduler_id: str) -> tuple[str, str]:
    """``EntityId.GetEntityIdFromSchedulerId``: ``@name@key`` (the SDK lower-cases the name)."""
    if not scheduler_id.startswith("@") or "@" not in scheduler_id[1:]:
        raise ArgumentError(f"Invalid entity scheduler id '{scheduler_id}'.")
    name, _, key = scheduler_id[1:].partition("@")
    return name, key


def is_entity_id(instance_id: str) -> bool:
    return instance_id.startswith("@")


@dataclass
class ParsedAction:
    """``OutOfProcOrchestrationShim.AsyncAction`` as Json.NET reads it from the SDK's answer."""

    type: int
    raw: dict[str, Any]
    function_name: str = ""
    input: Any = None
    fire_at: datetime | None = None
    external_event_name: str = ""
    is_canceled: bool = False
    retry: RetryOptions | None = None
    instance_id: str | None = None
    operation: str = ""
    compound: list[ParsedAction] = field(default_factory=list)


@dataclass
class ParsedState:
    """``OutOfProcOrchestrationShim.OutOfProcOrchestratorState``."""

    is_done: bool
    actions: list[list[ParsedAction]] | None
    output: Any
    error: str | None
    custom_status: Any
    schema: int


def _action_type(value: Any) -> int:
    if isinstance(value, str):  # StringEnumConverter also reads names
        for number, name in act.NAMES.items():
            if name.lower() == value.lower():
                return number
        raise ArgumentError(f"Requested value '{value}' was not found.")
    return int(value)


def _retry_options(raw: dict[str, Any] | None) -> RetryOptions | None:
    """``RetryOptionsConverter.ReadJson`` + the DurableTask.Core ``RetryOptions`` constructor's check."""
    if raw is None:
        return None
    for required in ("firstRetryIntervalInMilliseconds", "maxNumberOfAttempts"):
        if required not in raw:
            raise ArgumentError(f"Invalid JSON. Must contain field {required} (Parameter 'reader')")
    first = timedelta(milliseconds=int(raw["firstRetryIntervalInMilliseconds"]))
    if first <= timedelta(0):
        raise ArgumentError(
            "Invalid interval.  Specify a TimeSpan value greater then TimeSpan.Zero. (Parameter 'firstRetryInterval')"
        )
    options = RetryOptions(first, int(raw["maxNumberOfAttempts"]))
    if "backoffCoefficient" in raw:
        options.backoff_coefficient = float(raw["backoffCoefficient"])
    if "maxRetryIntervalInMilliseconds" in raw:
        options.max_retry_interval = timedelta(milliseconds=int(raw["maxRetryIntervalInMilliseconds"]))
    if "retryTimeoutInMilliseconds" in raw:
        options.retry_timeout = timedelta(milliseconds=int(raw["retryTimeoutInMilliseconds"]))
    return options


def parse_action(raw: dict[str, Any]) -> ParsedAction:
    action = ParsedAction(type=_action_type(raw.get("actionType", 0)), raw=raw)
    action.function_name = raw.get("functionName") or ""
    action.input = raw.get("input")
    if raw.get("fireAt"):
        action.fire_at = parse_iso(raw["fireAt"])
    action.external_event_name = raw.get("externalEventName") or ""
    action.is_canceled = bool(raw.get("isCanceled"))
    action.retry = _retry_options(raw.get("retryOptions"))
    action.instance_id = raw.get("instanceId")
    action.operation = raw.get("operation") or ""
    action.compound = [parse_action(child) for child in raw.get("compoundActions") or []]
    return action


def parse_state(state: dict[str, Any]) -> ParsedState:
    """``result.Json.ToObject<OutOfProcOrchestratorState>()`` (throws before anything else runs)."""
    schema = state.get("schemaVersion", SCHEMA_ORIGINAL)
    if schema not in (SCHEMA_ORIGINAL, SCHEMA_V2, SCHEMA_V3):
        raise ArgumentError(f"Error converting value {schema} to type 'SchemaVersion'.")
    raw_actions = state.get("actions")
    actions = None if raw_actions is None else [[parse_action(a) for a in group] for group in raw_actions]
    return ParsedState(
        is_done=bool(state.get("isDone")),
        actions=actions,
        output=state.get("output"),
        error=state.get("error"),
        custom_status=state.get("customStatus"),
        schema=int(schema),
    )


class ExtensionContext:
    """The parts of the extension's ``DurableOrchestrationContext`` the shim's replay goes through."""

    def __init__(
        self,
        inner: OrchestrationContext,
        *,
        name: str,
        parent_instance_id: str | None,
        functions: Mapping[str, str],
        backend: Backend,
        max_actions: int = DEFAULT_MAX_ORCHESTRATION_ACTIONS,
    ) -> None:
        self.inner = inner
        self.name = name
        self.instance_id = inner.instance_id
        self.parent_instance_id = parent_instance_id
        self.functions = {k.lower(): v for k, v in functions.items()}  # FunctionName compares case-insensitively
        self.function_names = dict(functions)
        self.backend = backend
        self.max_actions = max_actions
        self.action_count = 0
        self.is_long_running_timer = False
        self.continued_as_new = False
        self.serialized_custom_status: str | None = None
        self.serialized_output: str | None = None
        self.output_set = False
        self._pending: dict[str, list[TaskCompletionSource]] = {}  # a stack per event name
        self._buffered: dict[str, deque[str | None]] = {}
        self._guid_counter = 0
        self.rejections: list[str] = []  # faults the shim swallows before anything was scheduled (for the log)

    # ------------------------------------------------------------------ status and output

    def set_custom_status(self, value: Any) -> None:
        text = dotnet_json(value)
        size_kb = int(utf16_bytes(text) / 1024.0)
        if size_kb > MAX_CUSTOM_STATUS_KB:
            raise ArgumentError(
                f"The UTF-16 size of the JSON-serialized payload must not exceed {MAX_CUSTOM_STATUS_KB:,} KB. "
                f"The current payload size is {size_kb:,} KB."
            )
        self.serialized_custom_status = text

    def set_output(self, value: Any) -> None:
        if self.output_set:
            raise InvalidOperationError("The output has already been set of this orchestration instance.")
        self.output_set = True
        self.serialized_output = None if value is None else dotnet_json(value)

    # ------------------------------------------------------------------ activities and sub-orchestrations

    def _reject(self, error: NetError) -> NetError:
        self.rejections.append(error.message)
        return error

    def _increment_actions(self) -> None:
        if self.action_count >= self.max_actions:
            raise self._reject(
                InvalidOperationError(
                    f"Maximum amount of orchestration actions ({self.max_actions}) has been reached. This value can "
                    "be configured in host.json file as MaxOrchestrationActions."
                )
            )
        self.action_count += 1

    def _throw_if_function_does_not_exist(self, name: str, trigger: str) -> None:
        if self.functions.get(name.lower()) == trigger:
            return
        kind = {ACTIVITY: "activity", ENTITY: "entity"}.get(trigger, "orchestrator")
        known = "', '".join(sorted(n for n, t in self.function_names.items() if t == trigger))
        info = f"The following are the known {kind} functions: '{known}'." if known else ""
        if not info:
            info = f"No {kind} functions are currently registered!"
        raise self._reject(
            ArgumentError(
                f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
                f"Additional info: {info}"
            )
        )

    def call(
        self, trigger: str, name: str, input_: Any, instance_id: str | None = None, retry: RetryOptions | None = None
    ) -> Task:
        """``CallDurableTaskFunctionAsync``."""
        return run(self._call(trigger, name, input_, instance_id, retry), f"call {name}")

    def _call(self, trigger: str, name: str, input_: Any, instance_id: str | None, retry: RetryOptions | None) -> Async:
        if retry is not None:
            for delay in (retry.max_retry_interval, retry.first_retry_interval):
                problem = self.backend.delay_problem(delay)
                if problem:
                    raise self._reject(ArgumentError(problem))
        self._throw_if_function_does_not_exist(name, trigger)
        if trigger == ACTIVITY:
            self._increment_actions()
            if retry is None:
                call = self.inner.schedule_task(name, input_)
            else:
                call = self.inner.schedule_with_retry(name, retry, input_)
        else:
            same = [self.instance_id] + ([self.parent_instance_id] if self.parent_instance_id is not None else [])
            if instance_id is not None and instance_id.lower() in (i.lower() for i in same):
                raise self._reject(
                    ArgumentError(
                        "The instance ID of a sub-orchestration must be different than the instance ID of a parent "
                        "orchestration."
                    )
                )
            if instance_id is not None and instance_id.startswith("@"):
                raise self._reject(
                    ArgumentError("instanceId (Parameter 'Orchestration instance ids must not start with @')")
                )
            self._increment_actions()
            if retry is None:
                call = self.inner.create_sub_orchestration(name, instance_id, input_)
            else:
                call = self.inner.create_sub_orchestration_with_retry(name, instance_id, retry, input_)
        try:
            return (yield call)
        except (TaskFailedError, SubOrchestrationFailedError) as exc:
            kind = "activity" if trigger == ACTIVITY else "orchestrator"
            raise FunctionFailedError(
                f"The {kind} function '{name}' failed: \"{exc.message}\". See the function execution logs for "
                "additional details."
            ) from exc

    # ------------------------------------------------------------------ entities

    def new_guid(self) -> str:
        """``NewGuid``: a name-based GUID from the instance id, the orchestration clock and a counter, so a replay
        produces the same request ids (``GuidManager.CreateDeterministicGuid(UrlNamespaceValue, ...)``)."""
        now = self.inner.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # .NET "o" format
        name = f"{self.instance_id}_{now}_{self._guid_counter}"
        self._guid_counter += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    def _entity_request(self, scheduler_id: str, operation: str, input_: Any, signal: bool) -> tuple[str, str]:
        """``CallDurableTaskFunctionAsync`` for ``FunctionType.Entity`` up to ``SendEntityMessage``: the entity
        function must exist, then a ``RequestMessage`` (``op``, ``id``, ``parent``, ``parentExecution``,
        ``signal``, ``input``) goes out as the event ``op`` through ``SendEvent`` (one .NET task id)."""
        name, _key = parse_scheduler_id(scheduler_id)
        self._throw_if_function_does_not_exist(name, ENTITY)
        guid = self.new_guid()
        request: dict[str, Any] = {"op": operation}
        if signal:
            request["signal"] = True
        if input_ is not None:
            # RequestMessage.SetInput: the SDK's input is JSON text, which Json.NET read as a string; a string
            # is not a JToken, so it is serialized again (the Python entity's get_input decodes twice).
            request["input"] = dotnet_json(input_)
        request.update(id=guid, parent=self.instance_id, parentExecution=self.inner.execution_id)
        self._increment_actions()
        self.inner.send_event(scheduler_id, REQUEST_EVENT, dotnet_json(request))
        return guid, name

    def call_entity(self, scheduler_id: str, operation: str, input_: Any) -> Task:
        return run(self._call_entity(scheduler_id, operation, input_), f"call entity {scheduler_id}")

    def _call_entity(self, scheduler_id: str, operation: str, input_: Any) -> Async:
        before = len(self.rejections)
        try:
            guid, _name = self._entity_request(scheduler_id, operation, input_, signal=False)
        except NetError as exc:  # faults this async task before anything is sent: the shim swallows it
            if len(self.rejections) == before:
                self._reject(exc)
            raise
        raw = yield self.wait_for_external_event(guid)  # WaitForEntityResponse: the event named by the request id
        response = json.loads(raw) if raw else {}
        if response.get("exceptionType") is not None:
            raise EntityOperationFailedError(str(response.get("result")))
        return response.get("result")

    def signal_entity(self, scheduler_id: str, operation: str, input_: Any) -> None:
        """``SignalEntity``: synchronous, so a missing entity function throws out of ``InvokeAPIFromAction``
        (the orchestration fails), unlike a call, whose fault the shim swallows."""
        before = len(self.rejections)
        try:
            self._entity_request(scheduler_id, operation, input_, signal=True)
        finally:
            del self.rejections[before:]  # not swallowed: it fails the orchestration instead

    # ------------------------------------------------------------------ timers

    def create_timer(self, fire_at: datetime, token: CancellationToken) -> Task:
        """``IDurableOrchestrationContext.CreateTimer<T>``."""
        return run(self._create_timer(fire_at, token), "CreateTimer")

    def _create_timer(self, fire_at: datetime, token: CancellationToken) -> Async:
        inner = self.inner
        interval_fire_at = fire_at
        if fire_at - inner.current_utc_datetime > self.backend.maximum_delay:
            self.is_long_running_timer = True
            interval_fire_at = inner.current_utc_datetime + self.backend.long_timer_interval
        if not self.is_long_running_timer:
            self._increment_actions()
            yield inner.create_timer(fire_at, token)
        else:
            interval = self.backend.long_timer_interval
            while inner.current_utc_datetime < fire_at and not token.cancelled:
                self._increment_actions()
                yield inner.create_timer(interval_fire_at, token)
                remaining = fire_at - inner.current_utc_datetime
                if remaining <= timedelta(0):
                    break
                interval_fire_at = inner.current_utc_datetime + (remaining if remaining < interval else interval)
        self.is_long_running_timer = False
        return None

    def throw_if_invalid_timer_length(self, fire_at: datetime) -> None:
        problem = self.backend.delay_problem(fire_at - self.inner.current_utc_datetime)
        if problem:
            raise ArgumentError(f"{problem} (Parameter 'fireAt')")

    # ------------------------------------------------------------------ external events

    def wait_for_external_event(self, name: str) -> Task:
        key = name.lower()  # StringComparer.OrdinalIgnoreCase
        source = TaskCompletionSource(f"event {name}")
        self._pending.setdefault(key, []).append(source)
        queue = self._buffered.get(key)
        if queue:
            raw = queue.popleft()
            if not queue:
                del self._buffered[key]
            self.raise_event(name, raw)
        return source.task

    def raise_event(self, name: str, input_: str | None) -> None:
        key = name.lower()
        stack = self._pending.get(key)
        if stack:
            source = stack.pop()
            if not stack:
                del self._pending[key]
            source.set_result(input_)
        else:
            self._buffered.setdefault(key, deque()).append(input_)

    def continue_as_new(self, input_: Any) -> None:
        self.inner.continue_as_new(None if input_ is None else dotnet_json(input_))
        self.continued_as_new = True  # preserveUnprocessedEvents stays false: the shim never passes it


class OutOfProcShim:
    """``OutOfProcOrchestrationShim``."""

    def __init__(self, context: ExtensionContext) -> None:
        self.context = context

    def handle_durable_task_replay(self, state: dict[str, Any], error_trace: str = "") -> Async:
        more_work = yield from self.schedule_durable_task_events(state, error_trace)
        if more_work:
            yield never()  # keeps the orchestration open, as the dispatcher does for in-process code
        return None

    def schedule_durable_task_events(self, state: dict[str, Any], error_trace: str = "") -> Async:
        ctx = self.context
        execution = parse_state(state)
        if execution.custom_status is not None:
            ctx.set_custom_status(execution.custom_status)
        yield from self.replay(execution.actions, execution.schema)
        if execution.error:
            raise OrchestrationFailureError(
                f"Orchestrator function '{ctx.name}' failed: {execution.error}",
                details=f"Message: {execution.error}, StackTrace: {error_trace}",
            )
        if execution.is_done:
            ctx.set_output(execution.output)
            return False
        return True

    def replay(self, actions: list[list[ParsedAction]] | None, schema: int) -> Async:
        """``ReplayOOProcOrchestration``."""
        if actions is None:
            raise NetError("Object reference not set to an instance of an object.", net_type="NullReferenceException")
        if schema in (SCHEMA_V2, SCHEMA_V3):
            if len(actions) != 1:
                name = "V3" if schema == SCHEMA_V3 else "V2"
                raise ArgumentError(
                    f"With OOProc schema {name}, expected actions array to be of length 1 in outer layer but got "
                    f"size: {len(actions)}"
                )
            yield from self.process_v2(actions[0], schema)
        else:
            yield from self.process_v1(actions, schema)

    def process_v2(self, actions: list[ParsedAction], schema: int) -> Async:
        """``ProcessAsyncActionsV2``: one action at a time, each awaited; task exceptions ignored."""
        for action in actions:
            task = self.invoke(action, schema)  # an exception here is not caught
            with contextlib.suppress(NetError):  # the C# shape: await inside try, catch and ignore
                yield task

    def process_v1(self, actions: list[list[ParsedAction]], schema: int) -> Async:
        """``ProcessAsyncActionsV1``: each action set's tasks at once, then ``Task.WhenAny`` of them."""
        for action_set in actions:
            tasks = []
            for action in action_set:
                task = self.invoke(action, schema)
                if task is not _FIRE_AND_FORGET:
                    tasks.append(task)
            if tasks:
                yield when_any(tasks)

    def invoke(self, action: ParsedAction, schema: int) -> Task:
        """``InvokeAPIFromAction``."""
        ctx = self.context
        kind = action.type
        if kind == act.CALL_ACTIVITY:
            return ctx.call(ACTIVITY, action.function_name, action.input)
        if kind == act.CREATE_TIMER:
            assert action.fire_at is not None
            if schema < SCHEMA_V3:
                ctx.throw_if_invalid_timer_length(action.fire_at)
            token = CancellationToken()
            task = ctx.create_timer(action.fire_at, token)
            if action.is_canceled:
                token.cancel()
            return task
        if kind == act.CALL_ACTIVITY_WITH_RETRY:
            return ctx.call(ACTIVITY, action.function_name, action.input, retry=action.retry)
        if kind == act.CALL_SUB_ORCHESTRATOR:
            return ctx.call(ORCHESTRATOR, action.function_name, action.input, instance_id=action.instance_id)
        if kind == act.CALL_SUB_ORCHESTRATOR_WITH_RETRY:
            return ctx.call(
                ORCHESTRATOR, action.function_name, action.input, instance_id=action.instance_id, retry=action.retry
            )
        if kind == act.CONTINUE_AS_NEW:
            ctx.continue_as_new(action.input)
            return _FIRE_AND_FORGET
        if kind == act.WAIT_FOR_EXTERNAL_EVENT:
            return ctx.wait_for_external_event(action.external_event_name)
        if kind == act.WHEN_ALL:
            return when_all([self.invoke(child, schema) for child in action.compound])
        if kind == act.WHEN_ANY:
            return when_any([self.invoke(child, schema) for child in action.compound])
        if kind == act.CALL_ENTITY:
            return ctx.call_entity(action.instance_id or "", action.operation, action.input)
        if kind == act.SIGNAL_ENTITY:
            ctx.signal_entity(action.instance_id or "", action.operation, action.input)
            return _FIRE_AND_FORGET
        if kind in (act.SCHEDULED_SIGNAL_ENTITY, act.CALL_HTTP):
            raise UnsupportedActionError(
                "devhost does not support this orchestrator action (scheduled signals, call_http): "
                f"{act.describe(action.raw)}"
            )
        raise NetError(f"Received an unexpected action type from the out-of-proc function: '${kind}'.")


_FIRE_AND_FORGET = completed(label="Task.CompletedTask")


class TaskOrchestrationShim:
    """``TaskOrchestrationShim``: the ``TaskOrchestration`` DurableTask runs (see ``dtfx.Orchestration``)."""

    def __init__(self, context: ExtensionContext, invoke: Callable[[], SdkOutcome]) -> None:
        self.context = context
        self.oop = OutOfProcShim(context)
        self._invoke = invoke
        self.sdk: SdkOutcome | None = None

    def execute(self, inner: OrchestrationContext, serialized_input: str | None) -> Task:
        return run(self._execute(), f"orchestrator {self.context.name}")

    def _execute(self) -> Async:
        """``Execute`` + ``InvokeUserCodeAndHandleResults``."""
        name = self.context.name
        outcome = self.sdk = self._invoke()
        if outcome.raised is None:
            try:
                assert outcome.state is not None
                yield from self.oop.handle_durable_task_replay(outcome.state)
            except NetError as exc:  # no out-of-proc state in this exception: wrap it
                raise OrchestrationFailureError(
                    f"Orchestrator function '{name}' failed: {exc.message}", details=f"{exc.net_type}: {exc.message}"
                ) from exc
        elif outcome.state is not None:
            # An OrchestrationFailureException is rethrown; any other exception escapes unwrapped.
            yield from self.oop.handle_durable_task_replay(outcome.state, outcome.traceback)
        else:
            raise OrchestrationFailureError(
                f"Orchestrator function '{name}' failed: {outcome.raised}", details=outcome.traceback
            )
        return self.context.serialized_output

    def raise_event(self, inner: OrchestrationContext, name: str, serialized_input: str | None) -> None:
        self.context.raise_event(name, serialized_input)

    def get_status(self) -> str | None:
        return self.context.serialized_custom_status
