"""Read one lane from Azure and plan it in one step: what the lane orchestrator and the progress API need.

Plans are made where the data is (in an activity, or in the API), and only the decision crosses into
orchestration history: the restore point lists of a 500-point collection never do, since history is
replayed on every episode and custom status is limited to 16 KB on Azure.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from . import arm
from .ids import InvalidResourceId, normalize, same_id
from .model import CollectionInfo
from .monitoring import CopyPhase, assess
from .planning import ActionKind, LanePlan, plan_lane, queued_after
from .retention import RetentionDecision, RetentionRule, decide_retention, mark_expired, parse_time
from .source_check import check_source
from .status import counts, lane_copies, vanished_failures

log = logging.getLogger(__name__)
RETENTION_ROWS = 10  # deletions a view carries (the lane deletes a few per turn, then re-reads)


def collection_summary(collection: CollectionInfo) -> dict[str, Any]:
    """A collection without its restore points: what starting a lane or creating a target needs."""
    return {k: collection[k] for k in ("id", "name", "location", "sourceId", "tags")}  # type: ignore[literal-required]


def lane_view(
    source: CollectionInfo,
    target: CollectionInfo | None,
    plan: LanePlan,
    given_up: dict[str, dict[str, Any]],
    recent: dict[str, dict[str, Any]],
    *,
    rows: bool = False,
    retention: RetentionDecision | None = None,
    queue: int = 0,
) -> dict[str, Any]:
    """The plan as compact JSON: the next action, the counts, and with ``rows`` every copy; with a
    retention rule, what retention would delete now (``retention``: deleteCount, delete, keepNewest, paused);
    with ``queue``, up to that many pending restore points after the next action (``planning.queued_after``)."""
    copies = lane_copies(plan, {**recent, **given_up}) + vanished_failures(plan, given_up)
    action = plan.next
    view: dict[str, Any] = {
        "source": collection_summary(source),
        "targetExists": target is not None,
        "blocked": plan.blocked,
        "counts": counts(copies),
        "next": None
        if action is None
        else {"kind": action.kind.value, "source": dict(action.source), "targetId": action.target_id},
    }
    if queue:
        view["queue"] = [dict(point) for point in queued_after(plan, queue)]
    if rows:
        view["copies"] = copies
        view["copiesOfDeletedSources"] = list(plan.orphans)
    if retention is not None:
        view["retention"] = retention.to_json(limit=None if rows else RETENTION_ROWS)
    return view


def read_lane(source_id: str, target_id: str, region: str, *args: Any, **options: Any) -> dict[str, Any] | None:
    """Read the source and target collections and plan the lane (``plan_view``'s arguments and options);
    None if the source is gone."""
    arm.admit_reads([source_id, target_id])
    source = arm.read_collection(source_id)
    if source is None:
        return None
    target = arm.read_collection(target_id)
    return plan_view(source, target, region, *args, **options)


def plan_view(
    source: CollectionInfo,
    target: CollectionInfo | None,
    region: str,
    given_up: dict[str, dict[str, Any]] | None = None,
    confirmed: list[str] | None = None,
    refused: list[str] | None = None,
    recent: dict[str, dict[str, Any]] | None = None,
    *,
    rows: bool = False,
    retention: dict[str, Any] | None = None,
    backlog: str = "all",
    now: str | None = None,
    queue: int = 0,
) -> dict[str, Any]:
    """Plan a lane from collections already read.

    ``retention`` (the policy target's rule) adds what retention would delete now; ``now`` is the
    orchestration's clock (ISO), so keepDays follows it; ``queue``: see ``lane_view``."""
    given_up = given_up or {}
    plan = plan_lane(
        source,
        target,
        region,
        frozenset(given_up),
        frozenset(confirmed or ()),
        frozenset(refused or ()),
        backlog=backlog,
    )
    when = parse_time(now) or datetime.now(UTC)
    rule = RetentionRule.from_json(retention)
    decision = decide_retention(source, target, plan, rule, when)
    # Rows outside the rule with no copy read "expired", not "skipped"; the next action is the plan's own
    # (an expired row was out of order: never an action).
    shown = mark_expired(plan, target, rule, when)
    return lane_view(source, target, shown, given_up, recent or {}, rows=rows, retention=decision, queue=queue)


def read_collection_lanes(source_id: str, lanes: list[dict[str, Any]], now: str | None) -> dict[str, Any] | None:
    """Read a source once and plan each of its lanes: ``{"source": summary, "views": {region: view}}``, or None
    if the source is gone. Each ``lanes`` entry is a lane's ``read_lane`` input (``replicate_lane.read_input``).

    The collection orchestrator starts its lanes with these views, so a lane's first turn needs no read of
    its own: Compute's read budget is per subscription and region, and every lane of every collection reads
    the same source region, so one read per collection instead of one per lane is what lets a fleet's first
    copies start at the pace the copy budget allows (bench/fleet.py). A target that cannot be read now is left
    out: that lane reads for itself and waits out or reports what stopped it."""
    arm.admit_reads([source_id, *(lane["targetCollectionId"] for lane in lanes)])
    source = arm.read_collection(source_id)
    if source is None:
        return None
    views: dict[str, Any] = {}
    for lane in lanes:
        try:
            target = arm.read_collection(lane["targetCollectionId"])
        except (arm.ArmFailure, InvalidResourceId) as failure:
            log.info("lane %s: its target is read by the lane itself: %s", lane["region"], failure)
            continue
        views[lane["region"]] = plan_view(
            source,
            target,
            lane["region"],
            lane.get("givenUp"),
            lane.get("confirmed"),
            lane.get("refused"),
            lane.get("recent"),
            retention=lane.get("retention"),
            backlog=lane.get("backlog") or "all",
            now=now,
            queue=int(lane.get("queue") or 0),
        )
    _check_first_copies(views)
    return {"source": collection_summary(source), "views": views}


def _check_first_copies(views: dict[str, Any]) -> None:
    """Every lane of a collection usually starts by copying the same (oldest) restore point: check it once
    (``source_check``) for all of them, as each lane would before its copy. A result can only grow staler
    towards waiting needlessly (a snapshot becomes available for copy, never the other way), so a lane that
    starts later may use it; one that cannot be had now is left to the lanes' own checks."""
    checked: dict[str, Any] = {}
    for view in views.values():
        action = view.get("next") or {}
        if action.get("kind") != ActionKind.COPY.value:
            continue
        key = normalize(action["source"]["id"])
        if key not in checked:
            try:
                checked[key] = {"value": check_source(action["source"]["id"])}
            except arm.ArmFailure as failure:
                log.info("the lanes check %s themselves: %s", action["source"]["name"], failure)
                checked[key] = None
        if checked[key] is not None:
            view["check"] = {"sourceRestorePointId": action["source"]["id"], **checked[key]}


def prune_copy(restore_point_id: str, source_restore_point_id: str, keep_id: str, reason: str) -> dict[str, Any]:
    """Delete one copy retention chose, after checking again, right before the delete, what must hold:
    the newest usable copy (``keep_id``) is there and every disk of it succeeded; the one to delete is
    this app's copy of ``source_restore_point_id`` and finished (never one still copying). Safe to run
    twice: a copy already gone is success. ``{"deleted", "gone", "refused"?}``."""
    if same_id(restore_point_id, keep_id):
        return {"deleted": False, "gone": False, "refused": "it is the newest usable copy"}
    keeper = arm.observe_copy(keep_id)
    if keeper is None or assess(keeper).phase is not CopyPhase.SUCCEEDED:
        return {
            "deleted": False,
            "gone": False,
            "refused": f"the newest usable copy {keep_id.rsplit('/', 1)[-1]} is not confirmed usable now",
        }
    victim = arm.observe_copy(restore_point_id)
    if victim is None:
        return {"deleted": True, "gone": True}
    if not same_id(victim["sourceRestorePointId"], source_restore_point_id):
        return {"deleted": False, "gone": False, "refused": "it is not this app's copy of that source restore point"}
    if victim["provisioningState"].lower() != "deleting" and assess(victim).phase is not CopyPhase.SUCCEEDED:
        return {"deleted": False, "gone": False, "refused": "it is not finished (still copying, or failed)"}
    log.info("retention: deleting %s: %s", restore_point_id, reason)
    gone = arm.delete_restore_point(restore_point_id)
    return {"deleted": True, "gone": gone}
