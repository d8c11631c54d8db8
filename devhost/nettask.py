""".NET ``Task`` semantics, as the Durable extension's orchestrator shim relies on them.

DurableTask.Core runs orchestrator code on a synchronous scheduler (Azure/durabletask
``src/DurableTask.Core/TaskOrchestrationExecutor.cs``: ``SynchronousTaskScheduler`` and
``TaskOrchestrationSynchronizationContext``), so an ``await`` on a task that is already complete continues at once
and a continuation runs inline, on the same thread, when the task it waits for completes (a history event sets a
``TaskCompletionSource``). This module models exactly that much: tasks that complete, fault or are cancelled,
continuations that run in registration order, ``Task.WhenAll`` (completes when *every* child has, faulted if any
child faulted), ``Task.WhenAny`` (completes with the first child to complete, whatever its outcome) and ``async``
methods written as generators that ``yield`` the task they await.

Nothing here knows about Durable Functions; ``dtfx.py`` (DurableTask.Core) and ``shim.py`` (the extension) build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any

PENDING = "pending"
RAN = "ran"  # TaskStatus.RanToCompletion
FAULTED = "faulted"
CANCELED = "canceled"


class NetError(Exception):
    """A .NET exception: its type name and ``Message`` (what DurableTask records as a failure reason)."""

    net_type = "System.Exception"

    def __init__(self, message: str, *, details: str | None = None, net_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if net_type is not None:
            self.net_type = net_type


class ArgumentError(NetError):
    net_type = "System.ArgumentException"


class InvalidOperationError(NetError):
    net_type = "System.InvalidOperationException"


class TaskCanceledError(NetError):
    net_type = "System.Threading.Tasks.TaskCanceledException"

    def __init__(self) -> None:
        super().__init__("A task was canceled.")


Async = Generator["Task", Any, Any]


class Task:
    """A .NET ``Task``: pending until it runs to completion, faults or is cancelled; then immutable."""

    __slots__ = ("_callbacks", "error", "label", "status", "value")

    def __init__(self, label: str = "") -> None:
        self.status = PENDING
        self.value: Any = None
        self.error: NetError | None = None
        self.label = label
        self._callbacks: list[Callable[[Task], None]] = []

    @property
    def done(self) -> bool:
        return self.status != PENDING

    def when_done(self, callback: Callable[[Task], None]) -> None:
        """Register a continuation; it runs inline now if the task is already complete."""
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def settle(self, status: str, value: Any = None, error: NetError | None = None) -> bool:
        if self.done:
            return False
        self.status, self.value, self.error = status, value, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)
        return True

    def outcome(self) -> tuple[Any, NetError | None]:
        """What ``await`` gives: the value, or the exception it throws."""
        if self.status == RAN:
            return self.value, None
        if self.status == CANCELED:
            return None, self.error or TaskCanceledError()
        return None, self.error

    def __repr__(self) -> str:
        return f"Task({self.label or '?'}, {self.status})"


class TaskCompletionSource:
    """``TaskCompletionSource<T>``: a task completed from outside (here: by a history event)."""

    def __init__(self, label: str = "") -> None:
        self.task = Task(label)

    def set_result(self, value: Any) -> bool:
        return self.task.settle(RAN, value)

    def set_exception(self, error: NetError) -> bool:
        return self.task.settle(FAULTED, error=error)

    def try_set_canceled(self) -> bool:
        return self.task.settle(CANCELED, error=TaskCanceledError())


def completed(value: Any = None, label: str = "completed") -> Task:
    task = Task(label)
    task.settle(RAN, value)
    return task


def never(label: str = "Task.Delay(Timeout.Infinite)") -> Task:
    """A task that never completes (``Task.Delay(Timeout.Infinite)``)."""
    return Task(label)


def when_all(tasks: Iterable[Task]) -> Task:
    """``Task.WhenAll``: completes when every child has completed, even after one faulted.

    Faulted if any child faulted (``await`` rethrows the first, in list order), else cancelled if any child was,
    else runs to completion with the children's values. No children: already complete.
    """
    children = list(tasks)
    result = Task("WhenAll")
    if not children:
        result.settle(RAN, [])
        return result
    remaining = [len(children)]

    def child_done(_child: Task) -> None:
        remaining[0] -= 1
        if remaining[0]:
            return
        faulted = [c for c in children if c.status == FAULTED]
        if faulted:
            result.settle(FAULTED, error=faulted[0].error)
        elif any(c.status == CANCELED for c in children):
            result.settle(CANCELED, error=TaskCanceledError())
        else:
            result.settle(RAN, [c.value for c in children])

    for child in children:
        child.when_done(child_done)
    return result


def when_any(tasks: Iterable[Task]) -> Task:
    """``Task.WhenAny``: completes (never faults) with the first child to complete; an empty list throws at once."""
    children = list(tasks)
    if not children:
        raise ArgumentError("The tasks argument contains no tasks.")
    result = Task("WhenAny")
    for child in children:  # a child already complete wins, the first in list order
        if child.done:
            result.settle(RAN, child)
            return result
    for child in children:
        child.when_done(lambda c: result.settle(RAN, c))
    return result


def run(body: Async, label: str = "async") -> Task:
    """Start an ``async`` method: run it synchronously up to its first ``await`` of a pending task.

    ``body`` is a generator that yields the ``Task`` it awaits and receives its value (or has its exception thrown
    in). Returning completes the method's task; raising a ``NetError`` faults it (``TaskCanceledError`` cancels it,
    as an ``OperationCanceledException`` escaping an ``async`` method does).
    """
    task = Task(label)

    def step(value: Any, error: NetError | None) -> None:
        while True:
            try:
                awaited = body.throw(error) if error is not None else body.send(value)
            except StopIteration as stop:
                task.settle(RAN, stop.value)
                return
            except TaskCanceledError as exc:
                task.settle(CANCELED, error=exc)
                return
            except NetError as exc:
                task.settle(FAULTED, error=exc)
                return
            if not isinstance(awaited, Task):
                raise TypeError(f"async body yielded {awaited!r}, not a Task")
            if awaited.done:
                value, error = awaited.outcome()
                continue
            awaited.when_done(lambda t: step(*t.outcome()))
            return

    step(None, None)
    return task
