"""ARM protocol: api-version, 404s, case-insensitive ids, paging, collection PUT/PATCH, LROs."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m
from emulator_testkit import (
    API,
    SRC_RP0,
    SRC_RPC,
    SUB,
    MakeEmulator,
    admin,
    big_scenario,
    fast,
    make_client,
    raw,
    scenario,
    src_rp,
    start_copy,
    target_collection,
)

from emulator import EmulatorHandle


def test_api_version_is_required_and_checked(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    missing = raw(client, "GET", emu.url + SRC_RPC)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    old = raw(client, "GET", emu.url + SRC_RPC + "?api-version=2019-03-01")
    assert old.status_code == 400
    assert old.json()["error"]["code"] == "NoRegisteredProviderFound"
    for version in ("2025-04-01", "2025-11-01", "2026-04-01"):
        assert raw(client, "GET", emu.url + SRC_RPC + f"?api-version={version}").status_code == 200


def test_sdk_default_api_version_is_accepted(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    calls = admin(emu, "GET", "calls")
    assert calls == {"RestorePointCollections_Get:200": 1}


def test_unknown_ids_give_arm_404s(client: ComputeManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        client.restore_point_collections.get("rg-app", "nope")
    assert info.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        client.restore_points.get("rg-app", "nope", "rp")
    assert info.value.error.code == "ParentResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:  # Compute answers for restore points (recorded)
        client.restore_points.get("rg-app", "vm-web-1-rpc", "nope")
    assert info.value.error.code == "NotFound"
    assert info.value.error.message == "The entity was not found in this Azure location."
    with pytest.raises(ResourceNotFoundError) as info:
        client.restore_point_collections.get("rg-missing", "vm-web-1-rpc")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_ids_match_case_insensitively(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    rpc = client.restore_point_collections.get("RG-APP", "VM-WEB-1-RPC")
    assert rpc.name == "vm-web-1-rpc"
    lower = raw(client, "GET", emu.url + SRC_RPC.lower() + f"/restorepoints/RP-0?api-version={API}")
    assert lower.status_code == 200
    target_collection(client)
    copy = start_copy(client, src_rp(0).upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), "c0", rpc="TGT")
    assert copy.source_restore_point.id


def test_subscriptions_list(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    response = raw(client, "GET", emu.url + "/subscriptions?api-version=2022-12-01")
    assert response.status_code == 200
    [sub] = response.json()["value"]
    assert sub["subscriptionId"] == SUB and sub["displayName"] == "prod" and sub["state"] == "Enabled"


def test_lists_page_with_next_link(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = scenario(pageSize=2)
    base = data["collections"][0]
    data["collections"] = [dict(base, name=f"rpc-{i}", restorePoints=[]) for i in range(5)]
    handle = make_emulator(data)
    client = make_client(handle, monkeypatch)
    first = raw(
        client,
        "GET",
        handle.url + f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/"
        f"Microsoft.Compute/restorePointCollections?api-version={API}",
    ).json()
    assert len(first["value"]) == 2 and "nextLink" in first
    names = [c.name for c in client.restore_point_collections.list("rg-app")]
    assert sorted(names) == [f"rpc-{i}" for i in range(5)]
    assert len(list(client.restore_point_collections.list_all())) == 5
    assert admin(handle, "GET", "calls")["RestorePointCollections_List:200"] == 4


def test_collection_create_then_update_tags_only(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    body = {"location": "westus2", "tags": {"a": "1"}, "properties": {"source": {"id": SRC_RPC}}}
    url = (
        emu.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/"
        f"restorePointCollections/tgt?api-version={API}"
    )
    created = raw(client, "PUT", url, body)
    assert created.status_code == 201
    assert created.json()["properties"]["source"] == {"id": SRC_RPC, "location": "eastus"}
    updated = raw(client, "PUT", url, {**body, "tags": {"a": "2"}})
    assert updated.status_code == 200 and updated.json()["tags"] == {"a": "2"}
    model = client.restore_point_collections.update("rg-dr", "tgt", m.RestorePointCollectionUpdate(tags={"b": "3"}))
    assert model.tags == {"b": "3"}
    assert model.source.location == "eastus"


def test_collection_get_expands_restore_points(client: ComputeManagementClient) -> None:
    plain = client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert plain.restore_points is None
    expanded = client.restore_point_collections.get("rg-app", "vm-web-1-rpc", expand="restorePoints")
    assert len(expanded.restore_points) == 6
    assert all(rp.instance_view is None for rp in expanded.restore_points)


def test_restore_point_put_is_an_lro_with_the_recorded_headers(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    """Recorded (azure-sdk-for-net 2021-12/2023-04 keep every header; azure-cli 2023-10): the 201 carries
    Azure-AsyncOperation and Azure-AsyncNotification, no Location and no Retry-After; x-ms-request-id is the
    operation id; polls answer {startTime, status, name} (+ endTime), without id or Retry-After."""
    target_collection(client)
    url = (
        emu.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/"
        f"restorePointCollections/tgt/restorePoints/c0?api-version={API}"
    )
    response = raw(client, "PUT", url, {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}})
    assert response.status_code == 201
    assert response.json()["properties"]["provisioningState"] == "Creating"
    assert "Location" not in response.headers and "Retry-After" not in response.headers
    assert response.headers["Azure-AsyncNotification"] == "Enabled"
    status_url = response.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Compute/locations/westus2/operations/" in status_url
    op_id = status_url.split("/operations/")[1].split("?")[0]
    assert response.headers["x-ms-request-id"] == op_id
    assert "?p=" in status_url and "&api-version=" in status_url
    first = raw(client, "GET", status_url)
    assert first.status_code == 200 and first.json() == {
        "startTime": first.json()["startTime"],
        "status": "InProgress",
        "name": op_id,
    }
    assert "Retry-After" not in first.headers
    second = raw(client, "GET", status_url).json()
    assert second["status"] == "Succeeded" and "endTime" in second and "id" not in second
    assert client.restore_points.get("rg-dr", "tgt", "c0").provisioning_state == "Succeeded"


def test_delete_monitor_url_is_202_then_200_with_no_body(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    """Recorded: DELETE 202 with Location (…&monitor=true&api-version=…), Azure-AsyncOperation and
    Azure-AsyncNotification, no Retry-After; the finished monitor URL answers 200 with an empty body."""
    target_collection(client)
    url = (
        emu.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/"
        f"restorePointCollections/tgt?api-version={API}"
    )
    accepted = raw(client, "DELETE", url)
    assert accepted.status_code == 202
    location = accepted.headers["Location"]
    assert "&monitor=true&api-version=" in location and accepted.headers["Azure-AsyncOperation"]
    assert accepted.headers["Azure-AsyncNotification"] == "Enabled" and "Retry-After" not in accepted.headers
    running = raw(client, "GET", location)
    assert running.status_code == 202 and running.headers["Location"] == location
    done = raw(client, "GET", location)
    assert done.status_code == 200 and done.content == b""
    assert raw(client, "DELETE", url).status_code == 204  # already gone


def test_lro_retry_after_can_be_switched_on(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    handle = make_emulator(scenario(lroRetryAfterSeconds=10))
    client = make_client(handle, monkeypatch)
    target_collection(client)
    url = (
        handle.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/"
        f"restorePointCollections/tgt/restorePoints/c0?api-version={API}"
    )
    response = raw(client, "PUT", url, {"properties": {"sourceRestorePoint": {"id": SRC_RP0}}})
    assert response.headers["Retry-After"] == "10"
    assert raw(client, "GET", response.headers["Azure-AsyncOperation"]).headers["Retry-After"] == "10"


def test_provisioning_waits_for_copy_initiation_delay(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = big_scenario()
    data["copyInitiationSeconds"] = 30
    handle = make_emulator(data)
    client = make_client(handle, monkeypatch)
    target_collection(client)
    poller = client.restore_points.begin_create(
        "rg-dr", "tgt", "c0", {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}}, polling=fast()
    )
    for _ in range(3):
        assert client.restore_points.get("rg-dr", "tgt", "c0").provisioning_state == "Creating"
    admin(handle, "POST", "clock", {"advanceSeconds": 30})
    assert poller.result().provisioning_state == "Succeeded"


def test_sdk_begin_create_and_begin_delete_complete(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    target_collection(client)
    created = start_copy(client, src_rp(0), "c0")
    assert created.provisioning_state == "Succeeded"
    assert created.source_restore_point.id == src_rp(0)
    client.restore_points.begin_delete("rg-dr", "tgt", "c0", polling=fast()).result()
    with pytest.raises(ResourceNotFoundError):
        client.restore_points.get("rg-dr", "tgt", "c0")
    client.restore_point_collections.begin_delete("rg-dr", "tgt", polling=fast()).result()
    with pytest.raises(ResourceNotFoundError):
        client.restore_point_collections.get("rg-dr", "tgt")
    calls = admin(emu, "GET", "calls")
    assert calls["RestorePoints_Delete:202"] == 1 and calls["RestorePointCollections_Delete:202"] == 1


def test_delete_of_a_collection_deletes_its_restore_points(client: ComputeManagementClient) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    client.restore_point_collections.begin_delete("rg-dr", "tgt", polling=fast()).result()
    target_collection(client)
    with pytest.raises(ResourceNotFoundError):
        client.restore_points.get("rg-dr", "tgt", "c0")


def test_bad_json_is_400(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    from azure.core.rest import HttpRequest

    url = (
        emu.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/"
        f"restorePointCollections/tgt?api-version={API}"
    )
    response = client.send_request(
        HttpRequest("PUT", url, content=b"{not json", headers={"Content-Type": "application/json"})
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"


def test_admin_api_needs_no_auth(emu: EmulatorHandle) -> None:
    assert (
        requests.get(emu.admin_url + "/clock", verify=emu.ca_pem_path, timeout=5)
        .json()["now"]
        .startswith("2026-11-20T00:00:00")
    )
    reset = requests.post(emu.admin_url + "/reset", verify=emu.ca_pem_path, timeout=5)
    assert reset.status_code == 200


def test_a_restore_point_is_deleting_until_its_delete_completes(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    client.restore_points.begin_delete("rg-dr", "tgt", "c0", polling=False)
    assert client.restore_points.get("rg-dr", "tgt", "c0").provisioning_state == "Deleting"
    with pytest.raises(HttpResponseError) as info:  # still there: the source is still "already copied"
        start_copy(client, src_rp(0), "c0-again")
    assert info.value.status_code == 409
    admin(emu, "POST", "clock", {"advanceSeconds": 60})  # deletes complete on their own after 60 s
    with pytest.raises(ResourceNotFoundError):
        client.restore_points.get("rg-dr", "tgt", "c0")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"location": "westus2", "properties": {"source": "not-an-object"}}),
        ("", {"location": "westus2", "properties": {"source": {"id": 5}}}),
        ("", {"location": "westus2", "tags": ["x"], "properties": {"source": {"id": SRC_RPC}}}),
        ("/restorePoints/c0", {"properties": {"sourceRestorePoint": "x"}}),
        ("/restorePoints/c0", {"properties": {"sourceRestorePoint": {"id": 7}}}),
        ("/restorePoints/c0", {"properties": []}),
    ],
)
def test_malformed_bodies_are_400(
    emu: EmulatorHandle, client: ComputeManagementClient, path: str, body: object
) -> None:
    if path:
        target_collection(client)
    url = (
        emu.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/"
        f"restorePointCollections/tgt{path}?api-version={API}"
    )
    response = raw(client, "PUT", url, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("InvalidParameter", "InvalidRequestContent")


def test_optional_quirk_source_id_without_slash_on_create(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = make_emulator(scenario(quirks={"createResponseSourceIdWithoutSlash": True}))
    client = make_client(handle, monkeypatch)
    created = target_collection(client)
    assert created.source.id == SRC_RPC.lstrip("/")
    assert client.restore_point_collections.get("rg-dr", "tgt").source.id == SRC_RPC
