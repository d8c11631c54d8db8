"""Run a scenario end to end and show it: `python -m demo --scenario scenarios/demo.json [--json out.json]`.

Starts the emulator and the local durable host, prints the dashboard's address (with the function key: open it
in a browser while the demo runs), asks the app (through its own HTTP API, with the function key) to replicate
every collection of the scenario, shows live progress per lane, prints a summary and the protection table (the
app's ``GET /api/protection``: per VM and region the newest usable copy's source time, its RPO age on the demo's
clock, the objective and whether it is met), optionally writes the outcome per source restore point and target
region, and exits 0 only if every copy succeeded. ``--hold`` keeps the stack serving afterwards until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from .stack import FUNCTION_KEY, REPO, StackError, start_stack

TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "demo.json")
    parser.add_argument("--json", type=Path, help="write the outcome per restore point and region here")
    parser.add_argument("--scale", type=float, default=400.0, help="simulated seconds per wall second")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall seconds before giving up")
    parser.add_argument("--regions", help="comma-separated target regions (default: the scenario's demo block)")
    parser.add_argument("--target-resource-group", help="default: the scenario's demo block, or rg-dr")
    parser.add_argument("--workdir", type=Path, default=REPO / ".demo")
    parser.add_argument("--hold", action="store_true", help="keep serving the app and dashboard until Ctrl-C")
    return parser.parse_args(argv)


def _collection_ids(scenario: dict[str, Any]) -> list[str]:
    return [
        f"/subscriptions/{c['subscriptionId']}/resourceGroups/{c['resourceGroup']}"
        f"/providers/Microsoft.Compute/restorePointCollections/{c['name']}"
        for c in scenario["collections"]
    ]


def _policy_for(scenario: dict[str, Any], regions: list[str], group: str) -> dict[str, Any]:
    """The replication policy the app runs with: the scenario's collections to the demo regions, each region's
    RPO objective from the scenario's ``demo.rpoHours`` (default: the app's, 26 h)."""
    objectives = (scenario.get("demo") or {}).get("rpoHours") or {}
    return {
        "sources": {"collections": _collection_ids(scenario)},
        "targets": [
            {
                "region": r,
                "subscriptionId": "{sourceSubscriptionId}",
                "resourceGroup": group,
                "copyTags": ["app"],
                **({"rpoHours": objectives[r]} if r in objectives else {}),
            }
            for r in regions
        ],
    }


def _lane_line(doc: dict[str, Any], lane: dict[str, Any]) -> tuple[str, float, float]:
    copies = lane.get("copies") or []
    total = max(1, len(copies))
    done = sum(1 for c in copies if c.get("state") == "succeeded")
    current = next((c for c in copies if c.get("state") in ("copying", "starting", "cleaning", "backoff")), None)
    fraction = 0.0
    text = lane.get("state") or "pending"
    if current:
        percents = [d.get("percent") or 0 for d in current.get("disks") or []]
        fraction = (min(percents) / 100.0) if percents else 0.0
        text = f"{current['name']} {current['state']} {int(fraction * 100)}% (attempt {current.get('attempt', 1)})"
    name = (doc.get("sourceCollectionId") or "").rsplit("/", 1)[-1]
    return f"{name} -> {lane.get('region')}: {text}", done + fraction, total


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    console = Console()
    if not console.is_terminal:  # piped or in CI: rich would cut the tables at 80 columns
        console = Console(width=160)
    scenario = json.loads(args.scenario.read_text())
    demo = scenario.get("demo") or {}
    regions = args.regions.split(",") if args.regions else demo.get("targetRegions") or ["westus2", "northeurope"]
    group = args.target_resource_group or demo.get("targetResourceGroup") or "rg-dr"
    started = time.monotonic()
    try:
        stack = start_stack(
            args.scenario.resolve(),
            args.workdir.resolve(),
            clock_start=scenario["clock"]["start"],
            scale=args.scale,
            policy=_policy_for(scenario, regions, group),
        )
    except StackError as error:
        console.print(f"[red]could not start the local stack: {error}")
        return 2
    with stack:
        console.print(f"emulator {stack.arm_url}   host {stack.host_url}   logs {args.workdir}/")
        console.print(f"dashboard {stack.host_url}/api/dashboard?code={FUNCTION_KEY}   (open it in a browser)")
        session = requests.Session()
        session.params = {"code": FUNCTION_KEY}  # type: ignore[assignment]
        ids = []
        for collection_id in _collection_ids(scenario):
            body = {"sourceCollectionId": collection_id}
            response = session.post(f"{stack.host_url}/api/replications", json=body, timeout=30)
            if response.status_code != 202:
                console.print(f"[red]start refused: {response.status_code} {response.text}")
                return 1
            ids.append(response.json()["id"])
        docs = _follow(console, session, stack.host_url, ids, started + args.timeout)
        code = _report(console, docs, args.json, time.monotonic() - started)
        _protection(console, session, stack.host_url)
        if args.hold:
            _hold(console, stack.host_url)
    return code


def _protection(console: Console, session: requests.Session, base: str) -> None:
    """The app's own protection report (``GET /api/protection``), one row per VM and region."""
    response = session.get(f"{base}/api/protection", timeout=60)
    if response.status_code != 200:
        console.print(f"[red]protection report: {response.status_code} {response.text[:300]}")
        return
    doc = response.json()
    table = Table(title=f"Protection as of {doc['asOf']} (demo clock)")
    for col in ("source collection", "region", "newest usable copy", "source time", "RPO age", "objective", "verdict"):
        table.add_column(col, no_wrap=True)
    table.add_column("disks copied", justify="right", no_wrap=True)
    for lane in doc["lanes"]:
        copy = lane.get("newestUsableCopy") or {}
        age = lane.get("rpoHours")
        met = lane.get("objectiveMet")
        verdict = "[green]met" if met else ("[red]missed" if met is False else "[grey50]unknown")
        table.add_row(
            lane["sourceCollectionId"].rsplit("/", 1)[-1],
            lane["region"],
            copy.get("name") or "-",
            copy.get("sourceTime") or "-",
            "-" if age is None else f"{age:.1f} h",
            f"{lane.get('objectiveHours'):g} h",
            verdict,
            "-" if lane.get("diskBytesCopied") is None else f"{lane['diskBytesCopied'] / 1024**3:,.0f} GiB",
        )
    console.print(table)
    s = doc["summary"]
    console.print(
        f"{s['sources']} sources: {s['protected']} protected, {s['atRisk']} at risk, {s['unprotected']} unprotected, "
        f"{s['unknown']} unknown; {doc.get('armReads', 0)} ARM reads"
    )


