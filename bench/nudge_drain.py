"""Episodes a collection's orchestration spends on nudges (issue 10: at most 2 per nudge).

A trigger that finds a collection's orchestration running raises ``restorePointWritten``. SDK 1.x keeps an
event raised before its wait and completes every later wait of that name with it (azure-functions-durable-python
#507), while the Durable extension hands one buffered event to each wait, so the old drain (100 zero-delay timers
to swallow the extras) was about 100 episodes on Azure, each a full replay. The local host replays with the
extension's rules (docs/devhost.md). This runs one collection (2 restore points, one region) through the app in
the local host against the emulator, raises N nudges while the clock is held, and counts the collection's
episodes (each builds one SDK context from the host's JSON) against a run with none.

    .venv/bin/python -m bench.nudge_drain [--nudges 1 10 50] [--out bench/results/nudge_drain.txt]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import publish  # noqa: E402
from emulator import start_emulator  # noqa: E402
from tests.e2e.conftest import Api, admin, app_host, collection_id, counting_episodes, make_scenario  # noqa: E402

LIMIT_PER_NUDGE = 2


def run(nudges: int) -> tuple[int, int]:
    """(episodes of the collection's orchestration, copy PUTs) for one run with ``nudges`` nudges."""
    with (
        counting_episodes() as counts,
        tempfile.TemporaryDirectory() as tmp,
        start_emulator(make_scenario(vms=1, points=2, disks=(512,))) as emu,
        app_host(emu, Path(tmp) / "h.db") as host,
    ):
        api = Api(host)
        client = host.durable_client()
        with host.hold_clock():  # from the start: every nudge lands while the run is on
            response = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"])
            if response.status_code != 202:
                raise SystemExit(f"start failed: {response.status_code} {response.text}")
            instance = response.json()["id"]
            for _ in range(nudges):
                host.run_coroutine(client.raise_event(instance, "restorePointWritten", {"byPerson": False}))
        host.run_until_idle(timeout=600)
        state = host.get_instance(instance)["runtimeStatus"]
        if state != "Completed":
            raise SystemExit(f"the collection ended {state}")
        puts = sum(
            n for op, n in admin(emu, "GET", "/_emulator/calls").items() if op.startswith("RestorePoints_Create:2")
        )
    return counts.get(instance, 0), puts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nudges", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "nudge_drain.txt")
    args = parser.parse_args()
    quiet, quiet_puts = run(0)
    once, _ = run(1)
    lines = [
        "One collection, 2 restore points, 1 region; N nudges raised while the clock is held (devhost).",
        f"episodes of the collection's orchestration with no nudge: {quiet} ({quiet_puts} copy PUTs); with one: "
        f"{once} (the re-plan a nudge asks for: a new execution reads the source, starts and ends the lane, settles)",
        "drained per nudge = episodes beyond one nudge's, per nudge beyond the first (what swallowing a nudge costs)",
        "",
        f"{'nudges':>6} | {'episodes':>8} | {'drained per nudge':>17} | {'copy PUTs':>9}",
        "-" * 52,
    ]
    ok = True
    for n in args.nudges:
        episodes, puts = (once, quiet_puts) if n == 1 else run(n)
        per = (episodes - once) / (n - 1) if n > 1 else 0.0
        ok = ok and per <= LIMIT_PER_NUDGE and puts == quiet_puts
        lines.append(f"{n:>6} | {episodes:>8} | {per:>17.2f} | {puts:>9}")
        print(lines[-1], flush=True)
    lines += [
        "",
        f"target: at most {LIMIT_PER_NUDGE} episodes per nudge drained, every restore point copied once: "
        + ("met" if ok else "MISSED"),
    ]
    return publish(lines, args.out, ok)


if __name__ == "__main__":
    raise SystemExit(main())
