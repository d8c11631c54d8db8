"""A fleet: N source collections x 2 target regions, with Compute's budgets on (virtual clock).

The app runs in the local durable host against the emulator (in-process, one virtual clock), started the way
a fleet is: one sweep over the subscription. The emulator charges every Compute call to the recorded policies
(docs/emulator.md, "Compute throttling"; default profile 2023, windows 1800 s): the copy PUT budget
``PutRestorePointSubscriptionMaximum`` (150 per subscription and region) bounds how fast first copies can start:
the n-th PUT in a region cannot come before ``floor((n - 1) / 150) x 1800 s``. Printed:

* simulated time until every lane's first copy started, and the bound the PUT budget allows (ratio: bound /
  measured; the target is >= 80 %); simulated time until every copy is done;
* 429s received (Compute's, ARM's, the hourly copy limit's), and the pacer's local refusals;
* copies failed or given up (must be 0): every (source restore point, region) must end with a succeeded copy;
* ARM calls per copy; orchestrator episodes and activity executions per copy (counted in the host);
* an estimate of the app's running cost per 1,000 VMs per month on Flex Consumption (see ``cost_lines``).

    .venv/bin/python -m bench.fleet [--collections 1000] [--points 2] [--out bench/results/fleet.txt]

With fewer than 1,000 collections, ``--scale-budgets`` (default on) shrinks every Compute subscription policy by
collections/1000, so a smaller run meets the same number of budget windows as the full fleet would.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import publish  # noqa: E402
from devhost import dispatcher as devhost_dispatcher  # noqa: E402
from devhost import engine as devhost_engine  # noqa: E402
from emulator import start_emulator  # noqa: E402
from replication import arm  # noqa: E402
from tests.e2e.conftest import SUB, Api, admin, app_host, make_scenario  # noqa: E402

REGIONS = ("westus2", "northeurope")
PUT_POLICY = "PutRestorePointSubscriptionMaximum"
PUT_LIMIT, PUT_WINDOW = 150, 1800.0  # docs/emulator.md: recorded 149 remaining + 1; 1800 s window (choice)
# Subscription policies of profile 2023 and their limits (docs/emulator.md), shrunk with --scale-budgets.
SUBSCRIPTION_POLICIES = {
    "PutRestorePointSubscriptionMaximum": 150,
    "PutRestorePointCollectionSubscriptionMaximum": 150,
    "UpdateRestorePointCollectionSubscriptionMaximum": 150,
    "LowCostGetRestorePointSubscriptionMaximum": 600,
    "HighCostGetRestorePointSubscriptionMaximum": 150,
    "DeleteRestorePointSubscriptionMaximum": 360,
}


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Counts:
    """Orchestrator episodes and activity executions, counted around the host's own methods (no behaviour change)."""

    def __init__(self) -> None:
        self.episodes = 0
        self.activities: Counter[str] = Counter()

    def install(self) -> None:
        apply, outcome = devhost_dispatcher.Dispatcher.apply, devhost_engine.Engine._activity_outcome
        counts = self

        def counted_apply(self: Any, inst: Any, batch: list[Any]) -> None:
            counts.episodes += 1
            apply(self, inst, batch)

        def counted_outcome(self: Any, row: dict[str, Any]) -> dict[str, Any]:
            counts.activities[str(row["name"])] += 1
            return outcome(self, row)

        devhost_dispatcher.Dispatcher.apply = counted_apply  # type: ignore[method-assign]
        devhost_engine.Engine._activity_outcome = counted_outcome  # type: ignore[method-assign]


def put_bound_seconds(first_copies_per_region: int, limit: int, window: float) -> float:
    """The earliest the last first copy of a region can start: the n-th PUT waits floor((n-1)/limit) windows."""
    return math.floor(max(0, first_copies_per_region - 1) / limit) * window


