"""Issue 13: the protection report, telemetry and state-change events, end to end (devhost + emulator).

The report is read from Azure (the emulator) on the emulator's clock; the events go to the emulator's Event
Grid topic endpoint (``emulator/eventgrid_topic.py``); the metrics to an OpenTelemetry SDK in-memory reader.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from emulator import start_emulator
from functions import protection, state_events, telemetry
from replication import arm_protection
from replication.ids import target_collection_name

from .conftest import SUB, Api, admin, app_host, collection_id, make_policy, make_scenario, sdk_client

START = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


def _at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    protection.reset_cache()
    state_events.reset()
    yield
    telemetry.use_meter_provider(None)
    protection.reset_cache()
    state_events.reset()


def _report(api: Api, **params: str) -> Any:
    response = api.session.get(f"{api.base}/api/protection", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response


def _lanes(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(lane["sourceCollectionId"].rsplit("/", 1)[-1], lane["region"]): lane for lane in doc["lanes"]}


def test_report_before_and_after_replication_from_azure_state(tmp_path, monkeypatch):
    emu = start_emulator(make_scenario(vms=2, points=3))
    monkeypatch.setattr(protection, "utc_now", emu.clock.now)
    policy = make_policy(("westus2", "northeurope"))
    policy["targets"][0]["rpoHours"] = 24 * 30  # westus2 tolerates a month; northeurope keeps the default
    try:
        with app_host(emu, tmp_path / "h.db", {"REPLICATION_POLICY": json.dumps(policy)}) as host:
            api = Api(host)
            before = _report(api).json()
            assert before["summary"] == {
                "sources": 2,
                "protected": 0,
                "atRisk": 0,
                "unprotected": 2,
                "unknown": 0,
                "lanes": 4,
                "lanesObjectiveMissed": 4,
            }
            assert {u["sourceCollectionId"].rsplit("/", 1)[-1] for u in before["unprotected"]} == {"vm0-rpc", "vm1-rpc"}
            assert all(lane["copies"]["pending"] == 3 for lane in before["lanes"])
            for vm in ("vm0-rpc", "vm1-rpc"):
                assert api.start(sourceCollectionId=collection_id(vm)).status_code == 202
            host.run_until_idle(timeout=240)
            protection.reset_cache()
            doc = _report(api).json()
            csv_text = _report(api, format="csv").text
    finally:
        emu.stop()
    lanes = _lanes(doc)
    west, north = lanes[("vm0-rpc", "westus2")], lanes[("vm0-rpc", "northeurope")]
    # rp2 was created 2026-11-12: its copy represents that time, not the copy's own creation.
    assert (
        west["newestUsableCopy"]["name"] == "rp2" and west["newestUsableCopy"]["sourceTime"] == "2026-11-12T00:00:00Z"
    )
    assert west["state"] == "protected" and west["objectiveMet"] is True
    assert north["state"] == "at-risk" and north["objectiveHours"] == 26.0 and north["rpoHours"] > 26
    assert west["copies"]["succeeded"] == 3 and west["copies"]["pending"] == 0
    assert doc["summary"]["atRisk"] == 2 and doc["summary"]["unprotected"] == 0 and doc["complete"] is True
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"protected", "at-risk"}
    assert doc["armReads"] > 0
    # Bytes of disks copied, from the target collection's $expand=restorePoints (sourceMetadata diskSizeGB: the
    # scenario's disks are 32 + 64 GiB): 3 copies per lane, and no read beyond what the report made anyway
    # (1 list page, per collection the source and 2 targets, per lane 1 instance view).
    assert west["diskBytesCopied"] == 3 * 96 * 1024**3 and west["diskBytesCopying"] == 0
    assert west["newestUsableCopy"]["diskBytes"] == 96 * 1024**3
    assert {r["diskBytesCopied"] for r in rows} == {str(3 * 96 * 1024**3)}
    assert doc["armReads"] <= 1 + 2 * 3 + 4


def test_a_copy_made_by_hand_counts_and_the_cache_is_bounded_by_the_read_budget(tmp_path, monkeypatch):
    emu = start_emulator(make_scenario(vms=4, points=1))
    monkeypatch.setattr(protection, "utc_now", emu.clock.now)
    policy = make_policy(("westus2",))
    try:
        # No orchestration ever runs: a person made one copy; the report finds it in Azure.
        client = sdk_client(emu)
        from azure.mgmt.compute import models as m

        name = target_collection_name(collection_id("vm0-rpc"), "westus2")
        client.restore_point_collections.create_or_update(
            "rg-dr",
            name,
            m.RestorePointCollection(
                location="westus2",
                source=m.RestorePointCollectionSourceProperties(id=collection_id("vm0-rpc")),
            ),
        )
        client.restore_points.begin_create(
            "rg-dr",
            name,
            "rp0",
            m.RestorePoint(
                source_restore_point=m.ApiEntityReference(id=collection_id("vm0-rpc") + "/restorePoints/rp0")
            ),
        ).result()
        admin(emu, "POST", "/_emulator/clock", {"advanceSeconds": 3600})
        settings = {"REPLICATION_POLICY": json.dumps(policy), "PROTECTION_MAX_READS": "10"}
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            first = _report(api).json()
            second = _report(api).json()
    finally:
        emu.stop()
    lanes = _lanes(first)
    assert lanes[("vm0-rpc", "westus2")]["newestUsableCopy"]["name"] == "rp0"
    # 1 list page + 3 per collection (source, target, legacy name) + 1 instance view: 10 reads do not cover
    # all four collections, so the rest is "unknown" and the next report reads it, the cache serving the rest.
    assert first["armReads"] <= 10 and first["complete"] is False
    assert any(lane["state"] == "unknown" for lane in first["lanes"])
    assert second["complete"] is True and second["armReads"] <= 10
    assert {lane["state"] for lane in second["lanes"]} <= {"protected", "at-risk", "unprotected"}


def test_an_outage_misses_the_rpo_objective_then_meets_it_again(tmp_path, monkeypatch, capsys):
    scenario = make_scenario(vms=1, points=1)
    scenario["collections"][0]["restorePoints"] = [{"name": "rp0", "timeCreated": _at(0), "changedPercent": 10}]
    scenario["faults"] = {
        "regionOutages": [{"region": "northeurope", "from": _at(150), "to": _at(300), "writes": True, "reads": False}]
    }
    emu = start_emulator(scenario)
    monkeypatch.setattr(protection, "utc_now", emu.clock.now)
    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    policy = make_policy(("westus2", "northeurope"))
    for target in policy["targets"]:
        target["rpoHours"] = 3
    settings = {
        "REPLICATION_POLICY": json.dumps(policy),
        "SWEEP_SCHEDULE": "0 0 0 1 1 *",
        "PROTECTION_SCHEDULE": "0 */30 * * * *",
        "PROTECTION_CACHE_SECONDS": "0",
        "EVENTGRID_TOPIC_ENDPOINT": f"{emu.url}/_eventgrid/rpr/api/events",
    }
    try:
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            source = collection_id("vm0-rpc")
            assert api.start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=240)
            assert {lane["state"] for lane in _report(api).json()["lanes"]} == {"protected"}
            # 3 h 20 min later, in northeurope's outage: rp0 (00:00) is older than the 3-hour objective.
            admin(emu, "POST", "/_emulator/clock", {"advanceTo": _at(200)})
            missed = _lanes(_report(api).json())[("vm0-rpc", "northeurope")]
            gauge_missed = _gauge(reader)[(source.lower(), "northeurope")]
            admin(emu, "POST", "/_emulator/restore-points", {"collectionId": source, "name": "rp1"})
            assert api.start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=300)
            after = _lanes(_report(api).json())
            gauge_after = _gauge(reader)[(source.lower(), "northeurope")]
            counters = _counters(reader)
            events = [e["event"] for e in admin(emu, "GET", "/_emulator/eventgrid/events")["value"]]
            ended = emu.clock.now()
    finally:
        emu.stop()
    assert missed["state"] == "at-risk" and missed["objectiveMet"] is False and missed["rpoHours"] > 3, json.dumps(
        missed
    )
    assert gauge_missed > 3
    north = after[("vm0-rpc", "northeurope")]
    assert north["objectiveMet"] is True and north["newestUsableCopy"]["name"] == "rp1", north
    assert gauge_after < 3
    kinds = [(e["type"].rsplit(".", 1)[-1], e["subject"]) for e in events]
    assert ("RpoObjectiveMissed", "northeurope") in kinds and ("RpoObjectiveMet", "northeurope") in kinds
    assert kinds.index(("RpoObjectiveMissed", "northeurope")) < kinds.index(("RpoObjectiveMet", "northeurope"))
    assert ("CopyStarted", "northeurope") in kinds and ("CopySucceeded", "northeurope") in kinds
    assert all(e["specversion"] == "1.0" and e["source"] == source for e in events)
    assert counters.get(("rpr.copies.started", "northeurope"), 0) >= 2
    assert counters.get(("rpr.copies.succeeded", "northeurope"), 0) >= 2
    with capsys.disabled():
        print(
            f"\n[figure] RPO missed at +200 min ({missed['rpoHours']} h), met again by {ended.isoformat()} "
            f"({north['rpoHours']} h); {len(events)} events"
        )


def _points(reader: InMemoryMetricReader) -> list[tuple[str, dict[str, Any], float]]:
    data = reader.get_metrics_data()
    out = []
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    out.append(
                        (metric.name, dict(p.attributes or {}), getattr(p, "value", None) or getattr(p, "sum", 0))
                    )
    return out


def _gauge(reader: InMemoryMetricReader) -> dict[tuple[str, str], float]:
    return {(a["source_collection"], a["region"]): v for n, a, v in _points(reader) if n == "rpr.rpo.age"}


def _counters(reader: InMemoryMetricReader) -> dict[tuple[str, str], float]:
    return {(n, a.get("region", "")): v for n, a, v in _points(reader) if n.startswith("rpr.copies.")}


def test_rpo_missed_then_met_exactly_once_each_across_a_restart(tmp_path, monkeypatch):
    """The last announced RPO state lives in Azure (a tag on the target collection, written on transitions only),
    not in process memory: a restart between the miss and the recovery neither repeats the miss nor loses the
    "met"."""
    scenario = make_scenario(vms=1, points=1)
    scenario["collections"][0]["restorePoints"] = [{"name": "rp0", "timeCreated": _at(0), "changedPercent": 10}]
    emu = start_emulator(scenario)
    monkeypatch.setattr(protection, "utc_now", emu.clock.now)
    policy = make_policy(("westus2", "northeurope"))
    for target in policy["targets"]:
        target["rpoHours"] = 3
    settings = {
        "REPLICATION_POLICY": json.dumps(policy),
        "SWEEP_SCHEDULE": "0 0 0 1 1 *",
        "PROTECTION_SCHEDULE": "0 */30 * * * *",
        "PROTECTION_CACHE_SECONDS": "0",
        "EVENTGRID_TOPIC_ENDPOINT": f"{emu.url}/_eventgrid/rpr/api/events",
    }
    source = collection_id("vm0-rpc")
    try:
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            assert api.start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=240)
            assert {lane["state"] for lane in _report(api).json()["lanes"]} == {"protected"}
            admin(emu, "POST", "/_emulator/clock", {"advanceTo": _at(200)})  # rp0 is 3 h 20 min old: missed
            assert {lane["objectiveMet"] for lane in _report(api).json()["lanes"]} == {False}
        # A new process: nothing of the first one's memory is left.
        protection.reset_cache()
        state_events.reset()
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            assert {lane["objectiveMet"] for lane in _report(api).json()["lanes"]} == {False}
            admin(emu, "POST", "/_emulator/restore-points", {"collectionId": source, "name": "rp1"})
            assert api.start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=300)
            assert {lane["objectiveMet"] for lane in _report(api).json()["lanes"]} == {True}
        protection.reset_cache()
        state_events.reset()
        with app_host(emu, tmp_path / "h.db", settings) as host:
            assert {lane["objectiveMet"] for lane in _report(Api(host)).json()["lanes"]} == {True}
        events = [e["event"] for e in admin(emu, "GET", "/_emulator/eventgrid/events")["value"]]
        client = sdk_client(emu)
        tags = {
            region: client.restore_point_collections.get("rg-dr", target_collection_name(source, region)).tags
            for region in ("westus2", "northeurope")
        }
    finally:
        emu.stop()
    for region in ("westus2", "northeurope"):
        rpo = [e["type"].rsplit(".", 1)[-1] for e in events if e["subject"] == region and ".Rpo" in e["type"]]
        assert rpo == ["RpoObjectiveMissed", "RpoObjectiveMet"], (region, rpo)
        assert tags[region]["rpr-rpo-objective"] == "met"


def _rpo_events(emu: Any, region: str) -> list[tuple[str, str]]:
    events = [e["event"] for e in admin(emu, "GET", "/_emulator/eventgrid/events")["value"]]
    return [(e["type"].rsplit(".", 1)[-1], e["id"]) for e in events if e["subject"] == region and ".Rpo" in e["type"]]


def _missed_fleet(tmp_path, monkeypatch):
    """One source, two lanes, replicated at 00:00 and then left alone until 03:20: both lanes miss a 3 h RPO."""
    scenario = make_scenario(vms=1, points=1)
    scenario["collections"][0]["restorePoints"] = [{"name": "rp0", "timeCreated": _at(0), "changedPercent": 10}]
    emu = start_emulator(scenario)
    monkeypatch.setattr(protection, "utc_now", emu.clock.now)
    policy = make_policy(("westus2", "northeurope"))
    for target in policy["targets"]:
        target["rpoHours"] = 3
    settings = {
        "REPLICATION_POLICY": json.dumps(policy),
        "SWEEP_SCHEDULE": "0 0 0 1 1 *",
        "PROTECTION_SCHEDULE": "0 0 0 1 1 *",
        "PROTECTION_CACHE_SECONDS": "0",
        "EVENTGRID_TOPIC_ENDPOINT": f"{emu.url}/_eventgrid/rpr/api/events",
    }
    return emu, settings, collection_id("vm0-rpc")


def test_a_check_announces_from_the_collections_it_read_even_if_the_cache_is_replaced_meanwhile(tmp_path, monkeypatch):
    """The cause of the across-a-restart flake: a protection check (the first process's timer, fired by the
    clock's jump to 03:20) read the target collections, tag ``missed`` and all, and the process's cache was
    replaced before it compared (the test's restart: ``reset_cache``). It looked its targets up again in the
    new, empty cache, found none, took the lanes for collection-less and announced the miss a second time."""
    emu, settings, source = _missed_fleet(tmp_path, monkeypatch)
    try:
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            assert api.start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=240)
            admin(emu, "POST", "/_emulator/clock", {"advanceTo": _at(200)})
            assert {lane["objectiveMet"] for lane in protection.evaluate()["lanes"]} == {False}
            real = protection.build_report

            def replaced_meanwhile(*args: Any, **kwargs: Any) -> dict[str, Any]:
                doc = real(*args, **kwargs)
                protection.reset_cache()  # between this check's reads and its comparison: a new process's memory
                state_events.reset()
                return doc

            monkeypatch.setattr(protection, "build_report", replaced_meanwhile)
            assert {lane["objectiveMet"] for lane in protection.evaluate()["lanes"]} == {False}
        for region in ("westus2", "northeurope"):
            assert [kind for kind, _ in _rpo_events(emu, region)] == ["RpoObjectiveMissed"], region
    finally:
        emu.stop()


def test_two_checks_at_once_in_one_process_announce_a_miss_once(tmp_path, monkeypatch):
    """Check B reads a lane's target collection (no tag yet); before B compares, check A (the timer, say) reads,
    announces the miss and writes the tag. B must take the lane's state from this process's memory (said after
    B's read was issued), not from its own older read: the read's time is when it was issued, not when the
    report got round to keeping it."""
    emu, settings, source = _missed_fleet(tmp_path, monkeypatch)
    try:
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            assert api.start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=240)
            admin(emu, "POST", "/_emulator/clock", {"advanceTo": _at(200)})
            real = arm_protection.read_collection_with_disk_bytes
            interleaved: list[dict[str, Any]] = []
            once = [True]

            def read_then_let_the_other_check_run(collection: str) -> Any:
                found = real(collection)
                if once and "westus2" in collection:
                    once.clear()
                    interleaved.append(protection.evaluate())  # check A, whole, inside check B's read
                return found

            monkeypatch.setattr(arm_protection, "read_collection_with_disk_bytes", read_then_let_the_other_check_run)
            doc = protection.evaluate()  # check B
        assert interleaved and {lane["objectiveMet"] for lane in interleaved[0]["lanes"]} == {False}
        assert {lane["objectiveMet"] for lane in doc["lanes"]} == {False}
        for region in ("westus2", "northeurope"):
            assert [kind for kind, _ in _rpo_events(emu, region)] == ["RpoObjectiveMissed"], region
    finally:
        emu.stop()


def test_sweep_status_is_served(tmp_path, monkeypatch):
    emu = start_emulator(make_scenario(vms=1, points=1))
    try:
        with app_host(emu, tmp_path / "h.db", {"REPLICATION_POLICY": json.dumps(make_policy(("westus2",)))}) as host:
            api = Api(host)
            assert api.get("sweep").status_code == 404
            assert api.session.post(f"{api.base}/api/sweep", timeout=30).status_code == 202
            host.run_until_idle(timeout=240)
            body = api.get("sweep").json()
    finally:
        emu.stop()
    assert body["instanceId"] == "sweep" and body["runtimeStatus"] == "Completed" and body["state"] == "done"
    assert body["stats"]["started"] == 1 and body["errors"] == []


_ = SUB
