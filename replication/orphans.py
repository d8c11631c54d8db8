"""Target collections whose whole source collection is gone ("orphans"): which are this app's, and what
retention may delete from them.

A lane runs only for a source collection that exists, so when a whole source collection is deleted its
target collections would never be pruned. The sweep lists every collection of its scope; a target collection
(``properties.source.id`` is a collection) that is **bound to a policy target** (its source lies in the
policy's source scope, and it sits where that target puts copies: the target's subscription, resource group
and region, under the app's name ``<name>-<region>-<8 hex>`` or the name of earlier releases,
``replication.ids``) and whose source is **not** on the listed page is a candidate. A list never proves a
source gone (it may be in another subscription, or on another page, or a page may be missing): the sweep
confirms each candidate with a GET of the source that answers 404, and the orphan lane
(``orchestrators/orphan_lane.py``) reads it again before each decision. A deleted collection's GET is ARM's
404 ``ResourceNotFound`` (recorded: azure-sdk-for-net ``CreateRpcAndRestorePoints.json`` 2021 and 2023, see
docs/emulator.md's conformance table); ``arm.read_collection`` returns None only for a 404 and raises for
anything else (a 403 for a source in a subscription the app cannot read is not "gone").

What retention deletes is ``replication.retention.decide`` with every copy's source gone: only with the
target's ``whenSourceGone: retention``; copies are ordered by the copy's own ``timeCreated`` (the source
restore point, and so its time, is gone; recordings show a copy's own time equal to its source's, the FAQ says
the copy's own creation time, and a copy is never created before its source, so this can only err towards
keeping); never the newest copy unless its instance view shows every disk succeeded (then it is kept: it is
the last recovery point of that VM in that region), never one not finished, never anything without a
``sourceRestorePoint``. With ``keep`` (the default) or no rule nothing is deleted, and the reason says the
source collection is gone. Tags cannot be checked (the source is gone): scope by location, placement and
name is what binds a target collection to the policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from . import arm
from .ids import (
    InvalidResourceId,
    is_collection_id,
    legacy_target_collection_name,
    normalize,
    parse_collection_id,
    same_id,
    target_collection_name,
)
from .model import CollectionInfo, Target
from .monitoring import CopyPhase, assess
from .policy import Policy
from .regions import normalize_region
from .retention import CopyFacts, RetentionDecision, RetentionRule, decide, parse_time

GONE = "the source collection is gone"
ROWS = 10  # deletions a view carries when rows are not asked for (the lane deletes a few per turn, then re-reads)


def gone_source(source_id: str) -> CollectionInfo:
    """A source collection that no longer exists, as far as its id tells (templates need only the id)."""
    ref = parse_collection_id(source_id)
    return {"id": ref.id, "name": ref.name, "location": "", "sourceId": None, "tags": {}, "restorePoints": []}


def bound_target(policy: Policy, collection: CollectionInfo) -> Target | None:
    """The policy target this target collection was made for, or None if it is not this app's to prune."""
    source_id = collection.get("sourceId")
    if not source_id or not is_collection_id(source_id) or not policy.covers_location(source_id):
        return None
    try:
        ref = parse_collection_id(collection["id"])
        source = gone_source(source_id)
    except InvalidResourceId:
        return None
    location = normalize_region(collection.get("location") or "")
    for target in policy.targets_for(source):
        region = target["region"]
        if region != location:
            continue
        if (ref.subscription_id.lower(), ref.resource_group.lower()) != (
            target["subscriptionId"].lower(),
            target["resourceGroup"].lower(),
        ):
            continue
        names = {
            target_collection_name(source_id, region).lower(),
            legacy_target_collection_name(source["name"], region).lower(),
        }
        if ref.name.lower() in names:
            return target
    return None


