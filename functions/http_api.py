"""HTTP API (auth level FUNCTION): start, dry-run, list and read replications; the OpenAPI document.

Handlers validate with ``replication.requests`` and answer bad input with a 4xx JSON error that
names the field. A source outside the policy's scope gets 403: the app's identity must not be
usable to copy arbitrary collections. No exception text or stack trace ever reaches a caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from replication import arm
from replication.dry_run import dry_run
from replication.ids import collection_instance_id, normalize
from replication.lanes import read_lane
from replication.model import CollectionInfo, json_object
from replication.orphans import candidates, dry_run_gone, read_orphan
from replication.policy import OutOfScope, Policy, load_policy
from replication.requests import ValidationError, parse_start_request
from replication.settings import SettingsError, load_copy_settings
from replication.status import progress_document

from . import protection
from .starter import ensure_replication, orchestration_input, status_dict
from .sweep import SWEEP_INSTANCE, start_sweep

bp = df.Blueprint()
log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_DRY_RUN_COLLECTIONS = 50
OPENAPI = Path(__file__).with_name("openapi.json")
_INSTANCE_ID = re.compile(r"^rpc-[a-z0-9-]{1,60}$")
_ORPHAN_ID = re.compile(r"^gone-[a-z0-9-]{1,60}$")  # replication.ids.orphan_instance_id


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field

    def response(self) -> func.HttpResponse:
        error: dict[str, Any] = {"code": self.code, "message": str(self)}
        if self.field:
            error["field"] = self.field
        return _json(self.status, {"error": error})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers)


def _read_json(req: func.HttpRequest) -> Any:
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "UnsupportedMediaType", "send the body as application/json", "content-type")
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "PayloadTooLarge", f"the body is larger than {MAX_BODY_BYTES} bytes", "body")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ApiError(400, "InvalidRequest", f"the body is not valid JSON ({type(error).__name__})", "body") from None


def _policy() -> Policy:
    try:
        policy = load_policy()
    except SettingsError as error:
        log.error("misconfigured: %s", error)
        raise ApiError(503, "Misconfigured", f"the app is misconfigured: {error}") from None
    if policy is None:
        raise ApiError(403, "OutOfScope", "no replication policy is configured: nothing may be replicated")
    return policy


async def _read_source(policy: Policy, source_id: str) -> CollectionInfo:
    if not policy.covers_location(source_id):
        raise ApiError(403, "OutOfScope", "the collection is outside the policy's source scope", "sourceCollectionId")
    try:
        collection = await asyncio.to_thread(arm.read_collection, source_id)
    except arm.ArmFailure as failure:
        status = 503 if failure.kind in ("throttled", "transient") else 502
        raise ApiError(status, "ArmError", f"could not read the source collection: {failure}") from None
    if collection is None:
        raise ApiError(404, "NotFound", "the source collection does not exist", "sourceCollectionId")
    reason = policy.scope_reason(collection)
    if reason is not None:
        raise ApiError(403, "OutOfScope", reason, "sourceCollectionId")
    return collection


@bp.route(route="replications", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def http_start_replication(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start (or join) a replication, of one collection or the whole policy; ``dryRun`` only plans."""
    try:
        try:
            request = parse_start_request(_read_json(req))
        except ValidationError as error:
            raise ApiError(400, "InvalidRequest", str(error), error.field) from None
        policy = _policy()
        if request.source_collection_id is None:
            if request.dry_run:
                return _json(200, await _dry_run_policy(policy))
            instance, _ = await start_sweep(client)
            return client.create_check_status_response(req, instance)
        try:
            source = await _read_source(policy, request.source_collection_id)
        except ApiError as error:
            if not (request.dry_run and error.status == 404):
                raise
            return _json(200, await _dry_run_gone(policy, request.source_collection_id))
        try:
            targets = policy.choose_targets(source, request.regions, request.resource_group, request.subscription_id)
        except ValidationError as error:
            raise ApiError(400, "InvalidRequest", str(error), error.field) from None
        except OutOfScope as error:
            raise ApiError(403, "OutOfScope", str(error), error.field) from None
        if request.dry_run:
            return _json(200, await asyncio.to_thread(dry_run, source, targets, arm.read_collection))
        try:
            copy = load_copy_settings()
        except SettingsError as error:
            raise ApiError(503, "Misconfigured", f"the app is misconfigured: {error}") from None
        await ensure_replication(client, orchestration_input(source["id"], targets, copy, policy), by_person=True)
        return client.create_check_status_response(req, collection_instance_id(source["id"]))
    except ApiError as error:
        return error.response()
    except arm.ArmFailure as failure:
        return ApiError(502, "ArmError", f"Azure refused a read: {failure}").response()


async def _dry_run_gone(policy: Policy, source_id: str) -> dict[str, Any]:
    """A dry run for a source collection in the policy's scope whose GET answered 404: what retention would
    delete from its target collections and why (``replication.orphans.dry_run_gone``), nothing written."""
    try:
        return await asyncio.to_thread(dry_run_gone, policy, source_id, protection.utc_now())
    except arm.ArmFailure as failure:
        status = 503 if failure.kind in ("throttled", "transient") else 502
        raise ApiError(status, "ArmError", f"could not read Azure: {failure}") from None


