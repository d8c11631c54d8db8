"""Is a source restore point ready to be copied, and is it whole? Read right before a copy starts.

* Each disk restore point of a source may report ``snapshotAccessState`` (API spec 2025-04-01 and later:
  ``Unknown | Pending | Available | InstantAccess | AvailableWithInstantAccess``; the spec example
  ``RestorePoint_Get_WithInstanceView.json`` shows ``AvailableWithInstantAccess``). ``Pending`` (the
  snapshot is not there yet) and ``InstantAccess`` (only the instant-access snapshot exists, not the
  one a copy reads) are waited for, never failed. Absent, ``Unknown`` and the ``Available*`` states copy.
* A restore point created with ``excludeDisks`` lacks those disks (the same example: an excluded disk is
  listed in ``excludeDisks`` and absent from ``sourceMetadata.storageProfile``), and Azure cannot add disks
  at copy time (Learn, virtual-machines-restore-points-copy). A disk of ``storageProfile`` without a
  ``diskRestorePoint`` is missing. Such a restore point is copied as it is, and the lane says so.
"""

from __future__ import annotations

from typing import Any

from . import arm
from .ids import parse_restore_point_id

NOT_YET_COPYABLE = ("pending", "instantaccess")


def assess_source(body: dict[str, Any]) -> dict[str, Any]:
    """From a source restore point read with ``$expand=instanceView`` (REST shape): ``{"wait": reason or
    None, "notes": [what its copies will lack]}``. Pure."""
    props = body.get("properties") or {}
    view = props.get("instanceView") or {}
    waiting = []
    for disk in view.get("diskRestorePoints") or []:
        state = str(disk.get("snapshotAccessState") or "")
        if state.lower() in NOT_YET_COPYABLE:
            name = str(disk.get("id") or "").rstrip("/").rsplit("/", 1)[-1]
            waiting.append(f"{name} ({state})")
    wait = None
    if waiting:
        wait = f"its disk snapshots are not yet available for copy: {', '.join(waiting[:4])}"
        if len(waiting) > 4:
            wait += f" and {len(waiting) - 4} more"
    notes = []
    excluded = [str((d or {}).get("id") or "").rsplit("/", 1)[-1] for d in props.get("excludeDisks") or []]
    if excluded:
        notes.append(f"the restore point excludes disk(s) {', '.join(excluded)}: its copies do not have them")
    storage = (props.get("sourceMetadata") or {}).get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    missing = [str(d.get("name") or "?") for d in disks if d and not (d.get("diskRestorePoint") or {}).get("id")]
    if missing and props.get("provisioningState", "").lower() == "succeeded":
        notes.append(f"disk(s) {', '.join(missing)} have no disk restore point: its copies do not have them")
    return {"wait": wait, "notes": notes}


def check_source(restore_point_id: str) -> dict[str, Any] | None:
    """Read the source restore point (``$expand=instanceView``) and assess it; None if it is gone."""
    ref = parse_restore_point_id(restore_point_id)
    client = arm.compute_client(ref.collection.subscription_id)
    try:
        rp = arm.call(
            lambda: client.restore_points.get(
                ref.collection.resource_group, ref.collection.name, ref.name, expand="instanceView"
            )
        )
    except arm.ArmFailure as failure:
        if failure.kind == "not_found":
            return None
        raise
    return assess_source(rp.as_dict())