class SeenSources:
    """Collections a listing or a read showed to exist, and when (process-wide, like the pacer).

    Each sweep lists target collections with the sources; without this, every target whose source is on another
    page would cost a GET of its source on every sweep: at 1,000 collections and 2 regions about 2,000 reads of
    the source region's budget every 6 hours (bench/fleet.py), the budget first copies wait on. A source seen
    within ``horizon`` (a day) is taken to exist, so a gone source is noticed within a day plus a sweep, and
    pruning a gone source's copies waits that long: never longer than a day of keeping more than the rule."""

    def __init__(self, clock: Callable[[], float] = time.time, horizon: float = 86400.0, limit: int = 200_000) -> None:
        self._clock, self.horizon, self.limit = clock, horizon, limit
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        with self._lock:
            self._seen.clear()
            if clock is not None:
                self._clock = clock

    def saw(self, collection_ids: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._seen) > self.limit:
                self._seen.clear()
            for collection_id in collection_ids:
                self._seen[normalize(collection_id)] = now

    def recently(self, collection_id: str) -> bool:
        with self._lock:
            when = self._seen.get(normalize(collection_id))
        return when is not None and self._clock() - when < self.horizon


def candidates(
    policy: Policy, items: list[CollectionInfo], page: list[CollectionInfo] | None = None
) -> list[tuple[CollectionInfo, Target]]:
    """Bound target collections among ``items`` whose source the listed ``page`` (default: ``items``) does not
    show, so may be gone: the caller GETs each source and acts only on a 404. A source on the page exists (a
    list is evidence that something exists, never that it does not): no GET is spent on it."""
    listed = {normalize(c["id"]) for c in (items if page is None else page)}
    out = []
    for collection in items:
        if normalize(collection.get("sourceId") or "") in listed:
            continue
        target = bound_target(policy, collection)
        if target is not None:
            out.append((collection, target))
    return out


def _newest(target: CollectionInfo) -> dict[str, Any] | None:
    """The newest copy the app made, by its own time (the only one that may still be copying: the lane made
    them one at a time, and a failed one was deleted before the next started)."""
    dated = [
        (t, p) for p in target["restorePoints"] if p.get("sourceRestorePointId") and (t := parse_time(p["timeCreated"]))
    ]
    if not dated:
        return None
    return dict(max(dated, key=lambda tp: (tp[0], tp[1]["name"].lower()))[1])


def newest_to_confirm(target: CollectionInfo) -> str | None:
    """The copy whose instance view must show every disk succeeded before anything is deleted, or None when
    the newest copy is not even provisioned (then nothing is)."""
    newest = _newest(target)
    if newest is None or newest["provisioningState"].lower() != "succeeded":
        return None
    return str(newest["id"])


def orphan_facts(target: CollectionInfo, confirmed: frozenset[str]) -> list[CopyFacts]:
    """The target's restore points as retention sees them, every source gone. ``confirmed``: normalised ids
    of copies whose instance view showed every disk succeeded (the newest one needs it)."""
    newest = _newest(target)
    facts = []
    for p in target["restorePoints"]:
        prov = p["provisioningState"].lower()
        is_newest = newest is not None and same_id(p["id"], newest["id"])
        unconfirmed = is_newest and normalize(p["id"]) not in confirmed
        facts.append(
            CopyFacts(
                id=p["id"],
                name=p["name"],
                source_restore_point_id=p.get("sourceRestorePointId"),
                source_time=None,
                own_time=p.get("timeCreated"),
                source_exists=False,
                provisioning_state=p["provisioningState"],
                usable=prov == "succeeded" and not unconfirmed,
                copying=prov in ("creating", "updating") or (prov == "succeeded" and unconfirmed),
            )
        )
    return facts


def decide_orphan(
    target: CollectionInfo, rule: RetentionRule | None, now: datetime, confirmed: frozenset[str]
) -> RetentionDecision:
    """What retention deletes now from a target collection whose source collection is gone."""
    if rule is None or (rule.keep_last is None and rule.keep_days is None):
        return RetentionDecision(paused=f"{GONE}; the target has no retention rule: every copy is kept")
    if rule.when_source_gone != "retention":
        return RetentionDecision(
            paused=f"{GONE}; whenSourceGone keep: every copy is kept (they are the last of its data)"
        )
    return decide(orphan_facts(target, confirmed), rule, now, collection_gone=True)


