"""Retention in the target regions (issue 14), end to end: the app in devhost against the emulator.

30 simulated days of one restore point a day, ``keepLast: 7`` in two regions: each day the new restore
point is copied and then the oldest copy beyond the seven is deleted. The emulator logs every accepted
DELETE with what its collection held at that moment, so "the newest usable copy is never missing" is
checked at every delete, not just at the end; on one day the host is stopped in the middle of pruning and
restarted on the same SQLite store.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from emulator import start_emulator
from replication.ids import collection_instance_id, target_collection_name

from .conftest import SUB, Api, admin, app_host, collection_id, make_policy, make_scenario, sdk_client

START = datetime.fromisoformat("2026-11-20T00:00:00+00:00")
QUIET = {"SWEEP_SCHEDULE": "0 0 0 1 1 *"}  # the sweep stays out: each day's POST starts the run
REGIONS = ("westus2", "northeurope")
DAYS = 30
KEEP = 7
CRASH_DAY = 12


def _policy(**target: Any) -> dict[str, Any]:
    policy = make_policy(REGIONS)
    for t in policy["targets"]:
        t.update(target)
    return policy


def _copies(emu: Any, source: str, region: str) -> list[str]:
    """Names of the copies in a lane's target collection (not those being deleted)."""
    client = sdk_client(emu)
    name = target_collection_name(source, region)
    rpc = client.restore_point_collections.get("rg-dr", name, expand="restorePoints").as_dict()
    points = (rpc.get("properties") or {}).get("restorePoints") or []
    return sorted(p["name"] for p in points if (p.get("properties") or {}).get("provisioningState") != "Deleting")


def _check_every_delete_kept_the_newest_usable_copy(emu: Any) -> int:
    log = admin(emu, "GET", "/_emulator/deletes")["value"]
    for entry in log:
        usable = [h for h in entry["held"] if h["usable"]]
        assert usable, entry
        newest = max(usable, key=lambda h: (h["timeCreated"], h["id"].lower()))
        assert newest["id"].lower() != entry["id"].lower(), f"deleted the newest usable copy: {entry}"
        deleted = next(h for h in entry["held"] if h["id"].lower() == entry["id"].lower())
        assert deleted["usable"], f"deleted a copy that was not finished: {entry}"
    return len(log)


def _add_day(emu: Any, source: str, day: int) -> None:
    when = (START + timedelta(days=day)).isoformat().replace("+00:00", "Z")
    admin(
        emu, "POST", "/_emulator/restore-points", {"collectionId": source, "name": f"rp{day:02d}", "timeCreated": when}
    )


def test_thirty_days_keep_last_seven_never_without_the_newest_copy_even_across_a_crash(tmp_path, capsys):
    source = collection_id("vm0-rpc")
    emu = start_emulator(make_scenario(vms=1, points=0, disks=(4, 8)))
    settings = {**QUIET, "REPLICATION_POLICY": json.dumps(_policy(retention={"keepLast": KEEP}))}
    db = tmp_path / "host.db"
    counts: list[dict[str, int]] = []
    restarts = 0
    instance = collection_instance_id(source)
    try:
        host_cm = app_host(emu, db, settings)
        host = host_cm.__enter__()
        try:
            for day in range(DAYS):
                if day:
                    admin(emu, "POST", "/_emulator/clock", {"advanceTo": (START + timedelta(days=day)).isoformat()})
                _add_day(emu, source, day)
                before = len(admin(emu, "GET", "/_emulator/deletes")["value"])
                assert Api(host).start(sourceCollectionId=source).status_code == 202
                if day == CRASH_DAY:
                    # Stop the host as soon as the first prune DELETE reached Azure, then restart it on its store.
                    deadline = time.monotonic() + 60
                    while len(admin(emu, "GET", "/_emulator/deletes")["value"]) == before:
                        assert time.monotonic() < deadline, "no prune delete on the crash day"
                        time.sleep(0.005)
                    host_cm.__exit__(None, None, None)
                    restarts += 1
                    host_cm = app_host(emu, db, settings)
                    host = host_cm.__enter__()
                host.run_until_idle(timeout=180)
                counts.append({r: len(_copies(emu, source, r)) for r in REGIONS})
                _check_every_delete_kept_the_newest_usable_copy(emu)
            status = host.get_instance(instance)
        finally:
            host_cm.__exit__(None, None, None)
        final = {r: _copies(emu, source, r) for r in REGIONS}
        deletes = _check_every_delete_kept_the_newest_usable_copy(emu)
    finally:
        emu.stop()
    expected = [f"rp{d:02d}" for d in range(DAYS - KEEP, DAYS)]
    assert final == {r: expected for r in REGIONS}, final
    assert counts == [{r: min(d + 1, KEEP) for r in REGIONS} for d in range(DAYS)], counts
    assert deletes == (DAYS - KEEP) * len(REGIONS)  # each pruned exactly once, the crash included
    assert restarts == 1
    with capsys.disabled():
        print(f"\n[figure] {DAYS} days, keepLast {KEEP}: {deletes} prune deletes, 1 host restart mid-pruning")
    assert status is not None


