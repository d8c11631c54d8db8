"""The catch-up sweep: a timer (``%SWEEP_SCHEDULE%``, default every 6 hours) and ``POST /api/sweep``.

Event Grid delivers at least once but a subscription can lose events (dead-lettering, an outage,
a deployment gap), so the sweep lists every collection in the policy's scope and makes sure its
orchestration runs. It fans out: the ``sweep`` orchestrator walks the scope one page at a time,
and each ``sweep_page`` activity handles at most ``CHUNK`` collections, so no invocation runs long
however many collections there are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from replication import arm
from replication.ids import orphan_instance_id
from replication.model import CollectionInfo, Target
from replication.orphans import SeenSources, candidates
from replication.policy import SWEEP_CHUNK, Policy, load_policy
from replication.settings import SettingsError, load_copy_settings

from .starter import ACTIVE, ensure_replication, payload_for, runtime_status

bp = df.Blueprint()
log = logging.getLogger(__name__)

SWEEP_INSTANCE = "sweep"
CHUNK = SWEEP_CHUNK  # collections per sweep_page activity
SEEN = SeenSources()  # sources known to exist: their targets are not read for being orphans (a day)


async def start_sweep(client: df.DurableOrchestrationClient) -> tuple[str, bool]:
    """Start the sweep unless one is running; (instance id, started?)."""
    policy = load_policy()
    if policy is None:
        raise SettingsError("REPLICATION_POLICY: no replication policy is configured")
    if runtime_status(await client.get_status(SWEEP_INSTANCE)) in ACTIVE:
        return SWEEP_INSTANCE, False
    units = policy.sweep_units() + policy.orphan_units()  # then the target groups no source unit lists
    await client.start_new("sweep", SWEEP_INSTANCE, {"units": units, "unit": 0, "stats": {}})
    return SWEEP_INSTANCE, True


@bp.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def timer_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    try:
        _, started = await start_sweep(client)
    except SettingsError as error:
        log.error("sweep not started: %s", error)
        return
    log.info("sweep %s", "started" if started else "already running")


@bp.route(route="sweep", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def http_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Run the sweep now (or join the one running): 202 with the check-status payload."""
    try:
        instance, _ = await start_sweep(client)
    except SettingsError as error:
        return func.HttpResponse(
            json.dumps({"error": {"code": "Misconfigured", "message": str(error)}}),
            status_code=503,
            mimetype="application/json",
        )
    return client.create_check_status_response(req, instance)


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def sweep_page(payload: dict[str, Any], client: df.DurableOrchestrationClient) -> dict[str, Any]:
    """List one page of a scope unit (at most CHUNK collections from ``offset``) and ensure each in-scope
    collection's orchestration runs. Safe to run twice: ensuring is idempotent."""
    began = time.monotonic()
    unit, token, offset = payload["unit"], payload.get("token"), int(payload.get("offset") or 0)
    policy = load_policy()
    copy = load_copy_settings()
    if policy is None:
        return {"ok": False, "error": {"kind": "invalid", "status": None, "code": None, "message": "no policy"}}
    try:
        if "collectionIds" in unit:
            found = await asyncio.gather(*(asyncio.to_thread(arm.read_collection, c) for c in unit["collectionIds"]))
            items, next_token = [c for c in found if c is not None], None
        else:
            items, next_token = await asyncio.to_thread(
                arm.list_collections_page, unit["subscriptionId"], unit.get("resourceGroup"), token
            )
    except arm.ArmFailure as failure:
        return {"ok": False, "error": failure.to_json()}
    SEEN.saw(c["id"] for c in items)
    chunk = items[offset : offset + CHUNK]
    targets_only = bool(unit.get("targetsOnly"))  # a target group (Policy.orphan_units): no sources here
    counts = {"listed": 0 if targets_only else len(chunk), "outOfScope": 0, "started": 0, "joined": 0, "held": 0}
    counts.update({"nudged": 0, "settling": 0, "suspended": 0, "targetsListed": len(chunk) if targets_only else 0})
    counts.update({"sourceChecked": 0, "sourceGone": 0, "orphanStarted": 0, "orphanJoined": 0, "sourceUnreadable": 0})
    for collection in [] if targets_only else chunk:
        if policy.scope_reason(collection) is not None:
            counts["outOfScope"] += 1
            continue
        outcome = await ensure_replication(client, payload_for(collection, policy, copy))
        counts[outcome] += 1
    await _orphans(client, policy, chunk, items, counts)
    more_here = offset + CHUNK < len(items)
    log.info("sweep page: %s in %.2f s", json.dumps(counts, sort_keys=True), time.monotonic() - began)
    return {
        "ok": True,
        "value": {
            "counts": counts,
            "token": token if more_here else next_token,
            "offset": offset + CHUNK if more_here else 0,
            "done": not more_here and next_token is None,
        },
    }


async def _orphans(
    client: df.DurableOrchestrationClient,
    policy: Policy,
    chunk: list[CollectionInfo],
    page: list[CollectionInfo],
    counts: dict[str, int],
) -> None:
    """Target collections of this chunk bound to a policy target whose source collection is gone: one GET of
    each source the page does not show (only a 404 counts: a source in another subscription, or on a page
    not seen, exists), then the orphan's one orchestration (``orphan_lane``) started or joined. The orphan's
    copies are counted ``sourceGone`` whatever the rule: with ``keep`` the orchestration only says so."""
    found = [(c, t) for c, t in candidates(policy, chunk, page) if not SEEN.recently(str(c["sourceId"]))]
    if not found:
        return

    async def source_gone(collection: CollectionInfo) -> bool | None:
        try:
            source = await asyncio.to_thread(arm.read_collection, str(collection["sourceId"]))
            if source is not None:
                SEEN.saw([source["id"]])
            return source is None
        except arm.ArmFailure as failure:
            log.warning("sweep: source of %s unreadable (%s): not treated as gone", collection["id"], failure.kind)
            return None

    counts["sourceChecked"] += len(found)
    gone = await asyncio.gather(*(source_gone(c) for c, _ in found))
    for (collection, target), is_gone in zip(found, gone, strict=True):
        if is_gone is None:
            counts["sourceUnreadable"] += 1
        elif is_gone:
            counts["sourceGone"] += 1
            counts[await ensure_orphan_lane(client, collection, target)] += 1


async def ensure_orphan_lane(client: df.DurableOrchestrationClient, collection: CollectionInfo, target: Target) -> str:
    """Start the orphan's orchestration unless it runs (``orphanStarted`` / ``orphanJoined``): one per target
    collection (the instance id is derived from its id), so repeated sweeps never run two."""
    instance = orphan_instance_id(collection["id"])
    if runtime_status(await client.get_status(instance)) in ACTIVE:
        return "orphanJoined"
    spec = {
        "sourceCollectionId": collection["sourceId"],
        "targetCollectionId": collection["id"],
        "region": target["region"],
        "retention": target.get("retention"),
    }
    try:
        await client.start_new("orphan_lane", instance, spec)
    except Exception:
        if runtime_status(await client.get_status(instance)) in ACTIVE:
            return "orphanJoined"
        raise
    log.info("sweep: %s's source collection %s is gone: %s started", collection["id"], collection["sourceId"], instance)
    return "orphanStarted"
