"""Sweep at scale: 10,000 collections in one subscription, 50 of them in the policy's scope.

Runs the app's sweep in the local host against the emulator (virtual clock) and reads each
``sweep_page`` activity's own duration from its log line: the requirement is that no single
invocation runs longer than a couple of minutes, however many collections there are.

    .venv/bin/python -m bench.sweep_scale [--collections 10000] [--out bench/results/sweep_scale.txt]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import publish  # noqa: E402
from emulator import start_emulator  # noqa: E402
from tests.e2e.conftest import SUB, Api, admin, app_host, make_scenario  # noqa: E402

_PAGE = re.compile(r"sweep page: .* in ([0-9.]+) s")


class _Durations(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _PAGE.search(record.getMessage())
        if match:
            self.seconds.append(float(match.group(1)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collections", type=int, default=10_000)
    parser.add_argument("--in-scope", type=int, default=50)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep_scale.txt")
    args = parser.parse_args()
    scenario = make_scenario(vms=args.collections, points=0, disks=(32,))
    every = max(1, args.collections // args.in_scope)
    for i, c in enumerate(scenario["collections"]):
        c["tags"] = {"replicate": "true" if i % every == 0 else "false"}
    policy = {"sources": {"subscriptions": [SUB], "tags": {"replicate": "true"}},
              "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}]}  # fmt: skip
    durations = _Durations()
    logging.getLogger("functions.sweep").addHandler(durations)
    logging.getLogger("functions.sweep").setLevel(logging.INFO)
    began = time.monotonic()
    with (
        start_emulator(scenario) as emu,
        tempfile.TemporaryDirectory() as tmp,
        app_host(emu, Path(tmp) / "h.db", {"REPLICATION_POLICY": json.dumps(policy)}) as host,
    ):
        Api(host).session.post(f"{host.url}/api/sweep", timeout=30)
        host.run_until_idle(timeout=1800)
        sweep = host.get_instance("sweep")
        calls = admin(emu, "GET", "/_emulator/calls")
    wall = time.monotonic() - began
    stats = sweep["output"]["stats"]
    pages = len(durations.seconds)
    lines = [
        f"sweep over {args.collections} collections ({args.in_scope} in scope), ARM pages of 50",
        f"sweep state: {sweep['runtimeStatus']} {sweep['output'].get('state')}; listed {stats.get('listed')}, "
        f"started {stats.get('started')}, out of scope {stats.get('outOfScope')}",
        f"sweep_page activities: {pages}; ARM list calls: {calls.get('RestorePointCollections_ListAll:200')}",
        f"longest sweep_page: {max(durations.seconds):.2f} s; mean {sum(durations.seconds) / max(1, pages):.2f} s",
        f"whole run (incl. the {stats.get('started')} replications it started): {wall:.0f} s wall",
    ]
    ok = (
        sweep["runtimeStatus"] == "Completed" and stats.get("started") == args.in_scope and max(durations.seconds) < 120
    )
    lines.append("RESULT: " + ("pass (no invocation near 2 minutes)" if ok else "FAIL"))
    return publish(lines, args.out, ok)


if __name__ == "__main__":
    raise SystemExit(main())
