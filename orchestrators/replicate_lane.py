"""One lane (source collection -> target region): copy restore points one at a time, oldest first.

Each turn re-reads the source and the target and re-plans (``replication.planning``): what exists
in the target is the truth, so restore points that arrive while the lane runs are picked up, and
a lane restarted after a crash carries on where Azure says it is. Each copy is a
sub-orchestration. ``continue_as_new`` after a batch keeps this history bounded however many
restore points a collection has.

Input: ``{"lane": Lane, "copy": CopySettings, "instanceBase", "givenUp": {id: outcome}, "recent": [...]}``:
``givenUp`` keeps every copy this run gave up on with its reason (carried across ``continue_as_new``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from replication.ids import copy_instance_id, normalize
from replication.planning import ActionKind, plan_lane
from replication.status import counts, lane_copies, vanished_failures

from .arm_calls import arm_activity, describe, sleep

bp = df.Blueprint()

COPIES_PER_EXECUTION = 5  # then continue_as_new: bounded history
MAX_WAITS_FOR_SOURCE = 6  # x 10 minutes for a source restore point still being created
MAX_RECENT = 20


@bp.orchestration_trigger(context_name="context")
def replicate_lane(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    lane, settings = spec["lane"], spec["copy"]
    given_up: dict[str, dict[str, Any]] = dict(spec.get("givenUp") or {})
    recent: list[dict[str, Any]] = list(spec.get("recent") or [])
    confirmed = {normalize(r["sourceRestorePointId"]) for r in recent if r.get("state") == "succeeded"}
    done_here = waits = 0
    status: dict[str, Any] = {"region": lane["region"], "targetCollectionId": lane["targetCollectionId"]}

    def publish(state: str, **extra: Any) -> None:
        status.update(state=state, **extra)
        context.set_custom_status(dict(status))

    def finish(state: str, reason: str | None = None) -> dict[str, Any]:
        publish(state, reason=reason, current=None)
        out = {"region": lane["region"], "state": state, "copies": status.get("copies", []), "recent": recent}
        if reason:
            out["reason"] = reason
        return out

    while True:
        publish("planning")
        source = yield from arm_activity(context, "read_collection", {"collectionId": lane["sourceCollectionId"]})
        if not source.get("ok"):
            return finish(_stop_state(source), f"could not read the source collection: {describe(source)}")
        if source.get("value") is None:
            return finish("failed", "the source collection no longer exists")
        target = yield from arm_activity(context, "read_collection", {"collectionId": lane["targetCollectionId"]})
        if not target.get("ok"):
            return finish(_stop_state(target), f"could not read the target collection: {describe(target)}")
        plan = plan_lane(
            source["value"], target.get("value"), lane["region"], frozenset(given_up), frozenset(confirmed)
        )
        rows = lane_copies(plan, {**{normalize(r["sourceRestorePointId"]): r for r in recent}, **given_up})
        rows += vanished_failures(plan, given_up)
        publish(
            "planning",
            copies=rows,
            counts=counts(rows),
            recent=recent[-MAX_RECENT:],
            copiesOfDeletedSources=plan.orphans,
        )
        if plan.blocked:
            return finish("blocked", plan.blocked)
        action = plan.next
        if action is None:
            failed = [r for r in rows if r["state"] == "failed"]
            return finish("done" if not failed else "done-with-failures")
        if action.kind is ActionKind.WAIT:
            if waits >= MAX_WAITS_FOR_SOURCE:
                return finish("waiting", f"{action.source['name']} is still being created; a later run copies it")
            waits += 1
            publish("waiting", reason=f"{action.source['name']} is still being created")
            yield from sleep(context, 600.0)
            continue
        if action.kind is ActionKind.CLEANUP and action.target_id:
            publish("cleaning", reason=f"deleting failed copy {action.target_id}, which can never be re-copied")
            deleted = yield from arm_activity(context, "delete_restore_point", {"restorePointId": action.target_id})
            if not deleted.get("ok"):
                return finish("failed", f"could not delete a failed copy: {describe(deleted)}")
            if deleted.get("value") is not True:
                yield from sleep(context, 60.0)
            continue

        child_id = copy_instance_id(spec["instanceBase"], action.source["id"])
        publish("copying", current={"instanceId": child_id, "sourceRestorePointId": action.source["id"]})
        result: dict[str, Any] = yield context.call_sub_orchestrator(
            "copy_restore_point",
            {
                "lane": lane,
                "source": action.source,
                "targetName": action.source["name"],
                "targetRestorePointId": action.target_id,
                "mode": action.kind.value,
                "copy": settings,
            },
            child_id,
        )
        recent = [*recent, result][-MAX_RECENT:]
        if result["state"] == "interrupted":
            # Not a failure: Azure could not be reached or read. Stop here, in order; the next
            # trigger or sweep resumes exactly where Azure says this lane is.
            return finish("paused", f"{action.source['name']}: {result.get('reason')}")
        if result["state"] == "succeeded":
            confirmed.add(normalize(result["sourceRestorePointId"]))
        else:
            given_up[normalize(result["sourceRestorePointId"])] = {
                "sourceRestorePointId": result["sourceRestorePointId"],
                "attempts": result.get("attempts"),
                "reason": result.get("reason"),
            }
            if settings.get("onFailure") == "stop":
                return finish("stopped", f"{action.source['name']}: {result.get('reason')}; waiting for a person")
        done_here += 1
        if done_here >= COPIES_PER_EXECUTION:
            publish("continuing", current=None)
            context.continue_as_new({**spec, "givenUp": given_up, "recent": recent})
            return {}


def _stop_state(result: dict[str, Any]) -> str:
    """``paused`` when ARM was only unavailable (a later run resumes), ``failed`` when it refused."""
    return "paused" if (result.get("error") or {}).get("kind") in ("throttled", "transient") else "failed"
