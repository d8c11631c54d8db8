"""Azure access the protection report needs beyond ``replication.arm``'s readers (issue 13), kept apart so those
readers stay as they are.

* :func:`read_collection_with_disk_bytes`: the same one GET as ``arm.read_collection`` (``$expand=restorePoints``,
  Compute's ``LowCostGetRestorePoint...`` budget), also keeping each restore point's disk sizes
  (``replication.protection.disk_bytes``) before ``sourceMetadata`` is dropped: bytes of disks copied cost no read
  of their own.
* :func:`tag_collection`: one ``PATCH`` of a collection's tags (``RestorePointCollections_Update``; only tags may
  change, Learn "Cross-region copy of VM restore points": "On update only tags may change"). The protection check
  writes the lane's last announced RPO state there, on transitions only. Its Compute budget is the collection
  update policy (recorded ``UpdateRestorePointCollectionResource`` / ``...SubscriptionMaximum``, azure-cli
  ``test_restore_point_collection.yaml`` 2025-03; docs/emulator.md "Compute throttling"), paced like every call.
"""

from __future__ import annotations

from azure.mgmt.compute import models as m

from . import arm
from .ids import parse_collection_id
from .model import CollectionInfo
from .protection import collection_disk_bytes


def read_collection_with_disk_bytes(collection_id: str) -> tuple[CollectionInfo | None, dict[str, int | None]]:
    """A collection with its restore points, and normalised restore point id -> its disks' bytes; (None, {}) if
    the collection does not exist. Nothing of ``sourceMetadata`` but the sizes is kept (it carries secrets
    references and custom data: ``replication.arm`` drops it for the same reason)."""
    ref = parse_collection_id(collection_id)
    client = arm.compute_client(ref.subscription_id)
    try:
        body = arm.call(
            lambda: client.restore_point_collections.get(ref.resource_group, ref.name, expand="restorePoints")
        )
    except arm.ArmFailure as failure:
        if failure.kind == "not_found":
            return None, {}
        raise
    raw = body.as_dict()
    info = arm._collection_info(raw)
    arm._learn_group_casing(info["id"])
    return info, collection_disk_bytes(raw)


def tag_collection(collection_id: str, tags: dict[str, str]) -> dict[str, str]:
    """Set the collection's tags to ``tags`` (the whole map: a PATCH replaces it) and return what Azure kept."""
    ref = parse_collection_id(collection_id)
    client = arm.compute_client(ref.subscription_id)
    updated = arm.call(
        lambda: client.restore_point_collections.update(
            ref.resource_group, ref.name, m.RestorePointCollectionUpdate(tags=dict(tags))
        )
    )
    return dict(updated.tags or {})
