"""What the orchestrators rely on that is particular to azure-functions-durable 1.x and the extension's shim.

Kept in one module so that moving to the 2.x SDK (a rewrite on ``durabletask``) is a change here, not
everywhere. On Azure the Durable extension does not run the SDK's answer as it is: for Python it replays
the SDK's actions one at a time through the .NET context (``OutOfProcOrchestrationShim.cs``), so the
rules of .NET's ``Task.WhenAll`` / ``Task.WhenAny`` and of DurableTask's event queue apply, not the SDK's:

* ``task_all`` (a ``WhenAll``): the SDK fails at the first failed child, but .NET waits for *every*
  child first, so one failed lane would keep its collection Running until the slowest lane ends.
  ``task_all([])`` returns ``None`` in SDK 1.x. Hence :func:`wait_each`, never ``task_all``.
* External events: each .NET ``WaitForExternalEvent`` takes one buffered event, while SDK 1.x lets one
  early event complete every later wait of that name (py#507, open). Hence :func:`wait_for_nudge`,
  called at most once per execution, followed by ``continue_as_new`` or the end.
* An un-cancelled timer keeps an instance Running on the extension (ext#1377): every timer that lost a
  race is cancelled.
* ``call_activity_with_retry`` can hang an orchestration (py#603): retries are loops of activity calls
  and durable timers (``arm_calls.arm_activity``).
* An event raised with the Python client arrives double-encoded (a JSON string): payloads are read with
  ``replication.model.json_object``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TaskState

from replication.model import json_object


def wait_each(
    context: df.DurableOrchestrationContext,
    tasks: Sequence[TaskBase],
    on_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> Generator[Any, Any, list[dict[str, Any]]]:
    """Wait until every task has ended, handling each as it ends, whatever the others do.

    Returns, in the order given, ``{"ok": True, "value": result}`` or ``{"ok": False}`` for a task that
    failed (its exception text is not passed on: it is not for people); ``on_end(index, result)`` is
    called as each one ends. The first ``task_any`` schedules
    every task as one ``WhenAny``; later ones schedule nothing (the SDK emits no action for tasks already
    scheduled), so the extension never waits on an empty compound.
    """
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    pending = list(range(len(tasks)))
    while pending:
        winner = yield context.task_any([tasks[i] for i in pending])
        index = next(i for i in pending if tasks[i] is winner)
        pending.remove(index)
        result = {"ok": False} if winner.state is TaskState.FAILED else {"ok": True, "value": winner.result}
        results[index] = result
        if on_end is not None:
            on_end(index, result)
    return [r for r in results if r is not None]


def wait_for_nudge(
    context: df.DurableOrchestrationContext, event_name: str, seconds: float
) -> Generator[Any, Any, dict[str, Any] | None]:
    """The payload of an ``event_name`` event that arrived (or had arrived) before ``seconds`` passed,
    as a dict (``{}`` if it carried none), or None.

    Call it at most once per execution, then ``continue_as_new`` or finish: a second wait for the same
    name would be completed by the SDK from the first event (py#507) while the extension waits for a
    second one. The losing timer is cancelled so that it does not keep the instance Running.
    """
    event = context.wait_for_external_event(event_name)
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=max(1.0, seconds)))
    winner = yield context.task_any([event, timer])
    if winner is event:
        timer.cancel()
        return json_object(event.result)
    return None
