"""One source collection: read it, then run one lane per target region, each on its own.

Instance id: ``replication.ids.collection_instance_id`` of the source, so duplicate or concurrent
triggers for one collection land on one instance. Lanes run in parallel as sub-orchestrations and
each ends on its own (``sdk_compat.wait_each``): a bad region never holds up a good one, and a lane
that fails never hangs or crashes the collection, which ends with each lane's state and reason.

A trigger that finds this instance running raises a ``restorePointWritten`` nudge. After the lanes,
the instance *settles*: it waits ``SETTLE_SECONDS`` for a nudge (one wait per execution, py#507); a
nudge that came during the run or while settling makes it continue as new and re-plan, carrying
what the lanes learnt (given-up copies, copies Azure refused as out of order, confirmed ones), so
``ON_COPY_FAILURE=stop`` never spends more than ``maxAttempts`` on a restore point across rounds.
While settling, custom status says ``settling`` and until when: a trigger that nudges then cannot
know whether its nudge lands before the end, so it asks to be asked again (``functions.starter``).

Input: ``{"sourceCollectionId", "targets": [Target (with optional "tags")], "copy": CopySettings,
"carry"?: {region: {"givenUp", "refused", "recent", "stopped"?}}, "rechecks"?: n}``.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from replication.ids import CollectionRef, lane_instance_id, legacy_target_collection_name, target_collection_name
from replication.planning import lane_blocked_reason

from .arm_calls import arm_activity, describe, short
from .replicate_lane import MAX_RECHECKS, RECHECK_SECONDS, confirmed_of, read_input
from .sdk_compat import wait_each, wait_for_nudge

bp = df.Blueprint()

NUDGE_EVENT = "restorePointWritten"  # raised by functions.starter when a trigger finds this running
SETTLE_SECONDS = 120.0


@bp.orchestration_trigger(context_name="context")
def replicate_collection(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    source_id: str = spec["sourceCollectionId"]
    carry: dict[str, dict[str, Any]] = dict(spec.get("carry") or {})
    status: dict[str, Any] = {"sourceCollectionId": source_id, "phase": "reading", "lanes": []}

    def publish(**changes: Any) -> None:
        status.update(changes)
        context.set_custom_status(dict(status))

    publish()
    # One read of the source plans every lane too (``replication.lanes.read_collection_lanes``): the lanes
    # start from these views instead of each reading the same source again.
    now = context.current_utc_datetime.isoformat()
    plans = []
    for target in spec["targets"]:
        learnt = carry.get(target["region"]) or {}
        target_id = CollectionRef(
            target["subscriptionId"], target["resourceGroup"], target_collection_name(source_id, target["region"])
        ).id
        lane_spec = {
            "sourceCollectionId": source_id,
            "targetCollectionId": target_id,
            "region": target["region"],
            "retention": target.get("retention"),
            "backlog": target.get("backlog") or "all",
        }
        recent = list(learnt.get("recent") or [])
        plans.append(
            read_input(
                lane_spec, dict(learnt.get("givenUp") or {}), confirmed_of(recent), list(learnt.get("refused") or []),
                recent, now,
            )
        )  # fmt: skip
    # A collection none of whose lanes has a copy confirmed yet is read first when Compute's budget is short.
    urgent = not any(r.get("state") == "succeeded" for learnt in carry.values() for r in learnt.get("recent") or [])
    read = yield from arm_activity(
        context, "read_source", {"collectionId": source_id, "lanes": plans, "now": now, "urgent": urgent}
    )
    if read.get("waiting"):  # Azure unavailable for a long while: keep waiting, in a fresh history
        publish(phase="waiting", reason=f"waiting for Azure: {describe(read)}")
        context.continue_as_new(spec)
        return {}
    if not read.get("ok") and int(spec.get("rechecks") or 0) < MAX_RECHECKS:
        # A person must fix this (a role on the source, say): say what, and look again in an hour, so
        # the fix is noticed without a new restore point.
        reason = f"could not read the source collection: {describe(read)}"
        until = context.current_utc_datetime + timedelta(seconds=RECHECK_SECONDS)
        publish(phase="blocked", reason=reason, until=until.isoformat())
        yield context.create_timer(until)
        context.continue_as_new({**spec, "rechecks": int(spec.get("rechecks") or 0) + 1})
        return {}
    if not read.get("ok") or read.get("value") is None:
        reason = describe(read) if not read.get("ok") else "the source collection does not exist"
        publish(phase="failed", reason=reason)
        return {"state": "failed", "reason": reason}
    source = read["value"]
    views: dict[str, Any] = source.get("views") or {}
    spec = {**spec, "rechecks": 0}

    lanes: list[dict[str, Any]] = []
    for target in spec["targets"]:
        region = target["region"]
        ref = CollectionRef(
            target["subscriptionId"], target["resourceGroup"], target_collection_name(source_id, region)
        )
        legacy = CollectionRef(
            target["subscriptionId"], target["resourceGroup"], legacy_target_collection_name(source["name"], region)
        )
        skip = lane_blocked_reason({**source, "restorePoints": []}, None, region)
        lanes.append(
            {
                "region": region,
                "instanceId": lane_instance_id(context.instance_id, region),
                "targetCollectionId": ref.id,
                "legacyTargetCollectionId": legacy.id,
                "state": "skipped" if skip else "running",
                "reason": skip,
                "tags": target.get("tags") or {},
                "retention": target.get("retention"),
                "backlog": target.get("backlog") or "all",
            }
        )
    publish(phase="copying", reason=None, lanes=[_row(lane) for lane in lanes])

    for lane in lanes:
        held = (carry.get(lane["region"]) or {}).get("stopped")
        if held and lane["state"] == "running":
            # ON_COPY_FAILURE=stop: a re-plan does not restart a lane that stopped for a person.
            lane.update(state="stopped", reason=held)
    publish(lanes=[_row(lane) for lane in lanes])
    running = [lane for lane in lanes if lane["state"] == "running"]
    tasks = [
        context.call_sub_orchestrator(
            "replicate_lane",
            {
                "lane": {
                    "sourceCollectionId": source_id,
                    "targetCollectionId": lane["targetCollectionId"],
                    "legacyTargetCollectionId": lane["legacyTargetCollectionId"],
                    "region": lane["region"],
                    "tags": lane["tags"],
                    "retention": lane["retention"],
                    "backlog": lane["backlog"],
                },
                "copy": spec["copy"],
                "instanceBase": lane["instanceId"],
                **(carry.get(lane["region"]) or {}),
                **({"view": views[lane["region"]]} if lane["region"] in views else {}),
            },
            lane["instanceId"],
        )
        for lane in running
    ]

    def lane_ended(index: int, result: dict[str, Any]) -> None:
        lane = running[index]
        out = result.get("value") if result["ok"] else None
        if not isinstance(out, dict):
            lane.update(state="failed", reason=_LANE_CRASHED.format(lane["instanceId"]))
        else:
            lane.update(state=out.get("state", "done"), reason=out.get("reason"))
            learnt = {k: out.get(k) or ([] if k in ("refused", "recent") else {}) for k in _CARRIED}
            if lane["state"] == "stopped":
                learnt["stopped"] = lane["reason"]
            carry[lane["region"]] = learnt
        publish(lanes=[_row(lane) for lane in lanes])

    yield from wait_each(context, tasks, lane_ended)
    rows = [_row(lane) for lane in lanes]

    until = context.current_utc_datetime + timedelta(seconds=SETTLE_SECONDS)
    publish(phase="settling", lanes=rows, settlingUntil=until.isoformat())
    nudge = yield from wait_for_nudge(context, NUDGE_EVENT, SETTLE_SECONDS)
    if nudge is not None:
        if nudge.get("byPerson"):  # a person asked: stopped lanes run again
            carry = {region: {k: v for k, v in learnt.items() if k != "stopped"} for region, learnt in carry.items()}
        publish(phase="re-planning", settlingUntil=None)
        context.continue_as_new({**spec, "carry": carry})
        return {}
    final = "done" if all(lane["state"] in ("done", "skipped") for lane in lanes) else "attention"
    publish(phase=final, settlingUntil=None)
    return {"state": final, "lanes": rows}


_CARRIED = ("givenUp", "refused", "recent", "pruned")
_LANE_CRASHED = (
    "the lane stopped unexpectedly (its instance {} failed; see the app's logs); the next trigger or sweep "
    "runs it again"
)


def _row(lane: dict[str, Any]) -> dict[str, Any]:
    """A lane as the collection's custom status carries it (small: no copies, a short reason)."""
    row = {k: lane[k] for k in ("region", "instanceId", "state")}
    if lane.get("reason"):
        row["reason"] = short(str(lane["reason"]))
    return row
