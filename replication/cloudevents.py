"""The app's state-change events: CloudEvents 1.0 (JSON format), built here, published by the entry points.

Schema (``specversion`` "1.0", ``datacontenttype`` "application/json"; Learn "CloudEvents v1.0 schema with
Azure Event Grid"):

* ``type``: one of :data:`TYPES`;
* ``source``: the source restore point collection's id (a URI-reference);
* ``subject``: the target region (``westus2``);
* ``id``: unique per event (a consumer dedupes on it; delivery is at least once);
* ``time``: when the app saw the change (RFC 3339, UTC);
* ``data``: ``{"sourceCollectionId", "region", ...}`` plus, for copies, ``sourceRestorePointId``,
  ``targetRestorePointId``, ``attempts``, ``reason``, ``instanceId``; for the RPO, ``rpoHours``,
  ``objectiveHours``, ``newestUsableCopySourceTime``, ``state``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

PREFIX = "RestorePointReplication."
TYPES = (
    PREFIX + "CopyStarted",
    PREFIX + "CopySucceeded",
    PREFIX + "CopyFailed",  # one attempt failed; the app may retry it
    PREFIX + "CopyGivenUp",  # failed every attempt
    PREFIX + "RpoObjectiveMissed",
    PREFIX + "RpoObjectiveMet",  # met again after being missed
)
MAX_REASON = 300


def cloud_event(
    kind: str, source_collection_id: str, region: str, when: datetime, *, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """One event; ``kind`` is the type without :data:`PREFIX`; ``event_id`` for an event that may be sent again
    (the same change announced twice keeps its id, so a consumer that dedupes on it sees it once)."""
    event_type = PREFIX + kind
    if event_type not in TYPES:
        raise ValueError(f"unknown event type {kind!r}")
    body = {"sourceCollectionId": source_collection_id, "region": region}
    for key, value in data.items():
        if value is not None:
            body[key] = value[:MAX_REASON] if key == "reason" and isinstance(value, str) else value
    return {
        "specversion": "1.0",
        "type": event_type,
        "source": source_collection_id,
        "subject": region,
        "id": event_id or str(uuid.uuid4()),
        "time": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": body,
    }


def rpo_changes(
    previous: dict[tuple[str, str], bool], lanes: list[dict[str, Any]], when: datetime
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], bool]]:
    """Events for lanes whose objective changed since ``previous`` ((source lower, region) -> met); a lane
    seen for the first time raises ``RpoObjectiveMissed`` if it is missed and nothing if met. Lanes not
    read now (``objectiveMet`` None) keep their previous state. Returns the events and the new states."""
    events: list[dict[str, Any]] = []
    states = dict(previous)
    for lane in lanes:
        met = lane.get("objectiveMet")
        if met is None:
            continue
        key = (str(lane["sourceCollectionId"]).lower(), str(lane["region"]))
        before = previous.get(key)
        if before is None and met:
            states[key] = True
            continue
        if before is None or before != met:
            copy = lane.get("newestUsableCopy") or {}
            events.append(
                cloud_event(
                    "RpoObjectiveMet" if met else "RpoObjectiveMissed",
                    lane["sourceCollectionId"],
                    lane["region"],
                    when,
                    rpoHours=lane.get("rpoHours"),
                    objectiveHours=lane.get("objectiveHours"),
                    newestUsableCopySourceTime=copy.get("sourceTime"),
                    state=lane.get("state"),
                )
            )
        states[key] = bool(met)
    return events, states


# The last RPO state announced for a lane, kept in Azure on the lane's target collection (a tag), so a restart or a
# second instance knows what was said: "missed" or "met"; no tag means nothing is outstanding (as "met").
RPO_TAG = "rpr-rpo-objective"


def rpo_event_id(lane: dict[str, Any], kind: str) -> str:
    """The same transition always gets the same id: the lane, the kind and the newest usable copy it is about (a
    miss is about the copy that grew too old, a recovery about the copy that arrived), so two instances, or a
    retry after the tag write was lost, announce one event a consumer can dedupe on ``id``."""
    copy = lane.get("newestUsableCopy") or {}
    key = "|".join(
        [
            str(lane["sourceCollectionId"]).lower(),
            str(lane["region"]).lower(),
            kind,
            str(copy.get("sourceTime") or "none"),
            str(lane.get("objectiveHours")),
        ]
    )
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "rpr:" + key))


def rpo_transition(
    stored: str | None, lane: dict[str, Any], when: datetime
) -> tuple[dict[str, Any] | None, str | None]:
    """The event for one lane given the state last announced (``stored``: the :data:`RPO_TAG` value, None when
    absent) and the value to write back (None: write nothing). Only a change is announced and only a change is
    written: a met lane with no tag needs neither (so a steady fleet costs no writes); a lane not read now
    (``objectiveMet`` None) changes nothing."""
    met = lane.get("objectiveMet")
    if met is None:
        return None, None
    now = "met" if met else "missed"
    before = "missed" if (stored or "").strip().lower() == "missed" else "met"
    if now == before:
        return None, None
    kind = "RpoObjectiveMet" if met else "RpoObjectiveMissed"
    copy = lane.get("newestUsableCopy") or {}
    event = cloud_event(
        kind,
        lane["sourceCollectionId"],
        lane["region"],
        when,
        event_id=rpo_event_id(lane, kind),
        rpoHours=lane.get("rpoHours"),
        objectiveHours=lane.get("objectiveHours"),
        newestUsableCopySourceTime=copy.get("sourceTime"),
        state=lane.get("state"),
    )
    return event, now
