"""Activities: each does one ARM thing, is safe to run twice, and returns an ``ArmResult`` envelope.

ARM failures are returned as data (``{"ok": false, "error": {...}}``), not raised: the orchestrator
decides whether to wait on a durable timer, retry, or give up with the reason. Only a bug raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df

from replication import arm
from replication.ids import InvalidResourceId, parse_collection_id
from replication.lanes import collection_summary, prune_copy, read_collection_lanes
from replication.lanes import read_lane as read_and_plan_lane
from replication.orphans import read_orphan
from replication.protection import disk_failed
from replication.retention import parse_time
from replication.source_check import check_source

from . import protection, state_events, telemetry

bp = df.Blueprint()
log = logging.getLogger(__name__)


def _envelope(name: str, work: Callable[[], Any], urgent: Any = False) -> dict[str, Any]:
    """``urgent``: the payload's flag for work on a lane with no usable copy yet (``arm.urgent``)."""
    try:
        with arm.urgent(bool(urgent)):
            return {"ok": True, "value": work()}
    except arm.ArmFailure as failure:
        log.warning("%s: ARM %s: %s", name, failure.kind, failure)
        if failure.kind in ("throttled", "copy_quota"):
            telemetry.throttled(failure.kind, name)
        return {"ok": False, "error": failure.to_json()}
    except InvalidResourceId as error:
        return {
            "ok": False,
            "error": {"kind": "invalid", "status": None, "code": None, "message": str(error)},
        }


@bp.activity_trigger(input_name="payload")
def read_collection(payload: dict[str, Any]) -> dict[str, Any]:
    """A collection with its restore points, or ``value: null`` if it does not exist."""
    return _envelope("read_collection", lambda: arm.read_collection(payload["collectionId"]))


@bp.activity_trigger(input_name="payload")
def read_source(payload: dict[str, Any]) -> dict[str, Any]:
    """A collection without its restore points (what starting lanes needs), or ``value: null``; with
    ``lanes`` (each a lane's ``read_lane`` input), each lane planned from this one read too: ``views``."""

    def work() -> dict[str, Any] | None:
        if payload.get("lanes"):
            read = read_collection_lanes(payload["collectionId"], payload["lanes"], payload.get("now"))
            return None if read is None else {**read["source"], "views": read["views"]}
        found = arm.read_collection(payload["collectionId"])
        return None if found is None else collection_summary(found)

    return _envelope("read_source", work, payload.get("urgent"))


@bp.activity_trigger(input_name="payload")
def read_lane(payload: dict[str, Any]) -> dict[str, Any]:
    """Read a lane's source and target collections and plan it; only the plan's decision comes back
    (``replication.lanes``), or ``value: null`` when the source collection is gone."""
    return _envelope(
        "read_lane",
        lambda: read_and_plan_lane(
            payload["sourceCollectionId"],
            payload["targetCollectionId"],
            payload["region"],
            payload.get("givenUp"),
            payload.get("confirmed"),
            payload.get("refused"),
            payload.get("recent"),
            retention=payload.get("retention"),
            backlog=payload.get("backlog") or "all",
            now=payload.get("now"),
            queue=int(payload.get("queue") or 0),
        ),
        payload.get("urgent"),
    )


