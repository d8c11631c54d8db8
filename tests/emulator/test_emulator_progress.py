"""Copy progress: 10-minute steps, size and bandwidth, full then incremental, two-week cap, mid-copy loss."""

from __future__ import annotations

import pytest
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import (
    SUB,
    MakeEmulator,
    admin,
    advance,
    big_scenario,
    make_client,
    src_rp,
    start_copy,
    target_collection,
)

from emulator import EmulatorHandle

GIB = 1024**3


def disks(client: ComputeManagementClient, name: str = "c0") -> list[tuple[str, int]]:
    view = client.restore_points.get("rg-dr", "tgt", name, expand="instanceView").instance_view
    return [
        (d.replication_status.status.code, d.replication_status.completion_percent) for d in view.disk_restore_points
    ]


def aggregate(client: ComputeManagementClient, name: str = "c0") -> str:
    view = client.restore_points.get("rg-dr", "tgt", name, expand="instanceView").instance_view
    return str(view.statuses[0].code)


def test_progress_is_visible_in_ten_minute_steps(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    # 64 GiB + 512 GiB at 250 MiB/s: os disk 262 s, data disk 2097 s (full copy, first on the lane).
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    inprogress = "ReplicationState/replicating"
    assert disks(client) == [(inprogress, 0), (inprogress, 0)]
    assert aggregate(client) == inprogress
    advance(emu, 599)
    assert disks(client) == [(inprogress, 0), (inprogress, 0)]  # nothing visible before the first step
    advance(emu, 1)
    assert disks(client) == [("ReplicationState/succeeded", 100), (inprogress, 28)]  # small disk jumped 0 -> 100
    advance(emu, 600)
    assert disks(client)[1] == (inprogress, 57)
    advance(emu, 1200)
    assert disks(client)[1] == ("ReplicationState/succeeded", 100)
    assert aggregate(client) == "ReplicationState/succeeded"


def test_provisioning_succeeded_does_not_mean_copied(client: ComputeManagementClient) -> None:
    target_collection(client)
    rp = start_copy(client, src_rp(0), "c0")
    assert rp.provisioning_state == "Succeeded"
    assert aggregate(client) == "ReplicationState/replicating"


def test_later_copies_are_incremental(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    advance(emu, 3600)
    start_copy(client, src_rp(1), "c1")  # 5 % of 576 GiB: done within the first step
    advance(emu, 600)
    assert aggregate(client, "c1") == "ReplicationState/succeeded"
    copies = {c["id"].rsplit("/", 1)[1]: c for c in admin(emu, "GET", "copies")["value"]}
    assert copies["c0"]["fullCopy"] is True and copies["c1"]["fullCopy"] is False


def test_deleting_the_full_copy_base_makes_the_next_copy_full(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    advance(emu, 3600)
    admin(emu, "POST", "delete", {"id": src_rp(0)})
    start_copy(client, src_rp(1), "c1")
    copies = {c["id"].rsplit("/", 1)[1]: c for c in admin(emu, "GET", "copies")["value"]}
    assert copies["c1"]["fullCopy"] is True


def test_a_copy_running_past_two_weeks_fails(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["copyBandwidthMBps"] = 0.4  # 576 GiB at 0.4 MiB/s: ~17 days
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    advance(emu, 13 * 86400)
    assert aggregate(client) == "ReplicationState/replicating"
    advance(emu, 86400)
    view = client.restore_points.get("rg-dr", "tgt", "c0", expand="instanceView").instance_view
    assert view.statuses[0].code == "ReplicationState/failed" and view.statuses[0].level == "Error"
    failed = [d for d in view.disk_restore_points if d.replication_status.status.code == "ReplicationState/failed"]
    assert failed and all(d.replication_status.completion_percent < 100 for d in failed)
    # The lane is free again (the copy is terminal), but the failed copy blocks a re-copy of that source.
    admin(emu, "POST", "clock", {"advanceSeconds": 3600})
    assert start_copy(client, src_rp(1), "c1").provisioning_state == "Succeeded"


def test_source_deleted_mid_copy_fails_the_copy(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    advance(emu, 600)
    admin(emu, "POST", "delete", {"id": src_rp(0)})
    advance(emu, 3600)
    assert aggregate(client) == "ReplicationState/failed"


def test_target_collection_deleted_mid_copy_frees_the_lane(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    admin(
        emu,
        "POST",
        "delete",
        {"id": f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/tgt"},
    )
    target_collection(client)
    assert start_copy(client, src_rp(0), "c0").provisioning_state == "Succeeded"


def test_disk_copy_failure_fault_has_no_details(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    admin(emu, "POST", "faults", {"diskCopyFailureRate": 1.0, "seed": 7})
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    advance(emu, 3 * 3600)
    view = client.restore_points.get("rg-dr", "tgt", "c0", expand="instanceView").instance_view
    assert view.statuses[0].code == "ReplicationState/failed"
    assert view.statuses[0].message is None
    rp = client.restore_points.get("rg-dr", "tgt", "c0")
    assert rp.provisioning_state == "Succeeded"


def test_new_source_restore_points_via_admin(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    created = admin(
        emu,
        "POST",
        "restore-points",
        {"collectionId": src_rp(0).rsplit("/restorePoints/", 1)[0], "name": "rp-new", "changedPercent": 1},
    )
    assert created["properties"]["timeCreated"].startswith("2026-11-20T00:00:00")
    rp = client.restore_points.get("rg-app", "vm-web-1-rpc", "rp-new", expand="instanceView")
    assert rp.provisioning_state == "Succeeded"
    assert rp.source_metadata.os_profile.admin_username  # Azure carries osProfile; the product must scrub it
