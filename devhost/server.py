"""The aiohttp application: HTTP triggers under /api, the Durable HTTP API, Event Grid webhook, admin API.

Paths, keys and status codes follow the Functions host and the Durable extension so that the real
``DurableOrchestrationClient`` and ordinary HTTP clients behave here as they do in Azure.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import azure.functions as func
from aiohttp import web

from . import engine as eng
from .backends import BackendRejected, InstanceIdRejected
from .dispatcher import TERMINAL_STATES
from .invoke import decode_event_grid
from .payload import dotnet_json
from .routes import build_routes
from .status import STATUS_CODES, status_json
from .timefmt import parse_iso

if TYPE_CHECKING:
    from .host import Host

log = logging.getLogger("devhost.server")

RPC_PREFIX = "/durabletask/"
WEBHOOK_PREFIX = "/runtime/webhooks/durabletask/"
# Any characters at all, newlines included ("." would not match them, and aiohttp would answer its own 404).
ANY_TAIL = "{tail:[\\s\\S]*}"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


def _key(request: web.Request) -> str | None:
    return request.query.get("code") or request.headers.get("x-functions-key")


class Server:
    """Request handling; all state lives in the host's engine and store."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.routes = build_routes(host.specs)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._busy])
        app.router.add_route("*", RPC_PREFIX + ANY_TAIL, self.rpc)
        app.router.add_route("*", WEBHOOK_PREFIX + ANY_TAIL, self.webhook)
        app.router.add_route("POST", "/runtime/webhooks/eventgrid", self.event_grid)
        app.router.add_route("OPTIONS", "/runtime/webhooks/eventgrid", self.event_grid_options)
        app.router.add_route("POST", "/admin/functions/{name}", self.admin_invoke)
        app.router.add_route("GET", "/admin/host/status", self.host_status)
        prefix = self.host.route_prefix.strip("/")
        app.router.add_route("*", f"/{prefix}/{ANY_TAIL}" if prefix else f"/{ANY_TAIL}", self.http_trigger)
        return app

    @web.middleware
    async def _busy(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        with self.host.engine.busy():
            return await handler(request)

    # ------------------------------------------------------------------ keys

    def _function_key_ok(self, request: web.Request) -> bool:
        return _key(request) in (self.host.function_key, self.host.master_key)

    def _master_key_ok(self, request: web.Request) -> bool:
        return _key(request) == self.host.master_key

    # ------------------------------------------------------------------ durable HTTP API

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        return await self._durable(request, request.match_info["tail"], RPC_PREFIX)

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        if not self._function_key_ok(request):
            return web.Response(status=401)
        return await self._durable(request, request.match_info["tail"], WEBHOOK_PREFIX)

    async def _durable(self, request: web.Request, tail: str, prefix: str) -> web.StreamResponse:
        parts = [p for p in tail.split("/") if p]
        method = request.method
        if parts and parts[0] == "orchestrators" and len(parts) in (2, 3) and method == "POST":
            return await self._start(request, parts[1], parts[2] if len(parts) == 3 else None)
        if parts and parts[0] == "instances":
            if len(parts) == 1 and method == "GET":
                return self._list(request)
            if len(parts) == 1 and method == "DELETE":
                return self._purge_by(request)
            instance_id = parts[1] if len(parts) > 1 else ""
            if len(parts) == 2 and method == "GET":
                return self._status(request, instance_id, prefix)
            if len(parts) == 2 and method == "DELETE":
                deleted = self.host.engine.purge(instance_id)
                return _json({"instancesDeleted": deleted}) if deleted else web.Response(status=404)
            if len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
                return await self._raise(request, instance_id, parts[3])
            if len(parts) == 3 and parts[2] in ("terminate", "suspend", "resume") and method == "POST":
                operation = getattr(self.host.engine, parts[2])
                outcome = operation(instance_id, request.query.get("reason", ""))
                return web.Response(status={"accepted": 202, "not_found": 404, "gone": 410}[outcome])
        if parts and parts[0] == "entities" and len(parts) == 3:
            if method == "GET":
                return self._entity_state(parts[1], parts[2])
            if method == "POST":
                return await self._signal_entity(request, parts[1], parts[2])
        return _json({"Message": f"devhost does not serve {method} {prefix}{tail}"}, status=404)

    def _entity_state(self, name: str, key: str) -> web.StreamResponse:
        """``HttpApiHandler.HandleGetEntityRequestAsync``: 404 unless the entity exists, else 200 with its state."""
        found = self.host.engine.dispatcher.entity_state(f"@{name.lower()}@{key}")
        if found is None or not found[0]:
            return web.Response(status=404)
        state = found[1]
        return web.Response(status=200, text=state if state is not None else "null", content_type="application/json")

    async def _signal_entity(self, request: web.Request, name: str, key: str) -> web.StreamResponse:
        """``HttpApiHandler.HandlePostEntityOperationRequestAsync``: ``?op=``; a JSON body is parsed
        (``ConvertToJToken``, 400 if it does not parse) and becomes the input as it is; 202. *Stricter*: an unknown
        entity function is 404."""
        if self.host.engine.dispatcher.entity_function(name) is None:
            return web.Response(status=404)
        raw = (await request.read()).decode("utf-8")
        input_text: str | None = None
        if raw:
            if request.content_type.lower() == "application/json":
                try:
                    input_text = dotnet_json(json.loads(raw))
                except json.JSONDecodeError as exc:
                    return _error(400, f"Could not parse JSON content: {exc}")
            else:
                input_text = dotnet_json(raw)
        self.host.engine.signal_entity(name, key, request.query.get("op", ""), input_text)
        return web.Response(status=202)

    async def _start(self, request: web.Request, name: str, instance_id: str | None) -> web.StreamResponse:
        """``HttpApiHandler.HandleStartOrchestratorRequestAsync`` + ``DurableClient.StartNewAsync``."""
        body = (await request.read()).decode("utf-8")
        input_text = None
        if body:
            try:
                input_text = dotnet_json(json.loads(body))  # JsonConvert.DeserializeObject, serialized again
            except json.JSONDecodeError as exc:
                return _error(400, "Invalid JSON content", str(exc), "Newtonsoft.Json.JsonReaderException")
        try:
            instance_id = self.host.engine.start_instance(name, instance_id, input_text)
        except eng.UnknownFunctionError:
            message = f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function."
            return _error(
                400, "One or more of the arguments submitted is incorrect", message, "System.ArgumentException"
            )
        except InstanceIdRejected as exc:
            return _error(
                400, "One or more of the arguments submitted is incorrect", str(exc), "System.ArgumentException"
            )
        except BackendRejected as exc:
            return _error(
                500, "Something went wrong while processing your request", str(exc), "devhost.BackendRejected"
            )
        except eng.InstanceExistsError as exc:
            # What the extension returns by default (OverridableExistingInstanceStates = NonRunningStates):
            # an InvalidOperationException surfaced by the webhook as a 500 with this JSON body.
            return _error(
                500,
                "Something went wrong while processing your request",
                f"An Orchestration instance with the status {exc} already exists.",
                "System.InvalidOperationException",
            )
        payload = self.host.management_payload(instance_id, origin=_origin(request))
        return _json(payload, 202, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"})

    def _status(self, request: web.Request, instance_id: str, prefix: str) -> web.StreamResponse:
        inst = self.host.store.get_instance(instance_id)
        if inst is None:
            return web.Response(status=404)
        q = request.query
        body = status_json(
            inst,
            show_input=q.get("showInput", "true").lower() != "false",
            show_history=q.get("showHistory", "false").lower() == "true",
            show_history_output=q.get("showHistoryOutput", "false").lower() == "true",
        )
        code = STATUS_CODES.get(inst.runtime_status, 202)
        headers = {"Location": str(request.url), "Retry-After": "10"} if code == 202 else None
        return _json(body, code, headers)

    def _filtered(self, request: web.Request) -> list[Any]:
        q = request.query
        statuses = {s for s in q.get("runtimeStatus", "").split(",") if s}
        created_from = parse_iso(q["createdTimeFrom"]) if q.get("createdTimeFrom") else None
        created_to = parse_iso(q["createdTimeTo"]) if q.get("createdTimeTo") else None
        prefix = q.get("instanceIdPrefix", "")
        found = []
        for inst in self.host.store.list_instances():
            created = parse_iso(inst.created_time)
            if statuses and inst.runtime_status not in statuses:
                continue
            if created_from and created < created_from:
                continue
            if created_to and created > created_to:
                continue
            if prefix and not inst.instance_id.startswith(prefix):
                continue
            found.append(inst)
        return found

    def _list(self, request: web.Request) -> web.StreamResponse:
        found = self._filtered(request)
        show_input = request.query.get("showInput", "true").lower() != "false"
        start = int(request.headers.get("x-ms-continuation-token") or 0)
        top = int(request.query.get("top") or 0)
        page = found[start : start + top] if top else found[start:]
        headers = {}
        if top and start + top < len(found):
            headers["x-ms-continuation-token"] = str(start + top)
        return _json([status_json(i, show_input=show_input) for i in page], 200, headers)

    def _purge_by(self, request: web.Request) -> web.StreamResponse:
        found = [i for i in self._filtered(request) if i.runtime_status in TERMINAL_STATES]
        deleted = sum(self.host.engine.purge(i.instance_id) for i in found)
        return _json({"instancesDeleted": deleted}) if deleted else web.Response(status=404)

    async def _raise(self, request: web.Request, instance_id: str, event_name: str) -> web.StreamResponse:
        """``HttpApiHandler.HandleRaiseEventRequestAsync``: 404 / 410 first, then application/json, then the JSON."""
        inst = self.host.store.get_instance(instance_id)
        if inst is None:
            return web.Response(status=404)
        if inst.runtime_status in TERMINAL_STATES:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        raw = (await request.read()).decode("utf-8")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return _error(400, "Invalid JSON content", str(exc), "Newtonsoft.Json.JsonReaderException")
        try:
            outcome = self.host.engine.raise_event(instance_id, event_name, value)
        except BackendRejected as exc:
            return _error(
                500, "Something went wrong while processing your request", str(exc), "devhost.BackendRejected"
            )
        return web.Response(status={"accepted": 202, "not_found": 404, "gone": 410}[outcome])

    # ------------------------------------------------------------------ HTTP triggers

    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        # Match on the raw (still percent-encoded) path and decode the values afterwards, as ASP.NET routing
        # does, so an encoded "/" inside a route value does not split it.
        prefix = self.host.route_prefix.strip("/")
        raw = request.rel_url.raw_path
        path = raw[len(prefix) + 2 :] if prefix else raw[1:]
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.methods and request.method.upper() not in route.methods:
                continue  # routes are method-constrained: a wrong method finds no function (404)
            if route.auth_level == "function" and not self._function_key_ok(request):
                return web.Response(status=401)
            if route.auth_level in ("admin", "system") and not self._master_key_ok(request):
                return web.Response(status=401)
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query),
                route_params={k: unquote(v) for k, v in params.items()},
                body=await request.read(),
            )
            try:
                result = await self.host.invoker.call_async(route.spec, req)
            except Exception:
                log.exception("function '%s' failed", route.spec.name)
                return web.Response(status=500)
            return _to_response(result)
        return web.Response(status=404)

    # ------------------------------------------------------------------ Event Grid

    async def event_grid(self, request: web.Request) -> web.StreamResponse:
        if not self._function_key_ok(request):
            return web.Response(status=401)
        name = request.query.get("functionName", "")
        spec = self.host.functions.get(name)
        if spec is None or spec.trigger_type != "eventGridTrigger":
            return _json({"Message": f"No Event Grid function named '{name}'"}, 404)
        try:
            events = json.loads(await request.read())
        except json.JSONDecodeError:
            return web.Response(status=400)
        events = events if isinstance(events, list) else [events]
        kind = request.headers.get("aeg-event-type", "")
        if kind == "SubscriptionValidation":
            code = (events[0].get("data") or {}).get("validationCode") if events else None
            return _json({"validationResponse": code})
        if kind != "Notification":
            return web.Response(status=400, text="aeg-event-type must be Notification or SubscriptionValidation")
        for event in events:
            try:
                await self.host.invoker.call_async(spec, decode_event_grid(event))
            except Exception:
                log.exception("Event Grid function '%s' failed", name)
                return web.Response(status=500)
        return web.Response(status=200)

    async def event_grid_options(self, request: web.Request) -> web.StreamResponse:
        """CloudEvents v1.0 abuse-protection handshake (Event Grid's CloudEvents schema validation)."""
        if not self._function_key_ok(request):
            return web.Response(status=401)
        origin = request.headers.get("WebHook-Request-Origin", "*")
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin, "Allow": "POST"})

    # ------------------------------------------------------------------ admin

    async def admin_invoke(self, request: web.Request) -> web.StreamResponse:
        if not self._master_key_ok(request):
            return web.Response(status=401)
        spec = self.host.functions.get(request.match_info["name"])
        if spec is None:
            return web.Response(status=404)
        raw = await request.read()
        body = json.loads(raw) if raw.strip() else {}
        data = body.get("input") if isinstance(body, dict) else None
        if spec.trigger_type == "timerTrigger":
            value = self.host.timer_request(past_due=False)
        elif spec.trigger_type == "eventGridTrigger":
            event = json.loads(data) if isinstance(data, str) else data
            if not isinstance(event, dict):
                return _json({"Message": "input must be one Event Grid event (JSON object)"}, 400)
            value = decode_event_grid(event)
        else:
            return _json({"Message": f"devhost cannot invoke a {spec.trigger_type} function via the admin API"}, 400)
        engine = self.host.engine

        async def run() -> None:
            try:
                await self.host.invoker.call_async(spec, value)
            except Exception:
                log.exception("function '%s' failed", spec.name)

        # The Functions host queues the invocation and answers 202 at once; "busy" is taken before returning
        # so virtual time cannot jump between the 202 and the invocation.
        engine_busy = engine.busy()
        engine_busy.__enter__()
        task = asyncio.ensure_future(run())
        task.add_done_callback(lambda _t: engine_busy.__exit__(None, None, None))
        self.host.background.add(task)
        task.add_done_callback(self.host.background.discard)
        return web.Response(status=202)

    async def host_status(self, request: web.Request) -> web.StreamResponse:
        return _json({"state": "Running", "version": "devhost"})


def _error(status: int, message: str, exception: str | None = None, exception_type: str | None = None) -> web.Response:
    """``request.CreateErrorResponse(status, message, exception)`` (ASP.NET ``HttpError``)."""
    body: dict[str, str] = {"Message": message}
    if exception is not None:
        body["ExceptionMessage"] = exception
    if exception_type is not None:
        body["ExceptionType"] = exception_type
    return _json(body, status)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _to_response(result: Any) -> web.StreamResponse:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.headers.get("Content-Type") or (result.mimetype or "text/plain")
        if "charset" not in content_type and result.charset and content_type.startswith("text/"):
            content_type = f"{content_type}; charset={result.charset}"
        headers["Content-Type"] = content_type
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if isinstance(result, str | bytes):
        return web.Response(status=200, body=result if isinstance(result, bytes) else result.encode())
    return _json(result)
