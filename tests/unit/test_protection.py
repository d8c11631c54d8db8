"""The protection report's pure computation: usable copies, RPO against the objective, the fleet summary."""

from __future__ import annotations

from datetime import UTC, datetime

from replication.cloudevents import rpo_changes
from replication.policy import parse_policy
from replication.protection import lane_protection, parse_time, report, to_csv, usable

SRC = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/vm0-rpc"
TGT = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/dr/providers/Microsoft.Compute/restorePointCollections/vm0-rpc-westus2-abcd1234"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def point(name: str, time: str, state: str = "Succeeded", source: str | None = None, base: str = SRC) -> dict:
    return {
        "id": f"{base}/restorePoints/{name}",
        "name": name,
        "timeCreated": time,
        "provisioningState": state,
        "sourceRestorePointId": source,
    }


def source(*points: dict) -> dict:
    return {
        "id": SRC,
        "name": "vm0-rpc",
        "location": "eastus",
        "sourceId": "/subscriptions/x/vm",
        "tags": {},
        "restorePoints": list(points),
    }


def target(*points: dict) -> dict:
    return {
        "id": TGT,
        "name": "vm0-rpc-westus2-abcd1234",
        "location": "westus2",
        "sourceId": SRC,
        "tags": {},
        "restorePoints": list(points),
    }


def seen(rp_id: str, *codes: str, state: str = "Succeeded", percent: int = 100) -> dict:
    return {
        "id": rp_id,
        "provisioningState": state,
        "sourceRestorePointId": None,
        "disks": [
            {"id": f"d{i}", "name": f"d{i}", "code": c, "level": "Info", "percent": percent}
            for i, c in enumerate(codes)
        ],
        "statusCodes": [],
    }


OK = "ReplicationState/succeeded"


def test_parse_time_takes_arm_seven_digit_fractions():
    assert parse_time("2026-11-20T10:00:00.1234567+00:00") == datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_time("2026-11-20T10:00:00Z") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_time(None) is None and parse_time("garbage") is None


def test_usable_needs_every_disk_succeeded_and_at_least_one():
    assert usable(seen("x", OK, OK))
    assert not usable(seen("x", OK, "ReplicationState/inProgress"))
    assert not usable(seen("x"))  # no disk restore points yet proves nothing
    assert not usable(seen("x", OK, state="Failed"))


def test_newest_usable_copy_is_the_rpo_and_a_copying_one_is_in_flight():
    s = source(point("rp0", "2026-11-20T00:00:00Z"), point("rp1", "2026-11-20T10:00:00Z"))
    c0 = point("rp0", "2026-11-20T00:00:00Z", source=s["restorePoints"][0]["id"], base=TGT)
    c1 = point("rp1", "2026-11-20T10:00:00Z", source=s["restorePoints"][1]["id"], base=TGT)
    obs = {
        c1["id"].lower(): seen(c1["id"], OK, "ReplicationState/inProgress", percent=40),
        c0["id"].lower(): seen(c0["id"], OK),
    }
    row = lane_protection(s, target(c0, c1), "westus2", 26.0, obs, NOW)
    assert row["state"] == "protected" and row["objectiveMet"] is True
    assert row["newestUsableCopy"]["name"] == "rp0" and row["rpoHours"] == 12.0
    assert row["newestSource"]["name"] == "rp1"
    assert row["copies"]["copying"] == 1 and row["inFlight"][0]["percent"] == 40
    missed = lane_protection(s, target(c0, c1), "westus2", 6.0, obs, NOW)
    assert missed["state"] == "at-risk" and missed["objectiveMet"] is False


def test_a_copy_whose_source_was_deleted_still_protects():
    s = source(point("rp5", "2026-11-20T11:00:00Z", state="Creating"))
    old = point("rp4", "2026-11-20T06:00:00Z", source=f"{SRC}/restorePoints/rp4", base=TGT)
    row = lane_protection(s, target(old), "westus2", 26.0, {old["id"].lower(): seen(old["id"], OK)}, NOW)
    assert row["state"] == "protected" and row["rpoHours"] == 6.0


def test_no_target_is_unprotected_with_pending_copies():
    s = source(point("rp0", "2026-11-20T00:00:00Z"))
    row = lane_protection(s, None, "westus2", 26.0, {}, NOW, target_collection_id=TGT)
    assert row["state"] == "unprotected" and row["rpoHours"] is None and row["objectiveMet"] is False
    assert row["copies"]["pending"] == 1 and row["targetCollectionId"] == TGT


def test_failed_copies_are_reported_with_a_reason():
    s = source(point("rp0", "2026-11-20T00:00:00Z"))
    bad = point("rp0", "2026-11-20T00:00:00Z", state="Failed", source=s["restorePoints"][0]["id"], base=TGT)
    row = lane_protection(s, target(bad), "westus2", 26.0, {}, NOW)
    assert row["state"] == "unprotected" and row["failures"][0]["reason"] == "the copy failed"


