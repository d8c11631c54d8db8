from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replication.monitoring import (
    COPY_DEADLINE_SECONDS,
    MAX_TIMER_SECONDS,
    PROGRESS_STEP_SECONDS,
    CopyPhase,
    assess,
    next_check_delay,
)


def observation(state="Succeeded", *disks):
    return {
        "id": "x",
        "provisioningState": state,
        "sourceRestorePointId": "s",
        "statusCodes": [],
        "disks": [
            {"id": f"d{i}", "name": f"d{i}", "code": c, "level": lvl, "percent": p}
            for i, (c, lvl, p) in enumerate(disks)
        ],
    }


OK = ("ReplicationState/succeeded", "Info", 100)


def test_all_disks_succeeded_is_success():
    assert assess(observation("Succeeded", OK, OK)).phase is CopyPhase.SUCCEEDED


def test_one_failed_disk_fails_the_copy_even_if_others_succeeded():
    verdict = assess(observation("Succeeded", OK, ("ReplicationState/failed", "Error", 40)))
    assert verdict.phase is CopyPhase.FAILED and "d1" in verdict.reason


def test_unknown_codes_are_in_progress_and_slowest_disk_counts():
    verdict = assess(observation("Succeeded", OK, ("ReplicationState/inProgress", "Info", 30)))
    assert verdict.phase is CopyPhase.COPYING and verdict.slowest_percent == 30


def test_creating_and_failed_provisioning():
    assert assess(observation("Creating")).phase is CopyPhase.STARTING
    assert assess(observation("Failed")).phase is CopyPhase.FAILED
    assert assess(observation("Succeeded")).phase is CopyPhase.COPYING  # no disks listed yet


def test_first_check_is_soon_then_never_below_the_progress_step():
    assert next_check_delay(0, None, 0) == 60
    assert next_check_delay(60, None, 1) >= PROGRESS_STEP_SECONDS


@given(
    st.floats(0, COPY_DEADLINE_SECONDS * 1.1),
    st.one_of(st.none(), st.integers(0, 100)),
    st.integers(0, 500),
    st.floats(600, 86400),
)
def test_schedule_bounds(elapsed, percent, checks, cap):
    delay = next_check_delay(elapsed, percent, checks, cap)
    assert delay <= MAX_TIMER_SECONDS and delay <= cap
    if elapsed >= COPY_DEADLINE_SECONDS:
        assert delay == 0
    else:
        assert elapsed + delay <= COPY_DEADLINE_SECONDS + 1e-6
        if checks > 0 and COPY_DEADLINE_SECONDS - elapsed > PROGRESS_STEP_SECONDS:
            assert delay >= PROGRESS_STEP_SECONDS


def test_the_recorded_replicating_status_is_copying_at_any_percent():
    """``ReplicationState/replicating`` (azure-sdk-for-net CreateRpcAndRestorePoints.json, 2021 and 2023) is
    the in-progress status, handled by name: 0%, 100% before the code turns, never done, never failed."""
    for percent in (0, 37, 100, None):
        verdict = assess(observation("Succeeded", ("ReplicationState/replicating", "Info", percent), OK))
        assert verdict.phase is CopyPhase.COPYING
    assert assess(observation("Succeeded", ("ReplicationState/replicating", "Info", 10))).slowest_percent == 10
