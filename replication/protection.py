"""Is every VM protected? The protection report, computed from what exists in Azure.

Pure functions: the entry point (``functions/protection.py``) reads the collections and the instance
views and passes them in with the time to measure against, so the report is as right after a crash, a
purge of Durable history or a copy made by hand as in a quiet run: the target collection is the truth.

Per lane (a source collection and one target region):

* the newest source restore point and its time;
* the newest **usable** copy: provisioningState ``Succeeded`` and every disk restore point's replication
  status ``ReplicationState/succeeded`` (Learn: "Cross-region copy of VM restore points": a restore point
  is usable only when all its disk restore points succeeded). A copy's ``timeCreated`` is its source's
  (recorded: azure-cli ``test_copy_vm_restore_point.yaml``), so it is the source time the copy represents,
  even when the source restore point has since been deleted;
* RPO now: the age of that source time; the objective (``rpoHours`` of the policy target, default
  :data:`DEFAULT_RPO_HOURS`) and whether it is met;
* the copies pending, copying (with per-disk percent), failed and skipped, with reasons (``planning``);
* the bytes of disks copied: the provisioned sizes of the disks of its succeeded copies (and of those copying),
  from ``sourceMetadata.storageProfile`` ``diskSizeGB`` of each copy as the target collection's
  ``$expand=restorePoints`` shows it (:func:`disk_bytes`), so it costs no read beyond the one the lane needs anyway.

A lane is ``protected`` (a usable copy within the objective), ``at-risk`` (a usable copy, objective missed)
or ``unprotected`` (no usable copy); ``unknown`` when it could not be read. A source is as bad as its worst
lane; the fleet summary counts sources.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .ids import normalize
from .model import CollectionInfo, CopyObservation, RestorePointInfo
from .planning import CopyState, creation_order, plan_lane
from .retention import RetentionRule, mark_expired
from .status import _STATE_WORDS

GIB = 1024**3  # managed disk sizes are binary gigabytes (GiB)
DEFAULT_RPO_HOURS = 26.0  # a daily restore point plus two hours to copy it
SUCCEEDED = "replicationstate/succeeded"
MAX_REASON = 300
_RANK = {"protected": 0, "unknown": 1, "at-risk": 2, "unprotected": 3}


def parse_time(text: str | None) -> datetime | None:
    """ARM's ``timeCreated`` (ISO 8601, ``Z`` or an offset, up to 7 fractional digits) as aware UTC."""
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = value.partition(".")
    if dot:  # Python 3.11 parses at most 6 fractional digits
        digits = "".join(ch for ch in rest if ch.isdigit())
        tail = rest[len(digits) :]
        value = f"{head}.{digits[:6]}{tail}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def disk_failed(code: str | None, level: str | None) -> bool:
    return (level or "").lower() == "error" or (code or "").lower().endswith("/failed")


def usable(observation: CopyObservation) -> bool:
    """Every disk restore point succeeded, and there is at least one (an empty list proves nothing)."""
    if observation["provisioningState"].lower() != "succeeded" or not observation["disks"]:
        return False
    return all((d["code"] or "").lower() == SUCCEEDED for d in observation["disks"])


def disk_bytes(restore_point: Mapping[str, Any]) -> int | None:
    """The provisioned size in bytes of a restore point's disks (``diskSizeGB`` x 2^30), None when none is shown.

    Why this property: a restore point's ``sourceMetadata.storageProfile`` names each disk with its
    ``diskSizeGB`` (spec ``RestorePointSourceVMOSDisk`` / ``...DataDisk``, read-only; recorded on a copy's GET:
    azure-cli ``test_copy_vm_restore_point.yaml`` 2023-10, ``"diskSizeGB": 30``; Learn "Cross-region copy of VM
    restore points" shows it as a string, ``"10"``). Neither the instance view nor any other property carries a
    size or the bytes transferred (copies after the first are incremental: /work/shared §2), so this is the size
    of what is protected, not of the traffic. A disk without a size counts nothing; no size at all is unknown.
    """
    storage = ((restore_point.get("properties") or {}).get("sourceMetadata") or {}).get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    sizes = []
    for disk in disks:
        try:
            sizes.append(int(float(disk["diskSizeGB"]) * GIB))
        except (KeyError, TypeError, ValueError):
            continue
    return sum(sizes) if sizes else None


def collection_disk_bytes(collection: Mapping[str, Any]) -> dict[str, int | None]:
    """Normalised restore point id -> :func:`disk_bytes`, for a collection body read with ``$expand=restorePoints``."""
    points = (collection.get("properties") or {}).get("restorePoints") or []
    return {normalize(p["id"]): disk_bytes(p) for p in points if p.get("id")}


