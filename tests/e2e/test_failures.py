"""Failure paths through the local host against a faulty emulator.

The invariant after every run, whatever the faults: each source restore point in scope is copied
exactly once per region or reported failed with a reason, and no Failed copy is left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devhost import Host
from emulator import start_emulator
from replication.ids import normalize

from .conftest import Api, admin, app_host, collection_id, lane_key, make_scenario, sdk_client


def run(
    tmp_path: Path,
    faults: dict[str, Any],
    settings: dict[str, str] | None = None,
    vms: int = 1,
    points: int = 3,
    regions: tuple[str, ...] = ("westus2",),
    **host_kwargs: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    emu = start_emulator(make_scenario(vms=vms, points=points, faults=faults))
    try:
        with app_host(emu, tmp_path / "host.db", settings, **host_kwargs) as host:
            api = Api(host)
            ids = []
            for v in range(vms):
                response = api.start(
                    sourceCollectionId=collection_id(f"vm{v}-rpc"),
                    targetRegions=list(regions),
                    targetResourceGroup="rg-dr",
                )
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            host.run_until_idle(timeout=240)
            docs = [api.get(i).json() for i in ids]
            admin(
                emu,
                "POST",
                "/_emulator/faults",
                {"serverErrorRate": 0, "connectionResetRate": 0, "throttleStormRate": 0},
            )
            return docs, admin(emu, "GET", "/_emulator/calls"), _target_points(emu)
    finally:
        emu.stop()


def _target_points(emu: Any) -> dict[str, list[Any]]:
    client = sdk_client(emu)
    out = {}
    for c in client.restore_point_collections.list("rg-dr"):
        full = client.restore_point_collections.get("rg-dr", c.name, expand="restorePoints")
        out[lane_key(c.name)] = [
            client.restore_points.get("rg-dr", c.name, p.name, expand="instanceView")
            for p in full.properties.restore_points or []
        ]
    return out


def assert_invariant(docs: list[dict[str, Any]], targets: dict[str, list[Any]]) -> None:
    for doc in docs:
        assert doc["runtimeStatus"] == "Completed", doc
        for lane in doc["lanes"]:
            name = f"{doc['sourceCollectionId'].rsplit('/', 1)[-1]}-{lane['region']}"
            present = {normalize(p.properties.source_restore_point.id): p for p in targets.get(name, [])}
            assert len(present) == len(targets.get(name, [])), "two copies of one source restore point"
            for copy in lane["copies"]:
                key = normalize(copy["sourceRestorePointId"])
                if copy["state"] == "succeeded":
                    point = present[key]
                    disks = point.properties.instance_view.disk_restore_points
                    assert all(d.replication_status.status.code == "ReplicationState/succeeded" for d in disks)
                else:
                    assert copy["state"] in ("failed", "skipped"), copy
                    assert copy.get("reason"), copy
                    assert key not in present, "a failed copy was left behind"
            for point in targets.get(name, []):
                assert point.properties.provisioning_state != "Failed"


def test_disk_failure_is_cleaned_up_retried_then_given_up_and_the_lane_moves_on(tmp_path):
    docs, calls, targets = run(tmp_path, {"diskCopyFailureRate": 1.0}, {"MAX_COPY_ATTEMPTS": "2"}, points=2)
    assert_invariant(docs, targets)
    lane = docs[0]["lanes"][0]
    assert lane["state"] == "done-with-failures"
    assert [c["state"] for c in lane["copies"]] == ["failed", "failed"]
    assert "gave up after 2 attempts" in lane["copies"][0]["reason"]
    assert calls.get("RestorePoints_Create:201") == 4  # two attempts per restore point
    assert sum(n for k, n in calls.items() if k.startswith("RestorePoints_Delete")) >= 4
    assert targets["vm0-rpc-westus2"] == []


def test_on_failure_stop_waits_for_a_person(tmp_path):
    """The lane stops; the sweep and events leave it alone; a person's API request starts it again."""
    settings = {"MAX_COPY_ATTEMPTS": "1", "ON_COPY_FAILURE": "stop"}
    emu = start_emulator(make_scenario(vms=1, points=2, faults={"diskCopyFailureRate": 1.0}))
    try:
        with app_host(emu, tmp_path / "host.db", settings) as host:
            api = Api(host)
            instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
            host.run_until_idle(timeout=120)
            lane = api.get(instance).json()["lanes"][0]
            assert lane["state"] == "stopped" and "waiting for a person" in lane["reason"]
            assert _target_points(emu)["vm0-rpc-westus2"] == []

            admin(emu, "POST", "/_emulator/faults", {"replace": True})
            api.session.post(f"{api.base}/api/sweep", timeout=30)
            host.run_until_idle(timeout=120)
            assert host.get_instance("sweep")["output"]["stats"]["held"] == 1
            assert api.get(instance).json()["lanes"][0]["state"] == "stopped"  # the sweep left it alone

            assert api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).status_code == 202
            host.run_until_idle(timeout=120)
            lane = api.get(instance).json()["lanes"][0]
        assert [c["state"] for c in lane["copies"]] == ["succeeded", "succeeded"]
    finally:
        emu.stop()


