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
from .ids import same_id
from .model import CollectionInfo
from .monitoring import CopyPhase, assess
from .planning import LanePlan, plan_lane
from .retention import RetentionDecision, RetentionRule, decide_retention, mark_expired, parse_time
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
) -> dict[str, Any]:
    """The plan as compact JSON: the next action, the counts, and with ``rows`` every copy; with a
    retention rule, what retention would delete now (``retention``: deleteCount, delete, keepNewest, paused)."""
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
    if rows:
        view["copies"] = copies
        view["copiesOfDeletedSources"] = list(plan.orphans)
    if retention is not None:
        view["retention"] = retention.to_json(limit=None if rows else RETENTION_ROWS)
    return view


def read_lane(
    source_id: str,
    target_id: str,
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
) -> dict[str, Any] | None:
    """Read the source and target collections and plan the lane; None if the source is gone.

    ``retention`` (the policy target's rule) adds what retention would delete now; ``now`` is the
    orchestration's clock (ISO), so keepDays follows it."""
    source = arm.read_collection(source_id)
    if source is None:
        return None
    target = arm.read_collection(target_id)
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
    return lane_view(source, target, shown, given_up, recent or {}, rows=rows, retention=decision)


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
