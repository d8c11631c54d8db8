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
from datetime import timedelta
from typing import Any

from aiohttp import web

from emulator import ids, render
from emulator.compute_throttle import OPERATION_CLASS, PROFILES, Refusal
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


RATELIMIT_RESOURCE = "x-ms-ratelimit-remaining-resource"
RATELIMIT_APPEND = "x-ms-ratelimit-append"  # internal: a policy to append to RATELIMIT_RESOURCE


def error_response(err: ArmError, extra_headers: dict[str, str] | None = None) -> web.Response:
    headers = dict(extra_headers or {})
    for name, value in err.headers.items():
        if name == RATELIMIT_APPEND:
            headers[RATELIMIT_RESOURCE] = ",".join(v for v in (headers.get(RATELIMIT_RESOURCE), value) if v)
        else:
            headers[name] = value
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


class InjectedReset(Exception):
    """A fault decided, mid-dispatch, that this connection is reset without an answer."""


ARM_KIND_NOUN = {"reads": "read", "writes": "write", "deletes": "delete"}
WRITE_METHODS = {"PUT", "PATCH", "POST", "DELETE"}


def arm_throttled(kind: str, subscription: str, capacity: float, retry: int) -> ArmError:
    """ARM's own throttling refusal.

    Code: ``SubscriptionRequestsThrottled`` (ARM's code for its subscription limits; e.g. the message quoted in
    MicrosoftDocs/azure-docs#105248: "Number of requests for subscription '...' and operation '...' exceeded
    the backend storage limit. Please try again after '6' seconds."). Distinct from Compute's throttling
    (``OperationNotAllowed`` + ``TooManyRequests`` detail, compute_throttle.py) so a client can tell them apart.
    """
    return ArmError(
        429,
        "SubscriptionRequestsThrottled",
        f"Number of '{ARM_KIND_NOUN.get(kind, kind)}' requests for subscription '{subscription}' actually "
        f"exceeded the limit of '{int(capacity)}'. Please try again after '{retry}' seconds.",
        headers={"Retry-After": str(retry), f"x-ms-ratelimit-remaining-subscription-{kind}": "0"},
    )


def region_of(name: str) -> str:
    return name.replace(" ", "").lower()


