"""Event Grid, timer and sweep triggers end to end: real-shaped events from the emulator, delivered to
the local host's Event Grid webhook with Event Grid's quirks (duplicates, deployment-scoped prefaces,
lowercase subjects, out-of-order delivery), concurrent deliveries, and lost events caught by the sweep."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from replication.ids import normalize

from .conftest import SUB, Api, admin, app_host, collection_id, lane_key, make_scenario, sdk_client

WEBHOOK = "/runtime/webhooks/eventgrid?functionName=eventgrid_restore_point_written&code=devhost-function-key"


def settle(host: Any, emu: Any, rounds: int = 60) -> None:
    """Run the host until idle and the emulator has no events left to deliver (deliveries are async)."""
    seen = -1
    for _ in range(rounds):
        host.run_until_idle(timeout=240)
        delivered = len(admin(emu, "GET", "/_emulator/events")["value"])
        if delivered == seen and not [i for i in host.instances() if i["runtimeStatus"] in ("Running", "Pending")]:
            return
        seen = delivered
        time.sleep(0.3)  # real time for the emulator's sender thread; no simulated time depends on it
    raise AssertionError("never settled")


def copies_by_target(emu: Any) -> dict[str, list[str]]:
    client = sdk_client(emu)
    out = {}
    for c in client.restore_point_collections.list("rg-dr"):
        full = client.restore_point_collections.get("rg-dr", c.name, expand="restorePoints")
        out[lane_key(c.name)] = sorted(
            normalize(p.properties.source_restore_point.id) for p in full.properties.restore_points or []
        )
    return out


def replicate_instances(host: Any) -> list[str]:
    return sorted(i["instanceId"] for i in host.instances() if i["name"] == "replicate_collection")


def test_subscription_validation_handshake(host):
    response = requests.post(
        f"{host.url}{WEBHOOK}",
        json=[
            {
                "id": "1",
                "topic": f"/subscriptions/{SUB}",
                "subject": "",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "eventTime": "2026-11-20T00:00:00Z",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
                "dataVersion": "1",
                "metadataVersion": "1",
            }
        ],
        headers={"aeg-event-type": "SubscriptionValidation"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


def test_events_with_every_quirk_copy_each_new_restore_point_once(tmp_path):
    scenario = make_scenario(
        vms=2,
        points=1,
        events={
            "seed": 5,
            "duplicateRate": 0.5,
            "deploymentPrefaceRate": 0.5,
            "lowercaseSubjectRate": 0.5,
            "outOfOrder": True,
        },
    )
    from emulator import start_emulator

    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db") as host:
        admin(emu, "POST", "/_emulator/events", {"webhook": f"{host.url}{WEBHOOK}"})
        for day in range(2, 5):
            for v in range(2):
                admin(
                    emu,
                    "POST",
                    "/_emulator/restore-points",
                    {"collectionId": collection_id(f"vm{v}-rpc"), "name": f"rp-day{day}"},
                )
            settle(host, emu)
        events = admin(emu, "GET", "/_emulator/events")
        assert events["deliveryErrors"] == 0
        copies = copies_by_target(emu)
        assert len(replicate_instances(host)) == 2

    # The copies the app wrote raised events too; none became a source (no copy of a copy).
    assert sorted(copies) == [f"vm{v}-rpc-{r}" for v in range(2) for r in ("northeurope", "westus2")]
    for name, sources in copies.items():
        vm = name.split("-rpc")[0]
        expected = [
            normalize(f"{collection_id(f'{vm}-rpc')}/restorePoints/{rp}")
            for rp in ("rp-day2", "rp-day3", "rp-day4", "rp0")
        ]
        assert sources == sorted(expected), name
    kinds = [e["data"]["resourceUri"] for e in events["value"]]
    assert any("/deployments/" in k for k in kinds) and any("rg-dr" in k for k in kinds)


def test_concurrent_deliveries_of_one_event_start_one_orchestration(emu, host):
    admin(emu, "POST", "/_emulator/restore-points", {"collectionId": collection_id("vm0-rpc"), "name": "rp-new"})
    event = admin(emu, "GET", "/_emulator/events")["value"][-1]
    assert event["data"]["operationName"].endswith("restorePoints/write")

    def deliver(_: int) -> int:
        return requests.post(
            f"{host.url}{WEBHOOK}", json=[event], headers={"aeg-event-type": "Notification"}, timeout=30
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(deliver, range(16)))
    assert set(statuses) == {200}, statuses
    host.run_until_idle(timeout=240)
    assert len(replicate_instances(host)) == 1
    copies = copies_by_target(emu)
    assert sorted(copies) == ["vm0-rpc-northeurope", "vm0-rpc-westus2"]
    assert all(len(s) == len(set(s)) == 4 for s in copies.values())


def test_sweep_catches_what_lost_events_missed(emu, host):
    # New restore points everywhere, but only every other event is delivered.
    for v in range(2):
        admin(emu, "POST", "/_emulator/restore-points", {"collectionId": collection_id(f"vm{v}-rpc"), "name": "rp-new"})
    events = admin(emu, "GET", "/_emulator/events")["value"]
    for event in events[::2]:
        requests.post(f"{host.url}{WEBHOOK}", json=[event], headers={"aeg-event-type": "Notification"}, timeout=30)
    host.run_until_idle(timeout=240)
    before = copies_by_target(emu)
    assert len(before) < 4  # something was missed

    response = requests.post(
        f"{host.url}/admin/functions/timer_sweep",
        json={"input": None},
        headers={"x-functions-key": "devhost-master-key"},
        timeout=30,
    )
    assert response.status_code == 202
    host.run_until_idle(timeout=240)
    sweep = next(i for i in host.instances() if i["instanceId"] == "sweep")
    assert sweep["runtimeStatus"] == "Completed", sweep
    stats = sweep["output"]["stats"]
    assert stats["listed"] == stats["outOfScope"] + stats["started"] + stats["nudged"] + stats["joined"]
    assert stats["started"] + stats["nudged"] + stats["joined"] == 2  # the two sources; targets are copies
    after = copies_by_target(emu)
    assert sorted(after) == [f"vm{v}-rpc-{r}" for v in range(2) for r in ("northeurope", "westus2")]
    assert all(len(s) == 4 for s in after.values())


def test_http_sweep_is_a_singleton(emu, host):
    api = Api(host)
    first = api.session.post(f"{api.base}/api/sweep", timeout=30)
    second = api.session.post(f"{api.base}/api/sweep", timeout=30)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"] == "sweep"
    host.run_until_idle(timeout=240)
    assert all(len(s) == 3 for s in copies_by_target(emu).values())


def test_sweep_fans_out_over_many_collections_in_short_steps(tmp_path):
    """1,000 collections, ARM pages of 50: the sweep walks them one page per activity and continues
    as new every 20 pages; only the 5 collections carrying the policy's tag are started."""
    from emulator import start_emulator

    scenario = make_scenario(vms=1000, points=0)
    scenario["pageSize"] = 50
    for i, c in enumerate(scenario["collections"]):
        c["tags"] = {"replicate": "true" if i % 200 == 0 else "false"}
    policy = {
        "sources": {"subscriptions": [SUB], "tags": {"replicate": "true"}},
        "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}],
    }
    with (
        start_emulator(scenario) as emu,
        app_host(emu, tmp_path / "h.db", {"REPLICATION_POLICY": json.dumps(policy)}) as host,
    ):
        response = Api(host).session.post(f"{host.url}/api/sweep", timeout=30)
        assert response.status_code == 202
        host.run_until_idle(timeout=240)
        sweep = next(i for i in host.instances() if i["instanceId"] == "sweep")
        started = sorted(i["instanceId"] for i in host.instances() if i["name"] == "replicate_collection")
        calls = admin(emu, "GET", "/_emulator/calls")
    assert sweep["runtimeStatus"] == "Completed", sweep
    stats = sweep["output"]["stats"]
    # The 5 replications create their target collections while the sweep pages on; it may list them
    # too, and skips them as copies.
    assert 1000 <= stats["listed"] <= 1005 and stats["started"] == 5
    assert stats["outOfScope"] == stats["listed"] - 5
    assert len(started) == 5
    assert calls["RestorePointCollections_ListAll:200"] in (20, 21)  # one ARM page per activity


