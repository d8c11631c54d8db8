"""One restore point copied along one lane: start, watch with durable timers, clean up and retry.

Input: ``{"lane": Lane, "source": RestorePointInfo, "targetName", "mode": copy|monitor|recopy,
"targetRestorePointId"?, "copy": CopySettings, "resume"?: {"attempt", "startedAt", "checks"}}`` (``resume``
is how a long copy, or a long wait to start one, carries on after ``continue_as_new``). Output: the
outcome, never an exception for an ARM failure: ``{"sourceRestorePointId", "targetRestorePointId",
"state", "attempts", "reason"?}`` with ``state``:

* ``succeeded``; ``failed`` (every attempt failed, or Azure refused it for good);
* ``skipped``: Azure refused it as out of order, so it can never be copied to this region;
* ``interrupted``: something only a person can fix (a role assignment, say) stopped it; nothing was
  given up and no copy was deleted for it, and the lane re-checks later.

Whatever waiting fixes (throttling, the 3-copies-per-hour quota, an outage) is waited out here, with
the copy's state saying so (``held`` for the quota, ``waiting`` otherwise) and until when.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from replication.ids import parse_collection_id
from replication.monitoring import COPY_DEADLINE_SECONDS, CopyPhase, assess, next_check_delay

from .arm_calls import arm_activity, backoff_seconds, describe, short, sleep, waiting_fixes
from .copy_slots import renew_slot

bp = df.Blueprint()

DELETE_CHECKS = 20
LOOKS_PER_EXECUTION = 25  # then continue_as_new: a two-week copy must not grow one history without bound
PERSON_FIXES = ("forbidden",)


@bp.orchestration_trigger(context_name="context")
def copy_restore_point(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    lane, source, settings = spec["lane"], spec["source"], spec["copy"]
    target_id = spec.get("targetRestorePointId") or parse_collection_id(lane["targetCollectionId"]).restore_point_id(
        spec["targetName"]
    )
    resume: dict[str, Any] = spec.get("resume") or {}
    attempt = int(resume.get("attempt") or 1)
    # Small (16 KB is the extension's limit): the target's id is the API's to derive, not repeated here.
    status: dict[str, Any] = {
        "sourceRestorePointId": source["id"],
        "region": lane["region"],
        "state": "starting",
        "attempt": attempt,
        "disks": [],
    }

    def publish(**changes: Any) -> None:
        status.update(changes)
        context.set_custom_status(dict(status))

    def renew() -> None:
        """Keep this copy's slot (``MAX_CONCURRENT_COPIES_PER_REGION``): no-op without a ceiling."""
        renew_slot(context, spec.get("slot"))

    def on_wait(kind: str, reason: str, until: str) -> None:
        renew()
        if kind == "copy_quota":
            reason = short(f"held by Azure's limit of copies per hour; starting when it allows: {reason}")
        publish(state="held" if kind == "copy_quota" else "waiting", reason=reason, nextCheckAt=until)

    def outcome(state: str, attempts: int, reason: str | None = None) -> dict[str, Any]:
        publish(state=state, reason=reason, nextCheckAt=None)
        result = {
            "sourceRestorePointId": source["id"],
            "targetRestorePointId": target_id,
            "state": state,
            "attempts": attempts,
        }
        if reason:
            result["reason"] = short(reason)
        return result

    def carry_on(mode: str, **extra: Any) -> dict[str, Any]:
        """Continue in a fresh history (long copies, long waits): bounded history."""
        context.continue_as_new(
            {**spec, "mode": mode, "targetRestorePointId": target_id, "resume": {"attempt": attempt, **extra}}
        )
        return {}

    renew()  # every execution (a long copy continues as new) renews first
    if spec.get("mode") == "recopy":
        publish(state="cleaning", reason="a failed copy is deleted before copying again")
        gone, why, waiting = yield from _delete_and_wait(context, target_id, on_wait)
        if waiting:
            return carry_on("recopy")
        if not gone:
            return outcome("interrupted", attempt - 1, f"could not delete the failed copy: {why}")
        spec = {**spec, "mode": "copy"}  # deleted: from here on, carrying on must never delete again

    watch_resume = resume if spec.get("mode") == "monitor" else {}
    while True:
        # Starting is idempotent: for a copy already under way (monitor, or after a restart) ARM's
        # answer is that copy, which is then watched.
        publish(state="starting", attempt=attempt, reason=None, nextCheckAt=None)
        started = yield from arm_activity(
            context,
            "start_copy",
            {
                "targetCollectionId": lane["targetCollectionId"],
                "name": target_id.rsplit("/", 1)[-1],
                "sourceRestorePointId": source["id"],
                # Planned as pending (or its failed copy deleted just now): no copy there to read first.
                "absent": spec.get("mode") == "copy",
                "urgent": bool(spec.get("urgent")),  # the lane has no usable copy yet: the pacer lets it first
                **{k: lane[k] for k in ("sourceCollectionId", "region")},  # telemetry and events only
            },
            on_wait,
        )
        if not started.get("ok"):
            kind = (started.get("error") or {}).get("kind")
            if started.get("waiting"):
                return carry_on(str(spec.get("mode") or "copy"), **watch_resume)
            if kind == "out_of_order":
                return outcome("skipped", attempt - 1, f"Azure refused it as out of order: {describe(started)}")
            if kind in PERSON_FIXES:
                return outcome("interrupted", attempt - 1, f"could not start the copy: {describe(started)}")
            return outcome("failed", attempt, describe(started))
        observation: dict[str, Any] = started["value"]
        failure = yield from _watch(context, observation, settings, publish, watch_resume, renew)
        watch_resume = {}
        spec = {**spec, "mode": "copy"}
        if isinstance(failure, dict) and failure.get("kind") == "interrupted":
            # We could not watch it; the copy itself may be fine, so it is never deleted for this.
            return outcome("interrupted", attempt, failure["reason"])
        if isinstance(failure, dict):  # a long copy: carry on in a fresh history
            return carry_on("monitor", startedAt=failure["startedAt"], checks=failure["checks"])
        if failure is None:
            return outcome("succeeded", attempt)
        source_gone = yield from _source_gone(context, source["id"])
        if source_gone:
            failure = "the source restore point was deleted; it can no longer be copied"
        publish(state="cleaning", reason=short(failure))
        gone, why, _ = yield from _delete_and_wait(context, target_id, on_wait)
        if source_gone or attempt >= int(settings["maxAttempts"]):
            # Given up. A failed copy that could not be deleted now is deleted by a later run
            # (the planner's cleanup), never left behind for good.
            note = "" if gone else f"; the failed copy could not be deleted yet: {why}"
            tail = "" if source_gone else f" (gave up after {attempt} attempts)"
            return outcome("failed", attempt, f"{failure}{tail}{note}")
        if not gone:
            return outcome("interrupted", attempt, f"{failure}; the failed copy could not be deleted: {why}")
        backoff = backoff_seconds(attempt, base=300.0)
        publish(
            state="backoff",
            reason=short(failure),
            nextCheckAt=(context.current_utc_datetime + timedelta(seconds=backoff)).isoformat(),
        )
        yield from sleep(context, backoff)
        attempt += 1


