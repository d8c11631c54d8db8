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

from .conftest import SUB, Api, admin, app_host, collection_id, make_policy, make_scenario, sdk_client

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


def _calls_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in sorted(after.items()) if n - before.get(k, 0)}


def test_with_retention_a_gone_sources_copies_are_pruned_to_the_rule_never_the_newest(tmp_path, capsys):
    emu, gone, alive = _copied_then_source_deleted(tmp_path)
    policy = _policy(retention={"keepLast": 2, "whenSourceGone": "retention"})
    settings = {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}
    try:
        with app_host(emu, tmp_path / "prune.db", settings) as host:
            api = Api(host)
            dry = api.start(sourceCollectionId=gone, dryRun=True)
            assert dry.status_code == 200, dry.text
            plan = dry.json()
            whole = api.start(all=True, dryRun=True)
            assert whole.status_code == 200, whole.text
            assert [p["sourceCollectionId"].lower() for p in whole.json()["sourceCollectionsGone"]] == [gone.lower()]
            assert whole.json()["sourceCollectionsGone"][0]["lanes"] == plan["lanes"]
            assert {r: _copies(emu, gone, r) for r in REGIONS} == {
                r: [f"rp{i}" for i in range(POINTS)] for r in REGIONS
            }
            before = admin(emu, "GET", "/_emulator/calls")
            _sweep(host)
            spent = _calls_since(before, admin(emu, "GET", "/_emulator/calls"))
            sweep = api.get("sweep").json()
            statuses = {r: api.get(orphan_instance_id(_target_id(gone, r))) for r in REGIONS}
            listed = api.session.get(f"{api.base}/api/replications", timeout=30).json()["replications"]
            report = api.session.get(f"{api.base}/api/protection", timeout=60).json()
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
    assert sorted(g["region"] for g in report["sourceCollectionsGone"]) == sorted(REGIONS), report
    assert all(g["sourceCollectionId"].lower() == gone.lower() for g in report["sourceCollectionsGone"])
    assert all(lane["sourceCollectionId"].lower() != gone.lower() for lane in report["lanes"])
    orphans = sorted((r["lanes"][0]["region"], r["instanceId"]) for r in listed if r.get("kind") == "sourceGone")
    assert orphans == sorted((r, orphan_instance_id(_target_id(gone, r))) for r in REGIONS), listed
    with capsys.disabled():
        stats = {k: v for k, v in sweep["stats"].items() if v}
        print(f"\n[figure] orphan sweep stats {stats}; ARM calls of the sweep and its runs {spent}")


def test_with_keep_nothing_is_deleted_and_the_status_says_the_source_collection_is_gone(tmp_path):
    emu, gone, _ = _copied_then_source_deleted(tmp_path)
    # Sources by resource group: the sweep finds the copies by listing rg-dr as a target group (orphan_units).
    policy = make_policy(REGIONS, resourceGroups=[f"/subscriptions/{SUB}/resourceGroups/rg-app"])
    for t in policy["targets"]:
        t["retention"] = {"keepLast": 2, "whenSourceGone": "keep"}
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
    assert sweep["stats"].get("targetsListed", 0) >= 2 * len(REGIONS), sweep  # vm0's and vm1's copies in rg-dr
    for doc in statuses.values():
        assert doc["sourceCollectionGone"] is True
        assert "source collection is gone" in doc["reason"] and "keep" in doc["reason"]
        assert not (doc.get("pruned") or {}).get("count")
        assert len(doc["copies"]) == POINTS


def _target_id(source: str, region: str) -> str:
    return collection_id(target_collection_name(source, region), "rg-dr")


