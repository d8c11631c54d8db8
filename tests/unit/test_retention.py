"""Retention's pure decision (replication.retention): examples, then properties over any lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, note, settings
from hypothesis import strategies as st

from replication.ids import normalize
from replication.retention import CopyFacts, RetentionRule, decide, parse_time

NOW = datetime(2026, 12, 1, tzinfo=UTC)
COLL = "/subscriptions/s/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/t"


def iso(day: int) -> str:
    return (NOW - timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S.1234567+00:00")


def copy(day: int, **kw: object) -> CopyFacts:
    base: dict[str, object] = {
        "id": f"{COLL}/restorePoints/rp-{day:03d}",
        "name": f"rp-{day:03d}",
        "source_restore_point_id": f"/src/rp-{day:03d}",
        "source_time": iso(day),
        "own_time": iso(day),
        "source_exists": True,
        "provisioning_state": "Succeeded",
        "usable": True,
        "copying": False,
    }
    base.update(kw)
    return CopyFacts(**base)  # type: ignore[arg-type]


def names(decision) -> list[str]:
    return [d.name for d in decision.delete]


def test_keep_last_deletes_the_oldest_first_with_reasons():
    decision = decide([copy(d) for d in range(10)], RetentionRule(keep_last=7), NOW)
    assert names(decision) == ["rp-009", "rp-008", "rp-007"]
    assert decision.keep_newest.endswith("rp-000")
    assert "keepLast 7" in decision.delete[0].reason and "source created" in decision.delete[0].reason
    assert decision.paused is None


def test_a_copy_is_kept_if_either_rule_keeps_it():
    lane = [copy(d) for d in range(10)]
    assert names(decide(lane, RetentionRule(keep_last=2, keep_days=5), NOW)) == [f"rp-{d:03d}" for d in (9, 8, 7, 6)]
    assert names(decide(lane, RetentionRule(keep_days=5), NOW)) == [f"rp-{d:03d}" for d in (9, 8, 7, 6)]
    assert names(decide(lane, RetentionRule(keep_days=50), NOW)) == []


def test_order_is_the_sources_time_never_the_copys_own():
    # The copies' own times say the opposite order: the source's wins.
    lane = [copy(d, own_time=iso(100 - d)) for d in range(5)]
    assert names(decide(lane, RetentionRule(keep_last=2), NOW)) == ["rp-004", "rp-003", "rp-002"]


def test_pruning_pauses_when_the_newest_copy_is_not_usable_or_the_lane_is_in_error():
    lane = [copy(0, usable=False, copying=True)] + [copy(d) for d in range(1, 10)]
    decision = decide(lane, RetentionRule(keep_last=1), NOW)
    assert decision.delete == () and "not usable" in (decision.paused or "")
    decision = decide([copy(d) for d in range(10)], RetentionRule(keep_last=1), NOW, lane_error="the lane is blocked")
    assert decision.delete == () and decision.paused == "the lane is blocked"


def test_copies_whose_source_is_gone_are_kept_unless_told():
    lane = [copy(d) for d in range(3)] + [copy(d, source_exists=False, source_time=None) for d in range(3, 6)]
    assert names(decide(lane, RetentionRule(keep_last=1), NOW)) == ["rp-002", "rp-001"]
    told = decide(lane, RetentionRule(keep_last=1, when_source_gone="retention"), NOW)
    assert names(told) == ["rp-005", "rp-004", "rp-003", "rp-002", "rp-001"]
    assert "source restore point gone" in told.delete[0].reason


def test_what_the_app_did_not_make_is_never_touched():
    lane = [copy(d) for d in range(3)] + [copy(d, source_restore_point_id=None) for d in range(3, 9)]
    assert names(decide(lane, RetentionRule(keep_last=1), NOW)) == ["rp-002", "rp-001"]


def test_no_rule_no_deletions_and_times_parse():
    assert decide([copy(d) for d in range(5)], None, NOW).delete == ()
    assert RetentionRule.from_json({"whenSourceGone": "keep"}) is None
    assert parse_time("2021-01-27T20:35:05.8401519+00:00") == datetime(2021, 1, 27, 20, 35, 5, 840151, tzinfo=UTC)
    assert parse_time("2026-11-20T00:00:00Z") == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None


# ---- properties -------------------------------------------------------------------------------

_states = st.sampled_from(["Succeeded", "Succeeded", "Succeeded", "Creating", "Failed", "Deleting"])


@st.composite
def lanes(draw: st.DrawFn) -> list[CopyFacts]:
    days = draw(st.lists(st.integers(0, 60), min_size=0, max_size=25, unique=True))
    out = []
    for day in days:
        state = draw(_states)
        out.append(
            copy(
                day,
                provisioning_state=state,
                usable=state == "Succeeded" and draw(st.booleans() | st.just(True)),
                copying=state == "Creating" or draw(st.sampled_from([False, False, False, True])),
                source_exists=draw(st.sampled_from([True, True, True, False])),
                source_restore_point_id=draw(st.sampled_from([f"/src/rp-{day:03d}"] * 4 + [None])),
                source_time=draw(st.sampled_from([iso(day)] * 6 + [None, "garbage"])),
                own_time=draw(st.sampled_from([iso(day), iso(max(0, day - 1)), None])),
            )
        )
    return out


rules = st.builds(
    RetentionRule,
    keep_last=st.none() | st.integers(1, 10),
    keep_days=st.none() | st.integers(1, 40),
    when_source_gone=st.sampled_from(["keep", "retention"]),
)


def _newest_usable(lane: list[CopyFacts], rule: RetentionRule) -> CopyFacts | None:
    """Independently of the implementation: the newest (by its source's time, or by its own when the
    source is gone and the rule says so) finished, usable copy the app made."""

    def when(c: CopyFacts) -> datetime | None:
        if c.source_exists:
            return parse_time(c.source_time)
        return parse_time(c.own_time) if rule.when_source_gone == "retention" else None

    ok = [
        c
        for c in lane
        if c.source_restore_point_id
        and c.usable
        and c.provisioning_state == "Succeeded"
        and not c.copying
        and when(c) is not None
    ]
    return max(ok, key=lambda c: (when(c), c.name.lower()), default=None)


@settings(max_examples=400, deadline=None)
@given(lanes(), rules, st.none() | st.just("in error"))
def test_retention_never_deletes_what_it_must_keep(lane, rule, error):
    decision = decide(lane, rule, NOW, error)
    note(
        f"lane={[(c.name, c.provisioning_state, c.usable, c.copying, c.source_exists, c.source_time, c.source_restore_point_id is not None) for c in lane]} deleted={[d.name for d in decision.delete]}"
    )
    by_id = {c.id: c for c in lane}
    deleted = [by_id[d.id] for d in decision.delete]
    assert len({c.id for c in deleted}) == len(deleted)
    if error or (rule.keep_last is None and rule.keep_days is None):
        assert deleted == []
    keeper = _newest_usable(lane, rule)
    for c in deleted:
        # never what the app did not make, never one unfinished or copying, never the newest usable one
        assert c.source_restore_point_id
        assert c.provisioning_state == "Succeeded" and not c.copying
        assert keeper is not None and c.id != keeper.id
        # never a copy whose source is gone, unless the rule says so
        assert c.source_exists or rule.when_source_gone == "retention"
        # never inside the rule: older than keepDays, and not among the keepLast newest usable ones
        when = parse_time(c.source_time if c.source_exists else c.own_time)
        assert when is not None
        if rule.keep_days is not None:
            assert when < NOW - timedelta(days=rule.keep_days)
        if rule.keep_last is not None:
            newer_usable = [
                o
                for o in lane
                if o.usable
                and o.source_restore_point_id
                and o.id != c.id
                and o.provisioning_state == "Succeeded"
                and (t := parse_time(o.source_time if o.source_exists else o.own_time)) is not None
                and (o.source_exists or rule.when_source_gone == "retention")
                and (t, o.name.lower()) > (when, c.name.lower())
            ]
            assert len(newer_usable) >= rule.keep_last
    if deleted:
        # deletions only ever follow a lane whose newest copy is usable, and keep it
        assert decision.paused is None and decision.keep_newest == keeper.id


@settings(max_examples=200, deadline=None)
@given(lanes(), rules)
def test_deleting_what_it_chose_and_deciding_again_deletes_nothing_new_inside_the_rule(lane, rule):
    """Safe to run twice: after its deletions, deciding again deletes nothing more and keeps the same copy."""
    first = decide(lane, rule, NOW)
    gone = {d.id for d in first.delete}
    second = decide([c for c in lane if c.id not in gone], rule, NOW)
    assert second.delete == ()
    assert second.keep_newest == first.keep_newest


# ---- expired: source restore points outside the rule that have no copy (issue 14, progress API) ---------

SUB = "11111111-1111-1111-1111-111111111111"
SRC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"
TGT = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/vm1-rpc-westus2"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm1"


def _source(days: list[int], states: dict[int, str] | None = None) -> dict:
    points = [
        {
            "id": f"{SRC}/restorePoints/rp-{d:03d}",
            "name": f"rp-{d:03d}",
            "timeCreated": iso(d),
            "provisioningState": (states or {}).get(d, "Succeeded"),
            "sourceRestorePointId": None,
        }
        for d in days
    ]
    return {"id": SRC, "name": "vm1-rpc", "location": "eastus", "sourceId": VM, "tags": {}, "restorePoints": points}


def _target(days: list[int], failed: frozenset[int] = frozenset()) -> dict:
    points = [
        {
            "id": f"{TGT}/restorePoints/rp-{d:03d}",
            "name": f"rp-{d:03d}",
            "timeCreated": iso(d),
            "provisioningState": "Failed" if d in failed else "Succeeded",
            "sourceRestorePointId": f"{SRC}/restorePoints/rp-{d:03d}",
        }
        for d in days
    ]
    return {
        "id": TGT,
        "name": "vm1-rpc-westus2",
        "location": "westus2",
        "sourceId": SRC,
        "tags": {},
        "restorePoints": points,
    }


def _words(plan) -> dict[str, str]:
    from replication.status import lane_copies

    return {row["name"]: row["state"] for row in lane_copies(plan)}


def test_pruned_copies_show_as_expired_not_skipped_and_genuine_gaps_stay_skipped():
    from replication.planning import plan_lane
    from replication.retention import mark_expired

    source, target = _source(list(range(10))), _target([0, 1, 2])  # rp-009..rp-003 pruned, rp-002..rp-000 kept
    plan = plan_lane(source, target, "westus2")
    assert set(_words(plan).values()) == {"skipped", "succeeded", "copying"}  # what the API showed before
    words = _words(mark_expired(plan, target, RetentionRule(keep_last=3), NOW))
    assert [n for n, w in sorted(words.items()) if w == "expired"] == [f"rp-{d:03d}" for d in range(3, 10)]
    # keepLast 5 would keep two more than the three copies there: every missing copy is a genuine gap (skipped)
    words = _words(mark_expired(plan, target, RetentionRule(keep_last=5), NOW))
    assert {words[f"rp-{d:03d}"] for d in range(3, 10)} == {"skipped"}
    # keepDays 6: rp-007 and older are outside it, rp-003..rp-006 inside (rp-006 is 6 days old to the second)
    words = _words(mark_expired(plan, target, RetentionRule(keep_days=6), NOW))
    assert words["rp-006"] == "skipped" and words["rp-007"] == "expired"
    assert _words(mark_expired(plan, target, None, NOW)) == _words(plan)  # no rule, nothing expires


def test_expired_never_hides_a_pending_copy_an_unusable_source_or_a_blocked_lane():
    from replication.planning import plan_lane
    from replication.retention import mark_expired

    source = _source(list(range(6)), {5: "Failed"})
    target = _target([3])
    words = _words(mark_expired(plan_lane(source, target, "westus2"), target, RetentionRule(keep_last=1), NOW))
    assert words["rp-005"] == "skipped"  # the source restore point failed: unusable, not expired
    assert words["rp-004"] == "expired" and words["rp-003"] in ("copying", "succeeded")
    assert words["rp-002"] == words["rp-001"] == words["rp-000"] == "pending"
    blocked = _source(list(range(3)))
    blocked["location"] = "westus2"
    words = _words(mark_expired(plan_lane(blocked, None, "westus2"), None, RetentionRule(keep_last=1), NOW))
    assert set(words.values()) == {"skipped"}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=20, unique=True),
    st.data(),
    rules,
)
def test_expired_is_derived_from_azure_and_the_rule_alone(days, data, rule):
    """Whatever the lane learnt (a crash forgets it), the same Azure state and rule give the same expired rows;
    and a row is expired only if it has no copy, is older than a copy, and the rule would not keep it."""
    from replication.planning import plan_lane
    from replication.retention import mark_expired

    copied = data.draw(st.lists(st.sampled_from(days), unique=True))
    source, target = _source(days), _target(copied)
    newest = min(copied) if copied else None
    confirmed = frozenset({normalize(f"{SRC}/restorePoints/rp-{newest:03d}")}) if newest is not None else frozenset()
    fresh = _words(mark_expired(plan_lane(source, target, "westus2"), target, rule, NOW))
    learnt = _words(mark_expired(plan_lane(source, target, "westus2", confirmed=confirmed), target, rule, NOW))
    assert {n for n, w in fresh.items() if w == "expired"} == {n for n, w in learnt.items() if w == "expired"}
    for name, word in fresh.items():
        if word != "expired":
            continue
        day = int(name[3:])
        assert day not in copied and newest is not None and day > newest
        if rule.keep_days is not None:
            assert NOW - timedelta(days=day) < NOW - timedelta(days=rule.keep_days)
        if rule.keep_last is not None:
            assert sum(1 for c in copied if c < day) >= rule.keep_last


def test_the_protection_report_counts_pruned_copies_as_expired():
    from replication.protection import lane_protection

    source, target = _source(list(range(6))), _target([0, 1])
    plain = lane_protection(source, target, "westus2", 26, {}, NOW)
    ruled = lane_protection(source, target, "westus2", 26, {}, NOW, retention={"keepLast": 2})
    assert plain["copies"]["skipped"] == 4 and len(plain["skipped"]) == 4
    assert ruled["copies"]["skipped"] == 0 and ruled["copies"]["expired"] == 4 and ruled["skipped"] == []
