"""Copies whose whole source collection is gone (issue 14): which target collections are this app's, and what
retention may delete from them (``replication.orphans``). Examples, then properties over any target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, note, settings
from hypothesis import strategies as st

from replication.ids import legacy_target_collection_name, normalize, target_collection_name
from replication.orphans import bound_target, candidates, decide_orphan, newest_to_confirm
from replication.policy import parse_policy
from replication.retention import RetentionRule, parse_time

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SUB = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"
SRC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm1"


def coll_id(name: str, group: str = "rg-app-dr", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/restorePointCollections/{name}"


def policy(**retention: Any) -> Any:
    target: dict[str, Any] = {"region": "westus2", "resourceGroup": "{sourceResourceGroup}-dr"}
    if retention:
        target["retention"] = retention
    return parse_policy(
        {"sources": {"subscriptions": [SUB]}, "targets": [target, {"region": "northeurope", "resourceGroup": "rg-x"}]}
    )


def target_collection(
    source_id: str = SRC, region: str = "westus2", group: str = "rg-app-dr", name: str | None = None, **kw: Any
) -> dict[str, Any]:
    name = name or target_collection_name(source_id, region)
    base = {
        "id": coll_id(name, group),
        "name": name,
        "location": region,
        "sourceId": source_id,
        "tags": {},
        "restorePoints": [],
    }
    base.update(kw)
    return base


def iso(day: int) -> str:
    return (NOW - timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S.1234567+00:00")


def point(day: int, state: str = "Succeeded", source: bool = True, when: str | None = "") -> dict[str, Any]:
    name = f"rp-{day:03d}"
    return {
        "id": f"{coll_id(target_collection_name(SRC, 'westus2'))}/restorePoints/{name}",
        "name": name,
        "timeCreated": iso(day) if when == "" else when,
        "provisioningState": state,
        "sourceRestorePointId": f"{SRC}/restorePoints/{name}" if source else None,
    }


def names(decision: Any) -> list[str]:
    return [d.name for d in decision.delete]


# ---- which target collections are this app's ----------------------------------------------------


def test_a_target_collection_named_and_placed_as_the_policy_says_is_bound_to_that_target():
    found = bound_target(policy(keepLast=2, whenSourceGone="retention"), target_collection())
    assert found is not None and found["region"] == "westus2" and found["resourceGroup"] == "rg-app-dr"
    assert found["retention"] == {"keepLast": 2, "whenSourceGone": "retention"}
    legacy = target_collection(name=legacy_target_collection_name("vm1-rpc", "westus2"))
    assert bound_target(policy(keepLast=2), legacy) is not None  # the name of earlier releases is adopted too
    upper = target_collection(group="RG-APP-DR")  # a subscription-wide list may upper-case the group
    assert bound_target(policy(keepLast=2), upper) is not None


def test_anything_else_is_not_this_apps():
    p = policy(keepLast=2, whenSourceGone="retention")
    assert bound_target(p, target_collection(group="rg-elsewhere")) is None  # not the policy's resource group
    assert bound_target(p, target_collection(name="vm1-rpc-westus2-00000000")) is None  # not the app's name
    assert bound_target(p, target_collection(location="eastus2")) is None  # not the target's region
    assert bound_target(p, target_collection(sourceId=VM)) is None  # an ordinary collection (of a VM)
    assert bound_target(p, target_collection(sourceId=None)) is None
    outside = coll_id("vm1-rpc", "rg-app", OTHER)  # a source the policy never covered
    assert bound_target(p, target_collection(source_id=outside, group="rg-app-dr")) is None
    backup = coll_id("vm1-rpc", "AzureBackupRG_eastus_1")  # Azure Backup's own: not a source by subscription
    assert bound_target(p, target_collection(source_id=backup, group="AzureBackupRG_eastus_1-dr")) is None


def test_candidates_are_bound_copies_whose_source_the_page_does_not_show():
    p = policy(keepLast=2, whenSourceGone="retention")
    source = {"id": SRC, "name": "vm1-rpc", "location": "eastus", "sourceId": VM, "tags": {}, "restorePoints": []}
    gone = coll_id("vm2-rpc", "rg-app")
    mine, orphan = target_collection(), target_collection(source_id=gone)
    assert [c["id"] for c, _ in candidates(p, [source, mine, orphan])] == [orphan["id"]]
    # Without its source on the page it is only a candidate: the caller confirms with a GET (404) first.
    assert [c["id"] for c, _ in candidates(p, [mine])] == [mine["id"]]


# ---- what retention deletes from them -----------------------------------------------------------


def test_with_retention_the_oldest_go_by_the_copys_time_and_the_newest_usable_stays():
    target = target_collection(restorePoints=[point(d) for d in range(10)])
    newest = newest_to_confirm(target)
    assert newest is not None and newest.endswith("rp-000")
    rule = RetentionRule(keep_last=3, when_source_gone="retention")
    decision = decide_orphan(target, rule, NOW, frozenset({normalize(newest)}))
    assert names(decision) == [f"rp-{d:03d}" for d in (9, 8, 7, 6, 5, 4, 3)]
    assert decision.keep_newest == newest
    assert "source collection gone" in decision.delete[0].reason and "keepLast 3" in decision.delete[0].reason
    by_days = decide_orphan(
        target, RetentionRule(keep_days=5, when_source_gone="retention"), NOW, frozenset({normalize(newest)})
    )
    assert names(by_days) == [f"rp-{d:03d}" for d in (9, 8, 7, 6)]


def test_with_keep_or_no_rule_nothing_is_deleted_and_the_reason_says_the_source_collection_is_gone():
    target = target_collection(restorePoints=[point(d) for d in range(10)])
    confirmed = frozenset({normalize(str(newest_to_confirm(target)))})
    kept = decide_orphan(target, RetentionRule(keep_last=1, when_source_gone="keep"), NOW, confirmed)
    assert kept.delete == () and "source collection is gone" in (kept.paused or "")
    none = decide_orphan(target, None, NOW, confirmed)
    assert none.delete == () and "source collection is gone" in (none.paused or "")


def test_nothing_is_deleted_until_the_newest_copy_is_confirmed_usable():
    target = target_collection(restorePoints=[point(d) for d in range(10)])
    decision = decide_orphan(target, RetentionRule(keep_last=1, when_source_gone="retention"), NOW, frozenset())
    assert decision.delete == () and "not usable yet" in (decision.paused or "")
    failed = target_collection(restorePoints=[point(0, "Failed")] + [point(d) for d in range(1, 10)])
    decision = decide_orphan(failed, RetentionRule(keep_last=1, when_source_gone="retention"), NOW, frozenset())
    assert decision.delete == ()


# ---- properties -----------------------------------------------------------------------------------

_states = st.sampled_from(["Succeeded", "Succeeded", "Succeeded", "Creating", "Failed", "Deleting"])


@st.composite
def orphan_targets(draw: st.DrawFn) -> tuple[dict[str, Any], frozenset[str]]:
    days = draw(st.lists(st.integers(0, 60), max_size=20, unique=True))
    points = [
        point(
            d,
            draw(_states),
            source=draw(st.sampled_from([True, True, True, False])),
            when=draw(st.sampled_from([iso(d)] * 6 + [None, "garbage"])),
        )
        for d in days
    ]
    target = target_collection(restorePoints=points)
    newest = newest_to_confirm(target)
    confirmed = frozenset({normalize(newest)}) if newest and draw(st.booleans() | st.just(True)) else frozenset()
    return target, confirmed


orphan_rules = st.none() | st.builds(
    RetentionRule,
    keep_last=st.none() | st.integers(1, 8),
    keep_days=st.none() | st.integers(1, 40),
    when_source_gone=st.sampled_from(["keep", "retention", "retention"]),
)


def _oracle_newest(target: dict[str, Any]) -> dict[str, Any] | None:
    """Independently: the newest copy the app made with a readable time (the one that might still copy)."""
    dated = [
        (t, p) for p in target["restorePoints"] if p["sourceRestorePointId"] and (t := parse_time(p["timeCreated"]))
    ]
    return max(dated, key=lambda tp: (tp[0], tp[1]["name"].lower()))[1] if dated else None


@settings(max_examples=400, deadline=None)
@given(orphan_targets(), orphan_rules)
def test_an_orphan_never_loses_what_it_must_keep(drawn, rule):
    target, confirmed = drawn
    decision = decide_orphan(target, rule, NOW, confirmed)
    by_id = {p["id"]: p for p in target["restorePoints"]}
    deleted = [by_id[d.id] for d in decision.delete]
    note(
        f"points={[(p['name'], p['provisioningState'], p['timeCreated'], bool(p['sourceRestorePointId'])) for p in target['restorePoints']]}"
    )
    note(f"confirmed={sorted(confirmed)} deleted={[p['name'] for p in deleted]} paused={decision.paused}")
    assert len({p["id"] for p in deleted}) == len(deleted)
    if rule is None or rule.when_source_gone != "retention" or (rule.keep_last is None and rule.keep_days is None):
        assert deleted == [] and "source collection is gone" in (decision.paused or "")
        return
    newest = _oracle_newest(target)
    for p in deleted:
        # never what the app did not make, never one unfinished, failed or still copying
        assert p["sourceRestorePointId"] and p["provisioningState"] == "Succeeded"
        # never the newest copy, which must be Succeeded and confirmed usable by its instance view
        assert newest is not None and p["id"] != newest["id"]
        assert newest["provisioningState"] == "Succeeded" and normalize(newest["id"]) in confirmed
        when = parse_time(p["timeCreated"])
        assert when is not None
        if rule.keep_days is not None:
            assert when < NOW - timedelta(days=rule.keep_days)
        if rule.keep_last is not None:
            newer = [
                o
                for o in target["restorePoints"]
                if o["sourceRestorePointId"]
                and o["provisioningState"] == "Succeeded"
                and (t := parse_time(o["timeCreated"])) is not None
                and (t, o["name"].lower()) > (when, p["name"].lower())
            ]
            assert len(newer) >= rule.keep_last
    if deleted:
        assert decision.keep_newest == newest["id"] and decision.paused is None


@settings(max_examples=200, deadline=None)
@given(orphan_targets(), orphan_rules)
def test_an_orphan_decision_is_idempotent(drawn, rule):
    """Deleting what was chosen and deciding again deletes nothing more (the sweep runs it again and again)."""
    target, confirmed = drawn
    first = decide_orphan(target, rule, NOW, confirmed)
    gone = {d.id for d in first.delete}
    rest = {**target, "restorePoints": [p for p in target["restorePoints"] if p["id"] not in gone]}
    second = decide_orphan(rest, rule, NOW, confirmed)
    assert second.delete == ()
    assert second.keep_newest == first.keep_newest


_groups = st.sampled_from(["rg-app-dr", "RG-APP-DR", "rg-other", "rg-x"])
_regions = st.sampled_from(["westus2", "WestUS2", "northeurope", "eastus2"])
_sources = st.sampled_from([SRC, coll_id("vm1-rpc", "rg-app", OTHER), VM, None, coll_id("web-01", "rg-app")])


@settings(max_examples=300, deadline=None)
@given(_sources, _regions, _groups, st.booleans(), st.sampled_from(["new", "legacy", "other"]))
def test_bound_exactly_when_scope_region_group_and_name_are_the_policys(source_id, region, group, keep, naming):
    p = policy(keepLast=2, whenSourceGone="keep" if keep else "retention")
    in_scope = (
        source_id is not None
        and f"/subscriptions/{SUB}/resourcegroups/rg-app/providers/microsoft.compute/restorepointcollections/"
        in source_id.lower()
    )
    base = (source_id or SRC).rsplit("/", 1)[-1]
    name = {
        "new": target_collection_name(source_id or SRC, region) if in_scope else "x-westus2-00000000",
        "legacy": legacy_target_collection_name(base, region.lower()),
        "other": "something-else",
    }[naming]
    found = bound_target(p, target_collection(source_id=source_id, region=region, group=group, name=name))
    where = {"westus2": "rg-app-dr", "northeurope": "rg-x"}.get(region.lower())
    expected = in_scope and naming != "other" and where is not None and group.lower() == where
    assert (found is not None) == expected, (source_id, region, group, naming)
    if found is not None:
        assert found["region"] == region.lower()


def test_the_sweep_also_lists_target_groups_no_source_unit_lists():
    by_group = parse_policy(
        {
            "sources": {"resourceGroups": [f"/subscriptions/{SUB}/resourceGroups/rg-app"]},
            "targets": [
                {"region": "westus2", "resourceGroup": "{sourceResourceGroup}-dr"},
                {"region": "northeurope", "subscriptionId": OTHER, "resourceGroup": "rg-x"},
                {"region": "westeurope", "resourceGroup": "rg-app"},  # the source group itself: listed already
            ],
        }
    )
    assert by_group.orphan_units() == [
        {"subscriptionId": SUB, "resourceGroup": "rg-app-dr", "targetsOnly": True},
        {"subscriptionId": OTHER, "resourceGroup": "rg-x", "targetsOnly": True},
    ]
    # A whole-subscription source lists its own copies; {sourceResourceGroup} of it is unknown ahead: nothing more.
    assert policy(keepLast=2).orphan_units() == []


def test_a_source_seen_within_a_day_is_not_read_again_for_its_targets():
    from replication.orphans import SeenSources

    now = [1000.0]
    seen = SeenSources(clock=lambda: now[0], horizon=86400.0)
    src = "/subscriptions/s/resourceGroups/RG-App/providers/Microsoft.Compute/restorePointCollections/vm0-rpc"
    assert not seen.recently(src)
    seen.saw([src])
    assert seen.recently(src.lower())  # ids compare case-insensitively, as ARM's do
    now[0] += 86399.0
    assert seen.recently(src)
    now[0] += 2.0
    assert not seen.recently(src)  # a day on: read again, so a gone source is noticed
    seen.saw([src])
    seen.reset()
    assert not seen.recently(src)
