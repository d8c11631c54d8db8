"""Copy only what can be used (issue 14): a source whose disk snapshots are not yet available for copy is
waited for, not failed; a restore point without some of its disks is copied and reported; backlog
``latest`` copies only the newest; Azure Backup's own collections are not sources unless named."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from emulator import start_emulator
from replication.ids import collection_instance_id

from .conftest import SUB, Api, admin, app_host, collection_id, make_policy, make_scenario

START = datetime.fromisoformat("2026-11-20T00:00:00+00:00")
QUIET = {"SWEEP_SCHEDULE": "0 0 0 1 1 *"}


def _settings(policy: dict[str, Any]) -> dict[str, str]:
    return {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}


def _rows(api: Api, instance: str) -> dict[str, list[dict[str, Any]]]:
    return {lane["region"]: lane["copies"] for lane in api.get(instance).json()["lanes"]}


def test_a_source_with_instant_access_only_snapshots_is_waited_for_then_copied(tmp_path):
    source = collection_id("vm0-rpc")
    emu = start_emulator(make_scenario(vms=1, points=0, disks=(4,)))
    try:
        admin(
            emu,
            "POST",
            "/_emulator/restore-points",
            {
                "collectionId": source,
                "name": "rp-ia",
                "snapshotAccessState": "InstantAccess",
                "snapshotAvailableAfterSeconds": 3 * 3600,
                "instantAccessDurationMinutes": 180,
            },
        )
        with app_host(emu, tmp_path / "h.db", _settings(make_policy(("westus2",)))) as host:
            api = Api(host)
            instance = api.start(sourceCollectionId=source).json()["id"]
            host.run_until_idle(timeout=180)
            rows = _rows(api, instance)
        copies = admin(emu, "GET", "/_emulator/copies")["value"]
    finally:
        emu.stop()
    assert [(r["name"], r["state"], r.get("attempts")) for r in rows["westus2"]] == [("rp-ia", "succeeded", 1)], rows
    started = datetime.fromisoformat(copies[0]["start"].replace("Z", "+00:00"))
    assert started >= START + timedelta(hours=3), started  # not before the snapshots were available
    assert started <= START + timedelta(hours=3, minutes=20), started  # and soon after


def test_a_restore_point_without_some_disks_is_copied_and_reported(tmp_path):
    source = collection_id("vm0-rpc")
    emu = start_emulator(make_scenario(vms=1, points=0, disks=(4, 8)))
    disk = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/disks/vm0-disk1"
    try:
        admin(
            emu,
            "POST",
            "/_emulator/restore-points",
            {"collectionId": source, "name": "rp-ex", "excludeDisks": [{"id": disk}]},
        )
        with app_host(emu, tmp_path / "h.db", _settings(make_policy(("westus2",)))) as host:
            api = Api(host)
            instance = api.start(sourceCollectionId=source).json()["id"]
            host.run_until_idle(timeout=120)
            rows = _rows(api, instance)
    finally:
        emu.stop()
    (row,) = rows["westus2"]
    assert row["state"] == "succeeded"
    assert "excludes disk(s) vm0-disk1" in row.get("note", ""), row


def test_backlog_latest_copies_only_the_newest_and_says_why_the_rest_are_skipped(tmp_path):
    source = collection_id("vm0-rpc")
    emu = start_emulator(make_scenario(vms=1, points=4, disks=(4,)))
    policy = make_policy(("westus2",))
    policy["targets"][0]["backlog"] = "latest"
    try:
        with app_host(emu, tmp_path / "h.db", _settings(policy)) as host:
            api = Api(host)
            instance = api.start(sourceCollectionId=source).json()["id"]
            host.run_until_idle(timeout=120)
            rows = _rows(api, instance)
            output = host.get_instance(instance).get("output")
        copies = admin(emu, "GET", "/_emulator/copies")["value"]
    finally:
        emu.stop()
    assert [c["sourceRestorePointId"].rsplit("/", 1)[-1] for c in copies] == ["rp3"]
    states = {r["name"]: r["state"] for r in rows["westus2"]}
    assert states["rp3"] == "succeeded"
    # The progress API plans without the policy, so after the copy the older ones read as out of order:
    # either way they are skipped, with a reason saying Azure will not copy them now.
    assert all(states[f"rp{i}"] == "skipped" for i in range(3)), rows
    assert output is not None


def test_azure_backup_collections_are_not_sources_unless_named(tmp_path):
    scenario = make_scenario(vms=1, points=1, disks=(4,))
    scenario["subscriptions"][0]["resourceGroups"].append({"name": "AzureBackupRG_eastus_1", "location": "eastus"})
    backup = {**scenario["collections"][0], "resourceGroup": "AzureBackupRG_eastus_1", "name": "backup-rpc"}
    scenario["collections"].append(backup)
    emu = start_emulator(scenario)
    backup_id = collection_id("backup-rpc", group="AzureBackupRG_eastus_1")
    try:
        with app_host(emu, tmp_path / "a.db", _settings(make_policy(("westus2",)))) as host:
            refused = Api(host).start(sourceCollectionId=backup_id)
        named = make_policy(("westus2",), subscriptions=[SUB], collections=[backup_id])
        with app_host(emu, tmp_path / "b.db", _settings(named)) as host:
            accepted = Api(host).start(sourceCollectionId=backup_id, dryRun=True)
    finally:
        emu.stop()
    assert refused.status_code == 403, refused.text
    assert accepted.status_code == 200, accepted.text
    assert collection_instance_id(backup_id)
