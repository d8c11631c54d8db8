"""Start the ARM emulator and the local durable host as child processes on loopback.

Both processes run a scaled clock from the same start, scale and wall-clock anchor, so they agree on
simulated time without talking to each other about it. Output goes to log files under the work
directory, so the terminal stays free for progress.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUNCTION_KEY = "devhost-function-key"  # the devhost default
IDENTITY_HEADER = "demo-identity-header"
CLIENT_ID = "00000000-0000-0000-0000-00000000c1d0"

_EMULATOR_READY = re.compile(r"emulator listening on (https://\S+) identity (http://\S+)")
HOST_READY = re.compile(r"devhost listening on (http://\S+)")


class StackError(RuntimeError):
    pass


@dataclass
class Stack:
    workdir: Path
    arm_url: str = ""
    identity_url: str = ""
    host_url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.processes.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ready(proc: subprocess.Popen[bytes], log: Path, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = pattern.search(text)
        if match:
            return match
        if proc.poll() is not None:
            raise StackError(f"{log.name}: exited with {proc.returncode}:\n{text[-2000:]}")
        time.sleep(0.05)
    raise StackError(f"{log.name}: not ready after {timeout:.0f} s")


def start_stack(scenario: Path, workdir: Path, *, clock_start: str, scale: float, policy: dict[str, object]) -> Stack:
    """Emulator first (the host's settings need its URLs), then the host with the app."""
    workdir.mkdir(parents=True, exist_ok=True)
    anchor = f"{time.time():.6f}"
    clock = [
        "--clock",
        "scaled",
        "--clock-start",
        clock_start,
        "--clock-scale",
        str(scale),
        "--clock-anchor",
        anchor,
    ]
    stack = Stack(workdir)
    env = {k: v for k, v in os.environ.items() if k not in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT")}
    try:
        emulator_log = workdir / "emulator.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emulator",
                "--port",
                "0",
                "--identity-port",
                "0",
                "--scenario",
                str(scenario),
                "--ca-out",
                str(workdir / "ca.pem"),
                "--identity-header",
                IDENTITY_HEADER,
                *clock,
            ],
            cwd=REPO,
            stdout=emulator_log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        stack.processes.append(proc)
        ready = wait_ready(proc, emulator_log, _EMULATOR_READY, 30)
        stack.arm_url, stack.identity_url = ready.group(1), ready.group(2)

        settings = {
            "Values": {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "ARM_ENDPOINT": stack.arm_url,
                "ARM_CA_BUNDLE": str(workdir / "ca.pem"),
                "AZURE_CLIENT_ID": CLIENT_ID,
                "IDENTITY_ENDPOINT": stack.identity_url,
                "IDENTITY_HEADER": IDENTITY_HEADER,
                "MAX_COPY_ATTEMPTS": "3",
                "ON_COPY_FAILURE": "continue",
                "SWEEP_SCHEDULE": "0 0 */6 * * *",
                "PROTECTION_SCHEDULE": "0 */15 * * * *",  # as the Bicep: RPO gauge, events, log lines
                "REPLICATION_POLICY": json.dumps(policy),
                # The protection report measures RPO on the stack's scaled clock, not the machine's date.
                "DEV_SCALED_CLOCK": f"{clock_start},{scale},{anchor}",
                # The demo's fleet is tiny: every report reads Azure (the emulator) afresh.
                "PROTECTION_CACHE_SECONDS": "0",
            }
        }
        (workdir / "local.settings.json").write_text(json.dumps(settings, indent=2))
        db = workdir / "devhost.db"
        if db.exists():
            db.unlink()
        host_log = workdir / "devhost.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "--app-dir",
                str(REPO),
                "--port",
                "0",
                "--settings",
                str(workdir / "local.settings.json"),
                "--db",
                str(db),
                *clock,
            ],
            cwd=REPO,
            stdout=host_log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        stack.processes.append(proc)
        stack.host_url = wait_ready(proc, host_log, HOST_READY, 60).group(1)
    except BaseException:
        stack.stop()
        raise
    return stack