def cost_lines(activities_per_copy: float, episodes_per_copy: float, copies_per_vm_month: float) -> list[str]:
    """Flex Consumption on-demand cost per 1,000 VMs per month, from the measured executions per copy.

    Prices: the Azure Functions pricing page (https://azure.microsoft.com/pricing/details/functions/, not reachable
    from here) is the authority; the billing model (on-demand: GB-s of instance memory while executing, plus
    executions, minus a monthly free grant) is Learn "Estimating consumption-based costs"
    (https://learn.microsoft.com/azure/azure-functions/functions-consumption-costs). The Flex Consumption on-demand
    execution-time price $0.000026 per GB-s (East US) is as quoted by modal.com "Azure Functions pricing:
    Consumption vs. Flex Consumption" (2025-05-22); the per-execution price $0.40 per million is the figure as I
    know it from the pricing page, not confirmed from here (it is under 2 % of the total either way). The free grant
    is not subtracted.
    Assumptions: 2,048 MB instance memory (the Bicep's default instance size); every activity and orchestrator
    episode is billed as one execution of 0.5 s (activities are one ARM call or a few, measured ~0.01-0.2 s against
    the emulator; ARM in Azure answers in ~0.1-0.5 s); billing per execution is the on-demand model (no always-ready
    instances); executions running at once on one instance share its memory, so summing them is an upper bound
    on GB-s. Not included: the storage account (the task hub's queues and tables: roughly one queue message and
    a few table transactions per episode and activity) and Application Insights ingestion, priced separately.
    """
    gb = 2.0
    seconds = 0.5
    per_gb_s, per_million = 0.000026, 0.40
    executions = (activities_per_copy + episodes_per_copy) * copies_per_vm_month * 1000
    compute = executions * seconds * gb * per_gb_s
    calls = executions / 1e6 * per_million
    return [
        f"cost estimate (Flex Consumption on-demand, per 1,000 VMs per month, {copies_per_vm_month:.0f} copies per VM "
        f"per month: daily restore points to {len(REGIONS)} regions):",
        f"  executions {executions:,.0f} ({activities_per_copy:.1f} activities + {episodes_per_copy:.1f} episodes "
        f"per copy); at {seconds} s x {gb:.0f} GB each: {executions * seconds * gb:,.0f} GB-s",
        f"  execution time ${compute:,.2f} + executions ${calls:,.2f} = ${compute + calls:,.2f} per month "
        "(before the free grant; storage and Application Insights not included)",
        "  prices: https://azure.microsoft.com/pricing/details/functions/ (Flex Consumption on-demand, East US: "
        "$0.000026/GB-s as quoted by modal.com 2025-05; $0.40 per million executions, unconfirmed here); "
        "assumptions: 2 GB instances, 0.5 s per execution, no always-ready instances (see bench/fleet.py cost_lines)",
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collections", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--scale-budgets", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--timeout", type=float, default=1500.0, help="wall seconds for the run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fleet.txt")
    args = parser.parse_args()
    logging.getLogger("functions.activities").setLevel(logging.ERROR)  # one warning per throttled call otherwise
    n = args.collections
    factor = min(1.0, n / 1000) if args.scale_budgets else 1.0
    scenario = make_scenario(vms=n, points=args.points, disks=(64,))
    scenario["pageSize"] = 100
    policies = {name: {"limit": max(3, round(limit * factor))} for name, limit in SUBSCRIPTION_POLICIES.items()}
    policy = {
        "sources": {"subscriptions": [SUB], "tags": {"replicate": "true"}},
        "targets": [{"region": r, "resourceGroup": "rg-dr"} for r in REGIONS],
    }
    counts = Counts()
    counts.install()
    began = time.monotonic()
    with (
        start_emulator(scenario) as emu,
        tempfile.TemporaryDirectory() as tmp,
        app_host(emu, Path(tmp) / "h.db", {"REPLICATION_POLICY": json.dumps(policy)}) as host,
    ):
        # ARM's token buckets (reads 250, refilling 25/s) are off: on a virtual clock that stands still while
        # activities run, a per-second refill never happens during a burst, and azure-core's retries would sleep
        # in real time for nothing. Compute's budgets (windows of minutes, crossed by durable timers) are the subject.
        admin(emu, "POST", "/_emulator/throttling", {"compute": {"policies": policies}, "arm": {"enabled": False}})
        t0 = emu.clock.now()
        response = Api(host).session.post(f"{host.url}/api/sweep", timeout=30)
        assert response.status_code == 202, response.text
        try:
            host.run_until_idle(timeout=args.timeout)
            finished = True
        except TimeoutError:
            finished = False
        t_idle = emu.clock.now()
        wall = time.monotonic() - began
        copies = admin(emu, "GET", "/_emulator/copies")["value"]
        calls = admin(emu, "GET", "/_emulator/calls")
        throttling = admin(emu, "GET", "/_emulator/throttling")
        statuses = Counter(i.get("runtimeStatus") for i in host.instances())
        refusals = arm.PACER.refusals

    by_lane: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for c in copies:
        by_lane.setdefault(tuple(c["lane"]), []).append(c)
    expected_lanes, expected_copies = n * len(REGIONS), n * len(REGIONS) * args.points
    succeeded = sum(1 for c in copies if c["state"] == "Succeeded" or str(c["state"]).endswith("succeeded"))
    firsts = [min(_t(c["start"]) for c in lane) for lane in by_lane.values()]
    first_all = (max(firsts) - t0).total_seconds() if firsts else float("nan")
    hours = sorted((f - t0).total_seconds() / 3600 for f in firsts)
    spread = (
        ", ".join(f"p{q} {hours[min(len(hours) - 1, len(hours) * q // 100)]:.2f} h" for q in (10, 50, 90, 99))
        if hours
        else "none"
    )
    done_all = (max(_t(c["expectedFinish"]) for c in copies) - t0).total_seconds() if copies else float("nan")
    put_limit = policies[PUT_POLICY]["limit"]
    bound = put_bound_seconds(n, put_limit, PUT_WINDOW)
    ratio = bound / first_all if first_all > 0 else float("nan")
    total_calls = sum(calls.values())
    got_429 = sum(v for k, v in calls.items() if k.endswith(":429"))
    failed = expected_copies - succeeded
    activities = sum(counts.activities.values())
    per_copy = max(1, len(copies))
    lines = [
        f"fleet: {n} source collections x {len(REGIONS)} regions x {args.points} restore points "
        f"({expected_copies} copies), one subscription, started by one sweep; virtual clock; Compute budgets on "
        f"(profile 2023{f', subscription policies x {factor:g}: PUT {put_limit} per 1800 s' if factor < 1 else ''})",
        f"wall: {wall:.0f} s; simulated until idle: {(t_idle - t0).total_seconds() / 3600:.2f} h"
        + ("" if finished else f" (NOT FINISHED: stopped after {args.timeout:.0f} s wall; figures so far)"),
        "ARM's request buckets off (see the comment in main); Compute's policies on",
        f"every first copy started after {first_all / 3600:.2f} h simulated; the PUT budget's bound "
        f"{bound / 3600:.2f} h (floor(({n} - 1) / {put_limit}) x 30 min per region): ratio {ratio:.0%} (target >= 80%)",
        f"first copies started (per lane, simulated): {spread}",
        f"every copy done (data copied) after {done_all / 3600:.2f} h simulated",
        f"copies: {len(copies)} made, {succeeded} succeeded of {expected_copies}; failed or given up: {failed}; "
        f"lanes with a copy: {len(by_lane)} of {expected_lanes}",
        f"orchestrations: {dict(statuses)}",
        f"429s received: {got_429} (Compute policies: {throttling['compute']['throttled'] or 0}; ARM: "
        f"{throttling['arm']['throttled'] or 0}; hourly copy limit: {throttling['hourlyLimits']['throttled'] or 0}); "
        f"calls refused locally by the pacer: {refusals}",
        f"ARM calls: {total_calls} ({total_calls / per_copy:.1f} per copy); by operation: "
        + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())),
        f"orchestrator episodes: {counts.episodes} ({counts.episodes / per_copy:.1f} per copy); activity executions: "
        f"{activities} ({activities / per_copy:.1f} per copy): "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.activities.items())),
        *cost_lines(activities / per_copy, counts.episodes / per_copy, 30 * len(REGIONS)),
    ]
    ok = finished and failed == 0 and ratio >= 0.8 and statuses.get("Failed", 0) == 0
    return publish(lines, args.out, ok)


if __name__ == "__main__":
    sys.exit(main())