def test_a_source_in_another_subscription_is_never_taken_for_gone(tmp_path):
    """The subscription the sweep lists holds the target collection but not its source (which lives in another
    subscription, named in the policy by id): the source's GET answers 200, so nothing is an orphan."""
    other = "22222222-2222-2222-2222-222222222222"
    scenario = make_scenario(vms=1, points=4, disks=(4,))
    scenario["subscriptions"].append(
        {"subscriptionId": other, "displayName": "other", "resourceGroups": [{"name": "rg-app", "location": "eastus"}]}
    )
    scenario["collections"][0]["subscriptionId"] = other
    source = collection_id("vm0-rpc").replace(SUB, other)
    policy = make_policy(("westus2",), subscriptions=[SUB], collections=[source])
    policy["targets"][0].update(subscriptionId=SUB, retention={"keepLast": 1, "whenSourceGone": "retention"})
    emu = start_emulator(scenario)
    try:
        with app_host(emu, tmp_path / "x.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            assert Api(host).start(sourceCollectionId=source).status_code == 202
            host.run_until_idle(timeout=180)
            before = _copies(emu, source, "westus2")
            _sweep(host)
            sweep = Api(host).get("sweep").json()
            orphans = [i for i in host.instances() if i.get("name") == "orphan_lane"]
        after = _copies(emu, source, "westus2")
    finally:
        emu.stop()
    assert before == after == ["rp3"]  # its own lane pruned it; the sweep deleted nothing more
    assert sweep["stats"].get("sourceGone") == 0 and sweep["stats"].get("listed", 0) >= 1, sweep
    assert orphans == []


def test_an_orphan_with_many_copies_continues_as_new_and_keeps_its_history_small(tmp_path, capsys):
    """More deletions than one execution makes (PRUNES_PER_EXECUTION): the orphan continues as new, every
    history stays under the suite's bound, and each copy is deleted exactly once."""
    points = 26
    gone = collection_id("vm0-rpc")
    scenario = make_scenario(vms=1, points=0, disks=(4,))
    scenario["collections"][0]["restorePoints"] = [
        {
            "name": f"rp{i:02d}",
            "timeCreated": f"2026-11-{1 + i // 2:02d}T{12 * (i % 2):02d}:00:00Z",
            "changedPercent": 5,
        }
        for i in range(points)
    ]
    scenario["copiesPerHourPerCollection"] = 100  # this test is about history, not the hourly limit
    policy = make_policy(("westus2",))
    emu = start_emulator(scenario)
    try:
        with app_host(emu, tmp_path / "a.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            assert Api(host).start(sourceCollectionId=gone).status_code == 202
            host.run_until_idle(timeout=240)
        assert len(_copies(emu, gone, "westus2")) == points
        admin(emu, "POST", "/_emulator/delete", {"id": gone})
        policy["targets"][0]["retention"] = {"keepLast": 1, "whenSourceGone": "retention"}
        with app_host(emu, tmp_path / "b.db", {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}) as host:
            _sweep(host)
            instance = orphan_instance_id(_target_id(gone, "westus2"))
            doc = Api(host).get(instance).json()
            sizes = {i["instanceId"]: len(host.history(i["instanceId"])) for i in host.instances()}
        final = _copies(emu, gone, "westus2")
        deletes = _deletes_of(emu, gone)
    finally:
        emu.stop()
    assert final == [f"rp{points - 1:02d}"], final
    assert len(deletes) == points - 1 and len({e["id"].lower() for e in deletes}) == points - 1
    assert doc["pruned"]["count"] == points - 1, doc
    assert doc["state"] == "done" and doc["runtimeStatus"] == "Completed", doc
    assert max(sizes.values()) <= 300, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    with capsys.disabled():
        print(f"\n[figure] orphan: {points - 1} prune deletes, longest history {sizes[instance]} events (bound 300)")


def test_orphan_pruning_with_every_activity_possibly_run_twice_deletes_each_copy_once(tmp_path):
    """Activities run at least once: with half of them run twice (the sweep page, the orphan's reads and its
    prune deletes), each copy beyond the rule is still deleted exactly once and the newest usable one stays."""
    emu, gone, _ = _copied_then_source_deleted(tmp_path)
    policy = _policy(retention={"keepLast": 2, "whenSourceGone": "retention"})
    settings = {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}
    try:
        with app_host(emu, tmp_path / "dup.db", settings, activity_duplicate_rate=0.5) as host:
            _sweep(host)
            _sweep(host)  # a second sweep finds the same orphans: nothing more is deleted
        final = {r: _copies(emu, gone, r) for r in REGIONS}
        deletes = _deletes_of(emu, gone)
    finally:
        emu.stop()
    assert final == {r: ["rp4", "rp5"] for r in REGIONS}, final
    assert sorted(e["id"].rsplit("/", 1)[-1] for e in deletes) == sorted(["rp0", "rp1", "rp2", "rp3"] * len(REGIONS))


def test_a_second_sweep_reads_no_source_it_has_seen_listed(tmp_path):
    """Every target whose source was on another page cost a GET of the source on every sweep (about 2,000 reads
    of the source region's budget per sweep at 1,000 collections); a source seen listed or read within a day
    is taken to exist (``replication.orphans.SeenSources``). One collection per page: each source is on
    another page than its targets."""
    scenario = make_scenario(vms=2, points=1, disks=(4,), pageSize=1)
    emu = start_emulator(scenario)
    policy = _policy(retention={"keepLast": 1, "whenSourceGone": "retention"})
    settings = {**QUIET, "REPLICATION_POLICY": json.dumps(policy)}
    try:
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            for v in range(2):
                assert api.start(sourceCollectionId=collection_id(f"vm{v}-rpc")).status_code == 202
            host.run_until_idle(timeout=180)
            _sweep(host)
            first = api.get("sweep").json()["stats"]
            _sweep(host)
            second = api.get("sweep").json()["stats"]
    finally:
        emu.stop()
    assert first.get("listed", 0) + first.get("targetsListed", 0) >= 2, first
    assert second.get("sourceChecked") == 0, second
    assert first.get("sourceGone") == second.get("sourceGone") == 0, (first, second)
