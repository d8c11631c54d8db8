"""The durable engine: runs orchestration episodes, activities and durable timers on top of the store.

It plays the part of the Functions host's Durable extension + DurableTask + the storage provider: messages for an
instance are applied as a work item by ``dispatcher.py`` (which runs the SDK and the extension's shim), activities
run in a worker pool, timers fire on the clock. Every state change is one SQLite transaction (see ``store.py``).
"""

from __future__ import annotations

import logging
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from . import history as h
from .app_loader import FunctionSpec
from .backends import Backend, get_backend
from .clock import Clock
from .dispatcher import (
    ACTIVE_STATES,
    CLOCK_KEY,
    PENDING,
    RUNNING,
    SUSPENDED,
    TERMINAL_STATES,
    Dispatcher,
)
from .payload import dotnet_json
from .shim import DEFAULT_MAX_ORCHESTRATION_ACTIONS
from .store import Store
from .timefmt import iso, parse_iso

__all__ = ["Engine", "InstanceExistsError", "UnknownFunctionError"]

log = logging.getLogger("devhost.engine")


class InstanceExistsError(Exception):
    """Start refused: an instance with this id is still Pending/Running (the extension's default)."""


class UnknownFunctionError(Exception):
    """No orchestrator with that name in the app."""


class Engine:
    """Owns the dispatcher thread and the activity worker pool."""

    def __init__(
        self,
        store: Store,
        functions: dict[str, FunctionSpec],
        clock: Clock,
        *,
        run_activity: Callable[[FunctionSpec, str | None], str],
        max_activity_workers: int = 8,
        activity_duplicate_rate: float = 0.0,
        backend: Backend | None = None,
        max_orchestration_actions: int = DEFAULT_MAX_ORCHESTRATION_ACTIONS,
        seed: int = 0,
        on_clock_advance: Callable[[datetime], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.functions = functions
        self.clock = clock
        self.backend = backend or get_backend(None)
        self.dispatcher = Dispatcher(
            store, functions, clock, backend=self.backend, max_orchestration_actions=max_orchestration_actions
        )
        self._run_activity = run_activity
        self._duplicate_rate = activity_duplicate_rate
        self._rng = random.Random(seed)
        self._on_clock_advance = on_clock_advance
        self._on_tick = on_tick
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_activity_workers), thread_name_prefix="activity")
        self._cond = threading.Condition()
        self._submitted: set[int] = set()
        self._in_flight = 0
        self._paused = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.clock.is_virtual:
            saved = self.store.get_meta(CLOCK_KEY)
            if saved:
                self.clock.advance_to(parse_iso(saved))
        self._thread = threading.Thread(target=self._loop, name="devhost-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @contextmanager
    def _counted(self, counter: str) -> Iterator[None]:
        with self._cond:
            setattr(self, counter, getattr(self, counter) + 1)
        try:
            yield
        finally:
            with self._cond:
                setattr(self, counter, getattr(self, counter) - 1)
                self._cond.notify_all()

    def paused(self) -> AbstractContextManager[None]:
        """Hold the dispatcher (no episodes, activities or timers) e.g. to let several messages queue up."""
        return self._counted("_paused")

    def busy(self) -> AbstractContextManager[None]:
        """Marks an in-flight invocation/request: virtual time must not jump while one runs."""
        return self._counted("_in_flight")

    # ------------------------------------------------------------------ client operations

    def start_instance(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        """``IDurableOrchestrationClient.StartNewAsync`` (DurableClient.cs) on this backend.

        Raises ``UnknownFunctionError`` (``ThrowIfFunctionDoesNotExist``), ``backends.InstanceIdRejected`` /
        ``backends.BackendRejected`` and ``InstanceExistsError`` (``OverridableExistingInstanceStates``).
        """
        spec = self._orchestrator(name)
        if spec is None:
            raise UnknownFunctionError(name)
        if instance_id:
            self.backend.check_client_instance_id(instance_id)
        else:
            instance_id = uuid.uuid4().hex
        problem = self.backend.payload_problem("orchestration input", input_text)
        if problem:
            from .backends import BackendRejected

            raise BackendRejected(problem)
        with self.store.transaction():
            existing = self.store.get_instance(instance_id)
            if existing is not None and existing.runtime_status in ACTIVE_STATES:
                raise InstanceExistsError(existing.runtime_status)
            self.dispatcher.create_instance(spec.name, instance_id, input_text, None, None, None)
        self.wake()
        return instance_id

    def _orchestrator(self, name: str) -> FunctionSpec | None:
        for spec in self.functions.values():  # FunctionName compares case-insensitively
            if spec.name.lower() == name.lower() and spec.trigger_type == "orchestrationTrigger":
                return spec
        return None

    def raise_event(self, instance_id: str, name: str, value: Any) -> str:
        """Returns "accepted", "not_found" or "gone" (the HTTP API maps them to 202/404/410).

        ``value`` is the request body parsed as JSON (``HttpApiHandler.HandleRaiseEventRequestAsync``:
        ``ConvertToJToken``); the event's ``Input`` is that token serialized again (``RaiseEventAsync``). Nothing is
        unwrapped: the Python client posts ``json.dumps(data)`` as a JSON *string*, so its orchestrator receives a
        string (azure-functions-durable-python#295).
        """
        text = dotnet_json(value)
        problem = self.backend.payload_problem("external event data", text)
        if problem:
            from .backends import BackendRejected

            raise BackendRejected(problem)
        with self.store.transaction():
            inst = self.store.get_instance(instance_id)
            if inst is None:
                return "not_found"
            if inst.runtime_status in TERMINAL_STATES:
                return "gone"
            ev = h.event(h.EVENT_RAISED, self.clock.now(), Name=name, Input=text)
            self.store.enqueue(instance_id, None, "event", ev)
        self.wake()
        return "accepted"

    def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        """``DurableClient.SignalEntityAsync``: a one-way ``RequestMessage`` to ``@name@key`` (no parent)."""
        request: dict[str, Any] = {"op": operation, "signal": True}
        if input_text is not None:
            request["input"] = input_text
        request["id"] = str(uuid.uuid4())
        with self.store.transaction():
            self.dispatcher.send_event(f"@{name.lower()}@{key}", "op", dotnet_json(request), self.clock.now())
        self.wake()

    def terminate(self, instance_id: str, reason: str) -> str:
        with self.store.transaction():
            inst = self.store.get_instance(instance_id)
            if inst is None:
                return "not_found"
            if inst.runtime_status in TERMINAL_STATES:
                return "gone"
            self.dispatcher.terminate(inst, reason, self.clock.now())
            self.store.save_instance(inst)
            self.store.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        self.wake()
        return "accepted"

    def suspend(self, instance_id: str, reason: str) -> str:
        """Hold the instance: its messages (completions, timers, events) queue up until it is resumed."""
        return self._set_suspended(instance_id, True)

    def resume(self, instance_id: str, reason: str) -> str:
        return self._set_suspended(instance_id, False)

    def _set_suspended(self, instance_id: str, suspend: bool) -> str:
        with self.store.transaction():
            inst = self.store.get_instance(instance_id)
            if inst is None:
                return "not_found"
            if inst.runtime_status in TERMINAL_STATES:
                return "gone"
            if suspend and inst.runtime_status != SUSPENDED:
                inst.runtime_status = SUSPENDED
            elif not suspend and inst.runtime_status == SUSPENDED:
                inst.runtime_status = RUNNING if inst.history else PENDING
            inst.last_updated_time = iso(self.clock.now())
            self.store.save_instance(inst)
        self.wake()
        return "accepted"

    def purge(self, instance_id: str) -> int:
        deleted = self.store.delete_instance(instance_id)
        self.wake()
        return deleted

    # ------------------------------------------------------------------ idle / quiescence

    def quiescent(self) -> bool:
        """No queued or running work and no pending timer: only instances waiting on external events remain."""
        with self._cond:
            if self._in_flight or self._submitted:
                return False
        counts = self.store.counts()
        return not (counts["inbox"] or counts["activities"] or counts["timers"])

    def wait_quiescent(self, timeout: float) -> bool:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                if self.quiescent():
                    return True
                with self._cond:
                    self._cond.wait(0.05)
            return self.quiescent()
        finally:
            timer.cancel()

    def dump(self) -> str:
        lines = [f"clock={iso(self.clock.now())} in_flight={self._in_flight} running={len(self._submitted)}"]
        lines.append(f"queues={self.store.counts()}")
        for inst in self.store.list_instances():
            if inst.runtime_status in ACTIVE_STATES:
                lines.append(f"  {inst.instance_id} {inst.name} {inst.runtime_status}")
        for row in self.store.rows("SELECT * FROM timers ORDER BY fire_at"):
            lines.append(f"  timer {row['instance_id']} task={row['task_id']} at {row['fire_at']} ({row['kind']})")
        for row in self.store.rows("SELECT * FROM activities"):
            lines.append(f"  activity {row['name']} for {row['instance_id']} task={row['task_id']}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ dispatcher

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                if self._paused:
                    self._cond.wait(0.1)
                    continue
            try:
                progressed = self._step()
            except Exception:  # keep the host alive; the failing unit stays queued and is logged
                log.exception("dispatcher step failed")
                progressed = False
            if not progressed:
                with self._cond:
                    if self._stopping:
                        return
                    self._cond.wait(0.02 if not self.clock.is_virtual else 0.1)

    def _step(self) -> bool:
        if self._on_tick:
            self._on_tick()
        # Activities and due timers first, every step, so a busy inbox never starves them.
        self._submit_activities()
        fired = self._fire_due_timers(self.clock.now())
        instance_id = self.store.next_inbox_instance()
        if instance_id is not None:
            try:
                self._episode(instance_id)
            except Exception as exc:  # a host bug must not wedge the dispatcher on one instance forever
                log.exception("episode for %s failed", instance_id)
                self._poison(instance_id, exc)
            return True
        if fired:
            return True
        if self.clock.is_virtual and self._idle_for_advance():
            earliest = self.store.earliest_timer()
            if earliest is not None:
                when = parse_iso(earliest)
                self.clock.advance_to(when)
                self.store.set_meta(CLOCK_KEY, iso(self.clock.now()))
                if self._on_clock_advance:
                    self._on_clock_advance(when)
                self._fire_due_timers(max(when, self.clock.now()))
                return True
        return False

    def _idle_for_advance(self) -> bool:
        with self._cond:
            if self._in_flight or self._submitted:
                return False
        counts = self.store.counts()
        return not counts["inbox"] and not counts["activities"]

    # ------------------------------------------------------------------ timers

    def _fire_due_timers(self, now: datetime) -> bool:
        rows = self.store.rows("SELECT * FROM timers WHERE fire_at <= ? ORDER BY fire_at, id", (iso(now),))
        for row in rows:
            with self.store.transaction():
                if not self.store.execute("DELETE FROM timers WHERE id = ?", (row["id"],)).rowcount:
                    continue
                ev = h.event(h.TIMER_FIRED, now, TimerId=row["task_id"], FireAt=row["fire_at"])
                self.store.enqueue(row["instance_id"], row["execution_id"], "event", ev)
        return bool(rows)

    # ------------------------------------------------------------------ activities

    def _submit_activities(self) -> None:
        # Read and claim under the store lock: a completion deletes its row before it un-claims the id, so a row
        # seen here is either still running (claimed) or not yet started; a finished one is never re-claimed.
        with self.store.lock:
            fresh: list[dict[str, Any]] = []
            for row in self.store.rows("SELECT * FROM activities ORDER BY id"):
                with self._cond:
                    if row["id"] in self._submitted:
                        continue
                    self._submitted.add(row["id"])
                fresh.append(dict(row))
        for work in fresh:
            duplicate = self._duplicate_rate > 0 and self._rng.random() < self._duplicate_rate
            self._pool.submit(self._execute_activity, work, duplicate)

    def _execute_activity(self, row: dict[str, Any], duplicate: bool) -> None:
        """Run one activity message; ``duplicate`` runs it twice and delivers BOTH completions.

        That is what at-least-once delivery produces on Azure (a worker that dies after sending its completion, or a
        message that becomes visible again): DurableTask appends every completion message to history, the second one
        included, and only the .NET replay ignores it (``TaskOrchestrationContext.LogDuplicateEvent``).
        """
        outcomes = [self._activity_outcome(row)]
        if duplicate:
            outcomes.append(self._activity_outcome(row))
        try:
            with self.store.transaction():
                gone = not self.store.execute("DELETE FROM activities WHERE id = ?", (row["id"],)).rowcount
                if not gone:
                    self._deliver_activity(row, outcomes)
        finally:
            with self._cond:
                self._submitted.discard(row["id"])
                self._cond.notify_all()

    def _activity_outcome(self, row: dict[str, Any]) -> dict[str, Any]:
        spec = next(
            (
                s
                for s in self.functions.values()
                if s.name.lower() == str(row["name"]).lower() and s.trigger_type == "activityTrigger"
            ),
            None,
        )
        if spec is None:
            reason = f"The function '{row['name']}' doesn't exist, is disabled, or is not an activity function."
            return {"ok": False, "reason": reason, "details": reason}
        try:
            return {"ok": True, "result": self._run_activity(spec, row["input"])}
        except Exception as exc:
            reason = f"Activity function '{row['name']}' failed: {type(exc).__name__}: {exc}"
            return {"ok": False, "reason": reason, "details": _user_traceback(exc)}

    def _deliver_activity(self, row: dict[str, Any], outcomes: list[dict[str, Any]]) -> None:
        now = self.clock.now()
        for outcome in outcomes:
            if outcome["ok"]:
                problem = self.backend.payload_problem(f"output of activity '{row['name']}'", outcome["result"])
                if problem:  # the backend would not take this completion: fail the orchestration (stricter)
                    inst = self.store.get_instance(row["instance_id"])
                    current = inst is not None and inst.execution_id == row["execution_id"]
                    if inst is not None and current and inst.runtime_status not in TERMINAL_STATES:
                        self.dispatcher.fail(inst, problem, None, now)
                        self.store.save_instance(inst)
                    return
                ev = h.event(h.TASK_COMPLETED, now, TaskScheduledId=row["task_id"], Result=outcome["result"])
            else:
                ev = h.event(
                    h.TASK_FAILED,
                    now,
                    TaskScheduledId=row["task_id"],
                    Reason=outcome["reason"],
                    Details=outcome["details"],
                )
            self.store.enqueue(row["instance_id"], row["execution_id"], "event", ev)

    # ------------------------------------------------------------------ episodes

    def _episode(self, instance_id: str) -> None:
        with self.store.transaction():
            batch = self.store.inbox_for(instance_id)
            if not batch:
                return
            self.store.delete_inbox([m["id"] for m in batch])
            inst = self.store.get_instance(instance_id)
            if inst is None or inst.runtime_status in TERMINAL_STATES:
                return  # "Instance is Completed" / "No such instance": the batch is discarded
            self.dispatcher.apply(inst, batch)
            self.store.save_instance(inst)
            if self.clock.is_virtual:
                self.store.set_meta(CLOCK_KEY, iso(self.clock.now()))

    def _poison(self, instance_id: str, exc: Exception) -> None:
        with self.store.transaction():
            self.store.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
            inst = self.store.get_instance(instance_id)
            if inst is not None and inst.runtime_status not in TERMINAL_STATES:
                message = f"devhost internal error: {type(exc).__name__}: {exc}"
                self.dispatcher.fail(inst, message, traceback.format_exc(), self.clock.now())
                self.store.save_instance(inst)


def _user_traceback(exc: BaseException) -> str:
    """The exception's stack without the host's own frames (the Functions host reports the user's frames)."""
    here = str(Path(__file__).parent)
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(here):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))
