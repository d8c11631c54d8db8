"""Crash safety: a devhost killed with SIGKILL at random points resumes every instance from SQLite."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from devhost_helpers import QUIET_SCHEDULE, ROOT, SAMPLE_APP, client_body, real_now, run

from devhost import Host, VirtualClock
from devhost.store import Store
from devhost.timefmt import iso, parse_iso


class CliHost:
    """``python -m devhost`` as a child process that can be SIGKILLed and restarted on the same database."""

    def __init__(self, tmp: Path, clock_start: str) -> None:
        self.db = tmp / "durable.sqlite"
        self.log = tmp / "activities.log"
        self.settings = tmp / "local.settings.json"
        self.settings.write_text(
            json.dumps({"Values": {"SWEEP_SCHEDULE": QUIET_SCHEDULE, "SAMPLE_ACTIVITY_LOG": str(self.log)}})
        )
        self.clock_start = clock_start
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> None:
        cmd = [sys.executable, "-m", "devhost", "--app-dir", str(SAMPLE_APP), "--port", "0", "--db", str(self.db)]
        cmd += ["--settings", str(self.settings), "--clock", "virtual", "--clock-start", self.clock_start]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("devhost listening on http://127.0.0.1:"), line
        self.url = line.split()[-1]

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def start_instance(self, name: str, instance_id: str, payload: Any) -> None:
        url = f"{self.url}/durabletask/orchestrators/{name}/{instance_id}"
        assert requests.post(url, json=client_body(payload), timeout=10).status_code == 202

    def status(self, instance_id: str) -> dict[str, Any]:
        url = f"{self.url}/durabletask/instances/{instance_id}"
        return dict(requests.get(url, params={"showHistory": "true"}, timeout=10).json())

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliHost]:
    host = CliHost(tmp_path, iso(real_now()))
    yield host
    host.stop()


WORKLOAD: dict[str, tuple[str, Any, Any]] = {
    "k-slow": ("kill_target", {"n": 4, "seconds": 0.15}, 4 * 3 // 2 + 100 + 101 + 102),
    "k-fan": ("fan_out_fan_in", 12, sum(2 * i for i in range(12))),
    "k-parent": ("parent_orchestrator", None, None),
    "k-loop": ("counter_loop", {"done": 0, "total": 60, "batch": 20}, 60),
    "k-timers": ("timers_in_sequence", None, None),
}


def _assert_exactly_once(db: Path) -> None:
    """In every stored history each scheduled task and timer completed exactly once, each execution once."""
    store = Store(str(db))
    try:
        for inst in store.list_instances():
            events = inst.history
            scheduled = [e["EventId"] for e in events if e["EventType"] in (4, 7, 10)]
            done = Counter(
                e.get("TaskScheduledId", e.get("TimerId")) for e in events if e["EventType"] in (5, 6, 8, 9, 11)
            )
            assert sorted(done) == sorted(scheduled), inst.instance_id
            assert set(done.values()) == {1}, inst.instance_id
            assert [e["EventType"] for e in events].count(0) == 1
            assert sum(1 for e in events if e["EventType"] in (1, 2, 3)) == 1  # completed/failed/terminated
            stamps = [e["Timestamp"] for e in events if e["EventType"] == 12]
            assert stamps == sorted(stamps), "virtual time went backwards across a restart"
    finally:
        store.close()


def test_kill_9_at_random_points_resumes_everything(cli: CliHost) -> None:
    rng = random.Random(20250101)
    cli.start()
    for instance_id, (name, payload, _) in WORKLOAD.items():
        cli.start_instance(name, instance_id, payload)
    kills = 0
    for _ in range(5):
        time.sleep(rng.uniform(0.05, 0.5))  # real time only to pick a random crash point, never simulated time
        cli.kill()
        kills += 1
        cli.start()
    deadline = time.monotonic() + 40
    while True:
        statuses = {i: cli.status(i) for i in WORKLOAD}
        if all(s["runtimeStatus"] not in ("Pending", "Running") for s in statuses.values()):
            break
        assert time.monotonic() < deadline, {i: s["runtimeStatus"] for i, s in statuses.items()}
        time.sleep(0.05)
    assert kills == 5
    for instance_id, (_, _, expected) in WORKLOAD.items():
        status = statuses[instance_id]
        assert status["runtimeStatus"] == "Completed", (instance_id, status["output"])
        if expected is not None:
            assert status["output"] == expected
    assert statuses["k-parent"]["output"]["children"] == [["Hello c0!"], ["Hello c1!"], ["Hello c2!"]]
    assert len(statuses["k-timers"]["output"]) == 3
    cli.stop()
    _assert_exactly_once(cli.db)


def test_kill_9_inside_an_activity_reruns_it(cli: CliHost) -> None:
    cli.start()
    cli.start_instance("kill_target", "mid", {"n": 2, "seconds": 1.0})
    deadline = time.monotonic() + 20
    while "slow_step start 0" not in cli.log_lines():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cli.kill()  # slow_step 0 is running right now
    assert "slow_step end 0" not in cli.log_lines()
    cli.start()
    deadline = time.monotonic() + 30
    while cli.status("mid")["runtimeStatus"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    lines = cli.log_lines()
    assert lines.count("slow_step start 0") == 2 and lines.count("slow_step end 0") == 1  # re-run at least once
    assert cli.status("mid")["output"] == 0 + 1 + 100 + 101 + 102


def test_kill_9_while_a_timer_is_pending_rearms_it(cli: CliHost) -> None:
    cli.start()
    # A slow activity keeps the host busy, so virtual time cannot jump to timer_race's one-hour timeout yet.
    cli.start_instance("kill_target", "busy", {"n": 1, "seconds": 2.5})
    deadline = time.monotonic() + 20
    while "slow_step start 0" not in cli.log_lines():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cli.start_instance("timer_race", "race", None)
    while not _pending_timers(cli.db, "race"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cli.kill()
    assert _pending_timers(cli.db, "race") == 1
    cli.start()
    deadline = time.monotonic() + 30
    while any(cli.status(i)["runtimeStatus"] != "Completed" for i in ("busy", "race")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    output = cli.status("race")["output"]
    assert output["approved"] is None  # the re-armed timeout fired after the restart
    started = parse_iso(cli.status("race")["createdTime"])
    assert parse_iso(output["timed_out_at"]) - started == dt.timedelta(hours=1)
    cli.stop()
    _assert_exactly_once(cli.db)


def _pending_timers(db: Path, instance_id: str) -> int:
    store = Store(str(db))
    try:
        return len(store.rows("SELECT id FROM timers WHERE instance_id = ?", (instance_id,)))
    finally:
        store.close()


def test_activity_duplicate_rate_runs_some_activities_twice(tmp_path: Path, activity_log: Path) -> None:
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE, "SAMPLE_ACTIVITY_LOG": str(activity_log)}
    clock = VirtualClock(real_now())
    with Host(SAMPLE_APP, settings=settings, clock=clock, activity_duplicate_rate=0.5, seed=7) as host:
        status = run(host, "fan_out_fan_in", 20)
    assert status["output"] == sum(2 * i for i in range(20))
    runs = activity_log.read_text().splitlines()
    assert 20 < len(runs) < 40  # some, not all, executed twice; both completions reach history, the first is used


def test_restart_in_process_resumes_waiting_instances(tmp_path: Path) -> None:
    db = str(tmp_path / "resume.sqlite")
    clock = VirtualClock(real_now())
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=db) as host:
        client = host.durable_client()
        host.run_coroutine(client.start_new("wait_for_events", "persist"))
        host.run_until_idle(30)
        host.run_coroutine(client.raise_event("persist", "First", "one"))
        host.run_until_idle(30)
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=db) as host:
        # Raised with the Python client, which double-encodes: the orchestrator got the JSON text '"one"'.
        assert host.get_instance("persist")["customStatus"] == {"stage": "got-first", "first": '"one"'}
        host.run_coroutine(host.durable_client().raise_event("persist", "Second", "two"))
        host.run_until_idle(30)
        assert host.get_instance("persist")["output"] == ['"one"', '"two"']