def copies_newest_first(target: CollectionInfo | None, source: CollectionInfo | None = None) -> list[RestorePointInfo]:
    """The target's restore points that may be usable copies (provisioningState Succeeded), newest first:
    the order in which the entry point reads instance views until it finds a usable one. Each copy carries
    the time of the source restore point it represents (``source_times``)."""
    if target is None:
        return []
    times = source_times(source)
    points = [
        {**p, "timeCreated": times.get(normalize(p.get("sourceRestorePointId") or ""), p["timeCreated"])}
        for p in target["restorePoints"]
        if p["provisioningState"].lower() == "succeeded"
    ]
    return list(reversed(creation_order(points)))  # type: ignore[arg-type]


def source_times(source: CollectionInfo | None) -> dict[str, str | None]:
    """Normalised source restore point id -> its timeCreated: the time a copy of it represents (a copy's own
    time is used only when its source is gone)."""
    return {normalize(p["id"]): p["timeCreated"] for p in (source or {"restorePoints": []})["restorePoints"]}


def lane_protection(
    source: CollectionInfo,
    target: CollectionInfo | None,
    region: str,
    objective_hours: float,
    observations: Mapping[str, CopyObservation | None],
    now: datetime,
    *,
    target_collection_id: str | None = None,
    disk_bytes: Mapping[str, int | None] | None = None,
    retention: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One lane's row of the report. ``observations`` maps normalised target restore point ids to what
    ``$expand=instanceView`` showed (None: gone); a copy not observed is not counted as usable. ``disk_bytes``
    maps normalised target restore point ids to their disks' size (:func:`collection_disk_bytes`); without it
    the bytes are unknown (None), never 0. ``retention`` (the policy target's rule): restore points outside it
    with no copy are counted ``expired``, not skipped."""
    plan = mark_expired(plan_lane(source, target, region), target, RetentionRule.from_json(retention), now)
    ordered = creation_order(source["restorePoints"])
    newest_source = ordered[-1] if ordered else None
    usable_copy: RestorePointInfo | None = None
    for point in copies_newest_first(target, source):
        seen = observations.get(normalize(point["id"]))
        if seen is not None and usable(seen):
            usable_copy = point
            break
    represented = parse_time(usable_copy["timeCreated"]) if usable_copy else None
    age = (now - represented).total_seconds() / 3600 if represented else None
    met = age is not None and age <= objective_hours
    copies = {"pending": 0, "copying": 0, "succeeded": 0, "failed": 0, "skipped": 0, "waiting": 0, "expired": 0}
    in_flight: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    sizes = disk_bytes
    bytes_copied = 0 if sizes is not None else None
    bytes_copying = 0 if sizes is not None else None

    def size_of(target_id: str | None) -> int | None:
        return None if sizes is None or not target_id else sizes.get(normalize(target_id))

    for c in plan.copies:
        word = _STATE_WORDS[c.state]
        seen = observations.get(normalize(c.target_id)) if c.target_id else None
        if c.state is CopyState.UNCONFIRMED and seen is not None and usable(seen):
            word = "succeeded"
        elif (
            c.state is CopyState.UNCONFIRMED
            and seen is not None
            and any(disk_failed(d["code"], d["level"]) for d in seen["disks"])
        ):
            word = "failed"
        copies[word] = copies.get(word, 0) + 1
        if word == "succeeded" and bytes_copied is not None:
            bytes_copied += size_of(c.target_id) or 0
        if word == "copying" and bytes_copying is not None:
            bytes_copying += size_of(c.target_id) or 0
        if word == "copying":
            disks = [{"name": d["name"], "percent": d["percent"]} for d in (seen or {"disks": []})["disks"]]
            known = [d["percent"] for d in disks if d["percent"] is not None]
            in_flight.append(
                {
                    "sourceRestorePointId": c.source["id"],
                    "name": c.source["name"],
                    "targetRestorePointId": c.target_id,
                    "sourceTime": c.source["timeCreated"],
                    "percent": min(known) if known else None,
                    "diskBytes": size_of(c.target_id),
                    "disks": disks,
                }
            )
        elif word == "failed":
            failures.append(_row(c.source, c.target_id, c.reason or "a disk restore point failed to copy"))
        elif word == "skipped":
            skipped.append(_row(c.source, c.target_id, c.reason or "cannot be copied"))
    state = "unprotected" if usable_copy is None else ("protected" if met else "at-risk")
    row: dict[str, Any] = {
        "sourceCollectionId": source["id"],
        "sourceName": source["name"],
        "sourceRegion": source["location"],
        "region": region,
        "targetCollectionId": target["id"] if target is not None else target_collection_id,
        "targetExists": target is not None,
        "state": state,
        "newestSource": None
        if newest_source is None
        else {"id": newest_source["id"], "name": newest_source["name"], "time": newest_source["timeCreated"]},
        "newestUsableCopy": None
        if usable_copy is None
        else {
            "id": usable_copy["id"],
            "name": usable_copy["name"],
            "sourceTime": _iso(represented),
            "diskBytes": size_of(usable_copy["id"]),
        },
        "rpoHours": None if age is None else round(age, 2),
        "objectiveHours": objective_hours,
        "objectiveMet": met,
        "copies": copies,
        "diskBytesCopied": bytes_copied,
        "diskBytesCopying": bytes_copying,
        "inFlight": in_flight,
        "failures": failures[-10:],
        "skipped": skipped[-10:],
    }
    if plan.blocked:
        row["blocked"] = plan.blocked[:MAX_REASON]
    return row


def aged(lane: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A lane read earlier, its RPO measured again at ``now`` (what was read stays what was read: a cached or
    stale lane still ages, so an outage that stops reads cannot freeze a lane at "protected")."""
    copy = lane.get("newestUsableCopy")
    if lane.get("state") == "unknown" or not copy:
        return dict(lane)
    represented = parse_time(copy.get("sourceTime"))
    if represented is None:
        return dict(lane)
    age = (now - represented).total_seconds() / 3600
    met = age <= float(lane["objectiveHours"])
    return {**lane, "rpoHours": round(age, 2), "objectiveMet": met, "state": "protected" if met else "at-risk"}


def _row(point: RestorePointInfo, target_id: str | None, reason: str) -> dict[str, Any]:
    row: dict[str, Any] = {"sourceRestorePointId": point["id"], "name": point["name"], "reason": reason[:MAX_REASON]}
    if target_id:
        row["targetRestorePointId"] = target_id
    return row


def unknown_lane(source_id: str, region: str, objective_hours: float, reason: str) -> dict[str, Any]:
    """A lane that could not be read now (ARM refused, or this request's read budget was spent)."""
    return {
        "sourceCollectionId": source_id,
        "region": region,
        "state": "unknown",
        "reason": reason[:MAX_REASON],
        "objectiveHours": objective_hours,
        "objectiveMet": None,
    }


def source_state(lanes: Iterable[Mapping[str, Any]]) -> str:
    """A source is as bad as its worst lane."""
    worst = "protected"
    for lane in lanes:
        if _RANK.get(lane["state"], 1) > _RANK[worst]:
            worst = lane["state"]
    return worst


def report(lanes: list[dict[str, Any]], now: datetime, **extra: Any) -> dict[str, Any]:
    """The whole report: the lanes, each source with no usable copy in some region, the fleet summary."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for lane in lanes:
        by_source.setdefault(normalize(lane["sourceCollectionId"]), []).append(lane)
    summary = {"sources": len(by_source), "protected": 0, "atRisk": 0, "unprotected": 0, "unknown": 0}
    key = {"protected": "protected", "at-risk": "atRisk", "unprotected": "unprotected", "unknown": "unknown"}
    unprotected: list[dict[str, Any]] = []
    for group in by_source.values():
        summary[key[source_state(group)]] += 1
        missing = [lane["region"] for lane in group if lane["state"] == "unprotected"]
        if missing:
            unprotected.append({"sourceCollectionId": group[0]["sourceCollectionId"], "regions": missing})
    summary["lanes"] = len(lanes)
    summary["lanesObjectiveMissed"] = sum(1 for lane in lanes if lane.get("objectiveMet") is False)
    ordered = sorted(lanes, key=lambda lane: (normalize(lane["sourceCollectionId"]), lane["region"]))
    return {"asOf": _iso(now), "summary": summary, "unprotected": unprotected, "lanes": ordered, **extra}


CSV_COLUMNS = (
    "sourceCollectionId",
    "region",
    "state",
    "newestSourceName",
    "newestSourceTime",
    "newestUsableCopyName",
    "newestUsableCopySourceTime",
    "rpoHours",
    "objectiveHours",
    "objectiveMet",
    "pending",
    "copying",
    "failed",
    "skipped",
    "diskBytesCopied",
    "diskBytesCopying",
    "reason",
)


def to_csv(doc: Mapping[str, Any]) -> str:
    """One line per lane (RFC 4180, ``\\r\\n``); cells that a spreadsheet would run as a formula are quoted
    with a leading apostrophe (OWASP "CSV injection")."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for lane in doc["lanes"]:
        newest = lane.get("newestSource") or {}
        copy = lane.get("newestUsableCopy") or {}
        counts = lane.get("copies") or {}
        reasons = [f["reason"] for f in lane.get("failures") or []]
        reason = lane.get("reason") or lane.get("blocked") or (reasons[-1] if reasons else "")
        cells = [
            lane["sourceCollectionId"],
            lane["region"],
            lane["state"],
            newest.get("name"),
            newest.get("time"),
            copy.get("name"),
            copy.get("sourceTime"),
            lane.get("rpoHours"),
            lane.get("objectiveHours"),
            lane.get("objectiveMet"),
            counts.get("pending"),
            counts.get("copying"),
            counts.get("failed"),
            counts.get("skipped"),
            lane.get("diskBytesCopied"),
            lane.get("diskBytesCopying"),
            reason,
        ]
        writer.writerow([_cell(v) for v in cells])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