def test_fleet_summary_and_csv():
    s = source(point("rp0", "2026-11-20T00:00:00Z"))
    c0 = point("rp0", "2026-11-20T00:00:00Z", source=s["restorePoints"][0]["id"], base=TGT)
    good = lane_protection(s, target(c0), "westus2", 26.0, {c0["id"].lower(): seen(c0["id"], OK)}, NOW)
    none = lane_protection(s, None, "northeurope", 26.0, {}, NOW)
    doc = report([good, none], NOW)
    assert doc["summary"]["sources"] == 1 and doc["summary"]["unprotected"] == 1
    assert doc["unprotected"] == [{"sourceCollectionId": SRC, "regions": ["northeurope"]}]
    lines = to_csv(doc).splitlines()
    assert lines[0].startswith("sourceCollectionId,region,state") and len(lines) == 3
    assert ",westus2,protected,rp0," in lines[2] or ",westus2,protected,rp0," in lines[1]


def test_csv_cells_never_start_a_formula():
    doc = report(
        [
            {
                "sourceCollectionId": "=cmd()",
                "region": "westus2",
                "state": "unknown",
                "reason": "@x",
                "objectiveHours": 1,
                "objectiveMet": None,
            }
        ],
        NOW,
    )
    assert "'=cmd()" in to_csv(doc) and "'@x" in to_csv(doc)


def test_rpo_hours_per_target_is_validated_and_defaults():
    policy = parse_policy(
        {
            "sources": {"subscriptions": ["11111111-1111-1111-1111-111111111111"]},
            "targets": [
                {"region": "westus2", "resourceGroup": "dr", "rpoHours": 4},
                {"region": "northeurope", "resourceGroup": "dr"},
            ],
        }
    )
    assert policy.rpo_hours("westus2", 26.0) == 4.0 and policy.rpo_hours("northeurope", 26.0) == 26.0
    import pytest

    from replication.requests import ValidationError

    with pytest.raises(ValidationError, match=r"targets\[0\]\.rpoHours"):
        parse_policy(
            {
                "sources": {"subscriptions": ["11111111-1111-1111-1111-111111111111"]},
                "targets": [{"region": "westus2", "resourceGroup": "dr", "rpoHours": "soon"}],
            }
        )


def test_rpo_events_only_on_change_and_first_sight_of_a_miss():
    lane = {
        "sourceCollectionId": SRC,
        "region": "westus2",
        "objectiveMet": True,
        "rpoHours": 1.0,
        "objectiveHours": 2.0,
    }
    events, states = rpo_changes({}, [lane], NOW)
    assert events == []
    events, states = rpo_changes(states, [{**lane, "objectiveMet": False, "rpoHours": 3.0}], NOW)
    assert [e["type"] for e in events] == ["RestorePointReplication.RpoObjectiveMissed"]
    assert events[0]["specversion"] == "1.0" and events[0]["source"] == SRC and events[0]["subject"] == "westus2"
    events, states = rpo_changes(states, [{**lane, "objectiveMet": None}], NOW)  # not read: no change
    assert events == []
    events, _ = rpo_changes(states, [lane], NOW)
    assert [e["type"] for e in events] == ["RestorePointReplication.RpoObjectiveMet"]


def test_a_lane_read_earlier_still_ages():
    from replication.protection import aged

    lane = {
        "state": "protected",
        "objectiveHours": 3.0,
        "objectiveMet": True,
        "rpoHours": 0.2,
        "newestUsableCopy": {"sourceTime": "2026-11-20T08:00:00Z"},
    }
    later = aged(lane, NOW)
    assert later["rpoHours"] == 4.0 and later["objectiveMet"] is False and later["state"] == "at-risk"
    assert aged({"state": "unknown", "objectiveHours": 3.0}, NOW)["state"] == "unknown"


# ---- issue 13 gaps: bytes of disks copied, RPO state that survives a restart -----------------------------

GIB = 1024**3


def rp_body(rp_id: str, *sizes: object) -> dict:
    """A restore point as ``$expand=restorePoints`` shows it: ``sourceMetadata.storageProfile`` with each disk's
    ``diskSizeGB`` (recorded on a copy: azure-cli test_copy_vm_restore_point.yaml 2023-10, ``"diskSizeGB": 30``)."""
    disks = [{"name": f"d{i}", "diskSizeGB": s} for i, s in enumerate(sizes)]
    return {
        "id": rp_id,
        "name": rp_id.rsplit("/", 1)[-1],
        "properties": {"sourceMetadata": {"storageProfile": {"osDisk": disks[0], "dataDisks": disks[1:]}}},
    }


def test_disk_bytes_come_from_source_metadata_disk_sizes():
    from replication.protection import collection_disk_bytes, disk_bytes

    assert disk_bytes(rp_body("x", 30)) == 30 * GIB
    assert disk_bytes(rp_body("x", 32, 64)) == 96 * GIB
    assert disk_bytes(rp_body("x", "10")) == 10 * GIB  # Learn's how-to shows the size as a string
    assert disk_bytes({"id": "x", "properties": {}}) is None  # no size shown: unknown, never 0
    assert disk_bytes(rp_body("x", None, 8)) == 8 * GIB
    body = {"id": TGT, "properties": {"restorePoints": [rp_body(f"{TGT}/restorePoints/RP0", 32, 64)]}}
    assert collection_disk_bytes(body) == {f"{TGT}/restorePoints/rp0".lower(): 96 * GIB}


