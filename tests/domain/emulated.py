"""Helpers for the domain tests: the scenario, the emulator's admin API, a port nobody listens on."""

from __future__ import annotations

import socket
from typing import Any

import requests

from emulator import EmulatorHandle

SUB = "11111111-1111-1111-1111-111111111111"
CLIENT_ID = "00000000-0000-0000-0000-00000000c1d0"


def rpc_id(name: str, group: str = "rg-app", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/restorePointCollections/{name}"


def source_collection(name: str, group: str, points: int = 4) -> dict[str, Any]:
    return {
        "subscriptionId": SUB,
        "resourceGroup": group,
        "name": name,
        "location": "eastus",
        "vm": {"name": f"{group}-{name}-vm", "disks": [{"name": f"{group}-{name}-os", "sizeGB": 32}]},
        "restorePoints": [
            {"name": f"rp-{i}", "timeCreated": f"2026-11-1{i}T00:00:00Z", "changedPercent": 10} for i in range(points)
        ],
    }


BASE_SCENARIO: dict[str, Any] = {
    "clock": {"start": "2026-11-20T00:00:00Z"},
    "tenantId": "00000000-0000-0000-0000-0000000000aa",
    "copyBandwidthMBps": 100_000,  # every copy completes within its first 10-minute progress step
    "subscriptions": [
        {
            "subscriptionId": SUB,
            "displayName": "prod",
            "resourceGroups": [
                {"name": "rg-app", "location": "eastus"},
                {"name": "rg-team-b", "location": "eastus"},
                {"name": "rg-dr", "location": "westus2"},
            ],
        }
    ],
    "collections": [source_collection("web-01-rpc", "rg-app"), source_collection("web-01-rpc", "rg-team-b")],
    "faults": {},
}


def admin(emu: EmulatorHandle, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{emu.admin_url}/{path}", json=body, verify=emu.ca_pem_path, timeout=10)
    response.raise_for_status()
    return response.json()


def advance(emu: EmulatorHandle, seconds: float) -> None:
    admin(emu, "POST", "clock", {"advanceSeconds": seconds})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