@bp.activity_trigger(input_name="payload")
def ensure_target_collection(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the target collection bound to the source, or confirm the existing one: its summary, and
    ``empty`` when it holds no restore points (a lane's plan made without a target still holds then)."""

    def work() -> dict[str, Any]:
        made = arm.ensure_target_collection(
            payload["source"],
            parse_collection_id(payload["targetCollectionId"]),
            payload["region"],
            payload.get("tags") or {},
            parse_collection_id(payload["legacyTargetCollectionId"])
            if payload.get("legacyTargetCollectionId")
            else None,
            absent=bool(payload.get("absent")),
        )
        return {**collection_summary(made), "empty": not made["restorePoints"]}

    return _envelope("ensure_target_collection", work, payload.get("urgent"))


# Telemetry only: where each copy this process started belongs, and when it started (lost on a restart: the
# counters then say "unknown" for the region and no duration is recorded).
_copies: dict[str, dict[str, Any]] = {}
_COPIES_MAX = 10_000


@bp.activity_trigger(input_name="payload")
def start_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """PUT the target restore point with ``sourceRestorePoint`` (or find it already started)."""
    result = _envelope(
        "start_copy",
        lambda: arm.start_copy(
            payload["targetCollectionId"],
            payload["name"],
            payload["sourceRestorePointId"],
            absent=bool(payload.get("absent")),
        ),
        payload.get("urgent"),
    )
    if result["ok"]:
        target_id = result["value"]["id"]
        lane = {"sourceCollectionId": payload.get("sourceCollectionId") or "", "region": payload.get("region") or ""}
        key = target_id.lower()
        if key not in _copies:
            if len(_copies) >= _COPIES_MAX:
                _copies.clear()
            _copies[key] = {**lane, "startedAt": protection.utc_now()}
            telemetry.copy_started(lane["region"] or "unknown")
            telemetry.event(
                "copy started", collection=lane["sourceCollectionId"], region=lane["region"], target=target_id
            )
            state_events.copy_event(
                "CopyStarted",
                lane,
                protection.utc_now(),
                sourceRestorePointId=payload["sourceRestorePointId"],
                targetRestorePointId=target_id,
            )
    return result


@bp.activity_trigger(input_name="payload")
def get_copy_status(payload: dict[str, Any]) -> dict[str, Any]:
    """The copy's ``$expand=instanceView``, reduced to provisioning state and per-disk progress."""
    result = _envelope("get_copy_status", lambda: arm.observe_copy(payload["restorePointId"]))
    seen = result.get("value") if result["ok"] else None
    if seen and (
        seen["provisioningState"].lower() == "failed" or any(disk_failed(d["code"], d["level"]) for d in seen["disks"])
    ):
        lane = _copies.pop(seen["id"].lower(), None) or {"sourceCollectionId": "", "region": "unknown"}
        telemetry.copy_failed(lane["region"])
        telemetry.event("copy attempt failed", collection=lane["sourceCollectionId"], region=lane["region"])
        state_events.copy_event(
            "CopyFailed",
            lane,
            protection.utc_now(),
            targetRestorePointId=seen["id"],
            sourceRestorePointId=seen["sourceRestorePointId"],
            reason="a disk restore point failed to copy",
        )
    return result


@bp.activity_trigger(input_name="payload")
def copy_outcome(payload: dict[str, Any]) -> dict[str, Any]:
    """Telemetry and events for one copy orchestration's outcome (called by the lane, safe to run twice)."""
    lane, result = payload["lane"], payload["result"]
    state = result.get("state")
    started = _copies.pop(str(result.get("targetRestorePointId") or "").lower(), None)
    now = protection.utc_now()
    seconds = (now - started["startedAt"]).total_seconds() if started else None
    telemetry.copy_outcome(lane["region"], str(state), seconds)
    telemetry.event(
        {"succeeded": "copy succeeded", "failed": "copy given up"}.get(str(state), f"copy {state}"),
        collection=lane["sourceCollectionId"],
        region=lane["region"],
        instance=payload.get("instanceId"),
        attempts=result.get("attempts"),
        reason=result.get("reason"),
    )
    kind = {"succeeded": "CopySucceeded", "failed": "CopyGivenUp"}.get(str(state))
    if kind:
        state_events.copy_event(
            kind,
            lane,
            now,
            sourceRestorePointId=result.get("sourceRestorePointId"),
            targetRestorePointId=result.get("targetRestorePointId"),
            attempts=result.get("attempts"),
            reason=result.get("reason"),
            instanceId=payload.get("instanceId"),
            durationSeconds=None if seconds is None else round(seconds),
        )
    return {"ok": True, "value": None}


@bp.activity_trigger(input_name="payload")
def delete_restore_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Ask ARM to delete a (failed) copy; ``value`` is True once it is gone."""
    return _envelope("delete_restore_point", lambda: arm.delete_restore_point(payload["restorePointId"]))


@bp.activity_trigger(input_name="payload")
def prune_restore_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Delete one copy retention chose, re-checking first that the newest usable copy is there and that this
    one is the app's finished copy (``replication.lanes.prune_copy``); ``value``: ``{"deleted", "gone",
    "refused"?}``. Safe to run twice."""
    return _envelope(
        "prune_restore_point",
        lambda: prune_copy(
            payload["restorePointId"],
            payload["sourceRestorePointId"],
            payload["keepRestorePointId"],
            payload.get("reason") or "",
        ),
    )


@bp.activity_trigger(input_name="payload")
def check_source_restore_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Before a copy: are the source's disk snapshots available for copy, and does it lack disks?
    ``value``: ``{"wait", "notes"}`` (``replication.source_check``), or null if the source is gone."""
    return _envelope(
        "check_source_restore_point", lambda: check_source(payload["restorePointId"]), payload.get("urgent")
    )


@bp.activity_trigger(input_name="payload")
def read_orphan_lane(payload: dict[str, Any]) -> dict[str, Any]:
    """A target collection whose source collection may be gone: the source GET again (only a 404 makes it an
    orphan), the target and its newest copy's instance view, and what retention deletes now
    (``replication.orphans.read_orphan``; ``now`` is the orchestration's clock, so keepDays follows it)."""
    return _envelope(
        "read_orphan_lane",
        lambda: read_orphan(
            payload["targetCollectionId"],
            payload["sourceCollectionId"],
            payload.get("retention"),
            parse_time(payload.get("now")) or datetime.now(UTC),
        ),
    )
