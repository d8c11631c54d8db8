"""`make dev` / `python -m dev`: the ARM emulator and the local durable host with the app, on ONE clock.

Both processes get a scaled clock with the same start (the scenario's ``clock.start``), scale (default 60
simulated seconds per wall second) and wall-clock anchor, so they read the same simulated time without
talking to each other; the host is also given ``--clock-sync`` (the emulator's ``/_emulator/clock``), so any
jump it makes reaches the emulator. (Before this, the by-hand commands ran the emulator on its default frozen
virtual clock and the host on real time: a copy sat at 0% forever.)

Writes ``.dev/local.settings.json`` (from ``local.settings.emulator.example.json``, with the real ports) and uses
``dev/policy.demo.json`` (the collections of ``scenarios/demo.json`` to westus2 and northeurope, rg-dr), prints
the function key and a first ``curl`` that works as printed, and stops both processes on Ctrl-C (or SIGTERM).
Logs: ``.dev/emulator.log``, ``.dev/devhost.log``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from demo.stack import HOST_READY, Stack, StackError, wait_ready

REPO = Path(__file__).resolve().parent.parent
_EMULATOR_READY = re.compile(r"emulator listening on (https://\S+) identity (http://\S+)")
FUNCTION_KEY = "devhost-function-key"
IDENTITY_HEADER = "emulator-identity-header"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "demo.json")
    parser.add_argument("--policy", type=Path, default=REPO / "dev" / "policy.demo.json")
    parser.add_argument("--settings-template", type=Path, default=REPO / "local.settings.emulator.example.json")
    parser.add_argument("--scale", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    parser.add_argument("--port", type=int, default=7071, help="the app's HTTP port (0: any free)")
    parser.add_argument("--arm-port", type=int, default=8443, help="the emulator's HTTPS port (0: any free)")
    parser.add_argument("--identity-port", type=int, default=8444, help="the managed identity port (0: any free)")
    parser.add_argument("--workdir", type=Path, default=REPO / ".dev")
    return parser.parse_args(argv)


def _first_collection(scenario: dict[str, Any]) -> str:
    c = scenario["collections"][0]
    return (
        f"/subscriptions/{c['subscriptionId']}/resourceGroups/{c['resourceGroup']}"
        f"/providers/Microsoft.Compute/restorePointCollections/{c['name']}"
    )


def first_curl(host_url: str, collection_id: str) -> str:
    body = json.dumps({"sourceCollectionId": collection_id})
    url = f"{host_url}/api/replications?code={FUNCTION_KEY}"
    return f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' -d {shlex.quote(body)}"


def start(args: argparse.Namespace) -> Stack:
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = json.loads(args.scenario.read_text())
    clock = [
        "--clock",
        "scaled",
        "--clock-start",
        scenario["clock"]["start"],
        "--clock-scale",
        str(args.scale),
        "--clock-anchor",
        f"{time.time():.6f}",
    ]
    stack = Stack(workdir)
    ca = workdir / "ca.pem"
    try:
        emulator_log = workdir / "emulator.log"
        emulator_cmd = [
            *(sys.executable, "-m", "emulator", "--scenario", str(args.scenario.resolve())),
            *("--port", str(args.arm_port), "--identity-port", str(args.identity_port)),
            *("--ca-out", str(ca), "--identity-header", IDENTITY_HEADER, *clock),
        ]
        proc = subprocess.Popen(emulator_cmd, cwd=REPO, stdout=emulator_log.open("wb"), stderr=subprocess.STDOUT)
        stack.processes.append(proc)
        ready = wait_ready(proc, emulator_log, _EMULATOR_READY, 30)
        stack.arm_url, stack.identity_url = ready.group(1), ready.group(2)

        template = json.loads(args.settings_template.read_text())
        values = dict(template["Values"])
        values.update(
            {
                "ARM_ENDPOINT": stack.arm_url,
                "ARM_CA_BUNDLE": str(ca),
                "IDENTITY_ENDPOINT": stack.identity_url,
                "IDENTITY_HEADER": IDENTITY_HEADER,
                "REPLICATION_POLICY_PATH": str(args.policy.resolve()),
                # The protection report and dashboard measure RPO on this stack's scaled clock.
                "DEV_SCALED_CLOCK": f"{scenario['clock']['start']},{args.scale},{clock[-1]}",
            }
        )
        settings = workdir / "local.settings.json"
        settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2))
        db = workdir / "devhost.db"
        db.unlink(missing_ok=True)
        host_log = workdir / "devhost.log"
        host_cmd = [
            *(sys.executable, "-m", "devhost", "--app-dir", str(REPO), "--port", str(args.port)),
            *("--settings", str(settings), "--db", str(db), "--function-key", FUNCTION_KEY, *clock),
            *("--clock-sync", f"{stack.arm_url}/_emulator/clock", "--clock-sync-ca", str(ca)),
        ]
        proc = subprocess.Popen(host_cmd, cwd=REPO, stdout=host_log.open("wb"), stderr=subprocess.STDOUT)
        stack.processes.append(proc)
        stack.host_url = wait_ready(proc, host_log, HOST_READY, 60).group(1)
    except BaseException:
        stack.stop()
        raise
    return stack


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stack = start(args)
    except StackError as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 2
    scenario = json.loads(args.scenario.read_text())
    collection = _first_collection(scenario)
    with stack:
        print(f"emulator  {stack.arm_url}  (admin: {stack.arm_url}/_emulator/, CA {args.workdir}/ca.pem)")
        begins = scenario["clock"]["start"]
        print(f"app       {stack.host_url}  clock: {args.scale:g} simulated s per wall s, from {begins}")
        print(f"function key: {FUNCTION_KEY}")
        print(f"settings  {args.workdir}/local.settings.json   policy {args.policy}   logs {args.workdir}/")
        print("replicate one collection (202 with its instance id):")
        print(f"  {first_curl(stack.host_url, collection)}")
        print("follow it (lanes, copies, per-disk percent; Azure refreshes the percent every 10 simulated min):")
        print(f"  curl -sS '{stack.host_url}/api/replications?code={FUNCTION_KEY}'")
        print(f"  curl -sS '{stack.host_url}/api/replications/<id>?code={FUNCTION_KEY}'")
        print(f"dashboard (a browser; RPO aged on this clock): {stack.host_url}/api/dashboard?code={FUNCTION_KEY}")
        print("Ctrl-C stops both.", flush=True)
        while not stop.wait(0.5):
            for proc in stack.processes:
                if proc.poll() is not None:
                    print(f"a process exited ({proc.args[2]}: {proc.returncode}); see {args.workdir}/", file=sys.stderr)
                    return 1
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