async def _dry_run_policy(policy: Policy) -> dict[str, Any]:
    """Plans for the policy's collections, the first MAX_DRY_RUN_COLLECTIONS of them."""
    plans: list[dict[str, Any]] = []
    gone: dict[str, dict[str, Any]] = {}  # normalised source id -> its dry run (replication.orphans)
    truncated = False
    for unit in policy.sweep_units() + policy.orphan_units():
        if "collectionIds" in unit:
            found = [await asyncio.to_thread(arm.read_collection, c) for c in unit["collectionIds"]]
            items = [c for c in found if c is not None]
        else:
            items, _ = await asyncio.to_thread(
                arm.list_collections_page, unit["subscriptionId"], unit.get("resourceGroup"), None
            )
        # Copies whose source collection is gone (a GET answers 404): what retention would delete and why.
        for copy, _target in candidates(policy, items):
            source_id = str(copy["sourceId"])
            if normalize(source_id) in gone or len(gone) >= MAX_DRY_RUN_COLLECTIONS:
                truncated = truncated or normalize(source_id) not in gone
                continue
            if await asyncio.to_thread(arm.read_collection, source_id) is None:
                gone[normalize(source_id)] = await asyncio.to_thread(
                    dry_run_gone, policy, source_id, protection.utc_now()
                )
        for collection in [] if unit.get("targetsOnly") else items:
            if policy.scope_reason(collection) is not None:
                continue
            if len(plans) >= MAX_DRY_RUN_COLLECTIONS:
                truncated = True
                break
            full = await asyncio.to_thread(arm.read_collection, collection["id"])
            if full is not None:
                plans.append(await asyncio.to_thread(dry_run, full, policy.targets_for(full), arm.read_collection))
    return {"dryRun": True, "collections": plans, "sourceCollectionsGone": list(gone.values()), "truncated": truncated}


