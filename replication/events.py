"""What the Event Grid trigger acts on, decided from the event alone (no I/O).

The constants are also what the deployed event subscription filters on (infra tests compare the
two), so the filter and the code cannot drift apart. Event Grid delivers at least once and out of
order, subjects vary in case (``resourcegroups``), and one write can raise two events, the first
possibly about a ``deployments/...`` resource (MicrosoftDocs/azure-docs#12166): so the decision
is "collection C may have a new restore point", which is idempotent, never "copy restore point R".
"""

from __future__ import annotations

from typing import Any

from .ids import InvalidResourceId, parse_restore_point_id

RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
RESTORE_POINT_WRITE_OPERATION = "Microsoft.Compute/restorePointCollections/restorePoints/write"


def collection_from_event(event_type: str | None, subject: str | None, data: Any) -> str | None:
    """The restore point collection an event is about, or None if the event is not ours to act on."""
    if (event_type or "").lower() != RESOURCE_WRITE_SUCCESS.lower() or not isinstance(data, dict):
        return None
    if str(data.get("operationName") or "").lower() != RESTORE_POINT_WRITE_OPERATION.lower():
        return None
    status = data.get("status")
    if status is not None and str(status).lower() != "succeeded":
        return None
    for candidate in (data.get("resourceUri"), subject):
        if not isinstance(candidate, str):
            continue
        try:
            return parse_restore_point_id(candidate).collection.id
        except InvalidResourceId:
            continue
    return None
