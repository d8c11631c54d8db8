"""The product within the Durable extension's rules (issue 10): each test reproduces a fault that the
old code had on Azure, through the local durable host, which holds the extension's rules."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
import requests

from emulator import start_emulator

from .conftest import REPO, Api, admin, app_host, collection_id, counting_episodes, make_policy, make_scenario


def _lanes(api: Api, instance: str) -> dict[str, dict[str, Any]]:
    return {lane["region"]: lane for lane in api.get(instance).json()["lanes"]}


def _puts(emu: Any) -> int:
    return sum(n for key, n in admin(emu, "GET", "/_emulator/calls").items() if key.startswith("RestorePoints_Create"))


def test_policy_sample_against_the_demo_scenario_ends_with_each_lane_reason(tmp_path):
    """task_all([]) returned None in SDK 1.x and crashed the collection when no lane could start:
    policy.sample.json's target resource group does not exist in scenarios/demo.json."""
    scenario = json.loads((REPO / "scenarios" / "demo.json").read_text())
    policy = json.loads((REPO / "policy.sample.json").read_text())
    policy["sources"] = {"subscriptions": [scenario["subscriptions"][0]["subscriptionId"]]}
    source = scenario["collections"][0]
    source_id = (
        f"/subscriptions/{source['subscriptionId']}/resourceGroups/{source['resourceGroup']}"
        f"/providers/Microsoft.Compute/restorePointCollections/{source['name']}"
    )
    with (
        start_emulator(scenario) as emu,
        app_host(
            emu, tmp_path / "h.db", {"REPLICATION_POLICY": json.dumps(policy), "SWEEP_SCHEDULE": "0 0 0 1 1 *"}
        ) as host,
    ):
        api = Api(host)
        response = api.start(sourceCollectionId=source_id)
        assert response.status_code == 202, response.text
        host.run_until_idle(timeout=120)
        status = host.get_instance(response.json()["id"])
        lanes = _lanes(api, response.json()["id"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["state"] == "attention"
    for lane in lanes.values():
        assert lane["state"] == "blocked" and "resource group" in lane["reason"].lower(), lane


def test_a_failed_lane_ends_at_once_and_the_other_lanes_carry_on(tmp_path):
    """On the extension task_all is Task.WhenAll: one failed lane kept the collection Running, phase
    copying, until the slowest lane ended. Now each lane's end is handled when it happens."""
    scenario = make_scenario(vms=1, points=2, disks=(2048,))  # ~3 simulated hours per copy at 200 MB/s
    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db") as host:
        api = Api(host)
        client = host.durable_client()
        with host.hold_clock():  # from the start: on a moving clock the run could end before the terminate lands
            instance = api.start(sourceCollectionId=collection_id("vm0-rpc")).json()["id"]
            lane_id = f"{instance}~northeurope"
            _wait_for(lambda: _exists(host, lane_id))
            host.run_coroutine(client.terminate(lane_id, "a person stopped this lane"))
        host.run_until_idle(timeout=120)
        status = host.get_instance(instance)
        lanes = _lanes(api, instance)
    assert status["runtimeStatus"] == "Completed"
    assert lanes["northeurope"]["state"] == "failed" and "stopped unexpectedly" in lanes["northeurope"]["reason"]
    assert lanes["westus2"]["state"] == "done"
    assert [c["state"] for c in lanes["westus2"]["copies"]] == ["succeeded", "succeeded"]
    assert "Terminate" not in json.dumps(status["output"])  # no exception text in the output


def _exists(host: Any, instance_id: str) -> bool:
    try:
        return host.get_instance(instance_id)["runtimeStatus"] == "Running"
    except KeyError:
        return False


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    """Poll an in-process host (real time, bounded) until ``predicate()``; the clock is held meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _run_with_nudges(tmp_path: Path, nudges: int) -> tuple[int, int]:
    scenario = make_scenario(vms=1, points=2, disks=(512,))
    with (
        counting_episodes() as counts,
        start_emulator(scenario) as emu,
        app_host(emu, tmp_path / f"h{nudges}.db") as host,
    ):
        api = Api(host)
        client = host.durable_client()
        with host.hold_clock():  # from the start: every nudge lands while the run is on
            instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
            for _ in range(nudges):
                host.run_coroutine(client.raise_event(instance, "restorePointWritten", {"byPerson": False}))
        host.run_until_idle(timeout=120)
        assert host.get_instance(instance)["runtimeStatus"] == "Completed"
        copies = _puts(emu)
    return counts.get(instance, 0), copies


def test_the_nudge_drain_costs_at_most_two_episodes_per_nudge(tmp_path):
    """py#507: one early event completed every later wait in the SDK, while the extension hands one
    buffered event to each wait: the old 100-round drain was about 100 episodes on Azure."""
    quiet, _ = _run_with_nudges(tmp_path, 0)
    nudged, puts = _run_with_nudges(tmp_path, 10)
    assert (nudged - quiet) <= 2 * 10, (quiet, nudged)
    assert puts == 2  # each restore point copied once, however many nudges


def test_a_suspended_collection_is_left_alone_by_triggers(emu, host, api):
    """A Suspended instance made ensure_replication call start_new, get a 500 and re-raise, failing the
    Event Grid delivery and the whole sweep."""
    client = host.durable_client()
    with host.hold_clock():  # from the start: on a moving clock the run could end before the suspend lands
        instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
        host.run_coroutine(client.suspend(instance, "maintenance"))
    sweep = api.session.post(f"{api.base}/api/sweep", timeout=30)
    assert sweep.status_code == 202
    host.run_until_idle(timeout=60)
    sweep_status = host.get_instance("sweep")
    assert sweep_status["runtimeStatus"] == "Completed", sweep_status
    assert sweep_status["output"]["stats"].get("suspended") == 1, sweep_status["output"]
    assert not sweep_status["output"]["errors"]
    assert host.get_instance(instance)["runtimeStatus"] == "Suspended"
    host.run_coroutine(client.resume(instance, "done"))
    host.run_until_idle(timeout=60)
    assert host.get_instance(instance)["runtimeStatus"] == "Completed"


def test_stop_mode_spends_at_most_max_attempts_across_replans(tmp_path):
    """ON_COPY_FAILURE=stop: a restore point written during the run made the re-planned lane try the
    failed copy again (6 PUTs with MAX_COPY_ATTEMPTS=3), and the stopped lane listed it as pending."""
    scenario = make_scenario(vms=1, points=1, faults={"diskCopyFailureRate": 1.0})
    settings = {"ON_COPY_FAILURE": "stop", "MAX_COPY_ATTEMPTS": "3"}
    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db", settings) as host:
        api = Api(host)
        client = host.durable_client()
        with host.hold_clock():  # from the start: the new restore point and the nudge land while the run is on
            instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
            admin(
                emu, "POST", "/_emulator/restore-points", {"collectionId": collection_id("vm0-rpc"), "name": "rp-new"}
            )
            host.run_coroutine(client.raise_event(instance, "restorePointWritten", {"byPerson": False}))
        host.run_until_idle(timeout=120)
        puts = _puts(emu)
        lane = _lanes(api, instance)["westus2"]
    assert puts == 3, puts
    assert lane["state"] == "stopped", lane
    failed = [c for c in lane["copies"] if c["state"] == "failed"]
    assert len(failed) == 1 and failed[0]["name"] == "rp0" and failed[0]["attempts"] == 3 and failed[0]["reason"]


def test_a_copy_held_by_the_hourly_limit_says_so_with_its_next_check(tmp_path):
    scenario = make_scenario(vms=1, points=3)
    scenario["copiesPerHourPerCollection"] = 1
    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db") as host:
        api = Api(host)
        instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
        seen: list[dict[str, Any]] = []
        original = df.DurableOrchestrationContext.set_custom_status

        def spy(self: Any, status: Any) -> None:
            if isinstance(status, dict) and status.get("state") == "held":
                seen.append(status)
            original(self, status)

        df.DurableOrchestrationContext.set_custom_status = spy  # type: ignore[method-assign]
        try:
            host.run_until_idle(timeout=120)
        finally:
            df.DurableOrchestrationContext.set_custom_status = original  # type: ignore[method-assign]
        lane = _lanes(api, instance)["westus2"]
    assert [c["state"] for c in lane["copies"]] == ["succeeded"] * 3
    assert seen, "no copy was ever shown as held"
    assert all(s.get("nextCheckAt") and "per hour" in s.get("reason", "") for s in seen), seen[0]


WEBHOOK = "/runtime/webhooks/eventgrid?functionName=eventgrid_restore_point_written&code=devhost-function-key"


def _deliver(host: Any, event: dict[str, Any]) -> int:
    return requests.post(
        f"{host.url}{WEBHOOK}", json=[event], headers={"aeg-event-type": "Notification"}, timeout=30
    ).status_code


def test_a_nudge_that_races_the_end_of_a_run_is_never_lost(emu, host, api):
    """A nudge accepted just before the instance completed was lost until the next sweep (6 hours).
    Now a run that is about to end says so (``settling``); an Event Grid delivery that lands then is
    failed on purpose so Event Grid delivers it again, and the redelivery finds the run re-planning or
    ended (then it starts a new one). Either way the restore point is copied without the sweep."""
    instance = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"]).json()["id"]
    host.run_until_idle(timeout=120)
    api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"])  # a quiet re-run
    with host.hold_clock():  # nothing to copy: the re-run reaches its settling window without any timer
        _wait_for(lambda: (host.get_instance(instance).get("customStatus") or {}).get("phase") == "settling")
        admin(emu, "POST", "/_emulator/restore-points", {"collectionId": collection_id("vm0-rpc"), "name": "rp-race"})
        event = admin(emu, "GET", "/_emulator/events")["value"][-1]
        assert _deliver(host, event) == 500  # "finishing: deliver again"
    host.run_until_idle(timeout=120)
    assert _deliver(host, event) == 200  # Event Grid's redelivery
    host.run_until_idle(timeout=120)
    names = sorted(c["name"] for c in _lanes(api, instance)["westus2"]["copies"] if c["state"] == "succeeded")
    assert "rp-race" in names, names
    assert host.get_instance(instance)["runtimeStatus"] == "Completed"


@pytest.mark.slow
def test_a_hundred_restore_points_sixteen_disks_three_regions_within_the_status_limit(tmp_path, monkeypatch):
    """The size the old lanes failed at on Azure (custom status over 16 KB from about 8 restore points):
    every copy made, no orchestration failed, every custom status under 8 KB of UTF-16, on DTS's limits."""
    largest: dict[str, int] = {}
    original = df.DurableOrchestrationContext.set_custom_status

    def measuring(self: Any, status: Any) -> None:
        kind = self.instance_id.count("~")
        largest[str(kind)] = max(largest.get(str(kind), 0), len(json.dumps(status).encode("utf-16-le")))
        original(self, status)

    monkeypatch.setattr(df.DurableOrchestrationContext, "set_custom_status", measuring)
    scenario = make_scenario(vms=1, points=100, disks=tuple(4 for _ in range(16)))
    for i, point in enumerate(scenario["collections"][0]["restorePoints"]):
        point["timeCreated"] = f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}T00:00:00Z"
    scenario["copiesPerHourPerCollection"] = 1000
    regions = ("westus2", "northeurope", "southeastasia")
    settings = {"REPLICATION_POLICY": json.dumps(make_policy(regions)), "SWEEP_SCHEDULE": "0 0 0 1 1 *"}
    # On the Durable Task Scheduler's limits (instance ids <= 100 characters, payloads <= 1 MB), the stricter.
    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db", settings, backend="dts") as host:
        api = Api(host)
        instance = api.start(sourceCollectionId=collection_id("vm0-rpc")).json()["id"]
        host.run_until_idle(timeout=900)
        failed = [i["instanceId"] for i in host.instances() if i["runtimeStatus"] == "Failed"]
        lanes = _lanes(api, instance)
    assert not failed, failed[:3]
    assert all(c["state"] == "succeeded" for lane in lanes.values() for c in lane["copies"])
    assert sum(len(lane["copies"]) for lane in lanes.values()) == 300
    assert max(largest.values()) <= 8 * 1024, largest
