"""Seeded faults (reproducible) and Event Grid events with their quirks, delivered to a webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import (
    API,
    SRC_RPC,
    MakeEmulator,
    admin,
    big_scenario,
    make_client,
    raw,
    src_rp,
    start_copy,
    target_collection,
)

from emulator import EmulatorHandle


def statuses(emu: EmulatorHandle, client: ComputeManagementClient, n: int) -> list[int]:
    return [raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}").status_code for _ in range(n)]


def test_server_errors_are_seeded_and_reproducible(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for _ in range(2):
        data = big_scenario()
        data["faults"] = {"seed": 42, "serverErrorRate": 0.3}
        emu = make_emulator(data)
        runs.append(statuses(emu, make_client(emu, monkeypatch), 40))
    assert runs[0] == runs[1]
    assert {500, 503} <= set(runs[0]) and 200 in runs[0]


def test_faults_switch_at_run_time(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    assert set(statuses(emu, client, 5)) == {200}
    config = admin(emu, "POST", "faults", {"serverErrorRate": 1.0, "serverErrorStatuses": [503]})
    assert config["serverErrorRate"] == 1.0
    assert set(statuses(emu, client, 3)) == {503}
    admin(emu, "POST", "faults", {"replace": True})
    assert set(statuses(emu, client, 3)) == {200}


def test_connection_reset(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    admin(emu, "POST", "faults", {"connectionResetRate": 1.0})
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert admin(emu, "GET", "calls") == {"RestorePointCollections_Get:reset": 1}


def test_slow_responses(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    import time

    admin(emu, "POST", "faults", {"slowResponseRate": 1.0, "slowResponseSeconds": 0.3})
    started = time.monotonic()
    client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert time.monotonic() - started >= 0.3


def test_copy_provisioning_failure_reports_failed_operation(
    emu: EmulatorHandle, client: ComputeManagementClient
) -> None:
    from azure.core.exceptions import HttpResponseError

    admin(emu, "POST", "faults", {"copyProvisioningFailureRate": 1.0})
    target_collection(client)
    with pytest.raises(HttpResponseError) as info:
        start_copy(client, src_rp(0), "c0")
    assert "InternalExecutionError" in str(info.value)
    assert client.restore_points.get("rg-dr", "tgt", "c0").provisioning_state == "Failed"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.extend(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/events"
    server.shutdown()


def test_write_events_in_event_grid_schema(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch, webhook: str
) -> None:
    import time

    emu = make_emulator(big_scenario(), events_webhook=webhook)
    client = make_client(emu, monkeypatch)
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    events = admin(emu, "GET", "events")["value"]
    ops = [e["data"]["operationName"] for e in events]
    assert ops[-2:] == [
        "Microsoft.Compute/restorePointCollections/write",
        "Microsoft.Compute/restorePointCollections/restorePoints/write",
    ]
    event = events[-1]
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert event["subject"].endswith("/restorePointCollections/tgt/restorePoints/c0")
    assert event["topic"] == "/subscriptions/" + event["data"]["subscriptionId"]
    assert event["dataVersion"] == "2" and event["metadataVersion"] == "1"
    assert set(event["data"]) >= {
        "authorization",
        "claims",
        "correlationId",
        "resourceProvider",
        "resourceUri",
        "operationName",
        "status",
        "subscriptionId",
        "tenantId",
    }
    deadline = time.monotonic() + 5
    while len(_Hook.received) < len(events) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [e["id"] for e in _Hook.received] == [e["id"] for e in events]


def test_duplicate_and_out_of_order_quirks(emu: EmulatorHandle) -> None:
    admin(emu, "POST", "events", {"seed": 1, "duplicateRate": 1.0, "deploymentPrefaceRate": 1.0})
    rpc_id = SRC_RPC
    admin(emu, "POST", "restore-points", {"collectionId": rpc_id, "name": "new-1"})
    events = admin(emu, "GET", "events")["value"]
    mine = [e for e in events if e["data"]["correlationId"] == events[-1]["data"]["correlationId"]]
    assert len(mine) == 3
    assert "/providers/Microsoft.Resources/deployments/" in mine[0]["data"]["resourceUri"]
    assert mine[1]["id"] == mine[2]["id"]
    admin(emu, "POST", "events", {"duplicateRate": 0.0, "deploymentPrefaceRate": 0.0, "outOfOrder": True})
    before = len(admin(emu, "GET", "events")["value"])
    for i in range(10):
        admin(emu, "POST", "restore-points", {"collectionId": rpc_id, "name": f"seq-{i}"})
    subjects = [e["subject"].rsplit("/", 1)[1] for e in admin(emu, "GET", "events")["value"][before:]]
    assert subjects != sorted(subjects, key=lambda s: int(s.split("-")[1]))


def test_admin_reset_and_seed(emu: EmulatorHandle) -> None:
    data = big_scenario()
    data["collections"] = data["collections"][:1]
    assert admin(emu, "POST", "scenario", data)["collections"] == 1
    assert admin(emu, "POST", "reset")["reset"] is True
    bad = requests.post(emu.admin_url + "/faults", json={"nope": 1}, verify=emu.ca_pem_path, timeout=5)
    assert bad.status_code == 400


def test_call_faults_can_target_one_operation(emu: EmulatorHandle, client: ComputeManagementClient) -> None:
    from azure.core.exceptions import HttpResponseError

    admin(emu, "POST", "faults", {"serverErrorRate": 1.0, "operations": ["RestorePoints_Create"]})
    target_collection(client)  # RestorePointCollections_CreateOrUpdate: untouched
    with pytest.raises(HttpResponseError) as info:
        start_copy(client, src_rp(0), "c0")
    assert info.value.status_code in (500, 503)


def test_scheduled_delete_of_a_source_mid_copy(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["faults"] = {"scheduledDeletes": [{"id": src_rp(0), "at": "2026-11-20T00:15:00Z"}]}
    emu = make_emulator(data)
    client = make_client(emu, monkeypatch)
    target_collection(client)
    start_copy(client, src_rp(0), "c0")
    admin(emu, "POST", "clock", {"advanceSeconds": 3600})
    view = client.restore_points.get("rg-dr", "tgt", "c0", expand="instanceView").instance_view
    assert view.statuses[0].code == "ReplicationState/failed"
    events = admin(emu, "GET", "events")["value"]
    assert events[-1]["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"
