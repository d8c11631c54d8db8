"""Copies whose whole source collection was deleted (issue 14), end to end: the app in devhost against the emulator.

Six restore points of vm0 are copied to two regions; then vm0's collection is deleted out of band (the
emulator's admin API) and a sweep runs. With ``whenSourceGone: retention`` and ``keepLast: 2`` each target
collection ends with exactly the two newest copies, and the emulator's log of every accepted DELETE shows the
newest usable copy was never the one deleted; with ``keep`` nothing is deleted and the status says why. vm1,
whose source still exists, is pruned by its own lanes as before.
"""

from __future__ import annotations

import json
from typing import Any

from emulator import start_emulator
from replication.ids import orphan_instance_id, target_collection_name

from .conftest import Api, admin, app_host, collection_id, make_policy, make_scenario, sdk_client

QUIET = {"SWEEP_SCHEDULE": "0 0 0 1 1 *"}  # the timer stays out: the test starts the sweep
REGIONS = ("westus2", "northeurope")
POINTS = 6


def _policy(**target: Any) -> dict[str, Any]:
    policy = make_policy(REGIONS)
    for t in policy["targets"]:
        t.update(target)
    return policy


def _copies(emu: Any, source: str, region: str) -> list[str]:
    client = sdk_client(emu)
    rpc = client.restore_point_collections.get("rg-dr", target_collection_name(source, region), expand="restorePoints")
    points = (rpc.as_dict().get("properties") or {}).get("restorePoints") or []
    return sorted(p["name"] for p in points if (p.get("properties") or {}).get("provisioningState") != "Deleting")


def _copied_then_source_deleted(tmp_path: Any) -> tuple[Any, str, str]:
    """Every restore point of vm0 and vm1 copied (no retention yet), then vm0's whole collection deleted."""
    gone, alive = collection_id("vm0-rpc"), collection_id("vm1-rpc")
    emu = start_emulator(make_scenario(vms=2, points=POINTS, disks=(4,)))
    settings = {**QUIET, "REPLICATION_POLICY": json.dumps(_policy())}
    with app_host(emu, tmp_path / "copy.db", settings) as host:
        for source in (gone, alive):
            assert Api(host).start(sourceCollectionId=source).status_code == 202
        host.run_until_idle(timeout=180)
    every = [f"rp{i}" for i in range(POINTS)]
    assert {r: _copies(emu, gone, r) for r in REGIONS} == {r: every for r in REGIONS}
    admin(emu, "POST", "/_emulator/delete", {"id": gone})
    return emu, gone, alive


def _sweep(host: Any) -> None:
    api = Api(host)
    assert api.session.post(f"{api.base}/api/sweep", timeout=30).status_code == 202
    host.run_until_idle(timeout=180)


def _deletes_of(emu: Any, source: str) -> list[dict[str, Any]]:
    names = {target_collection_name(source, r).lower() for r in REGIONS}
    log = admin(emu, "GET", "/_emulator/deletes")["value"]
    return [e for e in log if e["collectionId"].rsplit("/", 1)[-1].lower() in names]


def test_with_retention_a_gone_sources_copies_are_pruned_to_the_rule_never_the_newest(tmp_path):
    emu, gone, alive = _copied_then_source_deleted(tmp_path)
    policy = _policy(retention={"keepLast": 2, "whenSourceGone": "retention"})
    settings = {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}
    try:
        with app_host(emu, tmp_path / "prune.db", settings) as host:
            api = Api(host)
            dry = api.start(sourceCollectionId=gone, dryRun=True)
            assert dry.status_code == 200, dry.text
            plan = dry.json()
            assert {r: _copies(emu, gone, r) for r in REGIONS} == {
                r: [f"rp{i}" for i in range(POINTS)] for r in REGIONS
            }
            _sweep(host)
            sweep = api.get("sweep").json()
            statuses = {r: api.get(orphan_instance_id(_target_id(gone, r))) for r in REGIONS}
        final = {r: _copies(emu, gone, r) for r in REGIONS}
        alive_final = {r: _copies(emu, alive, r) for r in REGIONS}
        deletes = _deletes_of(emu, gone)
    finally:
        emu.stop()
    assert final == {r: ["rp4", "rp5"] for r in REGIONS}, final
    assert alive_final == {r: ["rp4", "rp5"] for r in REGIONS}, alive_final  # its own lanes, as before
    assert len(deletes) == 4 * len(REGIONS)  # each pruned exactly once
    for entry in deletes:
        usable = [h for h in entry["held"] if h["usable"]]
        newest = max(usable, key=lambda h: (h["timeCreated"], h["id"].lower()))
        assert newest["id"].lower() != entry["id"].lower(), f"deleted the newest usable copy: {entry}"
        assert next(h for h in entry["held"] if h["id"].lower() == entry["id"].lower())["usable"]
    # the dry run said what would go and why, and wrote nothing
    assert plan["sourceCollectionGone"] is True
    for lane in plan["lanes"]:
        assert lane["sourceCollectionGone"] is True
        assert [d["name"] for d in lane["retention"]["delete"]] == ["rp0", "rp1", "rp2", "rp3"], lane
        assert all(
            "source collection gone" in d["reason"] and "keepLast 2" in d["reason"] for d in lane["retention"]["delete"]
        )
        assert lane["retention"]["keepNewest"].endswith("/rp5")
    assert sweep["stats"].get("sourceGone") == len(REGIONS), sweep
    for region, response in statuses.items():
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["sourceCollectionGone"] is True and doc["region"] == region
        assert doc["pruned"]["count"] == 4
        assert {row["name"]: row["state"] for row in doc["copies"]} == {"rp4": "succeeded", "rp5": "succeeded"}


def test_with_keep_nothing_is_deleted_and_the_status_says_the_source_collection_is_gone(tmp_path):
    emu, gone, _ = _copied_then_source_deleted(tmp_path)
    policy = _policy(retention={"keepLast": 2, "whenSourceGone": "keep"})
    try:
        with app_host(emu, tmp_path / "keep.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            _sweep(host)
            api = Api(host)
            sweep = api.get("sweep").json()
            statuses = {r: api.get(orphan_instance_id(_target_id(gone, r))).json() for r in REGIONS}
        final = {r: _copies(emu, gone, r) for r in REGIONS}
        deletes = _deletes_of(emu, gone)
    finally:
        emu.stop()
    assert final == {r: [f"rp{i}" for i in range(POINTS)] for r in REGIONS}, final
    assert deletes == []
    assert sweep["stats"].get("sourceGone") == len(REGIONS), sweep
    for doc in statuses.values():
        assert doc["sourceCollectionGone"] is True
        assert "source collection is gone" in doc["reason"] and "keep" in doc["reason"]
        assert not (doc.get("pruned") or {}).get("count")
        assert len(doc["copies"]) == POINTS


def _target_id(source: str, region: str) -> str:
    return collection_id(target_collection_name(source, region), "rg-dr")
