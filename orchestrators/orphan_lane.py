"""Retention for a target collection whose whole source collection is gone (an "orphan", issue 14).

No lane runs for a source collection that no longer exists, so the sweep starts this orchestration for each
target collection it found bound to a policy target whose source GET answered 404
(``replication.orphans``). Its instance id is derived from the target collection id
(``replication.ids.orphan_instance_id``), so every later sweep that finds the same orphan joins the one that
runs instead of starting another; one that ended is started afresh (it plans from Azure, so that is safe).

Each turn reads the source (still 404?) and the target again and decides (``read_orphan_lane``); with
``whenSourceGone: retention`` it deletes what the rule no longer keeps through the lanes' own prune path
(``replicate_lane._prune``: one ``prune_restore_point`` activity per copy through ``arm_activity``, re-checked
right before each delete, "already gone" is success, each logged with its reason), a few per turn and at most
``PRUNES_PER_EXECUTION`` per execution, then ``continue_as_new``: bounded history. With ``keep`` (or no rule)
it deletes nothing and ends saying the source collection is gone. An ARM failure a person must fix ends it
with the reason (the next sweep tries again); what waiting fixes is waited out on durable timers.

Input: ``{"sourceCollectionId", "targetCollectionId", "region", "retention"?, "pruned"?}``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from .arm_calls import arm_activity, describe, short, sleep
from .replicate_lane import PRUNED_SHOWN, PRUNES_PER_EXECUTION, _prune

bp = df.Blueprint()
log = logging.getLogger(__name__)

TURNS_PER_EXECUTION = 10


@bp.orchestration_trigger(context_name="context")
def orphan_lane(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    spec: dict[str, Any] = context.get_input()
    retention = spec.get("retention") or {}
    pruned: dict[str, Any] = dict(spec.get("pruned") or {})
    turns = pruned_here = 0
    status: dict[str, Any] = {
        "kind": "sourceGone",
        "sourceCollectionId": spec["sourceCollectionId"],
        "targetCollectionId": spec["targetCollectionId"],
        "region": spec["region"],
        "whenSourceGone": retention.get("whenSourceGone") or "keep",
    }
    if pruned:
        status["pruned"] = {"count": pruned.get("count", 0)}

    def publish(state: str, **extra: Any) -> None:
        status.update(state=state, **{k: v for k, v in extra.items() if k != "current"})
        context.set_custom_status(dict(status))

    def on_wait(kind: str, reason: str, until: str) -> None:
        publish("waiting", reason=f"waiting for Azure: {reason}", until=until)

    def record(row: dict[str, Any]) -> None:
        last = [*(pruned.get("last") or []), {k: row[k] for k in ("name", "targetRestorePointId", "reason")}]
        pruned.update(count=int(pruned.get("count") or 0) + 1, last=last[-PRUNED_SHOWN:])
        status["pruned"] = {"count": pruned["count"], "last": {"name": row["name"], "reason": short(row["reason"])}}
        if not context.is_replaying:
            log.info("orphan %s: retention deleted %s: %s", spec["region"], row["targetRestorePointId"], row["reason"])

    def finish(state: str, reason: str) -> dict[str, Any]:
        publish(state, reason=short(reason), until=None)
        out: dict[str, Any] = {
            "state": state,
            "reason": short(reason),
            "sourceCollectionGone": state != "source-exists",
            **{k: spec[k] for k in ("sourceCollectionId", "targetCollectionId", "region")},
        }
        if pruned:
            out["pruned"] = pruned
        return out

    def continue_fresh() -> dict[str, Any]:
        publish("continuing")
        context.continue_as_new({**spec, "pruned": pruned})
        return {}

    while True:
        turns += 1
        if turns > TURNS_PER_EXECUTION:
            return continue_fresh()
        publish("planning", reason=None, until=None)
        read = yield from arm_activity(
            context,
            "read_orphan_lane",
            {
                "sourceCollectionId": spec["sourceCollectionId"],
                "targetCollectionId": spec["targetCollectionId"],
                "retention": spec.get("retention"),
                "now": context.current_utc_datetime.isoformat(),
            },
            on_wait,
        )
        if read.get("waiting"):
            return continue_fresh()
        if not read.get("ok"):
            return finish("error", f"could not read the orphan from Azure: {describe(read)}; the next sweep retries")
        view: dict[str, Any] = read["value"]
        if view.get("sourceExists"):
            return finish("source-exists", "the source collection exists: its own lanes apply retention")
        if not view.get("targetExists"):
            return finish("done", "the source collection is gone and so is the target collection")
        if view.get("boundTo"):
            return finish("done", f"the target collection is bound to {view['boundTo']}: not this orphan's")
        decision = view.get("retention") or {}
        if decision.get("delete") and decision.get("keepNewest"):
            if pruned_here >= PRUNES_PER_EXECUTION:
                return continue_fresh()
            outcome = yield from _prune(context, decision, publish, on_wait, record)
            pruned_here += outcome["deleted"]
            if outcome.get("waiting"):
                return continue_fresh()
            if outcome.get("problem"):
                return finish(
                    "error", f"the source collection is gone; retention could not delete a copy: {outcome['problem']}"
                )
            if outcome.get("refused"):
                return finish("done", f"the source collection is gone; retention stopped: {outcome['refused']}")
            if outcome["pending"]:
                yield from sleep(context, 60.0)  # the deletes finish; the next read sees them gone
            continue
        if decision.get("paused"):
            return finish("done", str(decision["paused"]))
        kept = int(view.get("copyCount") or 0)
        return finish("done", f"the source collection is gone; retention keeps {kept} cop{'y' if kept == 1 else 'ies'}")