def _hold(console: Console, base: str) -> None:
    """Serve until Ctrl-C or SIGTERM; either leaves through the stack's ``with``, which stops both processes."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)  # also when started in the background, where SIGINT comes ignored
    signal.signal(signal.SIGTERM, stop)
    console.print(f"serving: dashboard {base}/api/dashboard?code={FUNCTION_KEY}   (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")


def _follow(
    console: Console, session: requests.Session, base: str, ids: list[str], deadline: float
) -> list[dict[str, Any]]:
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.1f}/{task.total:.0f}")
    )
    tasks: dict[str, Any] = {}
    docs: list[dict[str, Any]] = []
    with Live(progress, console=console, refresh_per_second=8, transient=False):
        while True:
            docs = [session.get(f"{base}/api/replications/{i}", timeout=30).json() for i in ids]
            for doc in docs:
                for lane in doc.get("lanes") or []:
                    key = lane.get("instanceId") or ""
                    text, done, total = _lane_line(doc, lane)
                    if key not in tasks:
                        tasks[key] = progress.add_task(text, total=total)
                    progress.update(tasks[key], description=text, completed=done, total=total)
            if all(d.get("runtimeStatus") in TERMINAL for d in docs) or time.monotonic() > deadline:
                return docs
            time.sleep(0.25)


def outcome(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for doc in docs:
        for lane in doc.get("lanes") or []:
            for c in lane.get("copies") or []:
                rows.append(
                    {
                        "sourceRestorePointId": c["sourceRestorePointId"],
                        "targetRegion": lane.get("region"),
                        "targetRestorePointId": c.get("targetRestorePointId"),
                        "state": c.get("state"),
                        "reason": c.get("reason"),
                    }
                )
    return rows


def _report(console: Console, docs: list[dict[str, Any]], json_path: Path | None, wall: float) -> int:
    rows = outcome(docs)
    table = Table(title=f"Replication summary ({wall:.1f} s wall)")
    for col in ("source restore point", "region", "state", "reason"):
        table.add_column(col)
    for r in rows:
        colour = "green" if r["state"] == "succeeded" else "red"
        table.add_row(
            r["sourceRestorePointId"].rsplit("/", 3)[-3] + "/" + r["sourceRestorePointId"].rsplit("/", 1)[-1],
            r["targetRegion"] or "",
            f"[{colour}]{r['state']}",
            r["reason"] or "",
        )
    console.print(table)
    for doc in docs:
        if doc.get("runtimeStatus") != "Completed":
            console.print(f"[red]{doc.get('instanceId')}: {doc.get('runtimeStatus')} {doc.get('reason') or ''}")
    if json_path:
        json_path.write_text(json.dumps({"copies": rows}, indent=2))
        console.print(f"outcome written to {json_path}")
    ok = (
        bool(rows)
        and all(r["state"] == "succeeded" for r in rows)
        and all(d.get("runtimeStatus") == "Completed" for d in docs)
    )
    console.print("[green]every restore point copied" if ok else "[red]not every restore point was copied")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
