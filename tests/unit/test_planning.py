"""The planner encodes Azure's copy rules; these tests state them as examples and as properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from replication.ids import normalize
from replication.planning import ActionKind, CopyState, plan_lane

SUB = "11111111-1111-1111-1111-111111111111"
SRC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"
TGT = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/vm1-rpc-westus2"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm1"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def rp(i: int, state: str = "Succeeded") -> dict:
    return {
        "id": f"{SRC}/restorePoints/rp{i}",
        "name": f"rp{i}",
        "timeCreated": (T0 + timedelta(hours=i)).isoformat(),
        "provisioningState": state,
        "sourceRestorePointId": None,
    }


def source(*points: dict, location: str = "eastus", source_id: str = VM) -> dict:
    return {
        "id": SRC,
        "name": "vm1-rpc",
        "location": location,
        "sourceId": source_id,
        "tags": {},
        "restorePoints": list(points),
    }


def copy_of(i: int, state: str = "Succeeded", upper: bool = False) -> dict:
    src = f"{SRC}/restorePoints/rp{i}"
    return {
        "id": f"{TGT}/restorePoints/rp{i}",
        "name": f"rp{i}",
        "timeCreated": None,
        "provisioningState": state,
        "sourceRestorePointId": src.upper() if upper else src,
    }


def target(*copies: dict, source_id: str = SRC) -> dict:
    return {
        "id": TGT,
        "name": "vm1-rpc-westus2",
        "location": "westus2",
        "sourceId": source_id,
        "tags": {},
        "restorePoints": list(copies),
    }


def states(plan) -> list[str]:
    return [c.state.value for c in plan.copies]


def test_fresh_lane_copies_oldest_first():
    plan = plan_lane(source(rp(3), rp(1), rp(2)), None, "westus2")
    assert states(plan) == ["pending"] * 3
    assert plan.next is not None and plan.next.kind is ActionKind.COPY and plan.next.source["name"] == "rp1"


def test_newest_existing_copy_is_monitored_before_anything_else():
    plan = plan_lane(source(rp(1), rp(2), rp(3)), target(copy_of(1), copy_of(2)), "westus2")
    assert states(plan) == ["copied", "unconfirmed", "pending"]
    assert plan.next.kind is ActionKind.MONITOR and plan.next.source["name"] == "rp2"


def test_ids_match_case_insensitively():
    plan = plan_lane(source(rp(1)), target(copy_of(1, upper=True)), "westus2")
    assert states(plan) == ["unconfirmed"]


def test_older_uncopied_restore_point_is_out_of_order_forever():
    plan = plan_lane(source(rp(1), rp(2), rp(3)), target(copy_of(1), copy_of(3)), "westus2")
    assert states(plan) == ["copied", "out-of-order", "unconfirmed"]
    assert plan.copies[1].reason and "creation order" in plan.copies[1].reason


def test_failed_newest_copy_is_recopied_and_stale_failed_copy_is_cleaned_up():
    recopy = plan_lane(source(rp(1), rp(2)), target(copy_of(1), copy_of(2, "Failed")), "westus2")
    assert recopy.next.kind is ActionKind.RECOPY and recopy.next.source["name"] == "rp2"
    cleanup = plan_lane(source(rp(1), rp(2)), target(copy_of(1, "Failed"), copy_of(2)), "westus2")
    assert cleanup.next.kind is ActionKind.CLEANUP and cleanup.next.source["name"] == "rp1"


def test_a_given_up_failed_copy_is_only_cleaned_up_never_recopied_in_the_same_run():
    key = normalize(rp(2)["id"])
    plan = plan_lane(source(rp(1), rp(2)), target(copy_of(1), copy_of(2, "Failed")), "westus2", frozenset({key}))
    assert plan.next.kind is ActionKind.CLEANUP and plan.next.source["name"] == "rp2"


def test_source_being_created_holds_the_lane_rather_than_being_skipped():
    plan = plan_lane(source(rp(1), rp(2, "Creating"), rp(3)), target(copy_of(1)), "westus2")
    assert plan.next.kind is ActionKind.MONITOR
    plan = plan_lane(source(rp(1), rp(2, "Creating"), rp(3)), None, "westus2")
    assert plan.next.kind is ActionKind.COPY and plan.next.source["name"] == "rp1"
    plan = plan_lane(source(rp(2, "Creating"), rp(3)), None, "westus2")
    assert plan.next.kind is ActionKind.WAIT


def test_given_up_restore_point_does_not_hold_back_newer_ones():
    key = normalize(rp(1)["id"])
    plan = plan_lane(source(rp(1), rp(2)), None, "westus2", frozenset({key}))
    assert states(plan) == ["given-up", "pending"]
    assert plan.next.source["name"] == "rp2"


def test_copy_of_a_copy_is_refused():
    plan = plan_lane(source(rp(1), source_id=TGT), None, "northeurope")
    assert plan.blocked and "copy" in plan.blocked and plan.next is None


def test_same_region_is_refused():
    plan = plan_lane(source(rp(1), location="West US 2"), None, "westus2")
    assert plan.blocked and "within a region" in plan.blocked


def test_target_bound_to_another_source_is_refused():
    other = SRC.replace("vm1-rpc", "vm2-rpc")
    plan = plan_lane(source(rp(1)), target(source_id=other), "westus2")
    assert plan.blocked and "cannot share" in plan.blocked


def test_target_whose_source_is_gone_is_reported_as_orphan():
    plan = plan_lane(source(rp(2)), target(copy_of(1)), "westus2")
    assert plan.orphans == (f"{TGT}/restorePoints/rp1",)
    assert states(plan) == ["pending"]


# ---- properties --------------------------------------------------------------------------

_states = st.sampled_from(["Succeeded", "Succeeded", "Succeeded", "Creating", "Failed"])
_copy_states = st.sampled_from(["Succeeded", "Succeeded", "Creating", "Failed"])


@st.composite
def lanes(draw):
    n = draw(st.integers(0, 12))
    points = [rp(i, draw(_states)) for i in range(n)]
    copied = sorted(draw(st.sets(st.integers(0, max(0, n - 1)), max_size=n))) if n else []
    copies = [copy_of(i, draw(_copy_states)) for i in copied]
    given_up = frozenset(normalize(rp(i)["id"]) for i in draw(st.sets(st.integers(0, max(0, n - 1)), max_size=3)))
    shuffled = draw(st.permutations(points))
    return shuffled, copies, given_up


def _simulate(points, copies, given_up):
    """Drive the planner as the lane orchestrator does, with Azure's side played by this loop:
    a started copy appears in the target, and monitoring confirms it."""
    copies = [dict(c) for c in copies]
    confirmed: frozenset[str] = frozenset()
    started: list[str] = []
    for _ in range(100):
        plan = plan_lane(source(*points), target(*copies), "westus2", given_up, confirmed)
        action = plan.next
        if action is None or action.kind is ActionKind.WAIT:
            return plan, started, confirmed
        key = normalize(action.source["id"])
        if action.kind is ActionKind.CLEANUP:
            copies = [c for c in copies if c["id"] != action.target_id]
            continue
        if action.kind is ActionKind.RECOPY:
            copies = [c for c in copies if c["id"] != action.target_id]
        if action.kind in (ActionKind.RECOPY, ActionKind.COPY):
            started.append(key)
            copies.append(copy_of(int(action.source["name"][2:])))
        confirmed = confirmed | {key}
    raise AssertionError("the planner never settled")


@settings(max_examples=300, deadline=None)
@given(lanes())
def test_lane_never_copies_twice_or_out_of_order_and_settles(case):
    points, copies, given_up = case
    plan, started, _confirmed = _simulate(points, copies, given_up)
    order = [normalize(p["id"]) for p in sorted(points, key=lambda p: p["timeCreated"])]
    # never two live copies of one source restore point in the region
    assert len(started) == len(set(started))
    # copies start in creation order, and never behind a copy that already existed
    positions = [order.index(s) for s in started]
    assert positions == sorted(positions)
    kept = [order.index(normalize(c["sourceRestorePointId"])) for c in copies if c["provisioningState"] != "Failed"]
    if kept and positions:
        assert min(positions) > max(kept)
    # settled: nothing unwatched; anything still pending waits behind a source still being created
    assert all(c.state is not CopyState.UNCONFIRMED for c in plan.copies)
    states_in_order = [c.state for c in plan.copies]
    if CopyState.PENDING in states_in_order:
        assert plan.next is not None and plan.next.kind is ActionKind.WAIT
        assert states_in_order.index(CopyState.WAITING) < states_in_order.index(CopyState.PENDING)


@settings(max_examples=100, deadline=None)
@given(lanes(), st.sampled_from(["eastus", "East US"]))
def test_never_same_region_never_copy_of_copy(case, region):
    points, _copies, given_up = case
    assert plan_lane(source(*points), None, region, given_up).next is None
    assert plan_lane(source(*points, source_id=TGT), None, "westus2", given_up).next is None


def target_with(*copies: dict) -> dict:
    return {
        "id": TGT,
        "name": "vm1-rpc-westus2",
        "location": "westus2",
        "sourceId": SRC,
        "tags": {},
        "restorePoints": list(copies),
    }


def test_backlog_latest_copies_the_newest_and_says_why_older_ones_are_skipped():
    done = frozenset({normalize(f"{SRC}/restorePoints/rp1")})
    plan = plan_lane(
        source(rp(1), rp(2), rp(3), rp(4)), target_with(copy_of(1)), "westus2", confirmed=done, backlog="latest"
    )
    assert plan.next is not None and plan.next.kind is ActionKind.COPY and plan.next.source["name"] == "rp4"
    skipped = [c for c in plan.copies if c.state is CopyState.OUT_OF_ORDER]
    assert [c.source["name"] for c in skipped] == ["rp2", "rp3"]
    assert all("backlog policy 'latest'" in (c.reason or "") and "never copies" in (c.reason or "") for c in skipped)
    # "all" (the default) copies every one in order.
    every = plan_lane(source(rp(1), rp(2), rp(3)), target_with(copy_of(1)), "westus2", confirmed=done)
    assert every.next.source["name"] == "rp2"
    # The newest still being created is waited for; the older pending ones are skipped meanwhile.
    waiting = plan_lane(source(rp(1), rp(2), rp(3, "Creating")), None, "westus2", backlog="latest")
    assert waiting.next.kind is ActionKind.WAIT and waiting.count(CopyState.OUT_OF_ORDER) == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Succeeded", "Creating", "Failed"]), min_size=1, max_size=12), st.integers(0, 12))
def test_backlog_latest_never_copies_other_than_the_newest_pending(states, copied):
    points = [rp(i, s) for i, s in enumerate(states)]
    copies = [copy_of(i) for i in range(min(copied, len(points)))]
    plan = plan_lane(source(*points), target_with(*copies), "westus2", backlog="latest")
    pending = [c for c in plan.copies if c.state in (CopyState.PENDING, CopyState.WAITING)]
    assert len(pending) <= 1
    if plan.next is not None and plan.next.kind is ActionKind.COPY:
        newer = [p for p in points if p["timeCreated"] > plan.next.source["timeCreated"]]
        assert all(p["provisioningState"] != "Succeeded" for p in newer)
