"""One source collection: read it, make sure every target collection exists, run the lanes.

Instance id: ``replication.ids.collection_instance_id`` of the source, so duplicate or concurrent
triggers for one collection land on one instance. Lanes run in parallel as sub-orchestrations.

Input: ``{"sourceCollectionId", "targets": [Target (with optional "tags" for its collection)], "copy": CopySettings,
"recent"?: {region: [copy outcomes]}}`` (``recent``: carried across ``continue_as_new``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from replication.ids import CollectionRef, lane_instance_id, target_collection_name
from replication.planning import lane_blocked_reason

from .arm_calls import MAX_TRANSIENT_RETRIES, arm_activity, backoff_seconds, describe, sleep

bp = df.Blueprint()

NUDGE_EVENT = "restorePointWritten"  # raised by functions.starter when a trigger finds this running
MAX_NUDGES_DRAINED = 100


@bp.orchestration_trigger(context_name="context")
def replicate_collection(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    source_id: str = spec["sourceCollectionId"]
    status: dict[str, Any] = {"sourceCollectionId": source_id, "phase": "reading", "lanes": []}

    def publish(**changes: Any) -> None:
        status.update(changes)
        context.set_custom_status(dict(status))

    publish()

    read = yield from arm_activity(context, "read_collection", {"collectionId": source_id})
    if not read.get("ok") or read.get("value") is None:
        reason = describe(read) if not read.get("ok") else "the source collection does not exist"
        publish(phase="failed", reason=reason)
        return {"state": "failed", "reason": reason}
    source = read["value"]

    lanes: list[dict[str, Any]] = []
    for target in spec["targets"]:
        region = target["region"]
        ref = CollectionRef(
            target["subscriptionId"], target["resourceGroup"], target_collection_name(source["name"], region)
        )
        lanes.append(
            {
                "region": region,
                "targetCollectionId": ref.id,
                "instanceId": lane_instance_id(context.instance_id, region),
                "state": "pending",
                "reason": lane_blocked_reason(source, None, region),
                "tags": target.get("tags") or {},
            }
        )
    for lane in lanes:
        if lane["reason"]:
            lane["state"] = "blocked"
    publish(phase="preparing-targets", lanes=lanes)

    # Fan out: create or confirm every target collection; retry transient failures on timers.
    todo = [lane for lane in lanes if lane["state"] == "pending"]
    for attempt in range(1, MAX_TRANSIENT_RETRIES + 2):
        results = yield context.task_all(
            [
                context.call_activity(
                    "ensure_target_collection",
                    {
                        "source": source,
                        "targetCollectionId": lane["targetCollectionId"],
                        "region": lane["region"],
                        "tags": lane["tags"],
                    },
                )
                for lane in todo
            ]
        )
        retry = []
        for lane, result in zip(todo, results, strict=True):
            if result.get("ok"):
                lane["state"] = "ready"
            elif (result.get("error") or {}).get("kind") in ("throttled", "transient"):
                retry.append(lane)
                lane["reason"] = describe(result)
            else:
                lane.update(state="blocked", reason=f"target collection: {describe(result)}")
        todo = retry
        if not todo:
            break
        if attempt > MAX_TRANSIENT_RETRIES:
            for lane in todo:
                lane["state"] = "blocked"
            break
        yield from sleep(context, backoff_seconds(attempt))
    publish(phase="copying", lanes=lanes)

    ready = [lane for lane in lanes if lane["state"] == "ready"]
    outcomes = yield context.task_all(
        [
            context.call_sub_orchestrator(
                "replicate_lane",
                {
                    "lane": {
                        "sourceCollectionId": source_id,
                        "targetCollectionId": lane["targetCollectionId"],
                        "region": lane["region"],
                    },
                    "copy": spec["copy"],
                    "instanceBase": lane["instanceId"],
                    "recent": (spec.get("recent") or {}).get(lane["region"]) or [],
                },
                lane["instanceId"],
            )
            for lane in ready
        ]
    )
    for lane, out in zip(ready, outcomes, strict=True):
        lane.update(state=out.get("state", "done"), reason=out.get("reason"))

    # A restore point written while the lanes ran raised a nudge: drain them, and if there was
    # one, run again (the lanes re-plan from Azure, so a nudge for something already copied is cheap).
    nudged = 0
    while nudged < MAX_NUDGES_DRAINED:
        event = context.wait_for_external_event(NUDGE_EVENT)
        now = context.create_timer(context.current_utc_datetime)
        winner = yield context.task_any([event, now])
        if winner is not event:
            break
        nudged += 1
    if nudged and ready:
        publish(phase="re-planning", lanes=lanes)
        # Carry what the lanes just confirmed, so the next round does not re-watch finished copies.
        recent = {lane["region"]: out.get("recent") or [] for lane, out in zip(ready, outcomes, strict=True)}
        context.continue_as_new({**spec, "recent": recent})
        return {}
    final = "done" if all(lane["state"] == "done" for lane in lanes) else "attention"
    publish(phase=final, lanes=lanes)
    return {"state": final, "lanes": [{k: lane[k] for k in ("region", "state", "reason")} for lane in lanes]}
