"""Running the emulator: HTTPS ARM + admin server and HTTP identity server on one event loop.

``start_emulator`` runs them in a background thread (tests, demo); ``serve_forever`` runs them in
the calling thread (the CLI). The TLS certificate comes from a CA generated at start (trustme), whose
PEM clients pass as ``connection_verify``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from emulator.admin_app import AdminApi
from emulator.arm_app import ArmFrontDoor
from emulator.clock import Clock, ScaledClock, VirtualClock, parse_time
from emulator.eventgrid_topic import EventGridTopics
from emulator.identity import TokenIssuer, identity_app
from emulator.scenario import load_scenario
from emulator.state import EmulatorState

DEFAULT_IDENTITY_HEADER = "emulator-identity-header"
log = logging.getLogger("emulator")


def require_loopback(host: str) -> None:
    """The emulator only ever listens on loopback: it has no authentication worth the name."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the emulator binds only to loopback addresses, not {host!r}")


def make_clock(
    scenario: dict[str, Any],
    kind: str = "virtual",
    start: str | None = None,
    scale: float = 60.0,
    anchor: float | None = None,
) -> Clock:
    start_text = start or scenario.get("clock", {}).get("start") or "2026-11-20T00:00:00Z"
    if kind == "virtual":
        return VirtualClock(parse_time(start_text))
    return ScaledClock(parse_time(start_text), scale, anchor)


@dataclass
class EmulatorServers:
    """The two aiohttp servers and the state they share; lives on one event loop."""

    state: EmulatorState
    issuer: TokenIssuer
    admin: AdminApi
    ca: trustme.CA
    runners: list[web.AppRunner] = field(default_factory=list)
    port: int = 0
    identity_port: int = 0
    _topics: EventGridTopics | None = None

    @classmethod
    def build(
        cls, scenario: dict[str, Any], clock: Clock, identity_header: str, events_webhook: str | None
    ) -> EmulatorServers:
        state = EmulatorState(clock, scenario, events_webhook)
        issuer = TokenIssuer(identity_header)

        def identity_outage() -> int | None:
            entry = state.faults.identity_outage(state.clock.now())
            if entry is None:
                return None
            status = int(entry.get("status", 500))
            name = f"Identity_Token:{status}"
            state.calls[name] = state.calls.get(name, 0) + 1
            return status

        issuer.outage = identity_outage
        return cls(state, issuer, AdminApi(state, issuer, scenario), trustme.CA())

    @property
    def topics(self) -> EventGridTopics:
        """Event Grid custom topics (the app's CloudEvents), created on first use."""
        if self._topics is None:
            self._topics = EventGridTopics(self.issuer)
        return self._topics

    async def start(self, host: str, port: int, identity_port: int) -> None:
        require_loopback(host)
        front = ArmFrontDoor(self.state, self.issuer)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.add_routes(self.admin.routes())
        app.add_routes(self.topics.routes())
        app.router.add_route("*", "/{tail:.*}", front.handle)
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(host, "localhost", "127.0.0.1").configure_cert(ssl_context)
        arm_runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await arm_runner.setup()
        arm_site = web.TCPSite(arm_runner, host, port, ssl_context=ssl_context, reuse_address=True)
        await arm_site.start()
        self.runners.append(arm_runner)
        self.port = _bound_port(arm_runner)
        id_runner = web.AppRunner(identity_app(self.issuer), access_log=None, handle_signals=False)
        await id_runner.setup()
        await web.TCPSite(id_runner, host, identity_port, reuse_address=True).start()
        self.runners.append(id_runner)
        self.identity_port = _bound_port(id_runner)

    async def stop(self) -> None:
        await self.state.events.close()
        for runner in reversed(self.runners):
            await runner.cleanup()
        self.runners.clear()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("server did not bind")


class EmulatorHandle:
    """A running in-process emulator; a context manager that stops it on exit."""

    def __init__(
        self,
        servers: EmulatorServers,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        host: str,
        ca_pem_path: str,
        identity_header: str,
    ) -> None:
        self._servers = servers
        self._loop = loop
        self._thread = thread
        self.host = host
        self.port = servers.port
        self.url = f"https://{host}:{servers.port}"
        self.admin_url = f"{self.url}/_emulator"
        self.identity_endpoint = f"http://{host}:{servers.identity_port}/msi/token"
        self.identity_header = identity_header
        self.ca_pem_path = ca_pem_path
        self.clock = servers.state.clock
        self.state = servers.state

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the emulator's loop thread (safe access to state from tests)."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def issue_token(self, resource: str = "https://management.azure.com") -> str:
        return str(self.call(self._servers.issuer.issue, resource, None)["access_token"])

    def stop(self) -> None:
        if not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._servers.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(
    scenario: dict[str, Any] | str | Path | None = None,
    *,
    clock: Clock | None = None,
    identity_header: str = DEFAULT_IDENTITY_HEADER,
    host: str = "127.0.0.1",
    port: int = 0,
    identity_port: int = 0,
    ca_out: str | Path | None = None,
    events_webhook: str | None = None,
) -> EmulatorHandle:
    """Start the emulator in a background thread with its own event loop and return a handle.

    Without ``clock`` a ``VirtualClock`` at the scenario's ``clock.start`` is created. The CA PEM is
    written to ``ca_out`` (default: a temporary file).
    """
    data = load_scenario(scenario)
    clock = clock or make_clock(data)
    servers = EmulatorServers.build(data, clock, identity_header, events_webhook)
    ca_path = Path(ca_out) if ca_out else Path(tempfile.mkdtemp(prefix="emulator-ca-")) / "ca.pem"
    servers.ca.cert_pem.write_to_path(str(ca_path))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(servers.start(host, port, identity_port))
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="arm-emulator", daemon=True)
    thread.start()
    ready.wait(30)
    if errors:
        raise errors[0]
    return EmulatorHandle(servers, loop, thread, host, str(ca_path), identity_header)
