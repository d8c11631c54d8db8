"""Copy progress as a pure function of the emulator clock.

Each disk copies ``bytes_to_copy`` at the scenario bandwidth, starting when the copy is initiated.
Azure only refreshes ``completionPercent`` about every 10 minutes, so progress is sampled at
10-minute steps from the start (a small disk jumps 0 -> 100). A copy still running after two weeks
is terminated as failed. A disk may fail (fault injection, or its source deleted mid-copy); a failed
disk fails the whole restore point, with no details, as in Azure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from emulator.models import CopyJob, DiskCopy

STEP_SECONDS = 600.0
MAX_COPY_SECONDS = 14 * 24 * 3600.0

# Recorded while copying (azure-sdk-for-net CreateRpcAndRestorePoints.json, 2021-12 and 2023-04):
# {"code": "ReplicationState/replicating", "level": "Info", "displayStatus": "Replicating"}.
# Succeeded: Azure/Virtual-Machine-Restore-Points "Cross Region Copy of VM Restore Points.md"
# ("Replication succeeded"). Failed: no source shows it; our choice mirrors the other two.
SUCCEEDED = "ReplicationState/succeeded"
IN_PROGRESS = "ReplicationState/replicating"
FAILED = "ReplicationState/failed"

STATUS_LEVEL = {SUCCEEDED: "Info", IN_PROGRESS: "Info", FAILED: "Error"}
STATUS_DISPLAY = {SUCCEEDED: "Replication succeeded", IN_PROGRESS: "Replicating", FAILED: "Replication failed"}


@dataclass(frozen=True)
class DiskProgress:
    disk_restore_point_id: str
    code: str
    percent: int


def _visible_elapsed(seconds: float) -> float:
    return (seconds // STEP_SECONDS) * STEP_SECONDS if seconds > 0 else 0.0


def disk_progress(job: CopyJob, disk: DiskCopy, now: datetime) -> DiskProgress:
    elapsed = (now - job.start).total_seconds()
    stop_at: float | None = None  # seconds after start when the copy stopped for good (failure)
    if disk.fail_after_seconds is not None:
        stop_at = disk.fail_after_seconds
    if job.aborted_at is not None:
        aborted = (job.aborted_at - job.start).total_seconds()
        stop_at = aborted if stop_at is None else min(stop_at, aborted)
    if disk.duration_seconds > MAX_COPY_SECONDS:
        stop_at = MAX_COPY_SECONDS if stop_at is None else min(stop_at, MAX_COPY_SECONDS)
    finishes_at = disk.duration_seconds
    if stop_at is not None and stop_at < finishes_at and elapsed >= stop_at:
        shown = _visible_elapsed(stop_at)
        return DiskProgress(disk.disk_restore_point_id, FAILED, _percent(shown, disk.duration_seconds))
    shown = _visible_elapsed(elapsed)
    if shown >= finishes_at:
        return DiskProgress(disk.disk_restore_point_id, SUCCEEDED, 100)
    return DiskProgress(disk.disk_restore_point_id, IN_PROGRESS, _percent(shown, disk.duration_seconds))


def _percent(shown: float, duration: float) -> int:
    if duration <= 0:
        return 100
    return max(0, min(99, int(shown * 100 // duration)))


def job_progress(job: CopyJob, now: datetime) -> list[DiskProgress]:
    return [disk_progress(job, disk, now) for disk in job.disks]


def aggregate(codes: list[str]) -> str:
    """The restore point's overall replication state: failed if any disk failed, done if all are."""
    if any(code == FAILED for code in codes):
        return FAILED
    if codes and all(code == SUCCEEDED for code in codes):
        return SUCCEEDED
    return IN_PROGRESS


def job_finished(job: CopyJob, now: datetime) -> bool:
    """True once the copy has reached a terminal state (all disks succeeded, or any failed)."""
    return aggregate([p.code for p in job_progress(job, now)]) != IN_PROGRESS


def finish_time(job: CopyJob) -> datetime:
    """When the copy becomes visibly complete (ignoring failures); for tests and docs."""
    longest = max((d.duration_seconds for d in job.disks), default=0.0)
    steps = -(-longest // STEP_SECONDS)
    return job.start + timedelta(seconds=steps * STEP_SECONDS)
