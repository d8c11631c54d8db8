"""The ARM HTTP front door: routing, auth, api-version, throttling, faults, LRO URLs and call counts.

Paths are matched case-insensitively, as ARM does. Each call is counted as ``{operationId}:{status}``
using the REST spec's operation ids (``RestorePoints_Get``, ``RestorePointCollections_CreateOrUpdate``,
``Operations_Get`` for the async-operation URL, ``Operations_GetLocation`` for the Location URL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

from aiohttp import web

from emulator import render
from emulator.errors import ArmError
from emulator.identity import TokenIssuer
from emulator.state import EmulatorState

log = logging.getLogger("emulator")

MIN_API_VERSION = "2021-03-01"
MAX_API_VERSION = "2026-04-01"
API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")

_SEG = r"([^/]+)"
_RG = rf"/subscriptions/{_SEG}/resourcegroups/{_SEG}/providers/microsoft\.compute/restorepointcollections"
ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/subscriptions/?$", re.I), "Subscriptions"),
    (re.compile(rf"^{_RG}/?$", re.I), "RestorePointCollections_List"),
    (
        re.compile(rf"^/subscriptions/{_SEG}/providers/microsoft\.compute/restorepointcollections/?$", re.I),
        "RestorePointCollections_ListAll",
    ),
    (re.compile(rf"^{_RG}/{_SEG}/?$", re.I), "RestorePointCollections"),
    (re.compile(rf"^{_RG}/{_SEG}/restorepoints/{_SEG}/?$", re.I), "RestorePoints"),
    (
        re.compile(
            rf"^/subscriptions/{_SEG}/providers/microsoft\.compute/locations/{_SEG}/operations/{_SEG}/?$",
            re.I,
        ),
        "Operations",
    ),
]
METHOD_SUFFIX = {
    "Subscriptions": {"GET": "Subscriptions_List"},
    "RestorePointCollections_List": {"GET": "RestorePointCollections_List"},
    "RestorePointCollections_ListAll": {"GET": "RestorePointCollections_ListAll"},
    "RestorePointCollections": {
        "GET": "RestorePointCollections_Get",
        "PUT": "RestorePointCollections_CreateOrUpdate",
        "PATCH": "RestorePointCollections_Update",
        "DELETE": "RestorePointCollections_Delete",
    },
    "RestorePoints": {
        "GET": "RestorePoints_Get",
        "PUT": "RestorePoints_Create",
        "DELETE": "RestorePoints_Delete",
    },
    "Operations": {"GET": "Operations_Get"},
}
BUCKET = {
    "GET": "reads",
    "HEAD": "reads",
    "PUT": "writes",
    "PATCH": "writes",
    "POST": "writes",
    "DELETE": "deletes",
}


def route(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The route family of a path and its captured segments (subscription, group, names)."""
    for pattern, family in ROUTES:
        match = pattern.match(path)
        if match:
            return family, match.groups()
    return None


def error_response(err: ArmError, extra_headers: dict[str, str] | None = None) -> web.Response:
    headers = dict(extra_headers or {})
    headers.update(err.headers)
    return web.Response(
        status=err.status,
        body=json.dumps(err.body()).encode(),
        content_type="application/json",
        headers=headers,
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers)


class ResetResponse(web.Response):
    """Stands for an aborted connection: its transport is closed, so nothing reaches the client."""


