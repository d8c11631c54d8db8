"""``Host``: the in-process local durable host (what ``python -m devhost`` runs, and what tests embed)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from .app_loader import FunctionSpec, load_functions
from .backends import get_backend
from .clock import Clock, VirtualClock
from .engine import Engine
from .invoke import Invoker, LoopThread, decode_timer, shared_loop
from .server import RPC_PREFIX, WEBHOOK_PREFIX, Server
from .shim import DEFAULT_MAX_ORCHESTRATION_ACTIONS
from .store import Store
from .timefmt import iso
from .timer_triggers import TimerTriggers

log = logging.getLogger("devhost")

T = TypeVar("T")

DEFAULT_HUB = "TestHubName"
INSTANCE_PLACEHOLDER = "INSTANCEID"


class Host:
    """Runs a v2 Python Functions app with Durable Functions on loopback, state in SQLite."""

    def __init__(
        self,
        app_dir: str | Path,
        *,
        app_module: str = "function_app",
        settings: dict[str, str] | None = None,
        clock: Clock | None = None,
        db_path: str | None = None,
        port: int = 0,
        function_key: str = "devhost-function-key",
        master_key: str = "devhost-master-key",
        max_activity_workers: int = 8,
        activity_duplicate_rate: float = 0.0,
        seed: int = 0,
        clock_sync_url: str | None = None,
        clock_sync_ca: str | None = None,
        backend: str = "azure_storage",
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.app_module = app_module
        self.settings = dict(settings or {})
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="devhost-")
            db_path = str(Path(self._tmpdir.name) / "devhost.sqlite")
        self.db_path = db_path
        self.port = port
        self.function_key = function_key
        self.master_key = master_key
        self.max_activity_workers = max_activity_workers
        self.activity_duplicate_rate = activity_duplicate_rate
        self.seed = seed
        self.clock_sync_url = clock_sync_url
        self.clock_sync_ca = clock_sync_ca
        self.backend = get_backend(backend)  # "azure_storage" (default) or "dts": see backends.py
        self.hub_name = DEFAULT_HUB
        self.route_prefix = "api"
        self.max_orchestrator_workers: int | None = None
        self.max_orchestration_actions = DEFAULT_MAX_ORCHESTRATION_ACTIONS
        self.specs: list[FunctionSpec] = []
        self.functions: dict[str, FunctionSpec] = {}
        self.background: set[asyncio.Future[Any]] = set()
        self._saved_env: dict[str, str | None] = {}
        self._runner: web.AppRunner | None = None
        self._loop: LoopThread | None = None
        self._engine: Engine | None = None
        self._store: Store | None = None
        self._invoker: Invoker | None = None
        self._timers: TimerTriggers | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Host:
        if self._started:
            return self
        try:
            self._start()
        except BaseException:
            self._started = True
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for key, value in self.settings.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        self._read_host_json()
        self.specs = load_functions(self.app_dir, self.app_module)
        self.functions = {s.name: s for s in self.specs}
        self._loop = shared_loop()
        self._store = Store(self.db_path)
        self._invoker = Invoker(self._loop, self.client_binding)
        activity_workers = self.max_activity_workers
        if self._max_activities_from_host_json:
            activity_workers = min(activity_workers, self._max_activities_from_host_json)
        self._timers = TimerTriggers(self)
        self._engine = Engine(
            self._store,
            self.functions,
            self.clock,
            run_activity=self._invoker.run_activity,
            max_activity_workers=activity_workers,
            activity_duplicate_rate=self.activity_duplicate_rate,
            backend=self.backend,
            max_orchestration_actions=self.max_orchestration_actions,
            seed=self.seed,
            on_clock_advance=self._sync_clock,
            on_tick=self._timers.tick,
        )
        self._started = True
        self._loop.run(self._serve())
        self._engine.start()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(Server(self).app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._engine:
            self._engine.stop()
            self._engine = None
        if self._loop and self._runner:
            try:
                self._loop.run(self._runner.cleanup(), timeout=10)
                self._runner = None
            except Exception:  # already stopping
                log.debug("runner cleanup failed", exc_info=True)
        if self._store:
            self._store.close()
            self._store = None
        for key, old in self._saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        self._saved_env.clear()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> Host:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ public API

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "Host not started"
        return self._engine

    @property
    def store(self) -> Store:
        assert self._store is not None, "Host not started"
        return self._store

    @property
    def invoker(self) -> Invoker:
        assert self._invoker is not None, "Host not started"
        return self._invoker

    def run_until_idle(self, timeout: float = 60.0) -> None:
        """Block until nothing is queued, running or timed (instances may still wait for external events)."""
        if not self.engine.wait_quiescent(timeout):
            raise TimeoutError(f"devhost not idle after {timeout}s:\n{self.engine.dump()}")

    def run_coroutine(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run a coroutine (e.g. a DurableOrchestrationClient call) on the host's event loop and wait for it.

        The SDK's aiohttp session is bound to that loop, so client calls from tests must run there too.
        """
        assert self._loop is not None, "Host not started"
        return self._loop.run(coro, timeout)

    def durable_client(self) -> Any:
        """A real ``DurableOrchestrationClient`` built from this host's client binding JSON."""
        from azure.durable_functions import DurableOrchestrationClient

        return DurableOrchestrationClient(self.client_binding())

    def hold_clock(self) -> Any:
        """Context manager: keep virtual time still (e.g. start an instance, then raise an event before its timer)."""
        return self.engine.busy()

    def get_instance(self, instance_id: str) -> dict[str, Any]:
        from .status import status_json

        inst = self.store.get_instance(instance_id)
        if inst is None:
            raise KeyError(instance_id)
        return status_json(inst)

    def instances(self) -> list[dict[str, Any]]:
        from .status import status_json

        return [status_json(i) for i in self.store.list_instances()]

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The current execution's raw history (PascalCase events, as handed to the SDK)."""
        inst = self.store.get_instance(instance_id)
        if inst is None:
            raise KeyError(instance_id)
        return list(inst.history)

    # ------------------------------------------------------------------ bindings

    def client_binding(self) -> str:
        """The durableClient binding JSON the extension hands to client functions."""
        base = f"{self.url}{WEBHOOK_PREFIX.rstrip('/')}"
        start = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
        code = f"code={self.function_key}"
        wait = "timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}"
        return json.dumps(
            {
                "taskHubName": self.hub_name,
                "creationUrls": {
                    "createNewInstancePostUri": f"{start}?{code}",
                    "createAndWaitOnNewInstancePostUri": f"{start}?{wait}&{code}",
                },
                "managementUrls": self.management_payload(INSTANCE_PLACEHOLDER),
                "baseUrl": base,
                "requiredQueryStringParameters": f"code={self.function_key}",
                "rpcBaseUrl": f"{self.url}{RPC_PREFIX}",
            }
        )

    def management_payload(self, instance_id: str, origin: str | None = None) -> dict[str, str]:
        base = f"{origin or self.url}{WEBHOOK_PREFIX}instances/{instance_id}"
        query = f"taskHub={self.hub_name}&connection=Storage&code={self.function_key}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{base}?{query}",
            "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{base}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{base}?{query}",
            "restartPostUri": f"{base}/restart?{query}",
            "suspendPostUri": f"{base}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{base}/resume?reason={{text}}&{query}",
        }

    def timer_request(self, past_due: bool, last: datetime | None = None, next_: datetime | None = None) -> Any:
        now = self.clock.now()
        return decode_timer(past_due, iso(last) if last else None, iso(next_) if next_ else None, iso(now))

    # ------------------------------------------------------------------ internals

    _max_activities_from_host_json: int | None = None

    def _read_host_json(self) -> None:
        path = self.app_dir / "host.json"
        if not path.exists():
            return
        config = json.loads(path.read_text(encoding="utf-8"))
        extensions = config.get("extensions") or {}
        http = extensions.get("http") or {}
        if "routePrefix" in http:
            self.route_prefix = str(http["routePrefix"])
        durable = extensions.get("durableTask") or {}
        self.hub_name = durable.get("hubName") or DEFAULT_HUB
        if durable.get("maxConcurrentActivityFunctions"):
            self._max_activities_from_host_json = int(durable["maxConcurrentActivityFunctions"])
        if durable.get("maxConcurrentOrchestratorFunctions"):
            self.max_orchestrator_workers = int(durable["maxConcurrentOrchestratorFunctions"])
        if durable.get("maxOrchestrationActions"):
            self.max_orchestration_actions = int(durable["maxOrchestrationActions"])

    def _sync_clock(self, when: datetime) -> None:
        if not self.clock_sync_url:
            return
        body = json.dumps({"advanceTo": iso(when)}).encode()
        request = urllib.request.Request(
            self.clock_sync_url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._sync_ssl_context()) as response:
                response.read()
        except OSError:
            log.warning("clock sync to %s failed", self.clock_sync_url, exc_info=True)

    def _sync_ssl_context(self) -> ssl.SSLContext | None:
        """The ARM emulator serves its admin API over HTTPS with its own CA: trust that CA when given; for a
        loopback URL without one, skip verification (the traffic never leaves the machine)."""
        url = urllib.parse.urlparse(self.clock_sync_url or "")
        if url.scheme != "https":
            return None
        if self.clock_sync_ca:
            return ssl.create_default_context(cafile=self.clock_sync_ca)
        if url.hostname in ("127.0.0.1", "localhost", "::1"):
            return ssl._create_unverified_context()
        return ssl.create_default_context()

    def __repr__(self) -> str:
        return f"Host({str(self.app_dir)!r}, url={self.url!r})"
