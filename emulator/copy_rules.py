"""Azure's cross-region copy rules and the copy job a successful copy PUT starts.

Each check raises ``ArmError`` with the status and code documented in docs/emulator.md; the order of
the checks is the order of the table there. A **lane** is (source collection, target region).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from emulator import ids, metadata, progress
from emulator.compute_throttle import Policy, Refusal
from emulator.errors import ArmError
from emulator.models import Collection, CopyJob, DiskCopy, RestorePoint

if TYPE_CHECKING:
    from emulator.state import EmulatorState


def region(name: str) -> str:
    """ARM compares locations ignoring case and spaces ("East US" == "eastus")."""
    return name.replace(" ", "").lower()


def check_vm_create_limits(state: EmulatorState, collection: Collection, now: datetime) -> None:
    """A VM takes one restore point at a time, and at most 3 per hour (Learn throttle limits)."""
    for rp in collection.restore_points.values():
        if rp.provisioning_state == "Creating":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Restore point '{rp.name}' of this VM is still being created; concurrent restore "
                "point creation for one VM is not supported.",
            )
    check_hourly(state, collection, now, VM_CREATE_LIMIT_POLICY)


# Policy names of the two hourly limits (Learn: 3 copies per target collection and 3 creations per VM per
# hour, HTTP 429 with a retry interval). No source names them or shows their 429 body: the names are ours,
# the body is Compute's documented throttling body (Learn "Troubleshooting API throttling errors").
COPY_LIMIT_POLICY = "CopyRestorePointResource1Hour"
VM_CREATE_LIMIT_POLICY = "CreateRestorePointVirtualMachine1Hour"


def check_hourly(state: EmulatorState, collection: Collection, now: datetime, policy_name: str) -> None:
    """At most ``copiesPerHourPerCollection`` (3) accepted PUTs in any sliding 60 simulated minutes.

    Refused like every Compute throttle: 429, ``Retry-After`` (seconds until the oldest accepted PUT leaves
    the hour), code ``OperationNotAllowed`` with a ``TooManyRequests`` detail naming the policy, and that
    policy at 0 in ``x-ms-ratelimit-remaining-resource`` (arm_app appends it to the header).
    """
    recent = [t for t in collection.copy_times if now - t < timedelta(hours=1)]
    collection.copy_times[:] = recent
    if len(recent) >= state.copies_per_hour:
        retry = max(1, int((recent[0] + timedelta(hours=1) - now).total_seconds() + 0.999))
        refusal = Refusal(
            Policy(policy_name, state.copies_per_hour, 3600.0, "resource"),
            retry,
            recent[0],
            recent[0] + timedelta(hours=1),
            len(recent) + 1,
        )
        state.limit_refusals[policy_name] = state.limit_refusals.get(policy_name, 0) + 1
        body = refusal.body()
        raise ArmError(
            429,
            "OperationNotAllowed",
            body["error"]["message"],
            headers={"Retry-After": str(retry), "x-ms-ratelimit-append": f"Microsoft.Compute/{policy_name};0"},
            body=body,
        )


def lane_copies(state: EmulatorState, source_collection_key: str, target_region: str) -> list[RestorePoint]:
    """Every existing copy on a lane, whatever its state (Deleting included)."""
    return [
        rp
        for c in state.collections.values()
        if c.source_collection_key == source_collection_key and region(c.location) == target_region
        for rp in c.restore_points.values()
        if rp.copy is not None
    ]


def check_copy_rules(
    state: EmulatorState, target: Collection, source_collection: Collection, source: RestorePoint, now: datetime
) -> None:
    if source_collection.is_target or source.is_copy:
        raise ArmError(
            400,
            "InvalidParameter",
            f"Restore point '{source.rp_id}' is a copy; a copied restore point cannot be copied again.",
            target="properties.sourceRestorePoint.id",
        )
    if not target.is_target:
        raise ArmError(
            400,
            "InvalidParameter",
            f"Restore point collection '{target.rpc_id}' was not created for cross-region copy "
            "(it has no restore point collection source).",
            target="properties.sourceRestorePoint.id",
        )
    if ids.key(source_collection.rpc_id) != target.source_collection_key:
        raise ArmError(
            400,
            "InvalidParameter",
            f"Restore point '{source.rp_id}' does not belong to the source collection "
            f"'{target.source_id}' of this collection; restore points of different source "
            "collections cannot be copied into one collection.",
            target="properties.sourceRestorePoint.id",
        )
    if region(source_collection.location) == region(target.location):
        raise ArmError(
            400,
            "InvalidParameter",
            "Copying a restore point within the same region is not supported.",
            target="properties.sourceRestorePoint.id",
        )
    if source.deleting_op is not None:
        raise ArmError(409, "OperationNotAllowed", f"Source restore point '{source.rp_id}' is being deleted.")
    if source.provisioning_state != "Succeeded":
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Source restore point '{source.rp_id}' is in provisioning state "
            f"'{source.provisioning_state}' and cannot be copied yet.",
        )
    lane = lane_copies(state, ids.key(source_collection.rpc_id), region(target.location))
    source_key = ids.key(source.rp_id)
    for rp in lane:
        if rp.source_restore_point_key == source_key:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Restore point '{source.rp_id}' has already been copied to region "
                f"'{target.location}' as '{rp.rp_id}'. A restore point can be copied only once "
                "to a region.",
            )
    for rp in lane:
        assert rp.copy is not None
        running = rp.provisioning_state == "Succeeded" and not progress.job_finished(rp.copy, now)
        if rp.provisioning_state == "Creating" or running:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"A copy from '{source_collection.rpc_id}' to region '{target.location}' is still in "
                f"progress ('{rp.rp_id}'). Wait for it to complete before starting the next one.",
            )
    marks = [rp.copy.source_time_created for rp in lane if rp.copy is not None and rp.copy.source_time_created]
    high_water = state.lane_high_water.get((ids.key(source_collection.rpc_id), region(target.location)))
    if high_water is not None:
        marks.append(high_water)
    newest = max(marks, default=None)
    if newest is not None and source.time_created < newest:
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Restore point '{source.rp_id}' (created {source.time_created.isoformat()}) is older than "
            f"a restore point already copied to region '{target.location}' (created "
            f"{newest.isoformat()}); restore points must be copied in creation order.",
        )
    check_hourly(state, target, now, COPY_LIMIT_POLICY)


def new_copy_job(
    state: EmulatorState,
    target: Collection,
    source_collection: Collection,
    source: RestorePoint,
    rp_id: str,
    start: datetime,
) -> CopyJob:
    lane_key = (ids.key(source_collection.rpc_id), region(target.location))
    # Incremental only if an earlier completed copy on this lane still has its (full-copy base) source.
    incremental = any(
        rp.copy is not None
        and state.find_restore_point(rp.copy.source_restore_point_key) is not None
        and progress.aggregate([p.code for p in progress.job_progress(rp.copy, start)]) == progress.SUCCEEDED
        for rp in lane_copies(state, *lane_key)
    )
    fraction = source.changed_percent / 100.0 if incremental else 1.0
    target_metadata = metadata.copy_metadata_for_target(source.source_metadata, rp_id)
    disks: list[DiskCopy] = []
    for disk in metadata.disk_entries(target_metadata):
        size = int(float(disk.get("diskSizeGB", 0)) * 1024**3 * fraction)
        disks.append(DiskCopy(disk["diskRestorePoint"]["id"], size, size / state.bandwidth_bytes))
    failure = state.faults.disk_failure(len(disks))
    if failure is not None:
        index, where = failure
        disks[index].fail_after_seconds = disks[index].duration_seconds * where
    return CopyJob(
        lane_key,
        ids.key(source.rp_id),
        not incremental,
        start,
        disks,
        source_time_created=source.time_created,
    )
