"""Read one lane from Azure and plan it in one step: what the lane orchestrator and the progress API need.

Plans are made where the data is (in an activity, or in the API), and only the decision crosses into
orchestration history: the restore point lists of a 500-point collection never do, since history is
replayed on every episode and custom status is limited to 16 KB on Azure.
"""

from __future__ import annotations

from typing import Any

from . import arm
from .model import CollectionInfo
from .planning import LanePlan, plan_lane
from .status import counts, lane_copies, vanished_failures


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
) -> dict[str, Any]:
    """The plan as compact JSON: the next action, the counts, and with ``rows`` every copy."""
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
) -> dict[str, Any] | None:
    """Read the source and target collections and plan the lane; None if the source is gone."""
    source = arm.read_collection(source_id)
    if source is None:
        return None
    target = arm.read_collection(target_id)
    given_up = given_up or {}
    plan = plan_lane(source, target, region, frozenset(given_up), frozenset(confirmed or ()), frozenset(refused or ()))
    return lane_view(source, target, plan, given_up, recent or {}, rows=rows)
