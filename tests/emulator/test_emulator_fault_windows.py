"""Time-windowed faults on the emulator clock: region outages, throttle storms, identity outages,
out-of-band deletion of every copy in a collection. Each settable in the scenario and at run time."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import (
    API,
    SRC_RPC,
    SUB,
    MakeEmulator,
    admin,
    advance,
    big_scenario,
    make_client,
    raw,
    src_rp,
    start_copy,
    target_collection,
)

from emulator import EmulatorHandle

TGT = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/tgt"
T0 = "2026-11-20T01:00:00Z"
T1 = "2026-11-20T02:00:00Z"


def test_region_outage_for_writes_between_two_times(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    admin(emu, "POST", "faults", {"regionOutages": [{"region": "West US 2", "from": T0, "to": T1, "reads": False}]})
    copy_url = emu.url + TGT + f"/restorePoints/c0?api-version={API}"
    body = {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}}
    advance(emu, 3600)  # 01:00: the outage starts
    refused = raw(client, "PUT", copy_url, body)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "ServiceUnavailable"
    assert "x-ms-ratelimit-remaining-resource" not in refused.headers
    assert raw(client, "GET", emu.url + TGT + f"?api-version={API}").status_code == 200  # reads are up
    assert raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}").status_code == 200  # eastus is up
    advance(emu, 3600)  # 02:00: over
    assert raw(client, "PUT", copy_url, body).status_code == 201
    assert admin(emu, "GET", "throttling")["faults"]["regionOutages"] == {"westus2": 1}
    assert admin(emu, "GET", "calls")["RestorePoints_Create:503"] == 1


def test_region_outage_can_reset_reads(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["faults"] = {"regionOutages": [{"region": "eastus", "from": T0, "to": T1, "mode": "reset", "writes": False}]}
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    client.restore_point_collections.get("rg-app", "vm-web-1-rpc")  # 00:00: before the window
    advance(emu, 3600)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert admin(emu, "GET", "calls")["RestorePointCollections_Get:reset"] == 1
    target_collection(client)  # a write elsewhere is fine


def test_throttle_storm_window(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    admin(emu, "POST", "faults", {"throttleStorms": [{"from": T0, "to": T1, "retryAfter": 120}]})
    url = emu.url + SRC_RPC + f"?api-version={API}"
    assert raw(client, "GET", url).status_code == 200
    advance(emu, 3600)
    storm = raw(client, "GET", url)
    assert storm.status_code == 429 and storm.headers["Retry-After"] == "120"
    assert storm.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    advance(emu, 3600)
    assert raw(client, "GET", url).status_code == 200
    assert admin(emu, "GET", "throttling")["faults"]["throttleStorms"] == 1


def test_throttle_storm_in_computes_format_for_some_operations(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    admin(
        emu,
        "POST",
        "faults",
        {"throttleStorms": [{"from": T0, "to": T1, "source": "compute", "operations": ["RestorePoints_Get"]}]},
    )
    advance(emu, 3600)
    assert raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}").status_code == 200  # not listed
    storm = raw(client, "GET", emu.url + src_rp(0) + f"?api-version={API}")
    assert storm.status_code == 429 and storm.headers["Retry-After"] == "30"
    error = storm.json()["error"]
    assert error["code"] == "OperationNotAllowed" and error["details"][0]["code"] == "TooManyRequests"
    assert storm.headers["x-ms-ratelimit-remaining-resource"].endswith(";0")


def test_identity_endpoint_outage(emu: EmulatorHandle) -> None:
    params = {"resource": "https://management.azure.com", "api-version": "2019-08-01"}
    headers = {"X-IDENTITY-HEADER": emu.identity_header}
    admin(emu, "POST", "faults", {"identityOutages": [{"from": T0, "to": T1}]})
    assert requests.get(emu.identity_endpoint, params=params, headers=headers, timeout=5).status_code == 200
    advance(emu, 3600)
    failing = requests.get(emu.identity_endpoint, params=params, headers=headers, timeout=5)
    assert failing.status_code == 500 and failing.json()["statusCode"] == 500
    advance(emu, 3600)
    assert requests.get(emu.identity_endpoint, params=params, headers=headers, timeout=5).status_code == 200
    assert admin(emu, "GET", "calls")["Identity_Token:500"] == 1


def test_scheduled_deletion_of_every_copy_in_a_collection(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    advance(emu, 3600)
    start_copy(client, src_rp(1), "c1")
    admin(
        emu,
        "POST",
        "faults",
        {"scheduledDeletes": [{"id": TGT, "at": "2026-11-20T03:00:00Z", "restorePointsOnly": True}]},
    )
    assert {
        rp.name for rp in client.restore_point_collections.get("rg-dr", "tgt", expand="restorePoints").restore_points
    } == {"c0", "c1"}
    advance(emu, 2 * 3600)
    remaining = client.restore_point_collections.get("rg-dr", "tgt", expand="restorePoints")
    assert remaining.restore_points == []  # the collection stays, every copy is gone
    deletes = [e for e in admin(emu, "GET", "events")["value"] if e["eventType"].endswith("ResourceDeleteSuccess")]
    assert len(deletes) == 2


def test_admin_delete_of_every_restore_point_in_a_collection(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    assert admin(emu, "POST", "delete", {"id": TGT, "restorePointsOnly": True}) == {"deleted": True}
    assert client.restore_point_collections.get("rg-dr", "tgt", expand="restorePoints").restore_points == []


@pytest.mark.parametrize(
    "faults",
    [
        {"regionOutages": [{"region": "eastus", "from": T1, "to": T0}]},  # from after to
        {"regionOutages": [{"from": T0, "to": T1}]},  # no region
        {"throttleStorms": [{"from": T0}]},  # no end
        {"identityOutages": [{"from": T0, "to": T1, "colour": "red"}]},  # unknown field
        {"scheduledDeletes": [{"id": TGT}]},  # no time
    ],
)
def test_malformed_windows_are_refused(emu: EmulatorHandle, faults: dict) -> None:
    response = requests.post(f"{emu.admin_url}/faults", json=faults, verify=emu.ca_pem_path, timeout=5)
    assert response.status_code == 400


def test_windows_in_the_scenario(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["faults"] = {"throttleStorms": [{"from": "2026-11-20T00:00:00Z", "to": T0}]}
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    with pytest.raises(HttpResponseError) as info:
        client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert info.value.status_code == 429