def test_lane_counts_the_disk_bytes_of_its_succeeded_and_copying_copies():
    s = source(point("rp0", "2026-11-20T00:00:00Z"), point("rp1", "2026-11-20T10:00:00Z"))
    c0 = point("rp0", "2026-11-20T00:00:00Z", source=s["restorePoints"][0]["id"], base=TGT)
    c1 = point("rp1", "2026-11-20T10:00:00Z", source=s["restorePoints"][1]["id"], base=TGT)
    obs = {
        c1["id"].lower(): seen(c1["id"], OK, "ReplicationState/inProgress", percent=40),
        c0["id"].lower(): seen(c0["id"], OK),
    }
    sizes = {c0["id"].lower(): 96 * GIB, c1["id"].lower(): 100 * GIB}
    row = lane_protection(s, target(c0, c1), "westus2", 26.0, obs, NOW, disk_bytes=sizes)
    assert row["diskBytesCopied"] == 96 * GIB and row["diskBytesCopying"] == 100 * GIB
    assert row["newestUsableCopy"]["diskBytes"] == 96 * GIB and row["inFlight"][0]["diskBytes"] == 100 * GIB
    unknown = lane_protection(s, target(c0, c1), "westus2", 26.0, obs, NOW)
    assert unknown["diskBytesCopied"] is None  # sizes not read: unknown, not 0
    lines = to_csv(report([row], NOW)).splitlines()
    header = lines[0].split(",")
    assert "diskBytesCopied" in header
    assert lines[1].split(",")[header.index("diskBytesCopied")] == str(96 * GIB)


def test_rpo_state_from_the_target_collection_tag_announces_each_change_once():
    from replication.cloudevents import RPO_TAG, rpo_transition

    lane = {
        "sourceCollectionId": SRC,
        "region": "westus2",
        "objectiveMet": False,
        "rpoHours": 3.5,
        "objectiveHours": 3.0,
        "newestUsableCopy": {"sourceTime": "2026-11-20T08:00:00Z"},
    }
    event, write = rpo_transition(None, lane, NOW)  # no tag: nothing was announced; missed now
    assert event is not None and event["type"].endswith("RpoObjectiveMissed") and write == "missed"
    again, _ = rpo_transition(None, lane, NOW)
    assert again is not None and again["id"] == event["id"]  # a retry (tag write lost) is the same event
    assert rpo_transition("missed", lane, NOW) == (None, None)  # after a restart: the tag says it was said
    met = {**lane, "objectiveMet": True, "rpoHours": 0.5, "newestUsableCopy": {"sourceTime": "2026-11-20T11:30:00Z"}}
    event, write = rpo_transition("missed", met, NOW)
    assert event is not None and event["type"].endswith("RpoObjectiveMet") and write == "met"
    assert rpo_transition("met", met, NOW) == (None, None)
    assert rpo_transition(None, met, NOW) == (None, None)  # first sight of a met lane: nothing to say or write
    assert rpo_transition("missed", {**lane, "objectiveMet": None}, NOW) == (None, None)  # not read
    assert RPO_TAG == "rpr-rpo-objective"


def test_the_openapi_document_describes_the_disk_bytes_and_the_csv_columns():
    import json
    from pathlib import Path

    from replication.protection import CSV_COLUMNS

    doc = json.loads((Path(__file__).resolve().parents[2] / "functions" / "openapi.json").read_text())
    lane = doc["components"]["schemas"]["ProtectionLane"]["properties"]
    assert {"diskBytesCopied", "diskBytesCopying"} <= set(lane)
    assert (
        "diskBytes" in lane["newestUsableCopy"]["properties"] and "diskBytes" in lane["inFlight"]["items"]["properties"]
    )
    csv_doc = doc["paths"]["/protection"]["get"]["responses"]["200"]["content"]["text/csv"]["schema"]["description"]
    assert csv_doc.split(": ", 1)[1].split(", ") == list(CSV_COLUMNS)


def test_the_report_clock_follows_the_local_stacks_scaled_clock(monkeypatch):
    """make demo / make dev write DEV_SCALED_CLOCK: RPO ages are measured in the scenario's time."""
    import time
    from datetime import timedelta

    from functions import protection

    monkeypatch.setenv("DEV_SCALED_CLOCK", f"2026-11-23T06:00:00Z,60,{time.time() - 10:.6f}")
    now = protection.utc_now()
    assert timedelta(seconds=590) < now - datetime(2026, 11, 23, 6, tzinfo=UTC) < timedelta(seconds=700)
    monkeypatch.setenv("DEV_SCALED_CLOCK", "nonsense")
    assert abs((protection.utc_now() - datetime.now(UTC)).total_seconds()) < 5
    monkeypatch.delenv("DEV_SCALED_CLOCK")
    assert abs((protection.utc_now() - datetime.now(UTC)).total_seconds()) < 5
