"""JSON bodies in the shapes of the REST spec examples (azure-spec-examples/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emulator import progress
from emulator.clock import format_time
from emulator.models import Collection, Operation, RestorePoint, Subscription

RPC_TYPE = "Microsoft.Compute/restorePointCollections"
RP_TYPE = "Microsoft.Compute/restorePointCollections/restorePoints"


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


def collection(c: Collection, restore_points: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "source": {"id": c.source_id, "location": c.source_location},
        "restorePointCollectionId": c.guid,
        "provisioningState": "Deleting" if c.deleting_op else "Succeeded",
    }
    if restore_points is not None:
        properties["restorePoints"] = restore_points
    return {
        "name": c.name,
        "id": c.rpc_id,
        "type": RPC_TYPE,
        "location": c.location,
        "tags": dict(c.tags),
        "properties": properties,
    }


def restore_point(rp: RestorePoint, now: datetime, *, instance_view: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if rp.source_restore_point_id is not None:
        properties["sourceRestorePoint"] = {"id": rp.source_restore_point_id}
    properties["sourceMetadata"] = rp.source_metadata
    if rp.instant_access_minutes is not None:
        properties["instantAccessDurationMinutes"] = rp.instant_access_minutes
    properties["provisioningState"] = "Deleting" if rp.deleting_op else rp.provisioning_state
    properties["consistencyMode"] = rp.consistency_mode
    properties["timeCreated"] = format_time(rp.time_created)
    if instance_view:
        properties["instanceView"] = _instance_view(rp, now)
    return {"name": rp.name, "id": rp.rp_id, "type": RP_TYPE, "properties": properties}


def _status(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "level": progress.STATUS_LEVEL[code],
        "displayStatus": progress.STATUS_DISPLAY[code],
    }


def _instance_view(rp: RestorePoint, now: datetime) -> dict[str, Any]:
    disks: list[dict[str, Any]] = []
    if rp.copy is None:
        from emulator.metadata import disk_entries

        for disk in disk_entries(rp.source_metadata):
            disks.append(
                {
                    "id": disk["diskRestorePoint"]["id"],
                    "replicationStatus": {"status": _status(progress.SUCCEEDED), "completionPercent": 100},
                }
            )
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
    body: dict[str, Any] = {
        "id": op.op_id,
        "name": op.op_id,
        "status": status,
        "startTime": format_time(op.start),
    }
    if op.end is not None:
        body["endTime"] = format_time(op.end)
    if op.failed_error is not None:
        body["error"] = op.failed_error
    return body
