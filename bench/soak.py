"""Soak: many copies with every emulator fault on and the local host killed at random, then the books.

20 collections x 5 restore points x 2 regions = 200 copies by default. The emulator runs in this
process; the local durable host runs as a child process on the same scaled clock and is killed with
SIGKILL every 3-9 s and restarted on the same SQLite database. At the end, through the real
SDK client: duplicate target restore points (must be 0), Failed target restore points left behind
(must be 0), stuck orchestrations (must be 0), and the cost per copy.

    .venv/bin/python -m bench.soak [--collections 20 --points 5] [--out bench/results/soak.txt]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import publish  # noqa: E402
from demo.stack import HOST_READY, wait_ready  # noqa: E402
from emulator import ScaledClock, start_emulator  # noqa: E402
from replication.ids import normalize  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    admin,
    collection_id,
    host_settings,
    make_policy,
    make_scenario,
    sdk_client,
)

KEY = "devhost-function-key"
TERMINAL = {"Completed", "Failed", "Terminated"}


def _faults(start: datetime, collections: int, seed: int) -> dict[str, Any]:
    # A few source restore points are deleted out of band along the way: some before their copy,
    # some during it. Those must be reported, never left half-done.
    deletes = [
        {
            "id": f"{collection_id(f'vm{v}-rpc')}/restorePoints/rp3",
            "at": (start + timedelta(minutes=20 + 9 * v)).isoformat(),
        }
        for v in range(0, collections, 7)
    ]
    return {
        "seed": seed,
        "serverErrorRate": 0.04,
        "connectionResetRate": 0.02,
        "slowResponseRate": 0.01,
        "slowResponseSeconds": 1.0,
        "throttleStormRate": 0.03,
        "throttleStormRetryAfter": 30,
        "diskCopyFailureRate": 0.12,
        "copyProvisioningFailureRate": 0.04,
        "scheduledDeletes": deletes,
    }


class HostProcess:
    def __init__(self, workdir: Path, clock_args: list[str]) -> None:
        self.workdir, self.clock_args = workdir, clock_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.kills = 0

    def start(self) -> None:
        log = self.workdir / f"devhost-{self.kills}.log"  # one log per life, so readiness is this life's
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devhost", "--app-dir", str(REPO), "--port", "0", "--settings",
                 str(self.workdir / "settings.json"), "--db", str(self.workdir / "host.db"), *self.clock_args],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.url = wait_ready(self.proc, log, HOST_READY, 60).group(1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collections", type=int, default=20)
    parser.add_argument("--points", type=int, default=5)
    parser.add_argument("--scale", type=float, default=150.0)
    parser.add_argument("--kill-min", type=float, default=3.0)
    parser.add_argument("--kill-max", type=float, default=9.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.txt")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    scenario = make_scenario(vms=args.collections, points=args.points, disks=(32, 128))
    start = datetime.fromisoformat(scenario["clock"]["start"].replace("Z", "+00:00"))
    scenario["faults"] = _faults(start, args.collections, args.seed)
    anchor = time.time()
    clock = ScaledClock(start, args.scale, anchor)
    clock_args = [
        "--clock",
        "scaled",
        "--clock-start",
        start.isoformat(),
        "--clock-scale",
        str(args.scale),
        "--clock-anchor",
        f"{anchor:.6f}",
    ]
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    began = time.monotonic()
    with start_emulator(scenario, clock=clock) as emu:
        settings = host_settings(emu, REPLICATION_POLICY=json.dumps(make_policy()), MAX_COPY_ATTEMPTS="4")
        (workdir / "settings.json").write_text(json.dumps({"Values": settings}))
        host = HostProcess(workdir, clock_args)
        host.start()
        session = requests.Session()
        session.params = {"code": KEY}  # type: ignore[assignment]
        response = session.post(f"{host.url}/api/replications", json={"all": True}, timeout=30)
        assert response.status_code == 202, response.text

        next_kill = time.monotonic() + rng.uniform(args.kill_min, args.kill_max)
        replications: list[dict[str, Any]] = []
        while time.monotonic() - began < args.timeout:
            if time.monotonic() >= next_kill:
                host.kill()
                host.start()
                session = requests.Session()
                session.params = {"code": KEY}  # type: ignore[assignment]
                next_kill = time.monotonic() + rng.uniform(args.kill_min, args.kill_max)
            try:
                replications = session.get(f"{host.url}/api/replications", timeout=30).json()["replications"]
                instances = session.get(f"{host.url}/runtime/webhooks/durabletask/instances", timeout=30).json()
            except (requests.RequestException, ValueError):
                time.sleep(0.5)
                continue
            active = [i for i in instances if i.get("runtimeStatus") not in TERMINAL]
            if len(replications) == args.collections and not active:
                break
            time.sleep(1.0)
        wall = time.monotonic() - began

        admin(emu, "POST", "/_emulator/faults", {"replace": True})
        instances = session.get(f"{host.url}/runtime/webhooks/durabletask/instances", timeout=30).json()
        stuck = [i["instanceId"] for i in instances if i.get("runtimeStatus") not in TERMINAL]
        docs = [session.get(f"{host.url}/api/replications/{r['instanceId']}", timeout=30).json() for r in replications]
        calls = admin(emu, "GET", "/_emulator/calls")
        simulated = clock.now() - start
        host.stop()

        client = sdk_client(emu)
        surviving = {
            normalize(p.id)
            for v in range(args.collections)
            for p in client.restore_point_collections.get(
                "rg-app", f"vm{v}-rpc", expand="restorePoints"
            ).properties.restore_points
            or []
        }
        existing_sources = len(surviving)
        duplicates = failed_left = present = 0
        for c in client.restore_point_collections.list("rg-dr"):
            full = client.restore_point_collections.get("rg-dr", c.name, expand="restorePoints")
            sources = Counter(
                normalize(p.properties.source_restore_point.id) for p in full.properties.restore_points or []
            )
            duplicates += sum(n - 1 for n in sources.values() if n > 1)
            for p in full.properties.restore_points or []:
                present += 1
                view = client.restore_points.get("rg-dr", c.name, p.name, expand="instanceView")
                codes = [
                    d.replication_status.status.code for d in view.properties.instance_view.disk_restore_points or []
                ]
                if view.properties.provisioning_state == "Failed" or any(code.endswith("/failed") for code in codes):
                    failed_left += 1

    orphans = sum(len(lane.get("copiesOfDeletedSources") or []) for d in docs for lane in d.get("lanes", []))
    rows = [
        {**c, "region": lane["region"]} for d in docs for lane in d.get("lanes", []) for c in lane.get("copies", [])
    ]
    covered = {(normalize(c["sourceRestorePointId"]), c["region"]) for c in rows}
    uncovered = [(s, r) for s in surviving for r in ("westus2", "northeurope") if (s, r) not in covered]
    states = Counter(c["state"] for c in rows)
    reasons = Counter(
        f"{c['sourceRestorePointId'].split('/')[-3]}/{c['name']}: {(c.get('reason') or '')[:120]}"
        for c in rows
        if c["state"] != "succeeded"
    )
    copies = max(1, len(rows))
    other = sum(n for s, n in states.items() if s not in ("succeeded", "failed", "skipped"))
    gets = sum(n for k, n in calls.items() if k.startswith("RestorePoints_Get"))
    arm_calls = sum(calls.values())
    faults = {k: n for k, n in calls.items() if k.split(":")[1] in ("429", "500", "503", "reset")}
    lines = [
        f"soak: {args.collections} collections x {args.points} restore points x 2 regions, seed {args.seed}",
        f"wall {wall:.0f} s, simulated {simulated}, host killed {host.kills} times (SIGKILL), scale {args.scale:.0f}x",
        f"source restore points left: {existing_sources} (of {args.collections * args.points}; "
        "the rest deleted out of band)",
        f"copies in scope:            {len(rows)}  (incl. copies made before their source was deleted)",
        f"surviving sources not accounted for in a region: {len(uncovered)}   (must be 0)",
        f"  succeeded:                {states.get('succeeded', 0)}",
        f"  reported failed/skipped:  {states.get('failed', 0) + states.get('skipped', 0)}",
        *[f"    {n:>3} x {reason}" for reason, n in reasons.most_common()],
        f"  other states:             {other}",
        f"target restore points:      {present}  (of which {orphans} of sources deleted after they were copied)",
        f"duplicate target restore points:    {duplicates}   (must be 0)",
        f"Failed target restore points left:  {failed_left}   (must be 0)",
        f"stuck orchestrations:               {len(stuck)}   (must be 0)",
        f"instanceView GETs per copy:  {gets / copies:.1f}",
        f"ARM calls per copy:          {arm_calls / copies:.1f}   (incl. {sum(faults.values())} faulted answers)",
    ]
    ok = duplicates == 0 and failed_left == 0 and not stuck and not uncovered and other == 0
    lines.append("RESULT: " + ("pass" if ok else "FAIL"))
    return publish(lines, args.out, ok)


if __name__ == "__main__":
    raise SystemExit(main())