@bp.route(route="replications", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def http_list_replications(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Every replication (one per source collection) with its state."""
    rows = []
    for status in await client.get_status_all():
        item = status_dict(status)
        if item is None:
            continue
        custom = item.get("customStatus") or {}
        if _ORPHAN_ID.match(item["instanceId"]) and isinstance(custom, dict):
            # A target collection whose source collection is gone (orphan_lane): one "lane", its region.
            output = item.get("output") if isinstance(item.get("output"), dict) else {}
            rows.append(
                {
                    "instanceId": item["instanceId"],
                    "kind": "sourceGone",
                    "sourceCollectionId": custom.get("sourceCollectionId"),
                    "targetCollectionId": custom.get("targetCollectionId"),
                    "runtimeStatus": item["runtimeStatus"],
                    "phase": None,
                    "lanes": [{"region": custom.get("region"), "state": (output or custom).get("state")}],
                    "createdTime": item["createdTime"],
                    "lastUpdatedTime": item["lastUpdatedTime"],
                }
            )
            continue
        if not _INSTANCE_ID.match(item["instanceId"]):
            continue
        rows.append(
            {
                "instanceId": item["instanceId"],
                "sourceCollectionId": custom.get("sourceCollectionId"),
                "runtimeStatus": item["runtimeStatus"],
                "phase": custom.get("phase"),
                "lanes": [
                    {"region": lane.get("region"), "state": lane.get("state")} for lane in custom.get("lanes") or []
                ],
                "createdTime": item["createdTime"],
                "lastUpdatedTime": item["lastUpdatedTime"],
            }
        )
    rows.sort(key=lambda r: r["instanceId"])
    return _json(200, {"replications": rows})


@bp.route(route="replications/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def http_get_replication(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Progress of one replication: per lane, per copy (state, attempts, reason), per disk percent."""
    instance_id = req.route_params.get("instanceId", "")
    if instance_id == SWEEP_INSTANCE:
        return await _sweep_status(client)
    if _ORPHAN_ID.match(instance_id):
        return await _orphan_status(client, instance_id)
    if not _INSTANCE_ID.match(instance_id):
        return ApiError(404, "NotFound", "no replication with that id", "instanceId").response()
    collection = status_dict(await client.get_status(instance_id))
    if collection is None:
        return ApiError(404, "NotFound", f"no replication '{instance_id}'", "instanceId").response()
    custom = collection.get("customStatus") or {}
    lanes: list[dict[str, Any]] = []
    copies: dict[str, dict[str, Any]] = {}
    views: dict[str, dict[str, Any] | str] = {}
    for lane_ref in custom.get("lanes") or []:
        raw = await client.get_status(lane_ref.get("instanceId", ""), show_input=True)
        lane = status_dict(raw)
        if lane is None:
            continue
        lanes.append(lane)
        lane_custom = lane.get("customStatus") or {}
        current = lane_custom.get("current") or {}
        if current.get("instanceId"):
            copy = status_dict(await client.get_status(current["instanceId"]))
            if copy is not None:
                copies[current["instanceId"]] = copy
        views[lane["instanceId"]] = await _lane_view(lane, getattr(raw, "input_", None))
    return _json(200, progress_document(collection, lanes, copies, views))


async def _orphan_status(client: df.DurableOrchestrationClient, instance_id: str) -> func.HttpResponse:
    """A target collection whose source collection is gone (``orchestrators/orphan_lane.py``): its state and
    reason, what retention deleted, and every copy in it read from Azure now (``expired``: retention deletes
    it now)."""
    raw = await client.get_status(instance_id, show_input=True)
    found = status_dict(raw)
    if found is None:
        return ApiError(404, "NotFound", f"no replication '{instance_id}'", "instanceId").response()
    spec = json_object(getattr(raw, "input_", None))
    custom = found.get("customStatus") if isinstance(found.get("customStatus"), dict) else {}
    output = found.get("output") if isinstance(found.get("output"), dict) else {}
    doc: dict[str, Any] = {
        "instanceId": instance_id,
        "kind": "sourceGone",
        "runtimeStatus": found["runtimeStatus"],
        "sourceCollectionId": spec.get("sourceCollectionId") or (custom or {}).get("sourceCollectionId"),
        "targetCollectionId": spec.get("targetCollectionId") or (custom or {}).get("targetCollectionId"),
        "region": spec.get("region") or (custom or {}).get("region"),
        "whenSourceGone": (spec.get("retention") or {}).get("whenSourceGone") or "keep",
        "state": (output or custom or {}).get("state"),
        "reason": (output or custom or {}).get("reason"),
        "createdTime": found["createdTime"],
        "lastUpdatedTime": found["lastUpdatedTime"],
    }
    pruned = (output or {}).get("pruned") or (spec.get("pruned") if found["runtimeStatus"] != "Completed" else None)
    if pruned or (custom or {}).get("pruned"):
        doc["pruned"] = pruned or (custom or {}).get("pruned")
    if not doc["sourceCollectionId"] or not doc["targetCollectionId"]:
        doc.update(sourceCollectionGone=None, copies=[], copiesUnavailable="the orchestration has no input")
        return _json(200, doc)
    try:
        view = await asyncio.to_thread(
            read_orphan,
            doc["targetCollectionId"],
            doc["sourceCollectionId"],
            spec.get("retention"),
            protection.utc_now(),
            rows=True,
        )
    except arm.ArmFailure as failure:
        doc.update(sourceCollectionGone=None, copies=[], copiesUnavailable=f"could not read Azure now: {failure.kind}")
        return _json(200, doc)
    doc["sourceCollectionGone"] = not view.get("sourceExists")
    doc["copies"] = view.get("copies") or []
    if view.get("retention"):
        doc["retention"] = view["retention"]
    return _json(200, doc)


async def _sweep_status(client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The sweep's own status: where it is in the policy's scope, its counts and errors."""
    sweep = status_dict(await client.get_status(SWEEP_INSTANCE))
    if sweep is None:
        return ApiError(404, "NotFound", "the sweep has not run yet", "instanceId").response()
    custom = sweep.get("customStatus") or {}
    output = sweep.get("output") if isinstance(sweep.get("output"), dict) else {}
    done = sweep["runtimeStatus"] == "Completed"
    return _json(
        200,
        {
            "instanceId": SWEEP_INSTANCE,
            "runtimeStatus": sweep["runtimeStatus"],
            "state": (output or custom).get("state") or ("done" if done else "running"),
            "unit": custom.get("unit"),
            "units": custom.get("units"),
            "stats": (output or custom).get("stats") or {},
            "errors": (output or custom).get("errors") or [],
            "createdTime": sweep["createdTime"],
            "lastUpdatedTime": sweep["lastUpdatedTime"],
        },
    )


async def _lane_view(lane: dict[str, Any], lane_input: Any) -> dict[str, Any] | str:
    """The lane's copies, planned from Azure now with what the lane learnt (its given-up copies,
    refusals and recent outcomes, from its output when it ended, else from its input)."""
    spec = json_object(lane_input)
    learnt = lane.get("output") if isinstance(lane.get("output"), dict) and lane["output"] else spec
    spec_lane = spec.get("lane") or {}
    if not spec_lane.get("sourceCollectionId") or not spec_lane.get("targetCollectionId"):
        return "the lane has not started yet"
    recent = learnt.get("recent") or []
    try:
        view = await asyncio.to_thread(
            read_lane,
            spec_lane["sourceCollectionId"],
            spec_lane["targetCollectionId"],
            spec_lane["region"],
            learnt.get("givenUp") or {},
            [normalize(r["sourceRestorePointId"]) for r in recent if r.get("state") == "succeeded"],
            learnt.get("refused") or [],
            {normalize(r["sourceRestorePointId"]): r for r in recent},
            rows=True,
            retention=spec_lane.get("retention"),
            backlog=spec_lane.get("backlog") or "all",
            now=datetime.now(UTC).isoformat(),
        )
    except arm.ArmFailure as failure:
        return f"could not read the lane from Azure now: {failure.kind}"
    return view if view is not None else "the source collection no longer exists"


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def http_openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI document of this API (kept in the repo beside this module)."""
    return func.HttpResponse(OPENAPI.read_text(encoding="utf-8"), status_code=200, mimetype="application/json")