class ArmFrontDoor:
    """Turns HTTP requests into state operations, with ARM's cross-cutting behaviour around them."""

    def __init__(self, state: EmulatorState, issuer: TokenIssuer) -> None:
        self.state = state
        self.issuer = issuer

    def count(self, operation: str, status: int) -> None:
        name = f"{operation}:{status}"
        self.state.calls[name] = self.state.calls.get(name, 0) + 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        routed = route(path)
        if routed is None:
            return self._finish(
                "Unknown",
                error_response(
                    ArmError(404, "InvalidResourceType", f"The resource type could not be found for path '{path}'.")
                ),
            )
        family, args = routed
        operation = METHOD_SUFFIX[family].get(request.method)
        if operation is None:
            return self._finish(
                f"{family}_{request.method}",
                error_response(
                    ArmError(
                        405,
                        "MethodNotAllowed",
                        f"The HTTP method '{request.method}' is not supported at '{path}'.",
                    )
                ),
            )
        if family == "Operations" and request.query.get("monitor", "").lower() == "true":
            operation = "Operations_GetLocation"
        headers: dict[str, str] = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
        }
        try:
            injected = await self._inject_faults(request, operation)
            if isinstance(injected, ResetResponse):
                self.state.calls[f"{operation}:reset"] = self.state.calls.get(f"{operation}:reset", 0) + 1
                return injected
            if injected is not None:
                return self._finish(operation, injected)
            principal = self._authenticate(request)
            self._check_api_version(request, family)
            if family != "Subscriptions":
                kind = BUCKET[request.method]
                allowed, remaining, retry = self.state.throttler.take(args[0], kind, self.state.clock.now(), principal)
                headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(remaining)
                if not allowed:
                    raise ArmError(
                        429,
                        "TooManyRequests",
                        f"Number of '{kind}' requests for subscription '{args[0]}' exceeded the limit. "
                        f"Please try again after '{retry}' seconds.",
                        headers={"Retry-After": str(retry)},
                    )
            self.state.sweep()  # what time alone brought since the last call (scheduled deletes etc.)
            response = await self._dispatch(operation, request, args, headers)
        except ArmError as err:
            response = error_response(err, headers)
        except ConnectionResetError:  # the client went away mid-request (a killed host): nothing to answer
            self.count(operation, 499)
            raise
        except Exception:  # an emulator bug must still look like an ARM error, and be visible
            log.exception("emulator error handling %s %s", request.method, path)
            response = error_response(ArmError(500, "InternalServerError", "Emulator internal error."), headers)
        return self._finish(operation, response)

    def _finish(self, operation: str, response: web.StreamResponse) -> web.StreamResponse:
        self.count(operation, response.status)
        return response

    async def _inject_faults(self, request: web.Request, operation: str) -> web.StreamResponse | None:
        faults = self.state.faults
        config = faults.config
        if not faults.applies_to(operation):
            return None
        if faults.hit("slowResponse", config.slowResponseRate):
            await asyncio.sleep(config.slowResponseSeconds)
        if faults.hit("connectionReset", config.connectionResetRate):
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection reset; nothing is written
            return ResetResponse(status=499)
        status = faults.server_error()
        if status is not None:
            code = "InternalServerError" if status == 500 else "ServiceUnavailable"
            return error_response(ArmError(status, code, "Fault injected by the emulator."))
        if faults.hit("throttleStorm", config.throttleStormRate):
            retry = str(config.throttleStormRetryAfter)
            return error_response(
                ArmError(
                    429,
                    "TooManyRequests",
                    "Throttle storm injected by the emulator.",
                    headers={"Retry-After": retry},
                )
            )
        return None

    def _authenticate(self, request: web.Request) -> str:
        """Check the bearer token; return the principal (client id) it was issued to."""
        header = request.headers.get("Authorization")
        challenge = (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{self.state.tenant_id}", '
            'error="invalid_token", error_description="The authentication failed because of missing '
            "'Authorization' header.\""
        )
        if not header:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers={"WWW-Authenticate": challenge},
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                headers={"WWW-Authenticate": challenge},
            )
        token = token.strip()
        problem = self.issuer.check(token)
        if problem is not None:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                problem,
                headers={"WWW-Authenticate": challenge.replace("missing 'Authorization' header", "an invalid token")},
            )
        return self.issuer.principal(token)

    def _check_api_version(self, request: web.Request, family: str) -> None:
        version = request.query.get("api-version")
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if not API_VERSION_RE.match(version):
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are "
                f"'{MIN_API_VERSION}'..'{MAX_API_VERSION}'.",
            )
        if family != "Subscriptions" and not (MIN_API_VERSION <= version[:10] <= MAX_API_VERSION):
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location and API version '{version}' "
                f"and resource type 'restorePointCollections'. The supported api-versions are "
                f"'{MIN_API_VERSION}'..'{MAX_API_VERSION}'.",
            )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            ) from exc
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return body

    def _op_urls(self, request: web.Request, op_id: str, location: str, subscription: str) -> dict[str, str]:
        version = request.query.get("api-version", MAX_API_VERSION)
        base = (
            f"{request.scheme}://{request.host}/subscriptions/{subscription}/providers/Microsoft.Compute/"
            f"locations/{location}/operations/{op_id}?p={op_id}&api-version={version}"
        )
        return {
            "Azure-AsyncOperation": base,
            "Location": base + "&monitor=true",
            "Retry-After": str(self.state.lro_retry_after),
        }

    async def _dispatch(
        self, operation: str, request: web.Request, args: tuple[str, ...], headers: dict[str, str]
    ) -> web.StreamResponse:
        state = self.state
        now = state.clock.now
        if operation == "Subscriptions_List":
            return json_response(
                {"value": [render.subscription(s, state.tenant_id) for s in state.list_subscriptions()]},
                headers=headers,
            )
        if operation in ("RestorePointCollections_List", "RestorePointCollections_ListAll"):
            rg = args[1] if operation == "RestorePointCollections_List" else None
            items = state.list_collections(args[0], rg)
            return self._page(request, [render.collection(c) for c in items], headers)
        if operation == "RestorePointCollections_Get":
            collection = state.get_collection(*args)
            expand = request.query.get("$expand")
            rps = None
            if expand is not None:
                if expand.lower() != "restorepoints":
                    raise ArmError(
                        400,
                        "InvalidParameter",
                        f"The $expand value '{expand}' is not supported.",
                        target="$expand",
                    )
                rps = [
                    render.restore_point(rp, now(), instance_view=False) for rp in collection.restore_points.values()
                ]
            return json_response(render.collection(collection, rps), headers=headers)
        if operation == "RestorePointCollections_CreateOrUpdate":
            collection, created = state.put_collection(args[0], args[1], args[2], await self._body(request))
            body = render.collection(collection)
            if created and state.scenario.get("quirks", {}).get("createResponseSourceIdWithoutSlash"):
                # The official 201 example's source.id lacks the leading "/": clients must cope.
                body["properties"]["source"]["id"] = collection.source_id.lstrip("/")
            return json_response(body, 201 if created else 200, headers)
        if operation == "RestorePointCollections_Update":
            collection = state.patch_collection(args[0], args[1], args[2], await self._body(request))
            return json_response(render.collection(collection), headers=headers)
        if operation in ("RestorePointCollections_Delete", "RestorePoints_Delete"):
            if operation == "RestorePointCollections_Delete":
                op = state.delete_collection(args[0], args[1], args[2])
            else:
                op = state.delete_restore_point(args[0], args[1], args[2], args[3])
            if op is None:
                return web.Response(status=204, headers=headers)
            headers.update(self._op_urls(request, op.op_id, op.location, args[0]))
            return web.Response(status=202, headers=headers)
        if operation == "RestorePoints_Get":
            rp = state.get_restore_point(*args)
            expand = request.query.get("$expand")
            if expand is not None and expand.lower() != "instanceview":
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The $expand value '{expand}' is not supported.",
                    target="$expand",
                )
            return json_response(render.restore_point(rp, now(), instance_view=expand is not None), headers=headers)
        if operation == "RestorePoints_Create":
            rp, op = state.put_restore_point(args[0], args[1], args[2], args[3], await self._body(request))
            headers.update(self._op_urls(request, op.op_id, op.location, args[0]))
            return json_response(render.restore_point(rp, now(), instance_view=False), 201, headers)
        if operation in ("Operations_Get", "Operations_GetLocation"):
            return self._operation(request, operation, args, headers)
        raise ArmError(404, "InvalidResourceType", "Unsupported operation.")

    def _operation(
        self, request: web.Request, operation: str, args: tuple[str, ...], headers: dict[str, str]
    ) -> web.StreamResponse:
        state = self.state
        op = state.get_operation(*args)
        status = state.operation_status(op)
        if operation == "Operations_Get":
            if status == "InProgress":
                headers["Retry-After"] = str(state.lro_retry_after)
            return json_response(render.operation(op, status), headers=headers)
        if status == "InProgress":
            headers.update({"Location": str(request.url), "Retry-After": str(state.lro_retry_after)})
            return web.Response(status=202, headers=headers)
        if status == "Failed":
            assert op.failed_error is not None
            raise ArmError(400, op.failed_error["code"], op.failed_error["message"])
        if op.kind == "delete":
            return web.Response(status=204, headers=headers)
        rp = state.find_restore_point(op.resource_key)
        if rp is None:
            raise ArmError(404, "ResourceNotFound", "The restore point no longer exists.")
        return json_response(render.restore_point(rp, state.clock.now(), instance_view=False), headers=headers)

    def _page(self, request: web.Request, items: list[dict[str, Any]], headers: dict[str, str]) -> web.Response:
        try:
            skip = int(request.query.get("$skiptoken", "0"))
        except ValueError as exc:
            raise ArmError(400, "InvalidParameter", "Invalid $skiptoken.", target="$skiptoken") from exc
        size = self.state.page_size
        body: dict[str, Any] = {"value": items[skip : skip + size]}
        if skip + size < len(items):
            query = dict(request.query)
            query["$skiptoken"] = str(skip + size)
            body["nextLink"] = str(request.url.with_query(query))
        return json_response(body, headers=headers)
