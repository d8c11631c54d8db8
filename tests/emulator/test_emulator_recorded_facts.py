"""What the recordings of live Azure traffic show a client, held by the emulator (docs/emulator.md, conformance).

Fixtures here are the emulator's own scenario; only facts (field names, values, casing) come from the
recordings, whose files are cited in docs/emulator.md and never copied.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import API, SRC_RPC, SUB, admin, advance, raw, src_rp, start_copy, target_collection

from emulator import EmulatorHandle

TGT = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/tgt"


def disks_of(body: dict) -> list[dict]:
    storage = body["properties"]["sourceMetadata"]["storageProfile"]
    return [storage["osDisk"], *storage["dataDisks"]]


def test_a_copy_keeps_its_sources_time_created(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    advance(emu, 7200)  # the copy is made two hours after the source restore point
    source = client.restore_points.get("rg-app", "vm-web-1-rpc", "rp-0")
    copy = start_copy(client, src_rp(0), "c0")
    assert copy.time_created == source.time_created


def test_the_copy_put_body_has_no_disk_restore_points_yet(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    created = raw(
        client,
        "PUT",
        emu.url + TGT + f"/restorePoints/c0?api-version={API}",
        {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}},
    ).json()
    assert "type" not in created
    assert created["properties"]["provisioningState"] == "Creating"
    assert created["properties"]["consistencyMode"] == "ApplicationConsistent"
    assert all("diskRestorePoint" not in disk for disk in disks_of(created))
    view = raw(client, "GET", emu.url + TGT + f"/restorePoints/c0?api-version={API}&$expand=instanceView").json()
    assert view["properties"]["provisioningState"] == "Creating"  # the first read still sees Creating
    assert view["properties"]["instanceView"] == {"diskRestorePoints": [], "statuses": []}


def test_disk_restore_points_name_their_source_and_encryption(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    source = raw(client, "GET", emu.url + src_rp(0) + f"?api-version={API}").json()
    copy = raw(client, "GET", emu.url + TGT + f"/restorePoints/c0?api-version={API}").json()
    for src_disk, copy_disk in zip(disks_of(source), disks_of(copy), strict=True):
        assert src_disk["diskRestorePoint"]["encryption"] == {"type": "EncryptionAtRestWithPlatformKey"}
        assert copy_disk["diskRestorePoint"]["sourceDiskRestorePoint"] == {"id": src_disk["diskRestorePoint"]["id"]}
        assert copy_disk["diskRestorePoint"]["encryption"] == {"type": "EncryptionAtRestWithPlatformKey"}
        assert copy_disk["diskRestorePoint"]["id"].startswith(TGT + "/restorePoints/c0/diskRestorePoints/")


def test_replication_status_while_copying_and_when_done(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    view = raw(client, "GET", emu.url + TGT + f"/restorePoints/c0?api-version={API}&$expand=instanceView").json()
    instance = view["properties"]["instanceView"]
    replicating = {"code": "ReplicationState/replicating", "level": "Info", "displayStatus": "Replicating"}
    assert instance["statuses"] == [replicating]
    assert instance["diskRestorePoints"][0]["replicationStatus"] == {"status": replicating, "completionPercent": 0}
    advance(emu, 3600)
    done = client.restore_points.get("rg-dr", "tgt", "c0", expand="instanceView").instance_view.statuses[0]
    assert (done.code, done.level, done.display_status) == (
        "ReplicationState/succeeded",
        "Info",
        "Replication succeeded",
    )


def test_a_collection_without_tags_has_no_tags_key(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    body = raw(
        client,
        "PUT",
        emu.url + TGT + f"?api-version={API}",
        {"location": "westus2", "properties": {"source": {"id": SRC_RPC}}},
    ).json()
    assert "tags" not in body
    assert body["properties"]["source"] == {"location": "eastus", "id": SRC_RPC}


def test_subscription_wide_lists_upper_case_the_resource_group(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    listed = {c.name: c for c in client.restore_point_collections.list_all()}
    assert listed["tgt"].id == TGT.replace("/rg-dr/", "/RG-DR/")
    assert listed["tgt"].source.id == SRC_RPC  # the source reference keeps its casing
    assert listed["vm-web-1-rpc"].id == SRC_RPC.replace("/rg-app/", "/RG-APP/")
    in_group = {c.name: c for c in client.restore_point_collections.list("rg-dr")}
    assert in_group["tgt"].id == TGT  # the per-group list keeps the created casing


def test_a_deleted_restore_point_is_not_found_in_this_location(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    admin(emu, "POST", "delete", {"id": TGT + "/restorePoints/c0"})
    with pytest.raises(ResourceNotFoundError) as info:
        client.restore_points.get("rg-dr", "tgt", "c0")
    assert info.value.status_code == 404
    assert info.value.response.json() == {
        "error": {"code": "NotFound", "message": "The entity was not found in this Azure location."}
    }
    gone = raw(client, "GET", emu.url + TGT + f"/restorePoints/c0?api-version={API}")
    assert "x-ms-ratelimit-remaining-resource" in gone.headers  # Compute answered, not ARM's gateway


def test_a_deleted_collection_is_arms_resource_not_found(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    admin(emu, "POST", "delete", {"id": TGT})
    response = raw(client, "GET", emu.url + TGT + f"?api-version={API}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    assert "details" not in response.json()["error"]  # recorded errors have no empty details
    assert response.headers["x-ms-failure-cause"] == "gateway"