def operation_region_token(location: str) -> str:
    """The ``p`` query parameter of recorded Compute operation URLs: a GUID that is fixed per region
    (``p=571046f6-...`` for westus in both 2022 and 2023 azure-cli recordings)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator/compute-operations/{location}"))


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
            injected = await self._inject_faults(request, operation, args)
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
                    raise arm_throttled(kind, args[0], self.state.throttler.limits[kind][0], retry)
            self.state.sweep()  # what time alone brought since the last call (scheduled deletes etc.)
            if family != "Subscriptions":
                await self._compute_gate(operation, request, args, headers)
            response = await self._dispatch(operation, request, args, headers)
        except ArmError as err:
            response = error_response(err, headers)
        except InjectedReset:
            if request.transport is not None:
                request.transport.abort()
            self.state.calls[f"{operation}:reset"] = self.state.calls.get(f"{operation}:reset", 0) + 1
            return ResetResponse(status=499)
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

    async def _inject_faults(
        self, request: web.Request, operation: str, args: tuple[str, ...]
    ) -> web.StreamResponse | None:
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
        storm = faults.throttle_storm(self.state.clock.now(), operation)
        if storm is not None or faults.hit("throttleStorm", config.throttleStormRate):
            retry = int(storm.get("retryAfter", 30)) if storm is not None else int(config.throttleStormRetryAfter)
            self.state.storm_refusals += 1
            source = storm.get("source", "arm") if storm is not None else "arm"
            if source == "compute" and operation in OPERATION_CLASS:
                name = PROFILES[self.state.compute_throttler.profile][OPERATION_CLASS[operation]][-1]
                now = self.state.clock.now()
                policy = self.state.compute_throttler.policies[name]
                refusal = Refusal(policy, retry, now, now + timedelta(seconds=policy.window_seconds), policy.limit + 1)
                return error_response(
                    ArmError(
                        429,
                        "OperationNotAllowed",
                        "throttle storm",
                        headers={"Retry-After": str(retry), RATELIMIT_RESOURCE: f"Microsoft.Compute/{name};0"},
                        body=refusal.body(),
                    )
                )
            kind = BUCKET.get(request.method, "reads")
            sub = args[0] if args else "-"
            return error_response(arm_throttled(kind, sub, self.state.throttler.limits[kind][0], retry))
        return None

    # ----------------------------------------------------------------- Compute: region faults and throttling
    def _collection_target(self, sub: str, rg: str, name: str) -> tuple[list[str], str] | None:
        collection = self.state.find_collection(sub, rg, name)
        if collection is None:
            return None
        return [region_of(collection.location)], ids.key(collection.rpc_id)

    async def _compute_target(
        self, operation: str, request: web.Request, args: tuple[str, ...]
    ) -> tuple[list[str], str | None] | None:
        """Where the Compute RP serves this call: its region(s) and the resource its "Resource" policies count.

        None when ARM answers without Compute (a missing resource group, collection or parent collection:
        ARM's gateway 404s carry no Compute header in the recordings) or the region cannot be known.
        """
        state = self.state
        if operation in ("RestorePointCollections_List", "RestorePointCollections_ListAll"):
            try:
                items = state.list_collections(args[0], args[1] if operation.endswith("_List") else None)
            except ArmError:
                return None
            return sorted({region_of(c.location) for c in items}), None
        if operation.startswith("RestorePointCollections_"):
            found = self._collection_target(args[0], args[1], args[2])
            if found is not None or operation != "RestorePointCollections_CreateOrUpdate":
                return found
            subscription = state.subscriptions.get(args[0].lower())
            group = subscription.resource_groups.get(args[1].lower()) if subscription else None
            if group is None:
                return None
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return None
            location = body.get("location") if isinstance(body, dict) else None
            if not isinstance(location, str) or not location:
                return None
            return [region_of(location)], ids.key(ids.collection_id(args[0], group[0], args[2]))
        if operation.startswith("RestorePoints_"):
            return self._collection_target(args[0], args[1], args[2])
        if operation in ("Operations_Get", "Operations_GetLocation"):
            op = state.operations.get(args[2].lower())
            return [region_of(args[1])], op.resource_key if op is not None else args[2].lower()
        return None

    async def _compute_gate(
        self, operation: str, request: web.Request, args: tuple[str, ...], headers: dict[str, str]
    ) -> None:
        """Region outages, then Compute's throttling policies, for calls the Compute RP serves."""
        target = await self._compute_target(operation, request, args)
        if target is None:
            return
        regions, resource_key = target
        now = self.state.clock.now()
        write = request.method in WRITE_METHODS
        for region in regions:
            outage = self.state.faults.region_outage(now, region, write)
            if outage is None:
                continue
            self.state.outage_refusals[region] = self.state.outage_refusals.get(region, 0) + 1
            if outage.get("mode", "unavailable") == "reset":
                raise InjectedReset()
            extra = {"Retry-After": str(int(outage["retryAfter"]))} if outage.get("retryAfter") is not None else {}
            raise ArmError(
                503,
                "ServiceUnavailable",
                f"The service is unavailable in region '{region}' (outage injected by the emulator). "
                "Please try again later.",
                headers=extra,
            )
        charge = self.state.compute_throttler.charge(operation, args[0], regions, resource_key, now)
        if charge.header:
            headers[RATELIMIT_RESOURCE] = charge.header
        if len(regions) > 1:  # ARM fanned the list out to several regional Compute endpoints
            headers["x-ms-original-request-ids"] = ", ".join(str(uuid.uuid4()) for _ in regions)
        if charge.refusal is not None:
            body = charge.refusal.body()
            raise ArmError(
                429,
                "OperationNotAllowed",
                body["error"]["message"],
                headers={"Retry-After": str(charge.refusal.retry_after)},
                body=body,
            )

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

    def _op_urls(
        self, request: web.Request, op_id: str, location: str, subscription: str, *, with_location: bool
    ) -> dict[str, str]:
        """LRO headers as recorded (docs/emulator.md): ``Azure-AsyncOperation`` and
        ``Azure-AsyncNotification: Enabled`` on every Compute LRO; ``Location`` (the same URL with
        ``&monitor=true`` before ``api-version``) on DELETEs only; no ``Retry-After`` unless the scenario sets
        ``lroRetryAfterSeconds``; ``x-ms-request-id`` is the operation id."""
        version = request.query.get("api-version", MAX_API_VERSION)
        base = (
            f"{request.scheme}://{request.host}/subscriptions/{subscription}/providers/Microsoft.Compute/"
            f"locations/{location}/operations/{op_id}?p={operation_region_token(location)}"
        )
        headers = {
            "Azure-AsyncOperation": f"{base}&api-version={version}",
            "Azure-AsyncNotification": "Enabled",
            "x-ms-request-id": op_id,
        }
        if with_location:
            headers["Location"] = f"{base}&monitor=true&api-version={version}"
        if self.state.lro_retry_after is not None:
            headers["Retry-After"] = str(self.state.lro_retry_after)
        return headers

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
            whole = operation == "RestorePointCollections_ListAll"
            return self._page(request, [render.collection(c, subscription_list=whole) for c in items], headers)
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
            headers.update(self._op_urls(request, op.op_id, op.location, args[0], with_location=True))
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
            headers.update(self._op_urls(request, op.op_id, op.location, args[0], with_location=False))
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
        if status == "InProgress" and state.lro_retry_after is not None:
            headers["Retry-After"] = str(state.lro_retry_after)
        if operation == "Operations_Get":
            return json_response(render.operation(op, status), headers=headers)
        if status == "InProgress":
            headers["Location"] = str(request.url)
            return web.Response(status=202, headers=headers)
        if status == "Failed":
            assert op.failed_error is not None
            raise ArmError(400, op.failed_error["code"], op.failed_error["message"])
        if op.kind == "delete":
            # Recorded (azure-sdk-for-net 2021-12 and 2023-04): a finished delete's monitor URL answers
            # 200 with an empty body, not 204.
            return web.Response(status=200, headers=headers)
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