def test_dry_run_shows_what_retention_would_delete_and_why(tmp_path):
    source = collection_id("vm0-rpc")
    emu = start_emulator(make_scenario(vms=1, points=5, disks=(4,)))
    try:
        with app_host(emu, tmp_path / "a.db", {**QUIET, "REPLICATION_POLICY": json.dumps(_policy())}) as host:
            Api(host).start(sourceCollectionId=source)
            host.run_until_idle(timeout=120)  # every restore point copied, nothing pruned (no retention yet)
        policy = _policy(retention={"keepLast": 2})
        with app_host(emu, tmp_path / "b.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            plan = Api(host).start(sourceCollectionId=source, dryRun=True).json()
            assert {r: len(_copies(emu, source, r)) for r in REGIONS} == {r: 5 for r in REGIONS}  # nothing written
    finally:
        emu.stop()
    for lane in plan["lanes"]:
        retention = lane["retention"]
        assert [d["name"] for d in retention["delete"]] == ["rp0", "rp1", "rp2"], retention
        assert all("keepLast 2" in d["reason"] for d in retention["delete"])
        assert retention["keepNewest"].endswith("/rp4")


def test_pruning_is_reported_in_the_lane_output(tmp_path):
    source = collection_id("vm0-rpc")
    emu = start_emulator(make_scenario(vms=1, points=4, disks=(4,)))
    policy = _policy(retention={"keepLast": 1})
    try:
        with app_host(emu, tmp_path / "h.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            Api(host).start(sourceCollectionId=source)
            host.run_until_idle(timeout=120)
            lanes = [i for i in host.instances() if i.get("name") == "replicate_lane"]
            outputs = [host.get_instance(i["instanceId"]).get("output") for i in lanes]
            progress = Api(host).get(collection_instance_id(source)).json()
        # The progress API, planned from Azure after the host restarted on its store: the same rows.
        with app_host(emu, tmp_path / "h.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            after_restart = Api(host).get(collection_instance_id(source)).json()
        final = {r: _copies(emu, source, r) for r in REGIONS}
    finally:
        emu.stop()
    assert final == {r: ["rp3"] for r in REGIONS}, final
    outputs = [json.loads(o) if isinstance(o, str) else o for o in outputs]
    pruned = [o["pruned"] for o in outputs if o and o.get("pruned")]
    assert len(pruned) == len(REGIONS), outputs
    for p in pruned:
        assert p["count"] == 3
        assert [row["name"] for row in p["last"]] == ["rp0", "rp1", "rp2"]
        assert all("keepLast 1" in row["reason"] for row in p["last"])
    for doc in (progress, after_restart):
        for lane in doc["lanes"]:
            states = {row["name"]: row["state"] for row in lane["copies"]}
            # Pruned by retention: expired (outside the rule), not skipped (out of order)
            assert states == {"rp0": "expired", "rp1": "expired", "rp2": "expired", "rp3": "succeeded"}, lane
            assert lane["counts"] == {"expired": 3, "succeeded": 1}, lane
            assert all("keepLast 1" in row["reason"] for row in lane["copies"] if row["state"] == "expired")
    _ = SUB
