"""Compute RP throttling: x-ms-ratelimit-remaining-resource as recorded, sliding windows, 429 bodies, tuning.

Recorded header strings (docs/emulator.md, "Compute throttling"): azure-cli test_copy_vm_restore_point.yaml
(2023-10), test_restore_point.yaml (2023-12), test_restore_point_collection.yaml (2025-03); older names in
azure-sdk-for-net CreateRpcAndRestorePoints.json (2021-12, 2023-04) and azure-cli 2022-06.
"""

from __future__ import annotations

import json

import pytest
import requests
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import API, SRC_RPC, SUB, MakeEmulator, admin, advance, big_scenario, make_client, raw, src_rp

from emulator import EmulatorHandle

HEADER = "x-ms-ratelimit-remaining-resource"
RPCS = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections"


def test_each_call_carries_its_recorded_policies(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    tgt = emu.url + f"{RPCS}/tgt?api-version={API}"
    body = {"location": "westus2", "properties": {"source": {"id": SRC_RPC}}}
    put = raw(client, "PUT", tgt, body)
    assert put.headers[HEADER] == (
        "Microsoft.Compute/PutRestorePointCollectionResource;14,"
        "Microsoft.Compute/PutRestorePointCollectionSubscriptionMaximum;149"
    )
    patch = raw(client, "PATCH", tgt, {"tags": {"a": "b"}})
    assert patch.headers[HEADER] == (
        "Microsoft.Compute/UpdateRestorePointCollectionResource;14,"
        "Microsoft.Compute/UpdateRestorePointCollectionSubscriptionMaximum;149"
    )
    get = raw(client, "GET", tgt)
    assert get.headers[HEADER] == "Microsoft.Compute/LowCostGetRestorePointSubscriptionMaximum;599"
    listed = raw(client, "GET", emu.url + f"{RPCS}?api-version={API}")
    assert listed.headers[HEADER] == "Microsoft.Compute/HighCostGetRestorePointSubscriptionMaximum;149"
    copy = raw(
        client,
        "PUT",
        emu.url + f"{RPCS}/tgt/restorePoints/c0?api-version={API}",
        {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}},
    )
    assert copy.headers[HEADER] == (
        "Microsoft.Compute/PutRestorePointResource;5,Microsoft.Compute/PutRestorePointSubscriptionMaximum;149"
    )
    poll = raw(client, "GET", copy.headers["Azure-AsyncOperation"])
    assert poll.headers[HEADER] == (
        "Microsoft.Compute/GetOperationResource;59,Microsoft.Compute/GetOperationSubscriptionMaximum;14999"
    )
    missing = raw(client, "GET", emu.url + f"{RPCS}/tgt/restorePoints/nope?api-version={API}")
    assert missing.status_code == 404 and missing.headers[HEADER].endswith(";598")  # Compute answered
    deleted = raw(client, "DELETE", emu.url + f"{RPCS}/tgt/restorePoints/c0?api-version={API}")
    assert deleted.headers[HEADER] == "Microsoft.Compute/DeleteRestorePointSubscriptionMaximum;359"
    gateway = raw(client, "GET", emu.url + f"{RPCS}/nope?api-version={API}")  # ARM's 404: no Compute header
    assert gateway.status_code == 404 and HEADER not in gateway.headers


def test_subscription_policies_are_per_region(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    source = raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}")
    assert source.headers[HEADER].endswith(";599")
    assert raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}").headers[HEADER].endswith(";598")
    raw(
        client,
        "PUT",
        emu.url + f"{RPCS}/tgt?api-version={API}",
        {"location": "westus2", "properties": {"source": {"id": SRC_RPC}}},
    )
    target = raw(client, "GET", emu.url + f"{RPCS}/tgt?api-version={API}")  # westus2: its own budget
    assert target.headers[HEADER].endswith(";599")


