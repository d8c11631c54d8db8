"""Deletes as ARM long-running operations, out-of-band deletes and what deleting does to copies.

An accepted DELETE leaves the resource visible as ``Deleting`` (still counting for the copy rules)
until its operation completes: on a status read after the first, or by itself after
``deleteCompletesAfterSeconds``. Deleting a source mid-copy fails the copies reading from it; deleting
a completed copy leaves its lane's order high-water mark in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator import ids, progress
from emulator.clock import format_time, parse_time
from emulator.errors import parent_not_found
from emulator.events import DELETE_SUCCESS
from emulator.models import Operation, RestorePoint

if TYPE_CHECKING:
    from emulator.state import EmulatorState

RPC_KIND = "Microsoft.Compute/restorePointCollections"
RPC_DELETE = "Microsoft.Compute/restorePointCollections/delete"
RP_DELETE = "Microsoft.Compute/restorePointCollections/restorePoints/delete"


def delete_collection(
    state: EmulatorState, sub: str, rg: str, name: str, when: datetime | None = None
) -> Operation | None:
    """Accept a DELETE: the collection shows ``Deleting`` until the operation completes."""
    rg = state.resource_group(sub, rg)
    rpc_key = ids.key(ids.collection_id(sub, rg, name))
    collection = state.collections.get(rpc_key)
    if collection is None:
        return None
    if collection.deleting_op is not None:
        return state.operations[collection.deleting_op]
    when = when or state.clock.now()
    for rp in collection.restore_points.values():
        abort_copies_of(state, rp, "source restore point collection deleted", when)
        remember_completed_copy(state, rp, when)
    state.events.emit(DELETE_SUCCESS, collection.rpc_id, RPC_DELETE, when)
    op = state.new_operation("delete", sub, collection.location, rpc_key)
    op.collection_key = rpc_key
    op.ready_at = op.start + state.delete_seconds
    collection.deleting_op = op.op_id
    for rp in collection.restore_points.values():
        rp.deleting_op = op.op_id
    state.pending_deletes.append(op)
    return op


def delete_restore_point(
    state: EmulatorState, sub: str, rg: str, rpc: str, name: str, when: datetime | None = None
) -> Operation | None:
    """Accept a DELETE: the restore point shows ``Deleting`` (and still counts) until it completes."""
    rg = state.resource_group(sub, rg)
    rpc_key = ids.key(ids.collection_id(sub, rg, rpc))
    collection = state.collections.get(rpc_key)
    if collection is None:
        raise parent_not_found(RPC_KIND, rpc, rg)
    rp = collection.restore_points.get(name.lower())
    if rp is None:
        return None
    if rp.deleting_op is not None:
        return state.operations[rp.deleting_op]
    when = when or state.clock.now()
    state.delete_log.append(
        {
            "at": format_time(when),
            "id": rp.rp_id,
            "collectionId": collection.rpc_id,
            "held": [_held(other, when) for other in collection.restore_points.values() if other.deleting_op is None],
        }
    )
    abort_copies_of(state, rp, "source restore point deleted", when)
    remember_completed_copy(state, rp, when)
    state.events.emit(DELETE_SUCCESS, rp.rp_id, RP_DELETE, when)
    op = state.new_operation("delete", sub, collection.location, ids.key(rp.rp_id))
    op.collection_key = rpc_key
    op.restore_point_name = name.lower()
    op.ready_at = op.start + state.delete_seconds
    rp.deleting_op = op.op_id
    state.pending_deletes.append(op)
    return op


def _held(rp: RestorePoint, now: datetime) -> dict[str, Any]:
    """A restore point as the delete log records it: its time and whether it is usable (a copy: every disk
    restore point succeeded; a source: provisioned)."""
    if rp.copy is None:
        usable = rp.provisioning_state == "Succeeded"
    else:
        codes = [d.code for d in progress.job_progress(rp.copy, now)]
        usable = (
            rp.provisioning_state == "Succeeded" and bool(codes) and progress.aggregate(codes) == progress.SUCCEEDED
        )
    return {"id": rp.rp_id, "timeCreated": format_time(rp.time_created), "usable": usable}


def finish_delete(state: EmulatorState, op: Operation) -> None:
    op.end = op.end or state.clock.now()
    if op in state.pending_deletes:
        state.pending_deletes.remove(op)
    collection = state.collections.get(op.collection_key or "")
    if collection is None:
        return
    if op.restore_point_name is None:
        if collection.deleting_op == op.op_id:
            del state.collections[op.collection_key or ""]
    else:
        rp = collection.restore_points.get(op.restore_point_name)
        if rp is not None and rp.deleting_op == op.op_id:
            del collection.restore_points[op.restore_point_name]


def sweep(state: EmulatorState) -> None:
    """Apply what time alone brings: scheduled out-of-band deletes, and deletes nobody polled
    (complete after ``deleteCompletesAfterSeconds``)."""
    scheduled = state.faults.config.scheduledDeletes
    if scheduled:
        now = state.clock.now()
        for entry in sorted(scheduled, key=lambda e: parse_time(e["at"])):
            marker = (entry["id"].lower(), entry["at"])
            at = parse_time(entry["at"])
            if marker not in state.scheduled_done and at <= now:
                state.scheduled_done.add(marker)
                delete_by_id(state, entry["id"], at, restore_points_only=bool(entry.get("restorePointsOnly")))
    if not state.pending_deletes:
        return
    now = state.clock.now()
    for op in list(state.pending_deletes):
        if now >= op.start + state.delete_auto_complete:
            finish_delete(state, op)


def remember_completed_copy(state: EmulatorState, rp: RestorePoint, when: datetime) -> None:
    """A completed copy sets the lane's order high-water mark for good, even once it is deleted."""
    job = rp.copy
    if job is None or job.source_time_created is None:
        return
    states = [p.code for p in progress.job_progress(job, when)]
    if progress.aggregate(states) == progress.SUCCEEDED:
        mark = state.lane_high_water.get(job.lane)
        if mark is None or job.source_time_created > mark:
            state.lane_high_water[job.lane] = job.source_time_created


def abort_copies_of(state: EmulatorState, source: RestorePoint, reason: str, now: datetime) -> None:
    source_key = ids.key(source.rp_id)
    for collection in state.collections.values():
        for rp in collection.restore_points.values():
            job = rp.copy
            if job is None or job.source_restore_point_key != source_key or job.aborted_at is not None:
                continue
            if not progress.job_finished(job, now):
                job.aborted_at = now
                job.abort_reason = reason


def delete_by_id(
    state: EmulatorState, resource_id: str, when: datetime | None = None, *, restore_points_only: bool = False
) -> bool:
    """Out-of-band delete (admin API), e.g. a source deleted mid-copy by someone else.

    ``restore_points_only`` on a collection id deletes every restore point in it (every copy, for a target
    collection) and keeps the collection.
    """
    parsed = ids.parse(resource_id)
    if parsed is None:
        return False
    if restore_points_only:
        if parsed.restore_point is not None:
            raise ValueError("restorePointsOnly needs a restore point collection id")
        collection = state.collections.get(parsed.collection_key)
        if collection is None:
            return False
        deleted = False
        for rp in list(collection.restore_points.values()):
            deleted = delete_by_id(state, rp.rp_id, when) or deleted
        return deleted
    if parsed.restore_point is None:
        op = delete_collection(state, parsed.subscription, parsed.resource_group, parsed.collection, when)
    else:
        op = delete_restore_point(
            state, parsed.subscription, parsed.resource_group, parsed.collection, parsed.restore_point, when
        )
    if op is not None:
        finish_delete(state, op)
    return op is not None
