"""Property tests of the copy progress model (pure functions, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import progress
from emulator.models import CopyJob, DiskCopy

START = datetime(2026, 11, 20, tzinfo=UTC)


def job(duration: float, fail_after: float | None = None) -> CopyJob:
    disk = DiskCopy("d", int(duration * 1000), duration, fail_after)
    return CopyJob(("lane", "westus2"), "src", True, START, [disk])


@settings(max_examples=200, deadline=None)
@given(
    duration=st.floats(min_value=0, max_value=30 * 86400),
    t1=st.floats(min_value=-3600, max_value=30 * 86400),
    dt=st.floats(min_value=0, max_value=30 * 86400),
)
def test_percent_never_goes_back_and_changes_only_at_ten_minute_steps(duration: float, t1: float, dt: float) -> None:
    copy = job(duration)
    first = progress.disk_progress(copy, copy.disks[0], START + timedelta(seconds=t1))
    later = progress.disk_progress(copy, copy.disks[0], START + timedelta(seconds=t1 + dt))
    assert first.percent <= later.percent or later.code == progress.FAILED
    step_start = START + timedelta(seconds=(max(t1, 0) // 600) * 600)
    assert progress.disk_progress(copy, copy.disks[0], step_start) == first
    assert (first.percent == 100) == (first.code == progress.SUCCEEDED)


@settings(max_examples=200, deadline=None)
@given(duration=st.floats(min_value=0, max_value=20 * 86400), t=st.floats(min_value=0, max_value=40 * 86400))
def test_terminal_state_is_succeeded_within_two_weeks_or_failed(duration: float, t: float) -> None:
    state = progress.disk_progress(job(duration), job(duration).disks[0], START + timedelta(seconds=t))
    if duration > progress.MAX_COPY_SECONDS and t >= progress.MAX_COPY_SECONDS:
        assert state.code == progress.FAILED
    elif -(-duration // 600) * 600 <= t and duration <= progress.MAX_COPY_SECONDS:
        assert state.code == progress.SUCCEEDED
    else:
        assert state.code == progress.IN_PROGRESS


@given(duration=st.floats(min_value=1, max_value=86400), fraction=st.floats(min_value=0.01, max_value=0.99))
def test_a_failed_disk_stays_failed(duration: float, fraction: float) -> None:
    copy = job(duration, duration * fraction)
    late = progress.disk_progress(copy, copy.disks[0], START + timedelta(days=30))
    assert late.code == progress.FAILED and late.percent < 100
    assert progress.aggregate([progress.SUCCEEDED, late.code]) == progress.FAILED
