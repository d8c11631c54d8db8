"""Azure's cross-region copy rules: each refused with ARM's status and error body, and the allowed case."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import (
    SRC_RPC,
    SUB,
    MakeEmulator,
    admin,
    advance,
    big_scenario,
    fast,
    make_client,
    rp_id,
    src_rp,
    start_copy,
    target_collection,
)

from emulator import EmulatorHandle

DB_RPC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm-db-1-rpc"
HOUR = 3600


def refused(fn: Any, *args: Any, **kwargs: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as info:
        fn(*args, **kwargs)
    return info.value


def finish_copies(emu: EmulatorHandle) -> None:
    """Full copy of 576 GB at 250 MB/s takes ~40 simulated minutes; an hour is plenty (and resets the limit)."""
    advance(emu, HOUR)


def test_first_copy_is_allowed(client: ComputeManagementClient) -> None:
    target_collection(client)
    assert start_copy(client, src_rp(0), "c0").provisioning_state == "Succeeded"


def test_second_copy_of_a_source_into_the_same_collection_is_refused(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    finish_copies(emu)
    err = refused(start_copy, client, src_rp(0), "c0-again")
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"


def test_second_copy_into_another_collection_in_the_same_region_is_refused(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client, "tgt")
    target_collection(client, "tgt-b")
    start_copy(client, src_rp(0), "c0", rpc="tgt")
    finish_copies(emu)
    err = refused(start_copy, client, src_rp(0), "c0", rpc="tgt-b")
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"


def test_the_same_source_may_go_to_another_region_in_parallel(client: ComputeManagementClient) -> None:
    target_collection(client, "tgt")
    target_collection(client, "tgt-c", rg="rg-dr2", location="centralus")
    start_copy(client, src_rp(0), "c0", rpc="tgt")
    assert start_copy(client, src_rp(0), "c0", rpc="tgt-c", rg="rg-dr2").provisioning_state == "Succeeded"


def test_copy_of_a_copy_is_refused_onward_and_back(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target = target_collection(client)
    start_copy(client, src_rp(0), "c0")
    onward = refused(target_collection, client, "onward", rg="rg-dr2", location="centralus", source=target.id)
    assert onward.status_code == 400 and onward.error.code == "InvalidParameter"
    back = refused(target_collection, client, "back", rg="rg-app", location="eastus", source=target.id)
    assert back.status_code == 400 and back.error.code == "InvalidParameter"
    # Copying the copied restore point into a legitimate target is refused too.
    target_collection(client, "tgt-c", rg="rg-dr2", location="centralus")
    err = refused(start_copy, client, rp_id(target.id, "c0"), "x", rpc="tgt-c", rg="rg-dr2")
    assert err.status_code == 400 and err.error.code == "InvalidParameter"


def test_copy_within_the_same_region_is_refused(client: ComputeManagementClient) -> None:
    err = refused(target_collection, client, "same", rg="rg-east2", location="eastus")
    assert err.status_code == 400 and err.error.code == "InvalidParameter"
    err = refused(target_collection, client, "same", rg="rg-dr", location="East US")
    assert err.status_code == 400


def test_out_of_order_copy_is_refused_forever(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(1), "c1")
    finish_copies(emu)
    start_copy(client, src_rp(3), "c3")
    finish_copies(emu)
    err = refused(start_copy, client, src_rp(2), "c2")
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"
    assert "creation order" in err.error.message
    # Not a throttle: no Retry-After, no TooManyRequests detail; the Compute header is there (Compute answered).
    assert "Retry-After" not in err.response.headers and not err.error.details
    assert "PutRestorePointResource" in err.response.headers["x-ms-ratelimit-remaining-resource"]
    assert start_copy(client, src_rp(4), "c4").provisioning_state == "Succeeded"  # newer is fine


def test_second_copy_on_a_lane_while_one_is_in_progress_is_refused(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    err = refused(start_copy, client, src_rp(1), "c1")
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"
    assert "in progress" in err.error.message
    finish_copies(emu)
    assert start_copy(client, src_rp(1), "c1").provisioning_state == "Succeeded"


def test_two_source_collections_into_one_target_collection_is_refused(client: ComputeManagementClient) -> None:
    target_collection(client)
    err = refused(start_copy, client, rp_id(DB_RPC, "db-rp-0"), "db0")
    assert err.status_code == 400 and err.error.code == "InvalidParameter"
    target_collection(client, "tgt-db", source=DB_RPC)
    assert start_copy(client, rp_id(DB_RPC, "db-rp-0"), "db0", rpc="tgt-db").provisioning_state == "Succeeded"


def test_collection_update_may_change_only_tags(client: ComputeManagementClient) -> None:
    target_collection(client)
    client.restore_point_collections.create_or_update(
        "rg-dr", "tgt", {"location": "westus2", "tags": {"x": "y"}, "properties": {"source": {"id": SRC_RPC}}}
    )
    err = refused(
        client.restore_point_collections.create_or_update,
        "rg-dr",
        "tgt",
        {"location": "westus2", "properties": {"source": {"id": DB_RPC}}},
    )
    assert err.status_code == 409 and err.error.code == "PropertyChangeNotAllowed"
    err = refused(
        client.restore_point_collections.create_or_update,
        "rg-dr",
        "tgt",
        {"location": "centralus", "properties": {"source": {"id": SRC_RPC}}},
    )
    assert err.status_code == 409 and err.error.code == "InvalidResourceLocation"
    err = refused(
        client.restore_point_collections.create_or_update,
        "rg-dr",
        "tgt",
        {"location": "westus2", "properties": {"instantAccess": True}},
    )
    assert err.status_code == 409 and err.error.code == "PropertyChangeNotAllowed"
    err = refused(client.restore_point_collections.update, "rg-dr", "tgt", {"properties": {"source": {"id": DB_RPC}}})
    assert err.status_code == 409


def test_restore_point_put_on_an_existing_name_is_refused(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    finish_copies(emu)
    err = refused(start_copy, client, src_rp(1), "c0")
    assert isinstance(err, ResourceExistsError)
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"


def test_unknown_source_is_404(client: ComputeManagementClient) -> None:
    err = refused(target_collection, client, source=SRC_RPC + "-missing")
    assert err.status_code == 404 and err.error.code == "ResourceNotFound"
    target_collection(client)
    err = refused(start_copy, client, src_rp(99), "c0")
    assert err.status_code == 404 and err.error.code == "ResourceNotFound"


def test_deleting_a_failed_copy_frees_the_lane_and_allows_a_recopy(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    admin(emu, "POST", "faults", {"diskCopyFailureRate": 1.0, "seed": 3})
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    finish_copies(emu)
    view = client.restore_points.get("rg-dr", "tgt", "c0", expand="instanceView").instance_view
    assert view.statuses[0].code == "ReplicationState/failed"
    # The failed copy still exists: the same source can't be copied again until it is deleted.
    assert refused(start_copy, client, src_rp(0), "c0-retry").status_code == 409
    client.restore_points.begin_delete("rg-dr", "tgt", "c0", polling=fast()).result()
    admin(emu, "POST", "faults", {"diskCopyFailureRate": 0.0})
    assert start_copy(client, src_rp(0), "c0-retry").provisioning_state == "Succeeded"


def test_hourly_limit_of_three_copies_per_target_collection(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = big_scenario()
    data["copyBandwidthMBps"] = 100_000  # every copy completes within its first 10-minute step
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    target_collection(client)
    for i in range(3):
        start_copy(client, src_rp(i), f"c{i}")
        advance(emu, 600)
    err = refused(start_copy, client, src_rp(3), "c3")
    # Compute's throttling answer (OperationNotAllowed + a TooManyRequests detail naming the limit), not
    # ARM's (SubscriptionRequestsThrottled): a client can tell the hourly limit from ARM throttling.
    assert err.status_code == 429 and err.error.code == "OperationNotAllowed"
    [detail] = err.error.details
    assert detail.code == "TooManyRequests" and detail.target == "CopyRestorePointResource1Hour"
    assert json.loads(detail.message)["allowedRequestCount"] == 3
    assert err.response.headers["x-ms-ratelimit-remaining-resource"].endswith(
        "Microsoft.Compute/CopyRestorePointResource1Hour;0"
    )
    assert admin(emu, "GET", "throttling")["hourlyLimits"]["throttled"] == {"CopyRestorePointResource1Hour": 1}
    retry_after = int(err.response.headers["Retry-After"])
    assert retry_after == 30 * 60  # c0 was accepted 30 simulated minutes ago
    advance(emu, retry_after - 1)
    assert refused(start_copy, client, src_rp(3), "c3").status_code == 429
    advance(emu, 1)
    assert start_copy(client, src_rp(3), "c3").provisioning_state == "Succeeded"
    # Another target collection (another region) has its own budget.
    target_collection(client, "tgt-c", rg="rg-dr2", location="centralus")
    assert start_copy(client, src_rp(0), "c0", rpc="tgt-c", rg="rg-dr2").provisioning_state == "Succeeded"


def test_out_of_order_holds_after_the_newer_copy_is_deleted(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(1), "c1")
    finish_copies(emu)
    start_copy(client, src_rp(3), "c3")
    finish_copies(emu)
    client.restore_points.begin_delete("rg-dr", "tgt", "c3", polling=fast()).result()
    err = refused(start_copy, client, src_rp(2), "c2")
    assert err.status_code == 409 and "creation order" in err.error.message


def test_a_failed_newer_copy_deleted_does_not_block_older_ones(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(1), "c1")
    finish_copies(emu)
    admin(emu, "POST", "faults", {"diskCopyFailureRate": 1.0})
    start_copy(client, src_rp(3), "c3")
    finish_copies(emu)
    admin(emu, "POST", "faults", {"diskCopyFailureRate": 0.0})
    assert refused(start_copy, client, src_rp(2), "c2").status_code == 409  # the failed copy still exists
    client.restore_points.begin_delete("rg-dr", "tgt", "c3", polling=fast()).result()
    assert start_copy(client, src_rp(2), "c2").provisioning_state == "Succeeded"


def test_vm_restore_points_one_at_a_time_and_three_per_hour(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    def create(name: str) -> Any:
        return client.restore_points.begin_create("rg-app", "vm-web-1-rpc", name, {"properties": {}}, polling=False)

    create("new-0")
    err = refused(create, "new-1")  # new-0 is still Creating
    assert err.status_code == 409 and err.error.code == "OperationNotAllowed"
    for i in range(3):
        if i:
            create(f"new-{i}")
        client.restore_points.get("rg-app", "vm-web-1-rpc", f"new-{i}")
        client.restore_points.get("rg-app", "vm-web-1-rpc", f"new-{i}")  # second read: Succeeded
        advance(emu, 60)
    err = refused(create, "new-3")
    assert err.status_code == 429 and int(err.response.headers["Retry-After"]) == 3600 - 180