def copy_rows(target: CollectionInfo, decision: RetentionDecision, confirmed: frozenset[str]) -> list[dict[str, Any]]:
    """Per copy in the target collection, oldest first: ``succeeded`` | ``copying`` | ``failed`` | ``expired``
    (retention deletes it now, with the reason); a copy the app did not make is listed as ``foreign``."""
    deleting = {normalize(d.id): d.reason for d in decision.delete}
    facts = {normalize(f.id): f for f in orphan_facts(target, confirmed)}
    rows = []
    for p in sorted(target["restorePoints"], key=lambda p: (p.get("timeCreated") or "", p["name"].lower())):
        key, fact = normalize(p["id"]), facts[normalize(p["id"])]
        row: dict[str, Any] = {
            "name": p["name"],
            "targetRestorePointId": p["id"],
            "sourceRestorePointId": p.get("sourceRestorePointId"),
            "timeCreated": p.get("timeCreated"),
        }
        prov = p["provisioningState"].lower()
        if not p.get("sourceRestorePointId"):
            row["state"] = "foreign"
        elif key in deleting:
            row.update(state="expired", reason=deleting[key])
        elif prov == "failed":
            row["state"] = "failed"
        elif fact.usable and prov == "succeeded":
            row["state"] = "succeeded"
        else:
            row["state"] = "copying" if prov != "deleting" else "deleting"
        rows.append(row)
    return rows


def read_orphan(
    target_collection_id: str,
    source_collection_id: str,
    retention: dict[str, Any] | None,
    now: datetime,
    *,
    rows: bool = False,
) -> dict[str, Any]:
    """Read an orphan from Azure now and decide: ``{"sourceExists", "targetExists", "retention"?, "copies"?}``.

    The source is read first, every time: only a 404 makes it an orphan (an ARM failure raises, so nothing is
    decided from a failed read). Then the target collection, and the instance view of its newest copy (one
    GET: nothing may be deleted unless it is usable; skipped with ``keep`` unless rows are asked for)."""
    if arm.read_collection(source_collection_id) is not None:
        return {"sourceExists": True, "targetExists": None}
    target = arm.read_collection(target_collection_id)
    if target is None:
        return {"sourceExists": False, "targetExists": False}
    if not same_id(target.get("sourceId"), source_collection_id):
        return {"sourceExists": False, "targetExists": True, "boundTo": target.get("sourceId")}
    confirmed: frozenset[str] = frozenset()
    rule = RetentionRule.from_json(retention)
    newest = newest_to_confirm(target)
    # The instance view costs a read: only worth it when something could be deleted, or rows are shown.
    if newest is not None and (rows or (rule is not None and rule.when_source_gone == "retention")):
        seen = arm.observe_copy(newest)
        if seen is not None and assess(seen).phase is CopyPhase.SUCCEEDED:
            confirmed = frozenset({normalize(newest)})
    decision = decide_orphan(target, rule, now, confirmed)
    view: dict[str, Any] = {
        "sourceExists": False,
        "targetExists": True,
        "targetCollectionId": target["id"],
        "copyCount": len(target["restorePoints"]),
        "retention": decision.to_json(limit=None if rows else ROWS),
    }
    if rows:
        view["copies"] = copy_rows(target, decision, confirmed)
    return view


def dry_run_gone(policy: Policy, source_id: str, now: datetime) -> dict[str, Any]:
    """``"dryRun": true`` for a source collection that no longer exists: per policy target, its target
    collection (the app's name, else the name of earlier releases, as a lane would adopt it) and what
    retention would delete from it now and why. Nothing is written."""
    lanes = []
    source = gone_source(source_id)
    for target in policy.targets_for(source):
        region = target["region"]
        found: dict[str, Any] | None = None
        target_id = ""
        for name in (target_collection_name(source_id, region), legacy_target_collection_name(source["name"], region)):
            ref = parse_collection_id(
                f"/subscriptions/{target['subscriptionId']}/resourceGroups/{target['resourceGroup']}"
                f"/providers/Microsoft.Compute/restorePointCollections/{name}"
            )
            target_id = target_id or ref.id
            view = read_orphan(ref.id, source_id, target.get("retention"), now, rows=True)
            if view.get("sourceExists"):
                return {"dryRun": True, "sourceCollectionId": source_id, "sourceCollectionGone": False, "lanes": []}
            if view.get("targetExists") and not view.get("boundTo"):
                found, target_id = view, ref.id
                break
        lane: dict[str, Any] = {
            "region": region,
            "targetCollectionId": target_id,
            "targetCollectionExists": found is not None,
            "sourceCollectionGone": True,
        }
        lane["copies"] = found["copies"] if found is not None else []
        if found is not None:
            lane["retention"] = found["retention"]
        lanes.append(lane)
    return {"dryRun": True, "sourceCollectionId": source_id, "sourceCollectionGone": True, "lanes": lanes}
