"""Activities: each does one ARM thing, is safe to run twice, and returns an ``ArmResult`` envelope.

ARM failures are returned as data (``{"ok": false, "error": {...}}``), not raised: the orchestrator
decides whether to wait on a durable timer, retry, or give up with the reason. Only a bug raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df

from replication import arm
from replication.ids import InvalidResourceId, parse_collection_id

bp = df.Blueprint()
log = logging.getLogger(__name__)


def _envelope(name: str, work: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": work()}
    except arm.ArmFailure as failure:
        log.warning("%s: ARM %s: %s", name, failure.kind, failure)
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
def ensure_target_collection(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the target collection bound to the source, or confirm the existing one."""
    return _envelope(
        "ensure_target_collection",
        lambda: arm.ensure_target_collection(
            payload["source"],
            parse_collection_id(payload["targetCollectionId"]),
            payload["region"],
            payload.get("tags") or {},
        ),
    )


@bp.activity_trigger(input_name="payload")
def start_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """PUT the target restore point with ``sourceRestorePoint`` (or find it already started)."""
    return _envelope(
        "start_copy",
        lambda: arm.start_copy(payload["targetCollectionId"], payload["name"], payload["sourceRestorePointId"]),
    )


@bp.activity_trigger(input_name="payload")
def get_copy_status(payload: dict[str, Any]) -> dict[str, Any]:
    """The copy's ``$expand=instanceView``, reduced to provisioning state and per-disk progress."""
    return _envelope("get_copy_status", lambda: arm.observe_copy(payload["restorePointId"]))


@bp.activity_trigger(input_name="payload")
def delete_restore_point(payload: dict[str, Any]) -> dict[str, Any]:
    """Ask ARM to delete a (failed) copy; ``value`` is True once it is gone."""
    return _envelope("delete_restore_point", lambda: arm.delete_restore_point(payload["restorePointId"]))
