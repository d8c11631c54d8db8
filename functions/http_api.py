"""HTTP API (auth level FUNCTION): start a replication, read its progress.

Handlers validate with ``replication.requests`` and answer bad input with a 4xx JSON error that
names the field; no exception text or stack trace ever reaches a caller.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from replication.ids import collection_instance_id
from replication.requests import ValidationError, parse_start_request
from replication.settings import SettingsError, load_copy_settings
from replication.status import progress_document

bp = df.Blueprint()
log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
_INSTANCE_ID = re.compile(r"^rpc-[a-z0-9-]{1,60}$")
_ACTIVE = ("Running", "Pending", "ContinuedAsNew")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers)


def _error(status: int, code: str, message: str, field: str | None = None) -> func.HttpResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return _json(status, {"error": error})


def _read_json(req: func.HttpRequest) -> Any:
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ValidationError("content-type", "send the body as application/json")
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValidationError("body", f"not valid JSON ({type(error).__name__})") from None


def _status_dict(status: Any) -> dict[str, Any] | None:
    if not status or not getattr(status, "instance_id", None):
        return None
    runtime = status.runtime_status
    return {
        "instanceId": status.instance_id,
        "runtimeStatus": getattr(runtime, "value", runtime),
        "customStatus": status.custom_status,
        "output": status.output,
        "createdTime": status.created_time.isoformat() if status.created_time else None,
        "lastUpdatedTime": status.last_updated_time.isoformat() if status.last_updated_time else None,
    }


@bp.route(route="replications", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def http_start_replication(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start (or join) the replication of one source collection; 202 with the check-status payload."""
    try:
        request = parse_start_request(_read_json(req))
        copy = load_copy_settings()
    except ValidationError as error:
        status = 415 if error.field == "content-type" else 413 if "larger than" in error.message else 400
        return _json(status, error.to_json())
    except SettingsError as error:
        log.error("misconfigured: %s", error)
        return _error(503, "Misconfigured", f"the app is misconfigured: {error}")
    instance_id = collection_instance_id(request.source_collection_id)
    existing = _status_dict(await client.get_status(instance_id))
    if existing is None or existing["runtimeStatus"] not in _ACTIVE:
        payload = {
            "sourceCollectionId": request.source_collection_id,
            "targets": list(request.targets),
            "copy": copy.to_json(),
        }
        try:
            await client.start_new("replicate_collection", instance_id, payload)
        except Exception:  # a concurrent request started it first: join that run
            again = _status_dict(await client.get_status(instance_id))
            if again is None or again["runtimeStatus"] not in _ACTIVE:
                log.exception("could not start %s", instance_id)
                return _error(503, "StartFailed", "the replication could not be started; try again")
    return client.create_check_status_response(req, instance_id)


@bp.route(route="replications/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def http_get_replication(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Progress of one replication: per lane, per copy, per disk."""
    instance_id = req.route_params.get("instanceId", "")
    if not _INSTANCE_ID.match(instance_id):
        return _error(404, "NotFound", "no replication with that id", "instanceId")
    collection = _status_dict(await client.get_status(instance_id))
    if collection is None:
        return _error(404, "NotFound", f"no replication '{instance_id}'", "instanceId")
    custom = collection.get("customStatus") or {}
    lanes = []
    copies: dict[str, dict[str, Any]] = {}
    for lane_ref in custom.get("lanes") or []:
        lane = _status_dict(await client.get_status(lane_ref.get("instanceId", "")))
        if lane is None:
            continue
        lanes.append(lane)
        current = (lane.get("customStatus") or {}).get("current") or {}
        if current.get("instanceId"):
            copy = _status_dict(await client.get_status(current["instanceId"]))
            if copy is not None:
                copies[current["instanceId"]] = copy
    return _json(200, progress_document(collection, lanes, copies))