def test_restore_point_written_mid_run_is_copied_by_that_run(tmp_path):
    """Scaled clock (600x): a 44-minute copy runs for ~4 s of wall time; a new restore point written
    meanwhile (and its event delivered) is copied before the replication finishes, in one run."""
    from datetime import datetime

    from emulator import ScaledClock, start_emulator

    scenario = make_scenario(vms=1, points=1, disks=(512,))
    clock = ScaledClock(datetime.fromisoformat("2026-11-20T00:00:00+00:00"), 600.0)
    with start_emulator(scenario, clock=clock) as emu, app_host(emu, tmp_path / "h.db") as host:
        admin(emu, "POST", "/_emulator/events", {"webhook": f"{host.url}{WEBHOOK}"})
        api = Api(host)
        instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
        time.sleep(1.0)  # real time: the scaled clock runs the copy meanwhile
        assert api.get(instance).json()["runtimeStatus"] == "Running"
        admin(emu, "POST", "/_emulator/restore-points", {"collectionId": collection_id("vm0-rpc"), "name": "rp-mid"})
        deadline = time.monotonic() + 60
        while api.get(instance).json()["runtimeStatus"] == "Running" and time.monotonic() < deadline:
            time.sleep(0.2)
        doc = api.get(instance).json()
        runs = [i for i in host.instances() if i["name"] == "replicate_collection"]
    assert doc["runtimeStatus"] == "Completed"
    assert [(c["name"], c["state"]) for c in doc["lanes"][0]["copies"]] == [
        ("rp0", "succeeded"),
        ("rp-mid", "succeeded"),
    ]
    assert len(runs) == 1
