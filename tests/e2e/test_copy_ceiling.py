"""A ceiling of concurrent copies per subscription and target region (``MAX_CONCURRENT_COPIES_PER_REGION``,
issue #12), end to end: the copy-slot entity (``orchestrators/copy_slots.py``) in the local durable host, lanes
against the emulator, the emulator's own record of when each copy ran (``GET /_emulator/copies``: ``start`` and
``expectedFinish``) as the judge of how many copies were in flight at any simulated moment."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from emulator import start_emulator
from orchestrators.copy_slots import ENTITY_NAME, SLOT_LEASE_SECONDS, SLOT_WAIT_SECONDS

from .conftest import SUB, Api, admin, app_host, collection_id, make_policy, make_scenario

REGION = "westus2"
KEY = f"{SUB}|{REGION}"
ONE_REGION = {"REPLICATION_POLICY": json.dumps(make_policy((REGION,)))}
EVENT_SENT = 14


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def max_in_flight(copies: list[dict[str, Any]]) -> int:
    """The most copies running at one simulated moment: each runs from its PUT (``start``) to ``expectedFinish``."""
    edges = sorted(
        [(_time(c["start"]), 1) for c in copies] + [(_time(c["expectedFinish"]), -1) for c in copies],
        key=lambda edge: (edge[0], edge[1]),  # a copy that ends at t frees its slot before one that starts at t
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def _fleet(tmp_path: Path, vms: int, settings: dict[str, str]) -> dict[str, Any]:
    emu = start_emulator(make_scenario(vms=vms, points=2, disks=(32,)))
    try:
        with app_host(emu, tmp_path / f"host-{len(settings)}.db", {**ONE_REGION, **settings}) as host:
            api = Api(host)
            ids = []
            for v in range(vms):
                response = api.start(sourceCollectionId=collection_id(f"vm{v}-rpc"))
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            host.run_until_idle(timeout=240)
            docs = [api.get(i).json() for i in ids]
            slots = host.run_coroutine(host.durable_client().read_entity_state(df.EntityId(ENTITY_NAME, KEY)))
            lanes = [i.instance_id for i in host.store.list_instances() if i.name == "replicate_lane"]
            sent = sum(1 for lane in lanes for e in host.history(lane) if e["EventType"] == EVENT_SENT)
        copies = [c for c in admin(emu, "GET", "/_emulator/copies")["value"] if c["lane"][1] == REGION]
    finally:
        emu.stop()
    return {
        "docs": docs,
        "copies": copies,
        "slots": slots.entity_state if slots.entity_exists else None,
        "entitySends": sent,
    }


def test_ceiling_of_two_keeps_at_most_two_copies_in_flight_and_every_copy_succeeds(tmp_path: Path) -> None:
    vms = 6
    capped = _fleet(tmp_path, vms, {"MAX_CONCURRENT_COPIES_PER_REGION": "2"})
    states = [c["state"] for d in capped["docs"] for lane in d["lanes"] for c in lane["copies"]]
    assert states == ["succeeded"] * (vms * 2), capped["docs"]
    assert [d["runtimeStatus"] for d in capped["docs"]] == ["Completed"] * vms
    assert len(capped["copies"]) == vms * 2 and {c["state"] for c in capped["copies"]} == {"ReplicationState/succeeded"}
    peak = max_in_flight(capped["copies"])
    assert peak == 2, peak  # never more than the ceiling, and the ceiling was reached
    assert capped["slots"] == {"holders": {}}  # every slot released when its copy ended
    assert capped["entitySends"] > 0
    print(f"\nceiling 2: max {peak} copies in flight in {REGION} ({len(capped['copies'])} copies, 0 failed)")


def test_a_freed_slot_goes_to_the_lane_waiting_longest(tmp_path: Path) -> None:
    """Ceiling 1, 4 lanes of 2 restore points: a lane whose copy ends asks again at once for its next one, and
    without a line it could take the slot back before lanes that waited for minutes (starving them). In line
    (``slots.acquire``), every lane's first copy runs before any lane's second: each lane is protected once
    before any backlog deepens."""
    vms = 4
    run = _fleet(tmp_path, vms, {"MAX_CONCURRENT_COPIES_PER_REGION": "1"})
    assert max_in_flight(run["copies"]) == 1
    order = [
        c["sourceRestorePointId"].rsplit("/", 1)[-1] for c in sorted(run["copies"], key=lambda c: _time(c["start"]))
    ]
    assert order[:vms] == ["rp0"] * vms and order[vms:] == ["rp1"] * vms, order


def test_without_a_ceiling_nothing_calls_the_entity_and_copies_overlap_as_before(tmp_path: Path) -> None:
    vms = 6
    free = _fleet(tmp_path, vms, {})
    states = [c["state"] for d in free["docs"] for lane in d["lanes"] for c in lane["copies"]]
    assert states == ["succeeded"] * (vms * 2)
    assert free["slots"] is None and free["entitySends"] == 0  # no entity, no EventSent in any lane's history
    peak = max_in_flight(free["copies"])
    assert peak > 2, peak  # the same fleet overlaps more than the ceiling allows when there is none
    print(f"\nno ceiling: max {peak} copies in flight in {REGION}")


def _input(host: Any, instance_id: str) -> Any:
    """An instance's input as a value (a sub-orchestration's input text is JSON text inside a JSON string)."""
    value = host.store.get_instance(instance_id).input
    while isinstance(value, str):
        value = json.loads(value)
    return value


def _slot_requests(host: Any, instance_id: str, operation: str) -> list[dict[str, Any]]:
    """The copy-slot requests in an instance's history (EventSent ``op``: a RequestMessage whose input is the SDK's
    JSON text, serialized once more)."""
    out = []
    for event in host.history(instance_id):
        if event["EventType"] == EVENT_SENT and event["InstanceId"] == f"@{ENTITY_NAME}@{KEY}":
            request = json.loads(event["Input"])
            if request["op"] == operation:
                out.append(json.loads(json.loads(request["input"])))
    return out


def _wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_lane_lost_with_its_copy_frees_its_slot_after_the_lease(tmp_path: Path) -> None:
    """Ceiling 1, two collections. The lane holding the slot is terminated with its copy and its collection (as if
    lost): nothing releases, the other lane stays held, and gets the slot once the dead lease ends."""
    # One large disk: a copy takes about 3 simulated hours, so the slot is held while the test looks.
    emu = start_emulator(make_scenario(vms=2, points=1, disks=(2048,)))
    try:
        # No sweep during the test: it would start the lost replication afresh (that is its job) and muddle the view.
        settings = {**ONE_REGION, "MAX_CONCURRENT_COPIES_PER_REGION": "1", "SWEEP_SCHEDULE": "0 0 12 1 1 *"}
        with app_host(emu, tmp_path / "lease.db", settings) as host:
            api = Api(host)
            for v in range(2):
                assert api.start(sourceCollectionId=collection_id(f"vm{v}-rpc")).status_code == 202

            def holder() -> tuple[str, str] | None:
                found = host.engine.dispatcher.entity_state(f"@{ENTITY_NAME}@{KEY}")
                holders = json.loads(found[1] or "{}").get("holders") if found else None
                return next(iter(holders.items())) if holders else None

            def copying() -> bool:  # a slot is held and its copy is running in Azure
                held = holder()
                names = {c["id"].rsplit("/", 1)[-1] for c in admin(emu, "GET", "/_emulator/copies")["value"]}
                return bool(held) and host.store.get_instance(held[0]) is not None and bool(names)

            _wait_for(copying)
            with host.engine.paused():
                # Terminated between two renewals: its last lease is what the entity holds now.
                dead, expiry = holder() or ("", "")
                assert dead, "the copy ended before the test could stop it"
                # What the copy sent: a renewal of its last episode may still be on its way to the entity.
                lane = host.store.get_instance(dead).parent_instance_id
                renewals = [
                    r
                    for who in (lane, dead)  # the lane's acquire, then the copy's renewals
                    for r in _slot_requests(host, who, "acquire")
                    if r["holder"] == dead
                ]
                collection = host.store.get_instance(lane).parent_instance_id
                client = host.durable_client()
                for instance_id in (collection, lane, dead):  # top down: nobody hears of the one below
                    host.run_coroutine(client.terminate(instance_id, "lost"))
            host.run_until_idle(timeout=240)
            docs = [
                api.get(i.instance_id).json() for i in host.store.list_instances() if i.name == "replicate_collection"
            ]
        copies = sorted(admin(emu, "GET", "/_emulator/copies")["value"], key=lambda c: c["start"])
    finally:
        emu.stop()
    assert len(copies) == 2, copies
    first, second = copies
    # Its lease ends at its last renewal + the lease (a renewal it sent just before the end may arrive after).
    lease_end = max(_time(r["now"]) + timedelta(seconds=r["leaseSeconds"]) for r in renewals)
    assert lease_end >= _time(expiry)
    started = _time(second["start"])
    # The waiting lane got the slot only after the dead lease ended, and within one wait of it.
    assert lease_end <= started <= lease_end + timedelta(seconds=SLOT_WAIT_SECONDS + 600), (lease_end, second["start"])
    assert started - _time(first["start"]) >= timedelta(seconds=SLOT_LEASE_SECONDS) - timedelta(hours=1)
    assert sorted(d["runtimeStatus"] for d in docs) == ["Completed", "Terminated"]
    alive = next(d for d in docs if d["runtimeStatus"] == "Completed")
    assert [c["state"] for c in alive["lanes"][0]["copies"]] == ["succeeded"]
    print(f"\nlease: dead slot's lease ended {lease_end.isoformat()}, the held lane's copy started {second['start']}")


def test_a_restarted_lane_watching_its_running_copy_keeps_the_one_slot(tmp_path: Path) -> None:
    """Ceiling 1. The lane holding the slot is lost with its collection while its copy runs in Azure, and a person
    starts the replication again at once: the new lane plans ``monitor`` for that copy and acquires with ``force``
    under the same holder (the copy's instance id), so it never waits and the slot count stays 1; the other lane's
    copy starts only after that copy ended and the new lane released the slot, not after the dead lease."""
    emu = start_emulator(make_scenario(vms=2, points=1, disks=(2048,)))
    try:
        settings = {**ONE_REGION, "MAX_CONCURRENT_COPIES_PER_REGION": "1", "SWEEP_SCHEDULE": "0 0 12 1 1 *"}
        with app_host(emu, tmp_path / "monitor.db", settings) as host:
            api = Api(host)
            for v in range(2):
                assert api.start(sourceCollectionId=collection_id(f"vm{v}-rpc")).status_code == 202

            def holder() -> str | None:
                found = host.engine.dispatcher.entity_state(f"@{ENTITY_NAME}@{KEY}")
                holders = json.loads(found[1] or "{}").get("holders") if found else None
                held = next(iter(holders), None) if holders else None
                running = admin(emu, "GET", "/_emulator/copies")["value"]  # and its copy runs in Azure
                return held if held and running and host.store.get_instance(held) is not None else None

            _wait_for(holder)
            with host.engine.paused():
                dead = holder()
                assert dead, "the copy ended before the test could stop it"
                lane = host.store.get_instance(dead).parent_instance_id
                collection = host.store.get_instance(lane).parent_instance_id
                source = _input(host, dead)["lane"]["sourceCollectionId"]
                client = host.durable_client()
                for instance_id in (collection, lane, dead):  # top down; the copy runs on in Azure, unwatched
                    host.run_coroutine(client.terminate(instance_id, "lost"))
            restart = api.start(sourceCollectionId=source)
            assert restart.status_code == 202, restart.text
            host.run_until_idle(timeout=240)
            assert _input(host, dead)["mode"] == "monitor"  # the new lane watched the copy Azure was running
            slots = host.run_coroutine(client.read_entity_state(df.EntityId(ENTITY_NAME, KEY))).entity_state
        copies = sorted(admin(emu, "GET", "/_emulator/copies")["value"], key=lambda c: c["start"])
    finally:
        emu.stop()
    assert len(copies) == 2 and max_in_flight(copies) == 1, copies
    first_end, second_start = _time(copies[0]["expectedFinish"]), _time(copies[1]["start"])
    assert first_end <= second_start <= first_end + timedelta(hours=1), (first_end, second_start)
    assert second_start < _time(copies[0]["start"]) + timedelta(seconds=SLOT_LEASE_SECONDS)  # not the dead lease
    assert slots == {"holders": {}}
    print(f"\nmonitor: copy 1 ended {copies[0]['expectedFinish']}, copy 2 started {copies[1]['start']}")
