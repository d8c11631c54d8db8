"""Each orchestrator started on its own through the local host's Durable HTTP API (as the extension
would run it: real replay, determinism checked on every episode), against the emulator."""

from __future__ import annotations

from typing import Any

import requests
from azure.mgmt.compute import models as m

from .conftest import SUB, collection_id, sdk_client

KEY = {"code": "devhost-function-key"}
SETTINGS = {"maxAttempts": 2, "onFailure": "continue", "pollMaxIntervalSeconds": 3600}
TARGET = (
    f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/vm0-rpc-westus2"
)


def run(host: Any, name: str, instance_id: str, payload: Any) -> dict[str, Any]:
    url = f"{host.url}/runtime/webhooks/durabletask/orchestrators/{name}/{instance_id}"
    response = requests.post(url, params=KEY, json=payload, timeout=30)
    assert response.status_code == 202, response.text
    host.run_until_idle(timeout=120)
    status = host.get_instance(instance_id)
    assert status["runtimeStatus"] == "Completed", status
    return status


def make_target(emu: Any) -> None:
    body = m.RestorePointCollection(
        location="westus2",
        properties=m.RestorePointCollectionProperties(
            source=m.RestorePointCollectionSourceProperties(id=collection_id("vm0-rpc"))
        ),
    )
    sdk_client(emu).restore_point_collections.create_or_update("rg-dr", "vm0-rpc-westus2", body)


def lane() -> dict[str, str]:
    return {"sourceCollectionId": collection_id("vm0-rpc"), "targetCollectionId": TARGET, "region": "westus2"}


def test_copy_restore_point_alone(emu, host):
    make_target(emu)
    source = sdk_client(emu).restore_points.get("rg-app", "vm0-rpc", "rp0")
    spec = {
        "lane": lane(),
        "source": {
            "id": source.id,
            "name": "rp0",
            "timeCreated": None,
            "provisioningState": "Succeeded",
            "sourceRestorePointId": None,
        },
        "targetName": "rp0",
        "mode": "copy",
        "copy": SETTINGS,
    }
    status = run(host, "copy_restore_point", "t-copy", spec)
    assert status["output"]["state"] == "succeeded" and status["output"]["attempts"] == 1
    assert status["customStatus"]["disks"] and all(d["percent"] == 100 for d in status["customStatus"]["disks"])
    timers = [e for e in host.history("t-copy") if e["EventType"] == 10]
    assert timers, "monitoring used durable timers"
    # Run again: the copy exists with the same source, so it is confirmed, not made twice.
    again = run(host, "copy_restore_point", "t-copy-again", {**spec, "mode": "monitor"})
    assert again["output"]["state"] == "succeeded"
    assert (
        len(
            list(
                sdk_client(emu)
                .restore_point_collections.get("rg-dr", "vm0-rpc-westus2", expand="restorePoints")
                .properties.restore_points
            )
        )
        == 1
    )


def test_replicate_lane_alone(emu, host):
    make_target(emu)
    status = run(host, "replicate_lane", "t-lane", {"lane": lane(), "copy": SETTINGS, "instanceBase": "t-lane"})
    assert status["output"]["state"] == "done"
    assert status["output"]["counts"] == {"succeeded": 3}
    assert [r["state"] for r in status["output"]["recent"]] == ["succeeded"] * 3


def test_replicate_collection_alone(emu, host):
    targets = [{"region": "westus2", "subscriptionId": SUB, "resourceGroup": "rg-dr"}]
    status = run(
        host,
        "replicate_collection",
        "t-coll",
        {"sourceCollectionId": collection_id("vm1-rpc"), "targets": targets, "copy": SETTINGS},
    )
    assert status["output"]["state"] == "done"
    assert status["output"]["lanes"] == [{"region": "westus2", "instanceId": "t-coll~westus2", "state": "done"}]


def test_sweep_alone(emu, host):
    status = run(host, "sweep", "t-sweep", {"units": [{"subscriptionId": SUB}], "unit": 0, "stats": {}})
    assert status["output"]["stats"]["started"] == 2
