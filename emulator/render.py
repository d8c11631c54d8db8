"""JSON bodies in the shapes of the REST spec examples (azure-spec-examples/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emulator import metadata, progress
from emulator.clock import format_time
from emulator.models import Collection, Operation, RestorePoint, Subscription

RPC_TYPE = "Microsoft.Compute/restorePointCollections"


def subscription(sub: Subscription, tenant_id: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub.subscription_id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub.subscription_id,
        "tenantId": tenant_id,
        "displayName": sub.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def upper_resource_group(resource_id: str) -> str:
    """``.../resourceGroups/CRPTESTAR384/...``: subscription-wide lists upper-case the group in ``id``.

    Recorded: azure-sdk-for-net CreateRpcAndRestorePoints.json (2021-12, 2023-04) and azure-cli
    test_restore_point_collection.yaml (2025-03): ``RestorePointCollections_ListAll`` ids carry the resource
    group upper-cased; names, ``properties.source.id`` and the per-group list keep the created casing.
    """
    parts = resource_id.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            parts[i + 1] = parts[i + 1].upper()
            break
    return "/".join(parts)


def collection(
    c: Collection, restore_points: list[dict[str, Any]] | None = None, *, subscription_list: bool = False
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "source": {"location": c.source_location, "id": c.source_id},
        "restorePointCollectionId": c.guid,
    }
    if restore_points is not None:
        properties["restorePoints"] = restore_points
    properties["provisioningState"] = "Deleting" if c.deleting_op else "Succeeded"
    body: dict[str, Any] = {
        "name": c.name,
        "id": upper_resource_group(c.rpc_id) if subscription_list else c.rpc_id,
        "type": RPC_TYPE,
        "location": c.location,
    }
    if c.tags:  # recorded: a collection created without tags has no "tags" key at all
        body["tags"] = dict(c.tags)
    body["properties"] = properties
    return body


def restore_point(rp: RestorePoint, now: datetime, *, instance_view: bool) -> dict[str, Any]:
    """A restore point as recorded: no ``type``; while ``Creating`` no disk restore points (and a source's
    body has no ``consistencyMode`` yet); a copy's ``timeCreated`` is its source's."""
    creating = rp.provisioning_state == "Creating" and not rp.deleting_op
    properties: dict[str, Any] = {}
    properties["sourceMetadata"] = (
        metadata.without_disk_restore_points(rp.source_metadata) if creating else rp.source_metadata
    )
    if rp.exclude_disks:
        properties["excludeDisks"] = [dict(d) for d in rp.exclude_disks]
    if rp.instant_access_minutes is not None:
        properties["instantAccessDurationMinutes"] = rp.instant_access_minutes
    properties["provisioningState"] = "Deleting" if rp.deleting_op else rp.provisioning_state
    if rp.is_copy or not creating:
        properties["consistencyMode"] = rp.consistency_mode
    if rp.source_restore_point_id is not None:
        properties["sourceRestorePoint"] = {"id": rp.source_restore_point_id}
    if instance_view:
        properties["instanceView"] = _instance_view(rp, now)
    properties["timeCreated"] = format_time(rp.time_created)
    return {"name": rp.name, "id": rp.rp_id, "properties": properties}


def _status(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "level": progress.STATUS_LEVEL[code],
        "displayStatus": progress.STATUS_DISPLAY[code],
    }


def _instance_view(rp: RestorePoint, now: datetime) -> dict[str, Any]:
    disks: list[dict[str, Any]] = []
    if rp.provisioning_state == "Creating":
        # Choice (no recording shows it): before the copy is initiated there are no disk restore points to
        # report, so the lists are empty. A client must not read "every disk succeeded" from an empty list.
        return {"diskRestorePoints": [], "statuses": []}
    if rp.copy is None:
        # Spec example RestorePoint_Get_WithInstanceView: a disk restore point may carry snapshotAccessState.
        access = None
        if rp.snapshot_access is not None:
            available = rp.snapshot_available_at is None or now >= rp.snapshot_available_at
            access = "Available" if available else rp.snapshot_access
        for disk in metadata.disk_entries(rp.source_metadata):
            entry: dict[str, Any] = {
                "id": disk["diskRestorePoint"]["id"],
                "replicationStatus": {"status": _status(progress.SUCCEEDED), "completionPercent": 100},
            }
            if access is not None:
                entry["snapshotAccessState"] = access
            disks.append(entry)
        codes = [progress.SUCCEEDED] * len(disks)
    else:
        if rp.provisioning_state == "Failed":
            states = [progress.DiskProgress(d.disk_restore_point_id, progress.FAILED, 0) for d in rp.copy.disks]
        else:
            states = progress.job_progress(rp.copy, now)
        for state in states:
            disks.append(
                {
                    "id": state.disk_restore_point_id,
                    "replicationStatus": {"status": _status(state.code), "completionPercent": state.percent},
                }
            )
        codes = [s.code for s in states]
    return {"diskRestorePoints": disks, "statuses": [_status(progress.aggregate(codes))]}


def operation(op: Operation, status: str) -> dict[str, Any]:
    """Recorded (every Compute operation poll, 2021-2025): ``{"startTime"[, "endTime"], "status", "name"}``,
    no ``id``. ``error`` on failure follows ARM's async-operation contract (no failure was recorded)."""
    body: dict[str, Any] = {"startTime": format_time(op.start)}
    if op.end is not None:
        body["endTime"] = format_time(op.end)
    body["status"] = status
    body["name"] = op.op_id
    if op.failed_error is not None:
        body["error"] = op.failed_error
    return body
