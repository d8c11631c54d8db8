"""Copy slots' pure decisions (replication.slots): examples, then properties over any sequence of requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from replication.slots import (
    DEFAULT_PATIENCE_SECONDS,
    AcquireRequest,
    ReleaseRequest,
    SlotRequestError,
    SlotState,
    acquire,
    refusal_reason,
    release,
    slot_key,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LEASE = 6 * 3600


def ask(state: SlotState, holder: str, minutes: float, ceiling: int = 2, force: bool = False, lease: int = LEASE):
    return acquire(state, AcquireRequest(holder, T0 + timedelta(minutes=minutes), lease, ceiling, force))


def test_key_is_subscription_and_region_lower_case() -> None:
    assert slot_key("AAAA-Bb", " WestUS2 ") == "aaaa-bb|westus2"


def test_grants_up_to_the_ceiling_then_refuses_with_the_count() -> None:
    state, first = ask(SlotState(), "a", 0)
    state, second = ask(state, "b", 1)
    state, third = ask(state, "c", 2)
    assert (first.granted, second.granted, third.granted) == (True, True, False)
    assert refusal_reason(third, "westus2") == (
        "2 of 2 concurrent copies to westus2 in this subscription are running; position 1 in line"
    )
    assert third.next_expiry == T0 + timedelta(seconds=LEASE)


def test_a_freed_slot_goes_to_the_longest_waiting_not_to_whoever_asks_first() -> None:
    # Ceiling 1: b and then c are refused and keep asking (lanes ask every 5 minutes); a frees its slot. c happens
    # to ask first: it is still behind b, so b gets the slot. A waiter that stops asking loses its place.
    state, _ = ask(SlotState(), "a", 0, ceiling=1)
    state, b = ask(state, "b", 1, ceiling=1)
    state, c = ask(state, "c", 2, ceiling=1)
    assert (b.granted, b.position, c.granted, c.position) == (False, 1, False, 2)
    state = release(state, ReleaseRequest("a", T0 + timedelta(minutes=5)))
    state, c_again = ask(state, "c", 6, ceiling=1)
    assert not c_again.granted and c_again.position == 2
    state, b_again = ask(state, "b", 6.5, ceiling=1)
    assert b_again.granted
    state = release(state, ReleaseRequest("b", T0 + timedelta(minutes=7)))
    state, d = ask(state, "d", 30, ceiling=1)  # c stopped asking at 6 min: after 15 minutes its place is gone
    assert d.granted


def test_release_frees_a_slot_and_a_stranger_release_changes_nothing() -> None:
    state, _ = ask(SlotState(), "a", 0)
    state, _ = ask(state, "b", 0)
    assert release(state, ReleaseRequest("zzz", T0)) == state
    state = release(state, ReleaseRequest("a", T0))
    assert ask(state, "c", 1)[1].granted


def test_a_lease_ends_so_a_dead_holder_frees_its_slot() -> None:
    state, _ = ask(SlotState(), "dead", 0, ceiling=1)
    assert not ask(state, "other", LEASE / 60 - 1, ceiling=1)[1].granted
    assert ask(state, "other", LEASE / 60, ceiling=1)[1].granted


def test_renewal_extends_and_never_shortens() -> None:
    state, _ = ask(SlotState(), "a", 0, lease=3600)
    state, grant = ask(state, "a", 30, lease=3600)
    assert grant.expires_at == T0 + timedelta(minutes=90)
    state, grant = ask(state, "a", 31, lease=60)
    assert grant.expires_at == T0 + timedelta(minutes=90)


def test_force_records_a_running_copy_over_the_ceiling_and_blocks_new_ones() -> None:
    state, _ = ask(SlotState(), "a", 0, ceiling=1)
    state, forced = ask(state, "running", 0, ceiling=1, force=True)
    assert forced.granted and forced.holders == 2
    state = release(state, ReleaseRequest("a", T0))
    assert not ask(state, "new", 1, ceiling=1)[1].granted  # still 1 of 1: the running copy counts


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {"holder": "", "now": T0.isoformat(), "leaseSeconds": 60, "ceiling": 1},
        {"holder": "a", "now": "yesterday", "leaseSeconds": 60, "ceiling": 1},
        {"holder": "a", "now": "2026-12-01T00:00:00", "leaseSeconds": 60, "ceiling": 1},
        {"holder": "a", "now": T0.isoformat(), "leaseSeconds": 0, "ceiling": 1},
        {"holder": "a", "now": T0.isoformat(), "leaseSeconds": 60, "ceiling": 0},
        {"holder": "a", "now": T0.isoformat(), "leaseSeconds": True, "ceiling": 1},
    ],
)
def test_bad_requests_are_errors(raw: object) -> None:
    with pytest.raises(SlotRequestError):
        AcquireRequest.from_json(raw)


def test_state_survives_json_and_unreadable_entries_are_dropped() -> None:
    state, _ = ask(SlotState(), "a", 0)
    assert SlotState.from_json(state.to_json()) == state
    assert SlotState.from_json({"holders": {"a": "not a time", "b": T0.isoformat()}}).holders == {"b": T0}
    assert SlotState.from_json(None) == SlotState()


HOLDERS = [f"lane-{n}" for n in range(6)]
step = st.tuples(
    st.sampled_from(["acquire", "force", "release"]),
    st.sampled_from(HOLDERS),
    st.integers(min_value=0, max_value=240),  # minutes since the previous request
)


@settings(max_examples=300, deadline=None)
@given(ceiling=st.integers(min_value=1, max_value=4), steps=st.lists(step, max_size=60), lease_min=st.integers(5, 600))
def test_properties_over_any_sequence(ceiling: int, steps: list[tuple[str, str, int]], lease_min: int) -> None:
    state = SlotState()
    now = T0
    renewed: dict[str, datetime] = {}  # holder -> when its lease was last granted or renewed (model)
    for kind, holder, gap in steps:
        now += timedelta(minutes=gap)
        live_before = state.live(now).holders
        if kind == "release":
            after = release(state, ReleaseRequest(holder, now))
            if holder not in live_before:
                assert after.holders == live_before  # a non-holder's release frees nobody
            assert holder not in after.holders
            renewed.pop(holder, None)
            state = after
            continue
        force = kind == "force"
        before = state
        state, grant = acquire(state, AcquireRequest(holder, now, lease_min * 60, ceiling, force))
        note(f"{kind} {holder} at +{(now - T0).total_seconds() / 60:.0f} min -> {grant}")
        if holder in live_before:
            assert grant.granted  # idempotent: a holder that asks again keeps its slot
            assert len(state.holders) == len(live_before)  # ... and still only one
        if not force and holder not in live_before:
            # A new grant only below the ceiling, and only to one no more waiters than free slots are ahead of.
            line = before.in_line(now, DEFAULT_PATIENCE_SECONDS)
            since = line[holder].since if holder in line else now
            ahead = sum(1 for h, w in line.items() if h != holder and (w.since, h) < (since, holder))
            assert grant.granted == (ahead < ceiling - len(live_before))
            assert grant.granted or grant.position == ahead + 1
        if grant.granted:
            renewed[holder] = now
        # Leases: whoever holds a slot was granted or renewed within the lease; nobody else holds one.
        for who, expiry in state.holders.items():
            assert who in renewed and now - renewed[who] < timedelta(minutes=lease_min)
            assert expiry > now
        assert grant.holders == len(state.holders)


@settings(max_examples=200, deadline=None)
@given(ceiling=st.integers(min_value=1, max_value=4), steps=st.lists(step, max_size=60))
def test_without_forced_requests_there_are_never_more_holders_than_the_ceiling(
    ceiling: int, steps: list[tuple[str, str, int]]
) -> None:
    state, now = SlotState(), T0
    for kind, holder, gap in steps:
        now += timedelta(minutes=gap)
        if kind == "release":
            state = release(state, ReleaseRequest(holder, now))
        else:
            state, _ = acquire(state, AcquireRequest(holder, now, LEASE, ceiling))
        assert len(state.live(now).holders) <= ceiling