def test_some_disk_failures_end_copied_once_or_reported(tmp_path):
    docs, calls, targets = run(
        tmp_path,
        {"diskCopyFailureRate": 0.4, "seed": 7},
        {"MAX_COPY_ATTEMPTS": "4"},
        vms=2,
        points=4,
        regions=("westus2", "northeurope"),
    )
    assert_invariant(docs, targets)
    states = [c["state"] for d in docs for lane in d["lanes"] for c in lane["copies"]]
    assert states.count("succeeded") >= len(states) // 2, states
    assert calls.get("RestorePoints_Create:201", 0) > len(states)  # some copies were restarted


def test_flaky_arm_never_fails_a_copy(tmp_path):
    faults = {"serverErrorRate": 0.15, "connectionResetRate": 0.05, "throttleStormRate": 0.1, "seed": 3}
    docs, calls, targets = run(tmp_path, faults, points=3, regions=("westus2", "northeurope"))
    assert_invariant(docs, targets)
    assert all(c["state"] == "succeeded" for d in docs for lane in d["lanes"] for c in lane["copies"])
    assert any(k.endswith(":429") for k in calls) and any(k.endswith(":500") or k.endswith(":503") for k in calls)


def test_activities_run_twice_still_copy_once(tmp_path):
    docs, _, targets = run(tmp_path, {}, points=3, regions=("westus2", "northeurope"), activity_duplicate_rate=0.5)
    assert_invariant(docs, targets)
    assert all(c["state"] == "succeeded" for d in docs for lane in d["lanes"] for c in lane["copies"])


_ = (pytest, Host)


def test_source_deleted_mid_copy_is_reported_not_retried_and_the_lane_moves_on(tmp_path):
    scenario_start = "2026-11-20T00:00:00+00:00"
    rp0 = f"{collection_id('vm0-rpc')}/restorePoints/rp0"
    faults = {
        "scheduledDeletes": [{"id": rp0, "at": scenario_start.replace("T00:00", "T00:20")}]
    }  # 20 min into a 44-min copy
    emu = start_emulator(make_scenario(vms=1, points=3, disks=(512,), faults=faults))
    try:
        with app_host(emu, tmp_path / "host.db") as host:
            api = Api(host)
            response = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"])
            host.run_until_idle(timeout=120)
            lane = api.get(response.json()["id"]).json()["lanes"][0]
            calls = admin(emu, "GET", "/_emulator/calls")
        targets = _target_points(emu)
    finally:
        emu.stop()
    by_name = {c["name"]: c for c in lane["copies"]}
    # rp0 is gone from the source, but status still says it was given up, and why.
    assert by_name["rp0"]["state"] == "failed" and "source restore point was deleted" in by_name["rp0"]["reason"]
    assert by_name["rp0"]["attempts"] == 1
    assert [by_name[n]["state"] for n in ("rp1", "rp2")] == ["succeeded", "succeeded"]
    assert lane["state"] == "done-with-failures"
    assert calls.get("RestorePoints_Create:201") == 3  # rp0 was not retried after its source vanished
    assert sorted(p.name for p in targets["vm0-rpc-westus2"]) == ["rp1", "rp2"]


def test_unreadable_progress_mid_copy_never_deletes_or_restarts_the_copy(tmp_path):
    """Scaled clock (600x): 40 simulated minutes of throttled reads in the middle of an 87-minute copy,
    longer than any retry loop's patience, so only "watching is its own retry" keeps the copy."""
    import time
    from datetime import datetime

    from emulator import ScaledClock

    clock = ScaledClock(datetime.fromisoformat("2026-11-20T00:00:00+00:00"), 600.0)
    emu = start_emulator(make_scenario(vms=1, points=1, disks=(1024,)), clock=clock)
    try:
        with app_host(emu, tmp_path / "host.db") as host:
            api = Api(host)
            instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
            # Wait (real time, bounded) until the copy is running in Azure's view, then let it run a little.
            deadline = time.monotonic() + 30
            while not admin(emu, "GET", "/_emulator/copies")["value"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert admin(emu, "GET", "/_emulator/copies")["value"], "the copy never started"
            time.sleep(0.5)  # ~5 simulated minutes into an 87-minute copy: it is being watched
            admin(
                emu,
                "POST",
                "/_emulator/faults",
                {"throttleStormRate": 1.0, "throttleStormRetryAfter": 30, "operations": ["RestorePoints_Get"]},
            )
            time.sleep(4.0)  # ~40 simulated minutes of unreadable progress
            admin(emu, "POST", "/_emulator/faults", {"replace": True})
            deadline = time.monotonic() + 60
            while api.get(instance).json()["runtimeStatus"] == "Running" and time.monotonic() < deadline:
                time.sleep(0.2)
            doc = api.get(instance).json()
            calls = admin(emu, "GET", "/_emulator/calls")
    finally:
        emu.stop()
    copy = doc["lanes"][0]["copies"][0]
    assert copy["state"] == "succeeded" and copy.get("attempts") == 1, doc
    assert calls.get("RestorePoints_Get:429", 0) >= 1  # the outage was seen
    assert calls.get("RestorePoints_Create:201") == 1 and not [k for k in calls if k.startswith("RestorePoints_Delete")]
