"""Scenario files: loading, and the default scenario used when none is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_SCENARIO: dict[str, Any] = {
    "clock": {"start": "2026-11-20T00:00:00Z"},
    "tenantId": "00000000-0000-0000-0000-0000000000aa",
    "copyBandwidthMBps": 250,
    "subscriptions": [
        {
            "subscriptionId": "11111111-1111-1111-1111-111111111111",
            "displayName": "prod",
            "resourceGroups": [
                {"name": "rg-app", "location": "eastus"},
                {"name": "rg-dr", "location": "westus2"},
            ],
        }
    ],
    "collections": [
        {
            "subscriptionId": "11111111-1111-1111-1111-111111111111",
            "resourceGroup": "rg-app",
            "name": "vm-web-1-rpc",
            "location": "eastus",
            "tags": {"replicate": "true"},
            "vm": {
                "name": "vm-web-1",
                "vmSize": "Standard_D4s_v5",
                "osType": "Linux",
                "disks": [
                    {"name": "vm-web-1-os", "sizeGB": 64},
                    {"name": "vm-web-1-data0", "sizeGB": 512, "lun": 0},
                ],
            },
            "restorePoints": [{"name": "rp-20261120-0000", "timeCreated": "2026-11-20T00:00:00Z", "changedPercent": 5}],
        }
    ],
    "faults": {},
}


def load_scenario(scenario: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """A dict is used as is, a path is read as JSON, None gives a copy of ``DEFAULT_SCENARIO``."""
    if scenario is None:
        return dict(json.loads(json.dumps(DEFAULT_SCENARIO)))
    if isinstance(scenario, dict):
        return scenario
    return dict(json.loads(Path(scenario).read_text(encoding="utf-8")))
