"""When a copy is done, and when to look again.

Azure documents only ``ReplicationState/succeeded``; the in-progress code is recorded:
``{"code": "ReplicationState/replicating", "level": "Info", "displayStatus": "Replicating"}`` on every
disk and in the aggregate while a copy runs (azure-sdk-for-net ``CreateRpcAndRestorePoints.json``, 2021 and
2023; azure-restore-points.md §7). No failure code is documented or recorded. So: a disk is done when its code
is ``succeeded``; copying when it is ``replicating`` (handled by name, not by falling through); failed when its
level is ``Error`` or its code ends in ``/failed``; any other code is treated as still copying. A copy is
usable only when every disk succeeded, and has failed as soon as one disk failed (a failed disk
copy cannot be resumed).

The schedule is pure: given how long the copy has run and how far the slowest disk has got, it
says how long to sleep on a durable timer. Azure updates ``completionPercent`` about every 10
minutes, so looking more often than that only spends ARM read quota; a first look comes sooner,
because ``Creating -> Failed`` shows quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .model import CopyObservation, DiskObservation

SUCCEEDED_CODE = "ReplicationState/succeeded"
REPLICATING_CODE = "ReplicationState/replicating"  # recorded (NET21, NET23)

FIRST_CHECK_SECONDS = 60.0
PROGRESS_STEP_SECONDS = 600.0  # Azure refreshes completionPercent about every 10 minutes
MAX_TIMER_SECONDS = 6 * 24 * 3600.0  # keep every durable timer <= 6 days (py#573)
COPY_DEADLINE_SECONDS = 14 * 24 * 3600.0  # Azure terminates a copy after two weeks


class CopyPhase(StrEnum):
    STARTING = "starting"  # provisioningState Creating: the copy is not initiated yet
    COPYING = "copying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Assessment:
    phase: CopyPhase
    slowest_percent: int | None  # the disk that is furthest behind; None before any figure
    reason: str | None = None


def disk_phase(disk: DiskObservation) -> CopyPhase:
    code = (disk.get("code") or "").lower()
    if code == SUCCEEDED_CODE.lower():
        return CopyPhase.SUCCEEDED
    if (disk.get("level") or "").lower() == "error" or code.endswith("/failed"):
        return CopyPhase.FAILED
    if code == REPLICATING_CODE.lower():
        return CopyPhase.COPYING  # the recorded in-progress status, whatever its percent says
    return CopyPhase.COPYING  # an unknown code: not done, not failed (nothing documents others)


def assess(observation: CopyObservation) -> Assessment:
    """Phase of a copy from one ``$expand=instanceView`` read."""
    state = observation["provisioningState"].lower()
    disks = observation["disks"]
    percents = [d["percent"] for d in disks if d["percent"] is not None]
    slowest = min(percents) if percents else None
    if state == "failed":
        return Assessment(CopyPhase.FAILED, slowest, "the copy could not be created (provisioningState Failed)")
    failed = [d["name"] for d in disks if disk_phase(d) is CopyPhase.FAILED]
    if failed:
        return Assessment(
            CopyPhase.FAILED,
            slowest,
            f"disk copy failed: {', '.join(failed)} (Azure gives no details; the copy must be restarted)",
        )
    if state in ("creating", "updating"):
        return Assessment(CopyPhase.STARTING, slowest)
    if disks and all(disk_phase(d) is CopyPhase.SUCCEEDED for d in disks):
        return Assessment(CopyPhase.SUCCEEDED, 100)
    return Assessment(CopyPhase.COPYING, slowest)


def next_check_delay(
    elapsed_seconds: float,
    slowest_percent: int | None,
    checks_done: int,
    max_interval_seconds: float = 3600.0,
) -> float:
    """Seconds to wait before the next look at a copy that has run ``elapsed_seconds``.

    * the first look comes after a minute (a copy that fails to start fails fast);
    * never more often than Azure refreshes progress (10 minutes);
    * with no progress figure yet, back off geometrically (10, 20, 40 minutes...);
    * with one, extrapolate the finish from the observed rate and sleep half the remaining time,
      so looks get denser as the finish nears and land just after it;
    * never longer than ``max_interval_seconds`` (so status is never stale for long), never past
      the two-week deadline, never a timer over 6 days.
    """
    if checks_done == 0:
        delay = FIRST_CHECK_SECONDS
    elif slowest_percent is None or slowest_percent <= 0 or elapsed_seconds <= 0:
        delay = PROGRESS_STEP_SECONDS * (2 ** max(0, checks_done - 1))
    elif slowest_percent >= 100:
        delay = PROGRESS_STEP_SECONDS
    else:
        # The figure was refreshed up to one step ago (half a step on average), so it measures
        # progress over less time than has elapsed; without this the rate reads low and the
        # finish is predicted late.
        measured_over = max(elapsed_seconds - PROGRESS_STEP_SECONDS / 2, elapsed_seconds / 2)
        predicted_total = measured_over * 100.0 / slowest_percent
        remaining = predicted_total - elapsed_seconds
        # Aim half-way to the predicted finish, and at it once it is close.
        delay = remaining / 2 if remaining > 2 * PROGRESS_STEP_SECONDS else remaining
    delay = max(delay, PROGRESS_STEP_SECONDS if checks_done > 0 else FIRST_CHECK_SECONDS)
    delay = min(delay, max_interval_seconds, MAX_TIMER_SECONDS)
    left = COPY_DEADLINE_SECONDS - elapsed_seconds
    return max(1.0, min(delay, left)) if left > 0 else 0.0
