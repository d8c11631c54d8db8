"""Host plumbing: clocks, settings, host.json, binding JSON, idle detection, clock sync, CLI signals."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from devhost_helpers import QUIET_SCHEDULE, ROOT, SAMPLE_APP, real_now, run

from devhost import Host, ScaledClock, VirtualClock

START = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def test_virtual_clock_never_goes_back() -> None:
    clock = VirtualClock(START)
    clock.advance_to(START + dt.timedelta(hours=1))
    clock.advance_to(START)
    assert clock.now() == START + dt.timedelta(hours=1) and clock.is_virtual


def test_scaled_clock_follows_anchor_and_scale() -> None:
    anchor = time.time() - 10
    clock = ScaledClock(START, 60, anchor=anchor)
    elapsed = clock.now() - START
    assert dt.timedelta(minutes=10) <= elapsed < dt.timedelta(minutes=11) and not clock.is_virtual
    clock.advance_to(START + dt.timedelta(days=1))
    assert clock.now() >= START + dt.timedelta(days=1)


class DuckClock:
    """Any object with now/advance_to/is_virtual will do (the ARM emulator hands the host its own clock)."""

    is_virtual = True

    def __init__(self, start: dt.datetime) -> None:
        self.current = start
        self.advances: list[dt.datetime] = []

    def now(self) -> dt.datetime:
        return self.current

    def advance_to(self, when: dt.datetime) -> None:
        if when > self.current:
            self.current = when
            self.advances.append(when)


def test_host_drives_any_clock_object(tmp_path: Path) -> None:
    clock = DuckClock(START)
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=str(tmp_path / "d.sqlite")) as host:
        status = run(host, "timers_in_sequence")
    assert status["runtimeStatus"] == "Completed"
    assert clock.advances == [START + dt.timedelta(days=d) for d in (1, 2, 3)]


def test_time_advanced_by_someone_else_fires_due_timers(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=str(tmp_path / "e.sqlite")) as host:
        with host.hold_clock():  # the host may not jump, but another party (the emulator, a test) may
            host.run_coroutine(host.durable_client().start_new("timer_race", "ext"))
            deadline = time.monotonic() + 20
            while host.get_instance("ext")["runtimeStatus"] != "Running":  # its 1-hour timer is now pending
                assert time.monotonic() < deadline
                time.sleep(0.01)
            clock.advance(dt.timedelta(hours=2))
            while host.get_instance("ext")["runtimeStatus"] != "Completed":
                assert time.monotonic() < deadline
                time.sleep(0.01)
        assert host.get_instance("ext")["output"]["timed_out_at"].startswith("2025-06-01T02:00:00")


def test_settings_are_set_before_import_and_restored(tmp_path: Path) -> None:
    os.environ.pop("DEVHOST_TEST_SETTING", None)
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE, "DEVHOST_TEST_SETTING": "on"}
    with Host(SAMPLE_APP, settings=settings, db_path=str(tmp_path / "s.sqlite")):
        assert os.environ["DEVHOST_TEST_SETTING"] == "on"
    assert "DEVHOST_TEST_SETTING" not in os.environ


def test_binding_json_uses_host_json_hub_and_urls(host: Host) -> None:
    binding = json.loads(host.client_binding())
    assert binding["taskHubName"] == "SampleHub"  # extensions.durableTask.hubName
    assert binding["rpcBaseUrl"] == f"{host.url}/durabletask/"
    assert binding["managementUrls"]["statusQueryGetUri"].startswith(f"{host.url}/runtime/webhooks/durabletask/")
    assert binding["requiredQueryStringParameters"] == f"code={host.function_key}"
    assert host.engine._pool._max_workers == 4  # maxConcurrentActivityFunctions


def test_run_until_idle_times_out_with_a_dump(tmp_path: Path) -> None:
    clock = ScaledClock(real_now(), 1.0)  # wall-time clock: the one-hour timer cannot fire during the test
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=str(tmp_path / "t.sqlite")) as host:
        host.run_coroutine(host.durable_client().start_new("timer_race", "slow"))
        with pytest.raises(TimeoutError, match="timer slow"):
            host.run_until_idle(0.5)


def test_sub_orchestration_on_own_id_is_swallowed_and_the_sdk_waits_forever(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """The extension's check faults the .NET task before anything is scheduled, and the shim ignores the fault
    (DurableOrchestrationContext.CallDurableTaskFunctionAsync; OutOfProcOrchestrationShim.ProcessAsyncActionsV2):
    no SubOrchestrationInstanceFailed ever reaches the SDK, so the instance stays Running with nothing pending."""
    with caplog.at_level(logging.WARNING, logger="devhost.dispatcher"):
        status = run(host, "reuses_own_id")
    assert status["runtimeStatus"] == "Running"
    assert [e["EventType"] for e in host.history("reuses_own_id-test")].count(7) == 0
    assert host.store.counts() == {"inbox": 0, "activities": 0, "timers": 0}
    assert "must be different than the instance ID of a parent orchestration" in caplog.text


def test_clock_sync_posts_every_virtual_advance(tmp_path: Path) -> None:
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sync_url = f"http://127.0.0.1:{server.server_port}/_emulator/clock"
        clock = VirtualClock(START)
        settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
        db = str(tmp_path / "c.sqlite")
        with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=db, clock_sync_url=sync_url) as host:
            run(host, "timers_in_sequence")
    finally:
        server.shutdown()
    assert [r["advanceTo"][:10] for r in received] == ["2025-06-02", "2025-06-03", "2025-06-04"]


def test_cli_prints_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"SWEEP_SCHEDULE": QUIET_SCHEDULE}}))
    cmd = [sys.executable, "-m", "devhost", "--app-dir", str(SAMPLE_APP), "--port", "0", "--settings", str(settings)]
    cmd += ["--clock", "scaled", "--clock-start", "2025-01-01T00:00:00Z", "--clock-scale", "60"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("devhost listening on http://127.0.0.1:")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


TINY_APP = """
import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def tiny(context):
    return (yield context.call_activity("shout", context.get_input()))


@app.activity_trigger(input_name="text")
def shout(text: str) -> str:
    return text.upper()
"""


def test_second_app_with_same_module_name_loads_beside_the_first(tmp_path: Path, host: Host) -> None:
    app_dir = tmp_path / "tiny_app"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(TINY_APP)
    with Host(app_dir, clock=VirtualClock(START), db_path=str(tmp_path / "tiny.sqlite")) as tiny:
        assert set(tiny.functions) == {"tiny", "shout"}
        assert run(tiny, "tiny", "quiet")["output"] == "QUIET"
        assert json.loads(tiny.client_binding())["taskHubName"] == "TestHubName"  # no host.json: the default
    assert run(host, "hello_sequence", ["still"])["output"] == ["Hello still!"]
