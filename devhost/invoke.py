"""Calling app functions the way the Python worker does: converters from azure.functions, one event loop.

Trigger payloads go through azure.functions' own converters (activity input, Event Grid JSON, timer info) so the
app sees exactly the objects the worker would build. Async functions all run on ONE persistent event loop: the
Durable SDK keeps a module-global aiohttp session bound to the loop that created it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.timer import TimerRequestConverter

from .app_loader import FunctionSpec

T = TypeVar("T")


class InvocationContext:
    """Minimal ``func.Context`` stand-in for functions whose signature asks for ``context``."""

    def __init__(self, function_name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = ""
        self.trace_context = None
        self.retry_context = None


class LoopThread:
    """The persistent asyncio loop (in its own thread) that serves HTTP and runs every async function."""

    def __init__(self, sync_workers: int = 8) -> None:
        self.loop = asyncio.new_event_loop()
        self.sync_pool = ThreadPoolExecutor(max_workers=sync_workers, thread_name_prefix="function")
        self._thread = threading.Thread(target=self._run, name="devhost-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop from another thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def _shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):  # shutting down anyway
            self.run(_shutdown(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.sync_pool.shutdown(wait=False, cancel_futures=True)


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def shared_loop() -> LoopThread:
    """The process-wide loop. Never stopped: the SDK's global aiohttp session stays bound to it, so every Host
    created in this process (tests start many) must use the same loop, as one Python worker process does."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LoopThread()
        return _shared


class Invoker:
    """Builds trigger arguments and calls functions (sync ones in a thread pool, async ones on the loop)."""

    def __init__(self, loop: LoopThread, client_binding: Callable[[], str]) -> None:
        self._loop = loop
        self._client_binding = client_binding

    def _kwargs(self, spec: FunctionSpec, trigger_value: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {spec.trigger_param: trigger_value}
        if spec.client_param:
            kwargs[spec.client_param] = self._client_binding()
        if spec.wants_context:
            kwargs["context"] = InvocationContext(spec.name)
        return kwargs

    async def call_async(self, spec: FunctionSpec, trigger_value: Any) -> Any:
        """Invoke from the loop thread."""
        kwargs = self._kwargs(spec, trigger_value)
        if spec.is_async:
            result: Awaitable[Any] = spec.func(**kwargs)
            return await result
        return await self._loop.loop.run_in_executor(self._loop.sync_pool, lambda: spec.func(**kwargs))

    # --------------------------------------------------------------- activities (called from worker threads)

    def run_activity(self, spec: FunctionSpec, input_json: str | None) -> str:
        """Decode the input like the worker, call the activity, encode the result (TaskCompleted ``Result``)."""
        datum = meta.Datum(value=input_json if input_json is not None else "null", type="json")
        value = ActivityTriggerConverter.decode(datum, trigger_metadata=None)
        kwargs = self._kwargs(spec, value)
        result = self._loop.run(spec.func(**kwargs)) if spec.is_async else spec.func(**kwargs)
        encoded = ActivityTriggerConverter.encode(result, expected_type=None)
        return str(encoded.value)


def decode_event_grid(event: dict[str, Any]) -> Any:
    """An Event Grid schema event as the worker hands it to ``func.EventGridEvent`` parameters."""
    return EventGridEventInConverter.decode(meta.Datum(value=json.dumps(event), type="json"), trigger_metadata=None)


def decode_timer(past_due: bool, last: str | None, next_: str | None, updated: str | None) -> Any:
    """A ``TimerRequest`` built by azure.functions' own converter from the host's timer info JSON."""
    info = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {"Last": last, "Next": next_, "LastUpdated": updated},
        "IsPastDue": past_due,
    }
    return TimerRequestConverter.decode(meta.Datum(value=json.dumps(info), type="json"), trigger_metadata=None)