def test_lists_across_regions_carry_no_compute_header(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    raw(
        client,
        "PUT",
        emu.url + f"{RPCS}/tgt?api-version={API}",
        {"location": "westus2", "properties": {"source": {"id": SRC_RPC}}},
    )
    everything = raw(
        client,
        "GET",
        emu.url + f"/subscriptions/{SUB}/providers/Microsoft.Compute/restorePointCollections?api-version={API}",
    )
    assert everything.status_code == 200
    assert HEADER not in everything.headers  # ARM merged eastus and westus2 (recorded: no header, 2 request ids)
    assert len(everything.headers["x-ms-original-request-ids"].split(",")) == 2


def test_a_spent_policy_answers_computes_429(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["computeThrottling"] = {
        "policies": {"LowCostGetRestorePointSubscriptionMaximum": {"limit": 3, "windowSeconds": 60}}
    }
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    url = emu.url + SRC_RPC + f"?api-version={API}"
    assert [raw(client, "GET", url).status_code for _ in range(3)] == [200, 200, 200]
    refused = raw(client, "GET", url)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.headers[HEADER] == "Microsoft.Compute/LowCostGetRestorePointSubscriptionMaximum;0"
    error = refused.json()["error"]
    assert error["code"] == "OperationNotAllowed"
    assert error["message"].startswith("The server rejected the request because too many requests")
    [detail] = error["details"]
    assert detail["code"] == "TooManyRequests" and detail["target"] == "LowCostGetRestorePointSubscriptionMaximum"
    violation = json.loads(detail["message"])
    assert violation["allowedRequestCount"] == 3 and violation["measuredRequestCount"] == 4
    assert violation["operationGroup"] == "LowCostGetRestorePointSubscriptionMaximum"
    advance(emu, 30)
    assert raw(client, "GET", url).status_code == 429  # refused calls are measured too
    advance(emu, 30)
    assert raw(client, "GET", url).status_code == 200  # t=0 calls left; the refusal at t=30 still counts
    assert raw(client, "GET", url).status_code == 200
    assert raw(client, "GET", url).status_code == 429
    counters = admin(emu, "GET", "throttling")
    assert counters["compute"]["throttled"] == {"LowCostGetRestorePointSubscriptionMaximum": 3}
    assert counters["arm"]["throttled"] == {}


def test_retry_after_is_a_promise_for_a_waiting_client(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = big_scenario()
    data["computeThrottling"] = {
        "policies": {"LowCostGetRestorePointSubscriptionMaximum": {"limit": 2, "windowSeconds": 100}}
    }
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    url = emu.url + SRC_RPC + f"?api-version={API}"
    raw(client, "GET", url)
    advance(emu, 40)
    raw(client, "GET", url)
    refused = raw(client, "GET", url)
    # The refusal itself is measured, so the call fits once the t=40 calls leave (at 140), not at 100.
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "100"
    advance(emu, 99)
    assert raw(client, "GET", url).status_code == 429  # an impatient client only pushes its own window
    admin(emu, "POST", "throttling", {"reset": True})
    raw(client, "GET", url)
    advance(emu, 40)
    raw(client, "GET", url)
    retry = int(raw(client, "GET", url).headers["Retry-After"])
    advance(emu, retry)
    assert raw(client, "GET", url).status_code == 200  # a client that waits Retry-After gets through


def test_policies_are_tunable_at_run_time_and_resettable(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    url = emu.url + SRC_RPC + f"?api-version={API}"
    config = admin(
        emu,
        "POST",
        "throttling",
        {"compute": {"policies": {"LowCostGetRestorePointSubscriptionMaximum": {"limit": 1}}}},
    )
    assert config["compute"]["policies"]["LowCostGetRestorePointSubscriptionMaximum"]["limit"] == 1
    assert [raw(client, "GET", url).status_code for _ in range(2)] == [200, 429]
    admin(emu, "POST", "throttling", {"reset": True, "compute": {"enabled": False}})
    assert admin(emu, "GET", "throttling")["compute"]["throttled"] == {}
    response = raw(client, "GET", url)
    assert response.status_code == 200 and HEADER not in response.headers
    unknown = requests.post(  # unknown policy names are refused, not ignored
        f"{emu.admin_url}/throttling",
        json={"compute": {"policies": {"NoSuchPolicy": {"limit": 1}}}},
        verify=emu.ca_pem_path,
        timeout=5,
    )
    assert unknown.status_code == 400


def test_the_2021_profile_sends_the_older_policy_names(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = big_scenario()
    data["computeThrottling"] = {"profile": "2021"}
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    response = raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}")
    assert response.headers[HEADER] == (
        "Microsoft.Compute/LowCostGetRestorePoint3Min;499,Microsoft.Compute/LowCostGetRestorePoint30Min;2499"
    )


def test_arm_and_compute_throttling_are_told_apart(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = big_scenario()
    data["throttling"] = {"limits": {"reads": [1, 0.1]}}
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    url = emu.url + SRC_RPC + f"?api-version={API}"
    raw(client, "GET", url)
    arm = raw(client, "GET", url)
    assert arm.status_code == 429 and arm.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert arm.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0" and HEADER not in arm.headers
    assert admin(emu, "GET", "throttling")["arm"]["throttled"] == {"reads": 1}
