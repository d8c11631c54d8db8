"""Decide, per lane, what is done, what is copying, what to copy next and what never can be.

Pure functions over the plain data that activities read from ARM. What exists in the target
collection is the truth (each target restore point names its ``sourceRestorePoint.id``), so a
plan made after a crash, a duplicate trigger or a manual copy is as right as one made in a quiet
run. Azure's copy rules are encoded here, once:

* a source restore point is copied at most once per target region;
* copies follow creation order: once a newer one is copied, an older one never can be;
* one copy at a time per lane; lanes of one collection are independent;
* a copy is never copied again (a collection whose ``source.id`` is a collection is a copy);
* nothing is copied within its own region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .ids import is_collection_id, normalize, same_id
from .model import CollectionInfo, RestorePointInfo
from .regions import normalize_region


class CopyState(StrEnum):
    COPIED = "copied"  # a target exists and a newer one exists too: finished earlier
    UNCONFIRMED = "unconfirmed"  # the newest target: copying, or finished; monitoring tells
    FAILED_TARGET = "failed-target"  # a target exists with provisioningState Failed
    PENDING = "pending"  # eligible, waiting its turn
    WAITING = "waiting"  # the source restore point is still being created
    OUT_OF_ORDER = "out-of-order"  # older than a copied one: Azure can never copy it
    GIVEN_UP = "given-up"  # failed every attempt in this run
    SOURCE_UNUSABLE = "source-unusable"  # the source restore point failed or is being deleted
    # Outside the target's retention rule, with no copy: retention deleted it or it was never needed. Never
    # planned here (the planner knows no rule): ``retention.mark_expired`` turns OUT_OF_ORDER rows into it.
    EXPIRED = "expired"


class ActionKind(StrEnum):
    COPY = "copy"  # start a copy of a pending restore point
    MONITOR = "monitor"  # watch the newest existing copy until it finishes
    RECOPY = "recopy"  # delete a failed copy, then copy again
    CLEANUP = "cleanup"  # delete a failed copy that can never be re-copied (out of order)
    WAIT = "wait"  # the next restore point is still being created


@dataclass(frozen=True)
class PlannedCopy:
    source: RestorePointInfo
    state: CopyState
    target_id: str | None = None
    reason: str | None = None
    given_up: bool = False  # this run gave up on it: its failed copy is only ever cleaned up


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    source: RestorePointInfo
    target_id: str | None = None


@dataclass(frozen=True)
class LanePlan:
    region: str
    copies: tuple[PlannedCopy, ...] = ()
    blocked: str | None = None  # the whole lane can never copy, and why
    orphans: tuple[str, ...] = field(default=())  # target restore points whose source is gone
    next: Action | None = None

    def count(self, state: CopyState) -> int:
        return sum(1 for c in self.copies if c.state is state)


def creation_order(points: list[RestorePointInfo]) -> list[RestorePointInfo]:
    """Oldest first; the name breaks ties so the order is total and stable."""
    return sorted(points, key=lambda p: (p.get("timeCreated") or "", p["name"].lower()))


def lane_blocked_reason(source: CollectionInfo, target: CollectionInfo | None, region: str) -> str | None:
    """Why a whole lane can never copy, or None."""
    if is_collection_id(source.get("sourceId")):
        return (
            f"the source collection is itself a copy of {source['sourceId']}; Azure does not copy a copy onward or back"
        )
    if normalize_region(source["location"]) == normalize_region(region):
        return f"the source collection is in {region}; Azure does not copy within a region"
    if target is not None and not same_id(target.get("sourceId"), source["id"]):
        return (
            f"target collection {target['id']} belongs to source {target.get('sourceId')}; "
            "restore points of two sources cannot share a target collection"
        )
    if target is not None and normalize_region(target["location"]) != normalize_region(region):
        return f"target collection {target['id']} is in {target['location']}, not {region}"
    return None


def plan_lane(
    source: CollectionInfo,
    target: CollectionInfo | None,
    region: str,
    given_up: frozenset[str] = frozenset(),
    confirmed: frozenset[str] = frozenset(),
    refused: frozenset[str] = frozenset(),
    backlog: str = "all",
) -> LanePlan:
    """Plan one lane.

    ``given_up`` holds normalised ids of source restore points that failed every attempt in this
    run: they are reported, not retried, and do not hold back newer ones. ``confirmed`` holds those
    whose copy this run watched to success, so the newest copy is not watched again.

    ``refused`` holds those Azure refused as out of order: Azure remembers a copy newer than them
    in this region even when the target collection no longer shows it (its copies were deleted out
    of band). Azure's memory cannot be read, only learnt, so after one refusal the lane stops
    walking up the history one refused copy at a time and tries only the newest restore point,
    the one recovery needs; everything older is skipped with that reason.

    ``backlog`` is the policy target's: ``"all"`` copies every restore point in creation order;
    ``"latest"`` copies only the newest pending one and skips the older pending ones, which Azure then
    never copies to this region (a newer one will have been copied).
    """
    region = normalize_region(region)
    blocked = lane_blocked_reason(source, target, region)
    ordered = creation_order(source["restorePoints"])
    if blocked:
        return LanePlan(region, tuple(PlannedCopy(p, CopyState.OUT_OF_ORDER, reason=blocked) for p in ordered), blocked)

    targets = {}
    for t in (target or {"restorePoints": []})["restorePoints"]:
        src = t.get("sourceRestorePointId")
        if src:
            targets[normalize(src)] = t
    source_ids = {normalize(p["id"]) for p in ordered}
    orphans = tuple(t["id"] for key, t in targets.items() if key not in source_ids)

    newest = max((i for i, p in enumerate(ordered) if normalize(p["id"]) in targets), default=-1)
    floor = len(ordered) - 2 if any(normalize(p["id"]) in refused for p in ordered) else -1
    copies: list[PlannedCopy] = []
    for i, point in enumerate(ordered):
        key = normalize(point["id"])
        existing = targets.get(key)
        if existing is not None:
            if existing["provisioningState"].lower() == "failed":
                copies.append(
                    PlannedCopy(point, CopyState.FAILED_TARGET, existing["id"], "the copy failed", key in given_up)
                )
            elif i == newest and key not in confirmed:
                copies.append(PlannedCopy(point, CopyState.UNCONFIRMED, existing["id"]))
            else:
                copies.append(PlannedCopy(point, CopyState.COPIED, existing["id"]))
        elif key in given_up:
            copies.append(PlannedCopy(point, CopyState.GIVEN_UP, reason="failed every attempt"))
        elif key in refused or i <= floor:
            copies.append(PlannedCopy(point, CopyState.OUT_OF_ORDER, reason=_REFUSED))
        elif i < newest:
            copies.append(
                PlannedCopy(
                    point,
                    CopyState.OUT_OF_ORDER,
                    reason="a newer restore point was copied first; Azure copies only in creation order",
                )
            )
        elif point["provisioningState"].lower() in ("creating", "updating"):
            copies.append(PlannedCopy(point, CopyState.WAITING, reason="the source restore point is being created"))
        elif point["provisioningState"].lower() != "succeeded":
            copies.append(
                PlannedCopy(
                    point,
                    CopyState.SOURCE_UNUSABLE,
                    reason=f"the source restore point is {point['provisioningState']}",
                )
            )
        else:
            copies.append(PlannedCopy(point, CopyState.PENDING))
    if backlog == "latest":
        copies = _latest_only(copies)
    return LanePlan(region, tuple(copies), None, orphans, _next_action(copies, newest))


_BACKLOG_SKIPPED = (
    "skipped by the target's backlog policy 'latest' for a newer restore point; once that is copied, "
    "Azure never copies this one to this region"
)


def _latest_only(copies: list[PlannedCopy]) -> list[PlannedCopy]:
    """Backlog ``latest``: every pending copy older than the newest pending (or still being created) one
    is skipped, with the reason."""
    waiting = (CopyState.PENDING, CopyState.WAITING)
    last = max((i for i, c in enumerate(copies) if c.state in waiting), default=-1)
    return [
        PlannedCopy(c.source, CopyState.OUT_OF_ORDER, c.target_id, _BACKLOG_SKIPPED)
        if i < last and c.state in waiting
        else c
        for i, c in enumerate(copies)
    ]


_REFUSED = (
    "Azure refused a copy in this region as out of order (it remembers a newer copy, even if deleted); "
    "only the newest restore point can still be copied"
)


def _next_action(copies: list[PlannedCopy], newest: int) -> Action | None:
    for i, c in enumerate(copies):
        if c.state is CopyState.FAILED_TARGET:
            kind = ActionKind.RECOPY if i == newest and not c.given_up else ActionKind.CLEANUP
            return Action(kind, c.source, c.target_id)
    for c in copies:
        if c.state is CopyState.UNCONFIRMED:
            return Action(ActionKind.MONITOR, c.source, c.target_id)
    for c in copies:
        if c.state is CopyState.PENDING:
            return Action(ActionKind.COPY, c.source)
        if c.state is CopyState.WAITING:
            return Action(ActionKind.WAIT, c.source)
    return None


def queued_after(plan: LanePlan, limit: int) -> list[RestorePointInfo]:
    """The pending copies that follow the next action, in order, up to ``limit``; the run of pending copies
    stops at the first that is not pending (one being created, say).

    A lane copies them one after another without re-reading the collections in between: nothing Azure does
    in the meantime can move a pending restore point ahead of them (new ones are newer), and every copy
    checks its own source right before it starts. What the lane does not re-read is the rest of the plan,
    which is read again when the queue ends or a copy does not succeed."""
    action = plan.next
    if action is None or action.kind not in (ActionKind.COPY, ActionKind.MONITOR) or limit <= 0:
        return []
    after = next((i for i, c in enumerate(plan.copies) if same_id(c.source["id"], action.source["id"])), None)
    if after is None:
        return []
    queued: list[RestorePointInfo] = []
    for c in plan.copies[after + 1 :]:
        if c.state is not CopyState.PENDING or len(queued) >= limit:
            break
        queued.append(c.source)
    return queued
