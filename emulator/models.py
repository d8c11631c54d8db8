"""The emulator's in-memory resources: subscriptions, collections, restore points, copies, operations.

Plain dataclasses with no behaviour beyond derived values; the rules live in ``state.py`` and the
time-dependent copy progress in ``progress.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Subscription:
    subscription_id: str
    display_name: str
    resource_groups: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower name -> (name, location)


@dataclass
class DiskCopy:
    """One disk restore point being copied: how long it takes and whether (and when) it fails."""

    disk_restore_point_id: str
    bytes_to_copy: int
    duration_seconds: float
    fail_after_seconds: float | None = None


@dataclass
class CopyJob:
    """The data copy behind a target restore point on a lane (source collection -> target region)."""

    lane: tuple[str, str]
    source_restore_point_key: str
    full_copy: bool
    start: datetime
    disks: list[DiskCopy]
    source_time_created: datetime | None = None
    aborted_at: datetime | None = None
    abort_reason: str | None = None


@dataclass
class RestorePoint:
    rp_id: str
    name: str
    collection_key: str
    time_created: datetime
    consistency_mode: str
    source_metadata: dict[str, Any]
    changed_percent: float = 10.0
    source_restore_point_id: str | None = None
    source_restore_point_key: str | None = None
    provisioning_state: str = "Succeeded"
    provisioning_ready_at: datetime | None = None
    provisioning_fails: bool = False
    status_reads: int = 0
    copy: CopyJob | None = None
    instant_access_minutes: int | None = None
    deleting_op: str | None = None  # set while an accepted DELETE is still running
    # Source restore points only: each disk's snapshotAccessState (spec 2025-04-01+: Unknown|Pending|Available|
    # InstantAccess|AvailableWithInstantAccess) is ``snapshot_access`` until ``snapshot_available_at``, then
    # Available; None renders no snapshotAccessState (as in most recordings).
    snapshot_access: str | None = None
    snapshot_available_at: datetime | None = None
    exclude_disks: list[dict[str, str]] | None = None  # properties.excludeDisks as created

    @property
    def is_copy(self) -> bool:
        return self.source_restore_point_key is not None


@dataclass
class Collection:
    rpc_id: str
    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str]
    guid: str
    source_id: str
    source_location: str
    source_collection_key: str | None = None  # set for cross-region copy targets
    vm: dict[str, Any] | None = None  # set for source collections seeded from a VM
    restore_points: dict[str, RestorePoint] = field(default_factory=dict)
    copy_times: list[datetime] = field(default_factory=list)  # accepted copy PUTs, for the hourly limit
    deleting_op: str | None = None  # set while an accepted DELETE is still running

    @property
    def is_target(self) -> bool:
        return self.source_collection_key is not None


@dataclass
class Operation:
    """An ARM long-running operation, polled through Azure-AsyncOperation and Location URLs."""

    op_id: str
    kind: str  # "create" or "delete"
    subscription: str
    location: str
    resource_key: str
    start: datetime
    ready_at: datetime
    reads: int = 0
    end: datetime | None = None
    failed_error: dict[str, Any] | None = None
    collection_key: str | None = None  # for deletes: the collection (or the restore point's collection)
    restore_point_name: str | None = None  # for restore point deletes
