"""Progress as people read it: custom status of each orchestration, and the document the API serves.

Custom status must stay small (it is stored with every checkpoint), so each orchestration
publishes what it alone knows: the collection its lanes, a lane its plan and recent outcomes, a
copy its per-disk percent. The API stitches them into one document.
"""

from __future__ import annotations

from typing import Any

from .ids import normalize
from .planning import CopyState, LanePlan

# Plan states as the user-facing copy vocabulary: pending -> copying -> succeeded | failed | skipped | expired.
# ``expired``: outside the target's retention rule with no copy (retention deleted it, or it was never needed);
# ``skipped`` stays for what can never be copied and is still wanted (out of order, the source unusable).
_STATE_WORDS = {
    CopyState.COPIED: "succeeded",
    CopyState.UNCONFIRMED: "copying",
    CopyState.FAILED_TARGET: "failed",
    CopyState.PENDING: "pending",
    CopyState.WAITING: "waiting",
    CopyState.OUT_OF_ORDER: "skipped",
    CopyState.GIVEN_UP: "failed",
    CopyState.SOURCE_UNUSABLE: "skipped",
    CopyState.EXPIRED: "expired",
}


def lane_copies(plan: LanePlan, outcomes: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per restore point of a lane: state and reason; the newest are kept when the list is long.

    ``outcomes`` maps normalised source ids to what this lane's copy orchestrations returned, so a
    row says how many attempts it took and, for a failure, the copy's own reason, not just the plan's.
    """
    outcomes = outcomes or {}
    rows = []
    for c in plan.copies:
        state = _STATE_WORDS[c.state]
        row: dict[str, Any] = {
            "sourceRestorePointId": c.source["id"],
            "name": c.source["name"],
            "state": state,
        }
        if c.target_id:
            row["targetRestorePointId"] = c.target_id
        if c.reason:
            row["reason"] = c.reason
        outcome = outcomes.get(normalize(c.source["id"]))
        if outcome and outcome.get("note"):
            row["note"] = outcome["note"]  # e.g. the restore point excludes disks: its copies lack them
        if outcome and state in ("succeeded", "failed"):
            row["attempts"] = outcome.get("attempts")
            if state == "failed" and outcome.get("reason"):
                row["reason"] = outcome["reason"]
        rows.append(row)
    return rows


def vanished_failures(plan: LanePlan, given_up: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies this lane gave up on whose source restore point is gone (so the plan no longer lists
    them): still reported, because status must say what was given up and why."""
    planned = {normalize(c.source["id"]) for c in plan.copies}
    rows = []
    for key, outcome in given_up.items():
        if key in planned or not outcome.get("sourceRestorePointId"):
            continue
        source_id = str(outcome["sourceRestorePointId"])
        rows.append(
            {
                "sourceRestorePointId": source_id,
                "name": source_id.rsplit("/", 1)[-1],
                "state": "failed",
                "attempts": outcome.get("attempts"),
                "reason": outcome.get("reason") or "failed",
            }
        )
    return rows


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        out[row["state"]] = out.get(row["state"], 0) + 1
    return out


def progress_document(
    collection: dict[str, Any],
    lanes: list[dict[str, Any]],
    copies: dict[str, dict[str, Any]],
    views: dict[str, dict[str, Any] | str] | None = None,
) -> dict[str, Any]:
    """One replication as the API shows it.

    ``collection`` and ``lanes`` are Durable status dicts (``instanceId``, ``runtimeStatus``,
    ``customStatus``, ``output``...); ``copies`` maps a copy instance id to its status dict; ``views``
    maps a lane instance id to its plan read from Azure now (``replication.lanes.read_lane`` with
    rows), or to why it could not be read. Azure is the truth for the list of copies; the live
    per-disk progress of a running copy replaces its row's plan state.
    """
    views = views or {}
    custom = collection.get("customStatus") or {}
    doc: dict[str, Any] = {
        "instanceId": collection.get("instanceId"),
        "sourceCollectionId": custom.get("sourceCollectionId"),
        "runtimeStatus": collection.get("runtimeStatus"),
        "phase": custom.get("phase"),
        "createdTime": collection.get("createdTime"),
        "lastUpdatedTime": collection.get("lastUpdatedTime"),
        "lanes": [],
    }
    if custom.get("reason"):
        doc["reason"] = custom["reason"]
    lane_by_id = {lane.get("instanceId"): lane for lane in lanes}
    for lane_ref in custom.get("lanes") or []:
        lane_id = lane_ref.get("instanceId")
        lane_status = lane_by_id.get(lane_id) or {}
        lane_custom = lane_status.get("customStatus") or {}
        live_lane = lane_status.get("runtimeStatus") in ("Running", "Pending") or lane_ref.get("state") == "running"
        view = views.get(lane_id or "")
        rows = [dict(r) for r in (view.get("copies") or [])] if isinstance(view, dict) else []
        current = lane_custom.get("current") or {}
        live = (copies.get(current.get("instanceId", "")) or {}).get("customStatus") or {}
        for row in rows:
            if live and row["sourceRestorePointId"].lower() == str(live.get("sourceRestorePointId", "")).lower():
                for key in ("state", "attempt", "disks", "targetRestorePointId", "reason", "nextCheckAt"):
                    if live.get(key) is not None:
                        row[key] = live[key]
        lane_doc: dict[str, Any] = {
            "region": lane_ref.get("region"),
            "targetCollectionId": lane_custom.get("targetCollectionId"),
            "instanceId": lane_id,
            "runtimeStatus": lane_status.get("runtimeStatus"),
            "state": (lane_custom.get("state") if live_lane else None)
            or lane_ref.get("state")
            or lane_custom.get("state"),
            "counts": counts(rows) if isinstance(view, dict) else dict(lane_custom.get("counts") or {}),
            "copies": rows,
        }
        if lane_custom.get("until"):
            lane_doc["until"] = lane_custom["until"]
        if isinstance(view, str):
            lane_doc["copiesUnavailable"] = view
        elif isinstance(view, dict) and view.get("copiesOfDeletedSources"):
            # Kept: a copy stays a valid recovery point after its source restore point is deleted.
            lane_doc["copiesOfDeletedSources"] = list(view["copiesOfDeletedSources"])
        # A running lane speaks for itself; one that ended is as the collection recorded its end.
        reason = (
            (lane_custom.get("reason") if live_lane else None) or lane_ref.get("reason") or lane_custom.get("reason")
        )
        if reason:
            lane_doc["reason"] = reason
        doc["lanes"].append(lane_doc)
    return doc
