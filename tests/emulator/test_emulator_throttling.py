"""ARM token buckets per subscription on the emulator clock: 429 with Retry-After and remaining headers."""

from __future__ import annotations

import pytest
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import API, SRC_RPC, SUB, MakeEmulator, admin, advance, big_scenario, make_client, raw

from emulator import EmulatorHandle


def test_read_bucket_250_refilling_25_per_second(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    url = emu.url + SRC_RPC + f"?api-version={API}"
    remaining = []
    for _ in range(250):
        response = raw(client, "GET", url)
        assert response.status_code == 200
        remaining.append(int(response.headers["x-ms-ratelimit-remaining-subscription-reads"]))
    assert remaining[0] == 249 and remaining[-1] == 0
    throttled = raw(client, "GET", url)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    advance(emu, 1)  # simulated second: 25 tokens back
    statuses = [raw(client, "GET", url).status_code for _ in range(26)]
    assert statuses.count(200) == 25 and statuses[-1] == 429
    assert admin(emu, "GET", "calls")["RestorePointCollections_Get:429"] == 2


def test_write_and_delete_buckets_are_separate(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["throttling"] = {"limits": {"writes": [3, 1], "deletes": [2, 1]}}
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    base = emu.url + f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections"
    body = {"location": "westus2", "properties": {"source": {"id": SRC_RPC}}}
    codes = [raw(client, "PUT", f"{base}/t{i}?api-version={API}", body).status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    put = raw(client, "PUT", f"{base}/t9?api-version={API}", body)
    assert put.headers["Retry-After"] == "1" and put.headers["x-ms-ratelimit-remaining-subscription-writes"] == "0"
    # Reads and deletes still have tokens.
    deleted = raw(client, "DELETE", f"{base}/t0?api-version={API}")
    assert deleted.status_code == 202
    assert deleted.headers["x-ms-ratelimit-remaining-subscription-deletes"] == "1"
    assert raw(client, "GET", f"{base}/t1?api-version={API}").status_code == 200
    advance(emu, 2)
    assert raw(client, "PUT", f"{base}/t9?api-version={API}", body).status_code == 201


def test_sdk_retry_policy_sees_429_retry_after(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    """With retries off, the SDK surfaces the 429; its Retry-After is in simulated seconds (see docs)."""
    from azure.core.exceptions import HttpResponseError

    admin(emu, "POST", "faults", {"throttleStormRate": 1.0, "throttleStormRetryAfter": 17})
    try:
        client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    except HttpResponseError as err:
        assert err.status_code == 429 and err.response.headers["Retry-After"] == "17"
    else:
        raise AssertionError("expected a 429")


def test_buckets_are_per_principal(make_emulator: MakeEmulator) -> None:
    import requests

    data = big_scenario()
    data["throttling"] = {"limits": {"reads": [1, 1]}}
    emu = make_emulator(data)
    url = emu.url + SRC_RPC + f"?api-version={API}"

    def token(client_id: str) -> str:
        body = admin(emu, "POST", "token", {"clientId": client_id})
        return str(body["access_token"])

    first, second = token("principal-a"), token("principal-b")

    def get(tok: str) -> int:
        headers = {"Authorization": f"Bearer {tok}"}
        return requests.get(url, headers=headers, verify=emu.ca_pem_path, timeout=5).status_code

    assert [get(first), get(first), get(second)] == [200, 429, 200]
