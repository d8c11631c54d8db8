"""Helpers for the emulator conformance suite: scenarios, SDK clients, admin calls, fast LRO polling."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.rest import HttpRequest, HttpResponse
from azure.identity import ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.core.polling.arm_polling import ARMPolling

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator import DEFAULT_SCENARIO, EmulatorHandle  # noqa: E402

MakeEmulator = Callable[..., EmulatorHandle]  # the make_emulator fixture: (scenario=None, **start_emulator kwargs)

SUB = "11111111-1111-1111-1111-111111111111"
SRC_RPC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm-web-1-rpc"
SRC_RP0 = f"{SRC_RPC}/restorePoints/rp-20261120-0000"
API = "2026-04-01"


class FastPolling(ARMPolling):
    """ARM polling that does not sleep: the emulator's Retry-After is in simulated seconds."""

    def _extract_delay(self) -> float:
        return 0


def fast() -> FastPolling:
    return FastPolling(0)


def scenario(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEFAULT_SCENARIO)
    data.update(overrides)
    return data


def big_scenario() -> dict[str, Any]:
    """Default scenario plus a westus2/centralus RG, a second source VM and more restore points."""
    data = scenario()
    data["subscriptions"][0]["resourceGroups"] += [
        {"name": "rg-dr2", "location": "centralus"},
        {"name": "rg-east2", "location": "eastus"},
    ]
    data["collections"][0]["restorePoints"] = [
        {"name": f"rp-{i}", "timeCreated": f"2026-11-19T{i:02d}:00:00Z", "changedPercent": 5} for i in range(6)
    ]
    data["collections"].append(
        {
            "subscriptionId": SUB,
            "resourceGroup": "rg-app",
            "name": "vm-db-1-rpc",
            "location": "eastus",
            "vm": {"name": "vm-db-1", "disks": [{"name": "vm-db-1-os", "sizeGB": 32}]},
            "restorePoints": [{"name": "db-rp-0", "timeCreated": "2026-11-19T00:00:00Z"}],
        }
    )
    return data


def make_client(handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> ComputeManagementClient:
    monkeypatch.setenv("IDENTITY_ENDPOINT", handle.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", handle.identity_header)
    credential = ManagedIdentityCredential(client_id="22222222-2222-2222-2222-222222222222")
    kwargs.setdefault("retry_total", 0)
    return ComputeManagementClient(credential, SUB, base_url=handle.url, connection_verify=handle.ca_pem_path, **kwargs)


def raw(client: ComputeManagementClient, method: str, url: str, body: Any = None) -> HttpResponse:
    """A request through the SDK's own pipeline (auth, TLS), for headers the models hide."""
    if body is not None:
        return client.send_request(HttpRequest(method, url, json=body))
    return client.send_request(HttpRequest(method, url))


def admin(handle: EmulatorHandle, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{handle.admin_url}/{path}", json=body, verify=handle.ca_pem_path, timeout=10)
    response.raise_for_status()
    return response.json()


def advance(handle: EmulatorHandle, seconds: float) -> None:
    admin(handle, "POST", "clock", {"advanceSeconds": seconds})


def target_collection(
    client: ComputeManagementClient,
    name: str = "tgt",
    rg: str = "rg-dr",
    location: str = "westus2",
    source: str = SRC_RPC,
) -> Any:
    return client.restore_point_collections.create_or_update(
        rg, name, {"location": location, "properties": {"source": {"id": source}}}
    )


def start_copy(client: ComputeManagementClient, source_rp: str, name: str, rpc: str = "tgt", rg: str = "rg-dr") -> Any:
    """Create a copy and wait (no real sleeping) until provisioning reports the copy initiated."""
    poller = client.restore_points.begin_create(
        rg, rpc, name, {"properties": {"sourceRestorePoint": {"id": source_rp}}}, polling=fast()
    )
    return poller.result()


def rp_id(rpc_id: str, name: str) -> str:
    return f"{rpc_id}/restorePoints/{name}"


def src_rp(i: int) -> str:
    return rp_id(SRC_RPC, f"rp-{i}")
