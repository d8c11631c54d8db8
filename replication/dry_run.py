"""What a replication would do, without writing anything: the plan per lane, with reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .ids import CollectionRef, legacy_target_collection_name, normalize, same_id, target_collection_name
from .model import CollectionInfo, Target
from .planning import CopyState, lane_blocked_reason, plan_lane
from .retention import RetentionRule, decide_retention, mark_expired
from .status import counts, lane_copies


def dry_run(
    source: CollectionInfo,
    targets: list[Target],
    read: Callable[[str], CollectionInfo | None],
    now: datetime | None = None,
) -> dict[str, Any]:
    """``read`` fetches a collection by id (the ARM reader in the app, a dict in tests). A target with a
    retention rule gets ``retention``: what retention would delete now and why, or why it is paused
    (pruning runs only after the lane's copies, so pending copies pause it here as they would there)."""
    now = now or datetime.now(UTC)
    lanes = []
    for target in targets:
        ref = CollectionRef(
            target["subscriptionId"], target["resourceGroup"], target_collection_name(source["id"], target["region"])
        )
        blocked = lane_blocked_reason(source, None, target["region"])
        existing = None if blocked else read(ref.id)
        if existing is None and not blocked:  # adopted, as the lane would: the name of earlier releases
            legacy = CollectionRef(
                ref.subscription_id, ref.resource_group, legacy_target_collection_name(source["name"], target["region"])
            )
            found = read(legacy.id)
            if found is not None and same_id(found.get("sourceId"), source["id"]):
                ref, existing = legacy, found
        plan = plan_lane(source, existing, target["region"], backlog=str(target.get("backlog") or "all"))
        rule = RetentionRule.from_json(target.get("retention"))
        rows = lane_copies(mark_expired(plan, existing, rule, now))  # pruned copies read "expired", not "skipped"
        lane: dict[str, Any] = {
            "region": target["region"],
            "targetCollectionId": ref.id,
            "targetCollectionExists": existing is not None,
            "counts": counts(rows),
            "copies": rows,
        }
        if plan.blocked:
            lane["blocked"] = plan.blocked
        if plan.next is not None:
            lane["next"] = {"action": plan.next.kind.value, "sourceRestorePointId": plan.next.source["id"]}
        if plan.orphans:
            lane["copiesWhoseSourceIsGone"] = list(plan.orphans)
        # A dry run does not watch copies: it assumes the newest provisioned copy finished (the lane
        # confirms that before it prunes, and prune_restore_point checks it again before each delete).
        newest = [c for c in plan.copies if c.state is CopyState.UNCONFIRMED]
        assumed = plan
        if newest:
            assumed = plan_lane(
                source,
                existing,
                target["region"],
                confirmed=frozenset(normalize(c.source["id"]) for c in newest),
                backlog=str(target.get("backlog") or "all"),
            )
        decision = decide_retention(source, existing, assumed, rule, now)
        if decision is not None:
            lane["retention"] = decision.to_json()
            if newest:
                lane["retention"]["assumes"] = f"the newest copy {newest[0].source['name']} finished"
            if plan.next is not None and decision.delete:
                lane["retention"]["note"] = "the lane copies first; pruning runs after its copies"
        lanes.append(lane)
    return {"dryRun": True, "sourceCollectionId": source["id"], "lanes": lanes}
