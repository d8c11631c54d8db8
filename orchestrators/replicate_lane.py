"""One lane (source collection -> target region): make sure the target collection exists, then copy
restore points one at a time, oldest first.

A lane moves on its own: a bad region never holds up a good one. Each turn re-reads the source and
the target and re-plans (``replication.planning``): what exists in the target is the truth, so restore
points that arrive while the lane runs are picked up, and a lane restarted after a crash carries on
where Azure says it is. Each copy is a sub-orchestration. ``continue_as_new`` after a batch of copies
or turns keeps this history bounded however many restore points a collection has or however long
an outage lasts.

What waiting fixes is waited out (``arm_calls``); what only a person can fix (a role, a missing
resource group, a target collection bound to another source) makes the lane ``blocked``: it says
what to fix and re-checks every ``RECHECK_SECONDS``, so a fix is noticed without a new restore point,
for ``MAX_RECHECKS`` times; after that the sweep is the net.

Custom status stays small (a summary and the current copy); the full list of copies is recomputed
from Azure by the progress API, with the outcomes this lane keeps in its input and output.

Input: ``{"lane": Lane (+ "tags", "legacyTargetCollectionId"?), "copy": CopySettings, "instanceBase",
"givenUp": {id: outcome}, "refused": [ids], "recent": [outcomes], "targetReady"?: bool, "rechecks"?: n}``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from replication.ids import copy_instance_id, normalize
from replication.planning import ActionKind

from .arm_calls import arm_activity, describe, short, sleep
from .copy_slots import acquire_slot, run_copy, slot_of

bp = df.Blueprint()
log = logging.getLogger(__name__)

COPIES_PER_EXECUTION = 5  # then continue_as_new: bounded history
TURNS_PER_EXECUTION = 10
MAX_WAITS_FOR_SOURCE = 6  # x 10 minutes for a source restore point still being created
MAX_RECENT = 20
RECHECK_SECONDS = 3600.0
MAX_RECHECKS = 24
SNAPSHOT_WAIT_SECONDS = 900.0  # a source whose disk snapshots are not yet available for copy
MAX_SNAPSHOT_WAITS = 32  # x 15 minutes: 8 hours, beyond the longest instant access (300 minutes)
PRUNES_PER_TURN = 5  # retention deletes a few, then re-reads the lane (what is Deleting is not chosen again)
PRUNES_PER_EXECUTION = 20  # then continue_as_new: bounded history
PRUNED_SHOWN = 5  # the last deletions (with reasons) the lane's output keeps
QUEUE = COPIES_PER_EXECUTION - 1  # pending copies a read hands on, copied without reading again


def read_input(
    lane: dict[str, Any],
    given_up: dict[str, dict[str, Any]],
    confirmed: set[str],
    refused: list[str],
    recent: list[dict[str, Any]],
    now: str,
) -> dict[str, Any]:
    """What ``read_lane`` (and the collection's ``read_source``, for its lanes) plans a lane from."""
    return {
        "sourceCollectionId": lane["sourceCollectionId"],
        "targetCollectionId": lane["targetCollectionId"],
        "region": lane["region"],
        "givenUp": given_up,
        "confirmed": sorted(confirmed),
        "refused": refused,
        "recent": {normalize(r["sourceRestorePointId"]): r for r in recent},
        "retention": lane.get("retention"),
        "backlog": lane.get("backlog") or "all",
        "now": now,
        "queue": QUEUE,
    }


def confirmed_of(recent: list[dict[str, Any]]) -> set[str]:
    return {normalize(r["sourceRestorePointId"]) for r in recent if r.get("state") == "succeeded"}


@bp.orchestration_trigger(context_name="context")
def replicate_lane(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = dict(context.get_input())
    # The collection's own read of this lane, for the first turn (never carried into a new execution).
    ahead: dict[str, Any] | None = spec.pop("view", None)
    lane, settings = spec["lane"], spec["copy"]
    given_up: dict[str, dict[str, Any]] = dict(spec.get("givenUp") or {})
    refused: list[str] = list(spec.get("refused") or [])
    recent: list[dict[str, Any]] = list(spec.get("recent") or [])
    confirmed = confirmed_of(recent)
    rechecks = int(spec.get("rechecks") or 0)
    pruned: dict[str, Any] = dict(spec.get("pruned") or {})
    snapshot_waits = int(spec.get("snapshotWaits") or 0)
    done_here = turns = waits = pruned_here = 0
    status: dict[str, Any] = {"region": lane["region"], "targetCollectionId": lane["targetCollectionId"]}

    def unprotected() -> bool:
        """No usable copy in this region yet: the pacer lets this lane's calls go first (``arm.urgent``)."""
        return not confirmed and not (status.get("counts") or {}).get("succeeded")

    def publish(state: str, **extra: Any) -> None:
        status.update(state=state, **extra)
        context.set_custom_status(dict(status))

    def on_wait(kind: str, reason: str, until: str) -> None:
        publish("waiting", reason=f"waiting for Azure: {reason}", until=until)

    def carry() -> dict[str, Any]:
        return {
            **spec,
            "givenUp": given_up,
            "refused": refused,
            "recent": recent,
            "rechecks": rechecks,
            "pruned": pruned,
            "snapshotWaits": snapshot_waits,
        }

    def finish(state: str, reason: str | None = None) -> dict[str, Any]:
        publish(state, reason=short(reason) if reason else None, current=None, until=None)
        out = {
            "region": lane["region"],
            "state": state,
            "counts": status.get("counts") or {},
            "givenUp": given_up,
            "refused": refused,
            "recent": recent,
        }
        if pruned:
            out["pruned"] = pruned
        if reason:
            out["reason"] = short(reason)
        return out

    def record_pruned(row: dict[str, Any]) -> None:
        last = [*(pruned.get("last") or []), {k: row[k] for k in ("name", "targetRestorePointId", "reason")}]
        pruned.update(count=int(pruned.get("count") or 0) + 1, last=last[-PRUNED_SHOWN:])
        # Custom status stays small: the count and the last one's name and reason.
        status["pruned"] = {"count": pruned["count"], "last": {"name": row["name"], "reason": short(row["reason"])}}
        if not context.is_replaying:
            log.info("lane %s: retention deleted %s: %s", lane["region"], row["targetRestorePointId"], row["reason"])

    def continue_fresh() -> dict[str, Any]:
        publish("continuing", current=None)
        context.continue_as_new(carry())
        return {}

    def blocked(reason: str) -> Generator[Any, Any, dict[str, Any] | None]:
        """A person must fix something: say what, and look again later."""
        nonlocal rechecks
        if rechecks >= MAX_RECHECKS:
            return finish("blocked", reason)
        rechecks += 1
        until = context.current_utc_datetime + timedelta(seconds=RECHECK_SECONDS)
        publish("blocked", reason=short(reason), until=until.isoformat(), current=None)
        yield from sleep(context, RECHECK_SECONDS)
        return None

    while True:
        turns += 1
        if turns > TURNS_PER_EXECUTION:
            return continue_fresh()
        publish("planning", reason=None, until=None)
        if ahead is not None:  # planned already: by the collection's read, or the last read's queue
            read, ahead = {"ok": True, "value": ahead}, None
        else:
            read = yield from arm_activity(
                context,
                "read_lane",
                {
                    **read_input(lane, given_up, confirmed, refused, recent, context.current_utc_datetime.isoformat()),
                    "urgent": unprotected(),
                },
                on_wait,
            )
        if read.get("waiting"):
            return continue_fresh()
        if not read.get("ok"):
            ended = yield from blocked(f"could not read the lane: {describe(read)}")
            if ended is not None:
                return ended
            continue
        view: dict[str, Any] | None = read.get("value")
        if view is None:
            return finish("failed", "the source collection no longer exists")
        publish("planning", counts=view["counts"])
        if view["blocked"]:
            ended = yield from blocked(view["blocked"])
            if ended is not None:
                return ended
            continue
        if not view["targetExists"]:
            publish("preparing", reason=None, until=None)
            made = yield from arm_activity(
                context,
                "ensure_target_collection",
                {
                    "source": view["source"],
                    "targetCollectionId": lane["targetCollectionId"],
                    "legacyTargetCollectionId": lane.get("legacyTargetCollectionId"),
                    "region": lane["region"],
                    "tags": lane.get("tags") or {},
                    "absent": True,  # this turn's read found none
                    "urgent": True,
                },
                on_wait,
            )
            if made.get("waiting"):
                return continue_fresh()
            if not made.get("ok"):
                ended = yield from blocked(f"target collection: {describe(made)}")
                if ended is not None:
                    return ended
            elif made["value"]["id"].lower() != lane["targetCollectionId"].lower():
                # An existing target under the name of earlier releases, bound to this source: adopted.
                lane = {**lane, "targetCollectionId": made["value"]["id"], "legacyTargetCollectionId": None}
                spec = {**spec, "lane": lane}
                status["targetCollectionId"] = lane["targetCollectionId"]
            elif made["value"].get("empty"):
                # An empty target changes nothing the plan made without one: no second read.
                ahead = {**view, "targetExists": True}
            continue
        rechecks = 0
        action = view["next"]
        if action is None:
            retention = view.get("retention") or {}
            if retention.get("delete") and retention.get("keepNewest"):
                if pruned_here >= PRUNES_PER_EXECUTION:
                    return continue_fresh()
                outcome = yield from _prune(context, retention, publish, on_wait, record_pruned)
                pruned_here += outcome["deleted"]
                if outcome.get("waiting"):
                    return continue_fresh()
                if outcome.get("problem"):
                    ended = yield from blocked(f"retention could not delete a copy: {outcome['problem']}")
                    if ended is not None:
                        return ended
                    continue
                if not outcome.get("refused"):
                    if outcome["pending"]:
                        yield from sleep(context, 60.0)  # the deletes finish; the next read sees them gone
                    continue
                status["retentionPaused"] = short(f"retention stopped: {outcome['refused']}")
            elif retention.get("paused"):
                status["retentionPaused"] = short(str(retention["paused"]))
            else:
                status.pop("retentionPaused", None)
            failed = view["counts"].get("failed", 0)
            return finish("done" if not failed else "done-with-failures")
        kind, point = ActionKind(action["kind"]), action["source"]
        if kind is ActionKind.WAIT:
            if waits >= MAX_WAITS_FOR_SOURCE:
                return finish("waiting", f"{point['name']} is still being created; a later run copies it")
            waits += 1
            publish("waiting", reason=f"{point['name']} is still being created")
            yield from sleep(context, 600.0)
            continue
        if kind is ActionKind.CLEANUP and action["targetId"]:
            publish("cleaning", reason=f"deleting failed copy {point['name']}, which can never be re-copied")
            deleted = yield from arm_activity(
                context, "delete_restore_point", {"restorePointId": action["targetId"]}, on_wait
            )
            if deleted.get("waiting"):
                return continue_fresh()
            if not deleted.get("ok"):
                ended = yield from blocked(f"could not delete a failed copy: {describe(deleted)}")
                if ended is not None:
                    return ended
                continue
            if deleted.get("value") is not True:
                yield from sleep(context, 60.0)
            continue

        notes: list[str] = []
        if kind is ActionKind.COPY:
            check = view.get("check") or {}
            if normalize(str(check.get("sourceRestorePointId"))) == normalize(point["id"]):
                ready = {"ok": True, "value": check.get("value")}  # the collection's read checked it
            else:
                ready = yield from arm_activity(
                    context,
                    "check_source_restore_point",
                    {"restorePointId": point["id"], "urgent": unprotected()},
                    on_wait,
                )
            if ready.get("waiting"):
                return continue_fresh()
            found = ready.get("value") if ready.get("ok") else None
            if ready.get("ok") and found is None:
                continue  # the source restore point is gone since the plan was made: plan again
            if found and found.get("wait"):
                reason = f"{point['name']}: {found['wait']}"
                if snapshot_waits >= MAX_SNAPSHOT_WAITS:
                    return finish("waiting", f"{reason}; a later run copies it")
                snapshot_waits += 1
                until = context.current_utc_datetime + timedelta(seconds=SNAPSHOT_WAIT_SECONDS)
                publish("waiting", reason=short(reason), until=until.isoformat())
                yield from sleep(context, SNAPSHOT_WAIT_SECONDS)
                continue
            # A failed check never stops a copy: the copy itself reports what Azure says.
            notes = list((found or {}).get("notes") or [])
            snapshot_waits = 0
            if notes and not context.is_replaying:
                log.warning("lane %s: %s copied as it is: %s", lane["region"], point["name"], "; ".join(notes))
        child_id = copy_instance_id(spec["instanceBase"], point["id"])
        slot = slot_of(lane, settings)  # None without MAX_CONCURRENT_COPIES_PER_REGION: nothing changes
        if not (yield from acquire_slot(context, slot, lane["region"], child_id, kind is ActionKind.MONITOR, publish)):
            return continue_fresh()
        publish("copying", current={"instanceId": child_id, "sourceRestorePointId": point["id"]})
        result: dict[str, Any] = yield from run_copy(
            context,
            slot,
            child_id,
            {
                "lane": {k: lane[k] for k in ("sourceCollectionId", "targetCollectionId", "region")},
                "source": point,
                "targetName": point["name"],
                "targetRestorePointId": action["targetId"],
                "mode": kind.value,
                "copy": settings,
                "urgent": unprotected(),
            },
        )
        yield context.call_activity(
            "copy_outcome", {"lane": lane, "instanceId": child_id, "result": result}
        )  # telemetry
        key = normalize(result["sourceRestorePointId"])
        entry = {k: result.get(k) for k in ("sourceRestorePointId", "state", "attempts")}
        if notes:
            entry["note"] = short("; ".join(notes))
        recent = [*recent, entry][-MAX_RECENT:]
        if result["state"] == "interrupted":
            ended = yield from blocked(f"{point['name']}: {result.get('reason')}")
            if ended is not None:
                return ended
            continue
        if result["state"] == "succeeded":
            confirmed.add(key)
            queue = list(view.get("queue") or [])
            if queue and done_here + 1 < COPIES_PER_EXECUTION:
                # The next pending one, as the last read planned it (``planning.queued_after``).
                tally = dict(view["counts"])
                tally["succeeded"] = tally.get("succeeded", 0) + 1
                if tally.get("pending"):
                    tally["pending"] -= 1
                ahead = {
                    **view,
                    "counts": tally,
                    "next": {"kind": ActionKind.COPY.value, "source": queue[0], "targetId": None},
                    "queue": queue[1:],
                    "retention": None,
                    "check": None,
                }
        elif result["state"] == "skipped":
            refused.append(key)
        else:
            given_up[key] = {
                "sourceRestorePointId": result["sourceRestorePointId"],
                "attempts": result.get("attempts"),
                "reason": result.get("reason"),
            }
            if settings.get("onFailure") == "stop":
                return finish("stopped", f"{point['name']}: {result.get('reason')}; waiting for a person")
        done_here += 1
        if done_here >= COPIES_PER_EXECUTION:
            return continue_fresh()


def _prune(
    context: df.DurableOrchestrationContext,
    retention: dict[str, Any],
    publish: Any,
    on_wait: Any,
    record: Any,
) -> Generator[Any, Any, dict[str, Any]]:
    """Delete up to PRUNES_PER_TURN copies retention chose (oldest first), each through ``arm_activity`` and
    re-checked right before its delete (``replication.lanes.prune_copy``). Returns ``{"deleted": n, "pending":
    n not gone yet, "refused"?: why it stopped, "problem"?: an ARM failure a person must fix, "waiting"?}``."""
    deleted = pending = 0
    for row in retention["delete"][:PRUNES_PER_TURN]:
        publish("pruning", reason=short(f"deleting {row['name']}: {row['reason']}"), current=None)
        result = yield from arm_activity(
            context,
            "prune_restore_point",
            {
                "restorePointId": row["targetRestorePointId"],
                "sourceRestorePointId": row["sourceRestorePointId"],
                "keepRestorePointId": retention["keepNewest"],
                "reason": row["reason"],
            },
            on_wait,
        )
        if result.get("waiting"):
            return {"deleted": deleted, "pending": pending, "waiting": True}
        if not result.get("ok"):
            return {"deleted": deleted, "pending": pending, "problem": describe(result)}
        value = result.get("value") or {}
        if not value.get("deleted"):
            return {"deleted": deleted, "pending": pending, "refused": f"{row['name']}: {value.get('refused')}"}
        deleted += 1
        record(row)
        if not value.get("gone"):
            pending += 1
    return {"deleted": deleted, "pending": pending}
