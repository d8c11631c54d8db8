"""One restore point copied along one lane: start, watch with durable timers, clean up and retry.

Input: ``{"lane": Lane, "source": RestorePointInfo, "targetName", "mode": copy|monitor|recopy,
"targetRestorePointId"?, "copy": CopySettings, "resume"?: {"attempt", "startedAt", "checks"}}`` (``resume``
is how a long copy carries on after ``continue_as_new``). Output: the outcome, never an exception for an
ARM failure: ``{"sourceRestorePointId", "targetRestorePointId", "state": succeeded|failed|interrupted,
"attempts", "reason"?}``. ``interrupted``: ARM could not be reached or read for long enough that the lane
should pause and a later run resume; nothing was given up and no copy was deleted for it.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from replication.ids import parse_collection_id
from replication.monitoring import COPY_DEADLINE_SECONDS, CopyPhase, assess, next_check_delay

from .arm_calls import arm_activity, backoff_seconds, describe, sleep

bp = df.Blueprint()

DELETE_CHECKS = 20
TRANSIENT = ("throttled", "transient")
LOOKS_PER_EXECUTION = 25  # then continue_as_new: a two-week copy must not grow one history without bound


@bp.orchestration_trigger(context_name="context")
def copy_restore_point(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    lane, source, settings = spec["lane"], spec["source"], spec["copy"]
    target_id = spec.get("targetRestorePointId") or parse_collection_id(lane["targetCollectionId"]).restore_point_id(
        spec["targetName"]
    )
    status: dict[str, Any] = {
        "sourceRestorePointId": source["id"],
        "targetRestorePointId": target_id,
        "region": lane["region"],
        "state": "starting",
        "attempt": 1,
        "disks": [],
    }

    def publish(**changes: Any) -> None:
        status.update(changes)
        context.set_custom_status(dict(status))

    def outcome(state: str, attempts: int, reason: str | None = None) -> dict[str, Any]:
        publish(state=state, reason=reason)
        result = {
            "sourceRestorePointId": source["id"],
            "targetRestorePointId": target_id,
            "state": state,
            "attempts": attempts,
        }
        if reason:
            result["reason"] = reason
        return result

    if spec.get("mode") == "recopy":
        publish(state="cleaning", reason="a failed copy is deleted before copying again")
        gone, why, transient = yield from _delete_and_wait(context, target_id)
        if not gone:
            return outcome("interrupted" if transient else "failed", 0, f"could not delete the failed copy: {why}")

    resume: dict[str, Any] = spec.get("resume") or {}
    attempt = int(resume.get("attempt") or 1)
    while True:
        publish(state="starting", attempt=attempt, disks=[], reason=None)
        started = yield from arm_activity(
            context,
            "start_copy",
            {
                "targetCollectionId": lane["targetCollectionId"],
                "name": target_id.rsplit("/", 1)[-1],
                "sourceRestorePointId": source["id"],
            },
        )
        if not started.get("ok"):
            if (started.get("error") or {}).get("kind") in TRANSIENT:
                # ARM would not take the copy for now: no attempt is spent, the lane pauses in order.
                return outcome("interrupted", attempt - 1, f"could not start the copy: {describe(started)}")
            return outcome("failed", attempt, describe(started))
        failure = yield from _watch(context, started["value"], settings, publish, resume)
        resume = {}
        if isinstance(failure, dict) and failure.get("kind") == "interrupted":
            # We could not watch it; the copy itself may be fine, so it is never deleted for this.
            return outcome("interrupted", attempt, failure["reason"])
        if isinstance(failure, dict):  # a long copy: carry on in a fresh history
            context.continue_as_new(
                {
                    **spec,
                    "mode": "monitor",
                    "targetRestorePointId": target_id,
                    "resume": {"startedAt": failure["startedAt"], "checks": failure["checks"], "attempt": attempt},
                }
            )
            return {}
        if failure is None:
            return outcome("succeeded", attempt)
        source_gone = yield from _source_gone(context, source["id"])
        if source_gone:
            failure = "the source restore point was deleted; it can no longer be copied"
        publish(state="cleaning", reason=failure)
        gone, why, transient = yield from _delete_and_wait(context, target_id)
        if source_gone or attempt >= int(settings["maxAttempts"]):
            # Given up. A failed copy that could not be deleted now is deleted by a later run
            # (the planner's cleanup), never left behind for good.
            note = "" if gone else f"; the failed copy could not be deleted yet: {why}"
            tail = "" if source_gone else f" (gave up after {attempt} attempts)"
            return outcome("failed", attempt, f"{failure}{tail}{note}")
        if not gone:
            state = "interrupted" if transient else "failed"
            return outcome(state, attempt, f"{failure}; the failed copy could not be deleted: {why}")
        publish(state="backoff", reason=failure)
        yield from sleep(context, backoff_seconds(attempt, base=300.0))
        attempt += 1


def _watch(
    context: df.DurableOrchestrationContext,
    observation: dict[str, Any],
    settings: dict[str, Any],
    publish: Any,
    resume: dict[str, Any],
) -> Generator[Any, Any, str | dict[str, Any] | None]:
    """Poll the copy until it succeeded (None) or failed (the reason). After LOOKS_PER_EXECUTION looks
    it returns ``{"kind": "continue", "startedAt", "checks"}`` for the caller to continue as new with;
    ``{"kind": "interrupted", "reason"}`` when ARM refuses to let us read it (permission, say).

    Polling is its own retry loop: a read that fails transiently is simply tried again at the next
    look (never sooner than ARM's Retry-After), so an ARM outage never fails or deletes a copy."""
    started_at: datetime = (
        datetime.fromisoformat(resume["startedAt"]) if resume.get("startedAt") else context.current_utc_datetime
    )
    checks = int(resume.get("checks") or 0)
    looks_here = 0
    retry_after = 0.0
    while True:
        verdict = assess(observation)
        publish(
            state=verdict.phase.value if verdict.phase is not CopyPhase.STARTING else "starting",
            disks=[{"name": d["name"], "percent": d["percent"], "code": d["code"]} for d in observation["disks"]],
            lastCheckedAt=context.current_utc_datetime.isoformat(),
        )
        if verdict.phase is CopyPhase.SUCCEEDED:
            return None
        if verdict.phase is CopyPhase.FAILED:
            return verdict.reason or "the copy failed"
        elapsed = (context.current_utc_datetime - started_at).total_seconds()
        delay = next_check_delay(elapsed, verdict.slowest_percent, checks, float(settings["pollMaxIntervalSeconds"]))
        if elapsed >= COPY_DEADLINE_SECONDS or delay <= 0:
            return "the copy ran past Azure's two-week limit"
        if looks_here >= LOOKS_PER_EXECUTION:
            return {"kind": "continue", "startedAt": started_at.isoformat(), "checks": checks}
        delay = max(delay, retry_after)
        next_at = context.current_utc_datetime + timedelta(seconds=delay)
        publish(nextCheckAt=next_at.isoformat())
        yield context.create_timer(next_at)
        checks += 1
        looks_here += 1
        seen: dict[str, Any] = yield context.call_activity("get_copy_status", {"restorePointId": observation["id"]})
        retry_after = 0.0
        if not seen.get("ok"):
            error = seen.get("error") or {}
            if error.get("kind") in TRANSIENT:
                retry_after = float(error.get("retryAfterSeconds") or 0.0)
                publish(reason=f"progress unreadable for now, looking again later: {describe(seen)}")
                continue
            return {"kind": "interrupted", "reason": f"could not read the copy's progress: {describe(seen)}"}
        if seen.get("value") is None:
            return "the target restore point disappeared while copying"
        observation = seen["value"]


def _source_gone(context: df.DurableOrchestrationContext, source_id: str) -> Generator[Any, Any, bool]:
    """After a failed copy: is the source restore point still there? (No point retrying if not.)"""
    seen = yield from arm_activity(context, "get_copy_status", {"restorePointId": source_id})
    return bool(seen.get("ok")) and seen.get("value") is None


def _delete_and_wait(
    context: df.DurableOrchestrationContext, restore_point_id: str
) -> Generator[Any, Any, tuple[bool, str | None, bool]]:
    """Delete a restore point and wait (durable timers) until ARM no longer has it.

    ``(gone, reason, transient)``: ``transient`` when ARM was only unavailable, so the caller pauses
    (a later run deletes it) rather than giving the restore point up."""
    for check in range(DELETE_CHECKS):
        result = yield from arm_activity(context, "delete_restore_point", {"restorePointId": restore_point_id})
        if not result.get("ok"):
            return False, describe(result), (result.get("error") or {}).get("kind") in TRANSIENT
        if result.get("value") is True:
            return True, None, False
        yield from sleep(context, min(300.0, 15.0 * (2**check)))
    return False, "still present after repeated deletes", True