def _watch(
    context: df.DurableOrchestrationContext,
    observation: dict[str, Any],
    settings: dict[str, Any],
    publish: Any,
    resume: dict[str, Any],
    renew: Callable[[], None] = lambda: None,
) -> Generator[Any, Any, str | dict[str, Any] | None]:
    """Poll the copy until it succeeded (None) or failed (the reason). After LOOKS_PER_EXECUTION looks
    it returns ``{"kind": "continue", "startedAt", "checks"}`` for the caller to continue as new with;
    ``{"kind": "interrupted", "reason"}`` when ARM refuses to let us read it (permission, say).

    Polling is its own retry loop: a read that fails for a reason waiting fixes is simply tried again
    at the next look (never sooner than ARM's Retry-After), so an ARM outage never fails or deletes a
    copy."""
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
            disks=[_disk(d) for d in observation["disks"]],
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
        renew()  # looks are at most pollMaxIntervalSeconds apart: the lease never runs out on a live copy
        checks += 1
        looks_here += 1
        seen: dict[str, Any] = yield context.call_activity("get_copy_status", {"restorePointId": observation["id"]})
        retry_after = 0.0
        if not seen.get("ok"):
            if waiting_fixes(seen):
                retry_after = float((seen.get("error") or {}).get("retryAfterSeconds") or 0.0)
                publish(reason=f"progress unreadable for now, looking again later: {describe(seen)}")
                continue
            return {"kind": "interrupted", "reason": f"could not read the copy's progress: {describe(seen)}"}
        if seen.get("value") is None:
            return "the target restore point disappeared while copying"
        observation = seen["value"]


# Disk status codes that only say "copying" or "done": ReplicationState/replicating while it copies (recorded
# in azure-sdk-for-net's RestorePointTests, docs/emulator.md), .../succeeded when done; older docs say inProgress.
_PLAIN_PROGRESS = ("replicating", "inprogress", "succeeded")


def _disk(disk: dict[str, Any]) -> dict[str, Any]:
    """A disk as custom status carries it: name and percent, and its status code only when it is not
    plain progress (custom status must stay small for 16 disks)."""
    row: dict[str, Any] = {"name": disk["name"], "percent": disk["percent"]}
    code = str(disk.get("code") or "")
    if code and not any(word in code.lower().replace(" ", "") for word in _PLAIN_PROGRESS):
        row["code"] = code
    return row


def _source_gone(context: df.DurableOrchestrationContext, source_id: str) -> Generator[Any, Any, bool]:
    """After a failed copy: is the source restore point still there? (No point retrying if not.)"""
    seen = yield from arm_activity(context, "get_copy_status", {"restorePointId": source_id})
    return bool(seen.get("ok")) and seen.get("value") is None


def _delete_and_wait(
    context: df.DurableOrchestrationContext, restore_point_id: str, on_wait: Any
) -> Generator[Any, Any, tuple[bool, str | None, bool]]:
    """Delete a restore point and wait (durable timers) until ARM no longer has it.

    ``(gone, reason, waiting)``: ``waiting`` when ARM was unavailable for longer than one call waits,
    so the caller carries on in a fresh history and tries again."""
    for check in range(DELETE_CHECKS):
        result = yield from arm_activity(context, "delete_restore_point", {"restorePointId": restore_point_id}, on_wait)
        if not result.get("ok"):
            return False, describe(result), bool(result.get("waiting"))
        if result.get("value") is True:
            return True, None, False
        yield from sleep(context, min(300.0, 15.0 * (2**check)))
    return False, "still present after repeated deletes", True
