"""Azure Resource Manager access for restore points, through the real ``azure-mgmt-compute`` client.

One credential and one client per subscription per process (Learn: manage connections in Azure
Functions). Every function here does one ARM thing, is safe to run twice, and returns the plain
shapes of ``model.py``; ARM failures come back as :class:`ArmFailure` with a kind the orchestrators
act on (wait and retry, or give up with a reason a person can act on).

Retries: azure-core's ``RetryPolicy`` absorbs short blips inside an activity. A ``Retry-After``
longer than :data:`INLINE_RETRY_AFTER_CAP` (the hourly copy limit answers with minutes) is not
slept on inside an activity: it surfaces as ``throttled`` or ``copy_quota`` and the orchestrator
waits on a durable timer, which costs nothing while it waits.

Failures are classified by :func:`classify` from what the libraries really raise and what Azure
really answers; ``model.ERROR_KINDS`` says who fixes each kind (waiting, a person, or nobody).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from email.utils import parsedate_to_datetime
from time import time
from typing import Any, TypeVar, cast

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ODataV4Format,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m

from . import pacing
from .ids import CollectionRef, normalize, parse_collection_id, parse_restore_point_id, same_id
from .model import ArmError, CollectionInfo, CopyObservation, DiskObservation, ErrorKind, RestorePointInfo
from .settings import ArmSettings, load_arm_settings

log = logging.getLogger(__name__)

INLINE_RETRY_AFTER_CAP = 10.0  # seconds an activity may sleep on one Retry-After
THROTTLE_WAIT = 60.0  # a 429 without Retry-After
COPY_QUOTA_WAIT = 1200.0  # the hourly copy limit without Retry-After: a third of the hour, one copy's share
MESSAGE_LIMIT = 300

# azure-core retry settings of the ARM pipeline (per call, inside one activity).
ARM_RETRY: dict[str, Any] = {"retry_total": 4, "retry_backoff_factor": 0.5, "retry_backoff_max": 8}
# The managed identity credential's own pipeline (azure-identity passes these to azure-core's RetryPolicy
# and RequestsTransport). Its defaults are 10 retries and 300 s connect/read timeouts, so an identity
# endpoint that hangs would hold an activity for many minutes before anything could be classified.
IDENTITY_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 4,
    "connection_timeout": 10,
    "read_timeout": 30,
}
T = TypeVar("T")


# Refusals that made nothing (Compute's or ARM's throttling, the app's own pacer, the hourly copy limit):
# after one, a write is not read back to see whether it happened.
REFUSED_UNTRIED = ("throttled", "copy_quota")


class ArmFailure(Exception):
    """An ARM call that did not do what was asked, classified for the orchestrator."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def to_json(self) -> ArmError:
        error: ArmError = {"kind": self.kind, "status": self.status, "code": self.code, "message": str(self)}
        if self.retry_after is not None:
            error["retryAfterSeconds"] = self.retry_after
        return error


class _ShortRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's retry policy, except that a long Retry-After is handed back to the caller."""

    def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after is not None and retry_after > INLINE_RETRY_AFTER_CAP:
            return False
        return bool(super().is_retry(settings, response))


# Compute's budgets as this process has seen them, shared by every activity of every orchestration in the
# worker (``replication/pacing.py``; scaled-out instances each learn from Azure's own headers).
# ``COMPUTE_PACING=off`` turns the refusals off (the budgets are still read).
PACER = pacing.Pacer(clock=time)
_PARSED_BODY = "replication.parsed_body"
_PACING_CONTEXT = "replication_pacing"


def pacing_enabled() -> bool:
    return os.environ.get("COMPUTE_PACING", "on").strip().lower() not in ("off", "0", "false", "no")


class _PacingPolicy(SansIOHTTPPolicy[Any, Any]):
    """Feeds every response's ``x-ms-ratelimit-remaining-resource`` to :data:`PACER`, and refuses a call
    locally (``throttled``, no ARM call) when it would spend a Compute policy at or below its reserve.

    Placed where azure-core runs per-retry hooks (after the retry and authentication policies), so every
    attempt is checked and every answer, retried ones included, is read."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        if http.method == "PUT" and pacing.call_class(http.method, http.url) == "PUT collection":
            try:  # a collection being created: its region is in the body, not yet in any answer
                raw = getattr(http, "content", None) or getattr(http, "data", None)
                location = json.loads(raw).get("location") if raw else None
            except (ValueError, TypeError, AttributeError):
                location = None
            if isinstance(location, str):
                PACER.learn_region(http.url, location)
        refusal, counted = PACER.before(http.method, http.url, _URGENT.get())
        if refusal is not None and pacing_enabled():
            raise ArmFailure("throttled", refusal.message(), None, "PacedByApp", refusal.seconds)
        request.context[_PACING_CONTEXT] = counted

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        http, answer = request.http_request, response.http_response
        counted = request.context.get(_PACING_CONTEXT) or []
        request.context[_PACING_CONTEXT] = []
        body = None
        kind = pacing.call_class(http.method, http.url)
        if answer.status_code < 300 and kind.endswith(("collection", "list")):
            try:
                body = json.loads(answer.read())  # read(): the answer may be streamed (``_raw_json``)
            except (ValueError, TypeError):
                body = None
            response.context[_PARSED_BODY] = body  # parsed once: ``_raw_json`` takes it from here
        retry_after = None
        if answer.status_code == 429:
            raw = answer.headers.get("Retry-After")
            try:
                retry_after = float(raw) if raw is not None else None
            except ValueError:
                retry_after = None
        PACER.after(http.method, http.url, answer.status_code, answer.headers, counted, retry_after, body)

    def on_exception(self, request: PipelineRequest[Any]) -> None:
        counted = request.context.get(_PACING_CONTEXT) or []
        request.context[_PACING_CONTEXT] = []
        if counted:
            PACER.after(request.http_request.method, request.http_request.url, 0, {}, counted)


_lock = threading.Lock()
_credential: Any = None
_clients: dict[str, ComputeManagementClient] = {}


_TOKEN_REQUEST = "_replication_token_request"  # set on whatever the credential raised


class _Credential:
    """The product's credential: azure-identity's, with what it raises marked as a token-request failure.

    azure-core's bearer-token policy lets the credential's exceptions out of the ARM call unchanged, and
    some of them are indistinguishable from ARM's own (a ``ServiceRequestError`` for the identity endpoint
    refusing connections looks like one for ARM; a non-JSON answer from it escapes as a bare
    ``json.JSONDecodeError``). The mark lets :func:`classify` say which endpoint failed. The exception
    itself is re-raised unchanged, so azure-core's retry policy treats it exactly as before.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        try:
            return cast(AccessToken, self._inner.get_token(*scopes, **kwargs))
        except Exception as error:
            setattr(error, _TOKEN_REQUEST, True)
            raise

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        try:
            return cast(AccessTokenInfo, self._inner.get_token_info(*scopes, options=options))
        except Exception as error:
            setattr(error, _TOKEN_REQUEST, True)
            raise

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> _Credential:
        self._inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self._inner.__exit__(*args)


def _make_credential(settings: ArmSettings) -> _Credential:
    """``ManagedIdentityCredential`` in Azure (``AZURE_CLIENT_ID`` set), ``DefaultAzureCredential`` locally."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.client_id:
        return _Credential(ManagedIdentityCredential(client_id=settings.client_id, **IDENTITY_OPTIONS))
    return _Credential(DefaultAzureCredential())


def compute_client(subscription_id: str) -> ComputeManagementClient:
    """The process-wide client for one subscription (created on first use)."""
    global _credential
    key = subscription_id.lower()
    with _lock:
        client = _clients.get(key)
        if client is None:
            settings = load_arm_settings()
            if _credential is None:
                _credential = _make_credential(settings)
            kwargs: dict[str, Any] = {}
            if settings.ca_bundle:
                kwargs["connection_verify"] = settings.ca_bundle
            client = ComputeManagementClient(
                _credential,
                subscription_id,
                base_url=settings.endpoint,
                credential_scopes=[settings.credential_scope],
                retry_policy=_ShortRetryPolicy(**ARM_RETRY),
                custom_hook_policy=_PacingPolicy(),
                connection_timeout=20,
                read_timeout=60,
                **kwargs,
            )
            _clients[key] = client
        return client


def reset_clients() -> None:
    """Forget cached clients and credential (tests switch endpoints between runs)."""
    global _credential
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _credential = None
    PACER.reset()


# ---- classifying failures ---------------------------------------------------------------------
#
# Sources, by kind (what is matched is what the library or Azure produces; none of it is guessed):
# - identity endpoint: azure-identity 1.27 ``_internal/msal_managed_identity_client.py`` (``_request_token``)
#   raises ``CredentialUnavailableError("App Service managed identity configuration not found in environment.
#   Token request error: (invalid_scope) <statusCode>, <message>")`` for ANY JSON answer without a token,
#   whatever its HTTP status (msal 1.39 ``managed_identity.py``, ``_obtain_token_on_app_service``, builds
#   "<statusCode>, <message>" from the body). A non-JSON answer escapes as ``json.JSONDecodeError`` (msal
#   re-raises it); a refused connection is azure-core's ``ServiceRequestError``, a read timeout its
#   ``ServiceResponseTimeoutError`` (``pipeline/transport/_requests_basic.py``). An unknown client id is
#   400 ``{"statusCode":400,"message":"Unable to load the proper Managed Identity."}`` (Azure/azure-sdk-for-net#43691).
# - ARM throttling: 429 ``SubscriptionRequestsThrottled`` "Number of requests for subscription ... Please try
#   again after '6' seconds." (MicrosoftDocs SupportArticles "Troubleshoot the SubscriptionRequestsThrottled
#   error code (429)"); remaining budget in ``x-ms-ratelimit-remaining-subscription-*`` (Learn
#   request-limits-and-throttling).
# - Compute throttling: 429 ``OperationNotAllowed`` "...too many requests have been received..." with a
#   ``TooManyRequests`` detail whose target is the policy (``HighCostGet30Min``) and a Retry-After, often
#   minutes (MicrosoftDocs/azure-docs troubleshooting/troubleshooting-throttling-errors.md).
# - the hourly copy limit: "3 copies per target restore point collection per hour ... HTTP 429, retry after
#   the interval in the response" (Learn virtual-machines-create-restore-points, throttling limits). Azure's
#   code and message for it are published nowhere found (Learn, REST specs; the azure-cli recording
#   test_copy_vm_restore_point.yaml holds only successful copies, and azure-sdk-for-net's RestorePointTests
#   are success-path tests): it is told from the throttles above by
#   being a restore point PUT refused 429 with a message about an hour, and by carrying neither throttle's code.
# - out of order: "after RP1 and RP3 are copied, RP2 can never be" (Learn virtual-machines-restore-points-copy).
#   Code and message unpublished too: a 409 (or 400) whose message speaks of creation order / older than.

_TOKEN_ERROR = re.compile(r"Token request error: \((?P<error>[^)]*)\) (?:(?P<status>\d{3}|None), )?(?P<detail>.*)")
_ARM_THROTTLE_CODES = frozenset({"subscriptionrequeststhrottled", "tenantrequeststhrottled", "requeststhrottled"})
# "per hour" in a message, or an hourly policy named the way Compute names its windows (``...3Min``,
# ``...30Min`` in Learn "Troubleshooting API throttling errors"; the emulator's ``...1Hour``).
_HOURLY = re.compile(r"\bper hour\b|\bhourly\b|\ban hour\b|\bone hour\b|\bhour\b|\d+hours?\b", re.IGNORECASE)
_OUT_OF_ORDER = re.compile(r"creation order|\bout of order\b|\bolder than\b|\bin order\b", re.IGNORECASE)
_RETRY_IN_TEXT = re.compile(r"after '?(\d+(?:\.\d+)?)'? seconds?", re.IGNORECASE)
_RESTORE_POINT_URL = re.compile(r"/restorepointcollections/[^/?]+/restorepoints/[^/?]+(?:\?|$)", re.IGNORECASE)
_AUTHORIZATION = re.compile(r"perform action '(?P<action>[^']+)' over scope '(?P<scope>[^']+)'")
_FIX_ROLE = "give the app's managed identity a role assignment that allows"
_FIX_IDENTITY = "check that AZURE_CLIENT_ID is the client id of a user-assigned identity attached to this app"


def classify(error: Exception) -> ArmFailure:
    """Map what an SDK call raised to what the orchestrator should do about it (see ``model.ERROR_KINDS``)."""
    if isinstance(error, ArmFailure):
        return error
    response = getattr(error, "response", None)
    if getattr(error, _TOKEN_REQUEST, False) or (isinstance(error, ClientAuthenticationError) and response is None):
        return _identity_failure(error)
    if isinstance(error, HttpResponseError) and response is not None and error.status_code is not None:
        return _arm_failure(error, error.status_code)
    if isinstance(error, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
        return ArmFailure("transient", f"could not reach ARM ({type(error).__name__}); waiting should fix it")
    return ArmFailure("unexpected", _short(f"{type(error).__name__}: {error}"))


def _identity_failure(error: Exception) -> ArmFailure:
    """A token could not be had: an outage of the identity endpoint waits, a refusal needs a person."""
    text = str(getattr(error, "message", None) or error)
    match = _TOKEN_ERROR.search(text)
    if match is not None:
        detail = match["detail"].strip() or match["error"]
        status = match["status"]
        if status is None:  # IMDS and others: an OAuth error without a status (e.g. "Identity not found")
            return ArmFailure("forbidden", _short(f"the managed identity refused a token ({detail}): {_FIX_IDENTITY}"))
        if status == "None" or int(status) >= 500 or int(status) in (408, 429):
            return ArmFailure(
                "transient",
                _short(
                    f"the managed identity endpoint is unavailable (HTTP {status}: {detail}); waiting should fix it"
                ),
            )
        return ArmFailure(
            "forbidden",
            _short(f"the managed identity endpoint refused a token (HTTP {status}: {detail}): {_FIX_IDENTITY}"),
        )
    if isinstance(error, ServiceRequestError):
        return ArmFailure(
            "transient",
            f"the managed identity endpoint is unreachable ({type(error).__name__}); waiting should fix it",
        )
    if isinstance(error, ServiceResponseError):
        return ArmFailure(
            "transient",
            f"the managed identity endpoint did not answer ({type(error).__name__}); waiting should fix it",
        )
    if isinstance(error, HttpResponseError) and not isinstance(error, ClientAuthenticationError):
        # azure-core's DecodeError: the identity endpoint said JSON and sent something else (an error page)
        http_status = error.status_code
        if http_status is None or http_status >= 500 or http_status in (408, 429):
            return ArmFailure(
                "transient",
                f"the managed identity endpoint is unavailable (HTTP {http_status}, no token); waiting should fix it",
            )
        return ArmFailure(
            "forbidden", f"the managed identity endpoint refused a token (HTTP {http_status}): {_FIX_IDENTITY}"
        )
    if isinstance(error, ValueError):  # json.JSONDecodeError: an answer that is not JSON (a gateway's error page)
        return ArmFailure(
            "transient", "the managed identity endpoint answered something that is not a token; waiting should fix it"
        )
    if isinstance(error, ClientAuthenticationError):  # no managed identity here, or no credential at all
        return ArmFailure("forbidden", _short(f"no token for ARM ({_first_line(text)}): {_FIX_IDENTITY}"))
    return ArmFailure("unexpected", _short(f"getting a token failed: {type(error).__name__}: {error}"))


def _arm_failure(error: HttpResponseError, status: int) -> ArmFailure:
    code, message, text = _error_parts(error)
    if status == 429:
        retry = _retry_after(error, message)
        if _is_copy_quota(error, code, text):
            return ArmFailure(
                "copy_quota",
                _short(f"Azure allows 3 copies per target collection per hour: {message}"),
                status,
                code,
                retry or COPY_QUOTA_WAIT,
            )
        return ArmFailure(
            "throttled", _short(f"{_throttler(error, code)} throttled: {message}"), status, code, retry or THROTTLE_WAIT
        )
    if status == 401:
        return ArmFailure(
            "forbidden", _short(f"ARM refused the app's token ({code}): {_FIX_IDENTITY}: {message}"), status, code
        )
    if status == 403:
        # AuthorizationFailed: "The client '..' with object id '..' does not have authorization to perform
        # action '<action>' over scope '<scope>' or the scope is invalid." (Learn: troubleshoot authorization)
        wanted = _AUTHORIZATION.search(message)
        if wanted is not None:
            what = f"'{wanted['action']}' on {wanted['scope']}"
            return ArmFailure("forbidden", _short(f"not allowed ({code}): {_FIX_ROLE} {what}"), status, code)
        return ArmFailure("forbidden", _short(f"not allowed ({code}): {_FIX_ROLE} it: {message}"), status, code)
    if status == 404:
        return ArmFailure("not_found", _short(message), status, code)
    if status in (400, 409) and _OUT_OF_ORDER.search(text):
        return ArmFailure(
            "out_of_order",
            _short(f"Azure will never copy this restore point to that region (a newer one is there): {message}"),
            status,
            code,
        )
    if status == 409:
        return ArmFailure("conflict", _short(message), status, code)
    if status >= 500 or status == 408:
        return ArmFailure("transient", _short(message), status, code, _retry_after(error, None))
    if 400 <= status < 500:
        return ArmFailure("invalid", _short(message), status, code)
    return ArmFailure("unexpected", _short(message), status, code)


def _error_parts(error: HttpResponseError) -> tuple[str | None, str, str]:
    """(code, message, all the text to match: message, details' codes, targets and messages)."""
    body = getattr(error, "error", None)
    if body is None:  # azure-core could not parse it; try the raw body (Compute's bare {"code","message"})
        try:
            raw = json.loads(error.response.text()) if error.response is not None else None
        except (ValueError, TypeError):
            raw = None
        if isinstance(raw, dict):
            try:
                body = ODataV4Format(raw)
            except ValueError:
                body = None
    code = getattr(body, "code", None)
    message = getattr(body, "message", None) or error.reason or str(error)
    parts = [str(message)]
    for detail in getattr(body, "details", None) or []:
        parts += [str(getattr(detail, name, None) or "") for name in ("code", "target", "message")]
    return code, _first_line(str(message)), " ".join(parts)


def _is_copy_quota(error: HttpResponseError, code: str | None, text: str) -> bool:
    """A 429 that is the hourly copy limit, not ARM's or Compute's request throttling (see the sources above)."""
    if (code or "").lower() in _ARM_THROTTLE_CODES or _arm_budget_exhausted(error):
        return False
    request = getattr(error.response, "request", None)
    if request is not None and not (request.method == "PUT" and _RESTORE_POINT_URL.search(str(request.url))):
        return False
    return bool(_HOURLY.search(text))


def _arm_budget_exhausted(error: HttpResponseError) -> bool:
    headers = getattr(error.response, "headers", None) or {}
    return any(
        name.lower().startswith("x-ms-ratelimit-remaining-subscription-") and str(value).strip() == "0"
        for name, value in headers.items()
    )


def _throttler(error: HttpResponseError, code: str | None) -> str:
    """Who throttled: ARM's request buckets, or a Compute policy (named in the detail's target)."""
    if (code or "").lower() in _ARM_THROTTLE_CODES or _arm_budget_exhausted(error):
        return "ARM"
    body = getattr(error, "error", None)
    for detail in getattr(body, "details", None) or []:
        if (getattr(detail, "code", None) or "").lower() == "toomanyrequests" and getattr(detail, "target", None):
            return f"Compute (policy {detail.target})"
    return "Azure"


def _retry_after(error: HttpResponseError, message: str | None) -> float | None:
    """Seconds to wait: Retry-After (seconds or an HTTP date), retry-after-ms, or 'after N seconds' in the text."""
    headers = getattr(error.response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        raw = headers.get(name)
        if raw is not None:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                pass
    raw = headers.get("Retry-After")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - time())
            except (TypeError, ValueError):
                pass
    found = _RETRY_IN_TEXT.search(message or "")
    return float(found.group(1)) if found else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _short(text: str) -> str:
    """One line, bounded: messages go to logs, custom status and HTTP answers."""
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."


def call(fn: Callable[[], T]) -> T:
    """Run one SDK call; any failure becomes a classified :class:`ArmFailure`."""
    try:
        return fn()
    except Exception as error:  # every failure is classified, none escapes raw
        raise classify(error) from error


# ---- reading -------------------------------------------------------------------------------


def _restore_point_info(rp: dict[str, Any]) -> RestorePointInfo:
    props = rp.get("properties") or {}
    source = props.get("sourceRestorePoint") or {}
    return {
        "id": rp["id"],
        "name": rp["name"],
        # A copy's own timeCreated is not relied on where its source is known: recorded copies carry their
        # source's (azure-cli and azure-sdk-for-net recordings 2021-2023), the VM restore points FAQ says the
        # copy's own. Consumers take the source restore point's time (planning.creation_order orders sources;
        # protection and retention look the source up) and fall back to this only when the source is gone.
        "timeCreated": props.get("timeCreated"),
        "provisioningState": props.get("provisioningState") or "Unknown",
        "sourceRestorePointId": source.get("id"),
    }


def _collection_info(body: dict[str, Any]) -> CollectionInfo:
    props = body.get("properties") or {}
    source = props.get("source") or {}
    return {
        "id": body["id"],
        "name": body["name"],
        "location": body.get("location") or "",
        "sourceId": source.get("id"),
        "tags": dict(body.get("tags") or {}),
        "restorePoints": [_restore_point_info(rp) for rp in props.get("restorePoints") or []],
    }


def _raw_json(pipeline_response: Any, _deserialized: Any, _headers: Any) -> dict[str, Any]:
    """The answer's JSON as Azure sent it, for ``stream=True`` calls: the SDK's models are skipped.

    A collection read with ``$expand=restorePoints`` carries every restore point with its VM's whole
    storage profile (500 restore points x 16 disks is megabytes); building azure-mgmt-compute's models for it
    took most of a lane's CPU (py-spy over bench/status_size.py: 56% of samples in ``Model.__init__``),
    which Flex Consumption bills. Errors are unchanged: the SDK raises before ``cls`` on any non-2xx."""
    body = pipeline_response.context.get(_PARSED_BODY)
    if body is None:
        body = json.loads(pipeline_response.http_response.read())
    if not isinstance(body, dict):
        raise ArmFailure("unexpected", "Azure answered a read with something other than a JSON object")
    return body


_URGENT: ContextVar[bool] = ContextVar("replication_urgent", default=False)


@contextmanager
def urgent(flag: bool) -> Iterator[None]:
    """Calls made inside are for a lane with no usable copy yet: the pacer lets them go first
    (``pacing.Budget.wait``), so a fleet protects every VM once before it deepens any backlog."""
    token = _URGENT.set(bool(flag))
    try:
        yield
    finally:
        _URGENT.reset(token)


def admit_reads(resource_ids: list[str]) -> None:
    """Raise the pacer's ``throttled`` refusal now if any of these GETs would be refused (``Pacer.admits``)."""
    if not pacing_enabled():
        return
    refusal = PACER.admits((("GET", resource_id) for resource_id in resource_ids), _URGENT.get())
    if refusal is not None:
        raise ArmFailure("throttled", refusal.message(), None, "PacedByApp", refusal.seconds)


def read_collection(collection_id: str) -> CollectionInfo | None:
    """A collection with its restore points (``$expand=restorePoints``), or None if it does not exist."""
    ref = parse_collection_id(collection_id)
    client = compute_client(ref.subscription_id)
    try:
        body = call(
            lambda: client.restore_point_collections.get(
                ref.resource_group, ref.name, expand="restorePoints", stream=True, cls=_raw_json
            )
        )
    except ArmFailure as failure:
        if failure.kind == "not_found":
            return None
        raise
    info = _collection_info(cast(dict[str, Any], body))  # cls=_raw_json: the JSON, not a model
    _learn_group_casing(info["id"])
    return info


def list_collections_page(
    subscription_id: str, resource_group: str | None, continuation: str | None
) -> tuple[list[CollectionInfo], str | None]:
    """One page of the collections of a subscription (or one resource group) and the next page's token.

    One page per call, so a sweep over thousands of collections is many short invocations, never one long one.
    """
    client = compute_client(subscription_id)

    def first_page() -> tuple[list[Any], str | None]:
        if resource_group:
            pager = client.restore_point_collections.list(resource_group).by_page(continuation_token=continuation)
        else:
            pager = client.restore_point_collections.list_all().by_page(continuation_token=continuation)
        page = next(pager, None)
        return (list(page) if page is not None else []), getattr(pager, "continuation_token", None)

    items, token = call(first_page)
    found = [_collection_info(c.as_dict()) for c in items]
    if resource_group:
        for info in found:
            _learn_group_casing(info["id"])
    else:
        found = [_with_canonical_group(info) for info in found]
    return found, token


# ---- one canonical resource group name -------------------------------------------------------
#
# ``RestorePointCollections_ListAll`` answers ids with the resource group UPPER-CASED (recorded three times:
# azure-sdk-for-net CreateRpcAndRestorePoints.json 2021 and 2023, azure-cli test_restore_point_collection.yaml
# 2025; docs/emulator.md), while a GET, the per-group list and Event Grid's subject carry the created casing.
# Policy templates (``{sourceResourceGroup}-dr``) and status would then name the target group differently
# depending on which trigger saw the collection. So ids from the subscription-wide list get the group's
# created casing back: from a GET or per-group list this process already saw, else from the source VM's id
# when it names the same group, else from one GET of the collection (cached per group, so one per group).
_group_casing: dict[tuple[str, str], str] = {}


def _group_of(resource_id: str | None) -> tuple[str, str] | None:
    parts = (resource_id or "").split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups" and i >= 2:
            return parts[i - 1].lower(), parts[i + 1]
    return None


def _learn_group_casing(resource_id: str | None) -> None:
    group = _group_of(resource_id)
    if group is not None:
        _group_casing.setdefault((group[0], group[1].lower()), group[1])


def _replace_group(resource_id: str, group: str) -> str:
    parts = resource_id.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            parts[i + 1] = group
            break
    return "/".join(parts)


def _with_canonical_group(info: CollectionInfo) -> CollectionInfo:
    group = _group_of(info["id"])
    if group is None:
        return info
    key = (group[0], group[1].lower())
    known = _group_casing.get(key)
    if known is None:
        source_group = _group_of(info.get("sourceId"))
        if source_group is not None and source_group[0] == key[0] and source_group[1].lower() == key[1]:
            known = source_group[1]
        else:
            fetched = read_collection(info["id"])
            known = (_group_of(fetched["id"]) or group)[1] if fetched is not None else None
        if known is not None:
            _group_casing[key] = known
    return {**info, "id": _replace_group(info["id"], known)} if known else info


def observe_copy(restore_point_id: str) -> CopyObservation | None:
    """A target restore point with its instance view, or None if it does not exist."""
    ref = parse_restore_point_id(restore_point_id)
    client = compute_client(ref.collection.subscription_id)
    try:
        rp = call(
            lambda: client.restore_points.get(
                ref.collection.resource_group,
                ref.collection.name,
                ref.name,
                expand="instanceView",
                stream=True,
                cls=_raw_json,
            )
        )
    except ArmFailure as failure:
        if failure.kind == "not_found":
            return None
        raise
    return _observation(cast(dict[str, Any], rp))  # cls=_raw_json: the JSON, not a model


def _observation(rp: dict[str, Any]) -> CopyObservation:
    props = rp.get("properties") or {}
    view = props.get("instanceView") or {}
    disks: list[DiskObservation] = []
    for disk in view.get("diskRestorePoints") or []:
        status = (disk.get("replicationStatus") or {}).get("status") or {}
        percent = (disk.get("replicationStatus") or {}).get("completionPercent")
        try:
            percent = int(percent) if percent is not None else None
        except (TypeError, ValueError):
            percent = None
        disk_id = disk.get("id") or ""
        disks.append(
            {
                "id": disk_id,
                "name": disk_id.rstrip("/").rsplit("/", 1)[-1],
                "code": status.get("code"),
                "level": status.get("level"),
                "percent": percent,
            }
        )
    return {
        "id": rp["id"],
        "provisioningState": props.get("provisioningState") or "Unknown",
        "sourceRestorePointId": (props.get("sourceRestorePoint") or {}).get("id"),
        "disks": disks,
        "statusCodes": [s.get("code") or "" for s in view.get("statuses") or []],
    }


# ---- writing -------------------------------------------------------------------------------


def ensure_target_collection(
    source: CollectionInfo,
    target: CollectionRef,
    region: str,
    tags: dict[str, str],
    legacy: CollectionRef | None = None,
    *,
    absent: bool = False,
) -> CollectionInfo:
    """Create the target collection bound to ``source``, or confirm (or adopt) the one that exists.

    Read before write: an existing collection under ``target``'s name bound to this source in this region
    is success (a re-run after a crash lands here); one bound to anything else is a conflict a person must
    resolve, never overwritten. When there is none and ``legacy`` names a collection under the name of
    earlier releases (``ids.legacy_target_collection_name``) bound to this source in this region, that
    collection is adopted and returned: the caller uses its id from then on (copies already made there can
    only be found there). A legacy-named collection bound to another source (another team's source of the
    same name) is left alone, and the collection is created under ``target``'s name.
    ``absent``: the caller has just read ``target`` and found nothing, so it is not read again; a collection
    made in between is found by the PUT's refusal (Compute refuses a change of ``source.id``) and read then.
    """
    existing = None if absent else read_collection(target.id)
    if existing is not None:
        if not same_id(existing["sourceId"], source["id"]):
            raise ArmFailure(
                "conflict",
                f"target collection {target.id} already exists with source {existing['sourceId']}, not {source['id']}",
            )
        if existing["location"].replace(" ", "").lower() != region:
            raise ArmFailure(
                "conflict", f"target collection {target.id} exists in {existing['location']}, not {region}"
            )
        return existing
    if legacy is not None and not same_id(legacy.id, target.id):
        adopted = read_collection(legacy.id)
        if (
            adopted is not None
            and same_id(adopted["sourceId"], source["id"])
            and adopted["location"].replace(" ", "").lower() == region
        ):
            return adopted
    client = compute_client(target.subscription_id)
    body = m.RestorePointCollection(
        location=region,
        tags=tags or None,
        properties=m.RestorePointCollectionProperties(source=m.RestorePointCollectionSourceProperties(id=source["id"])),
    )
    try:
        created = call(
            lambda: client.restore_point_collections.create_or_update(target.resource_group, target.name, body)
        )
    except ArmFailure as failure:
        # A concurrent or earlier attempt may have created it: read again before giving up (not after a
        # refusal for throttling, which made nothing and would only spend the read budget too).
        if failure.kind in REFUSED_UNTRIED:
            raise
        again = read_collection(target.id)
        if again is not None and same_id(again["sourceId"], source["id"]):
            return again
        raise failure from None
    info = _collection_info(created.as_dict())
    info["restorePoints"] = []
    return info


def start_copy(
    target_collection_id: str, name: str, source_restore_point_id: str, *, absent: bool = False
) -> CopyObservation:
    """Start copying a source restore point into the target collection, without waiting on the LRO.

    Safe to run twice: if the target restore point already exists with the same source, that copy
    is the answer; if it exists with another source, that is a conflict. ``absent``: the caller's plan,
    just made, found no such copy, so it is not read first (one read of Compute's per-region budget saved
    per copy); if it exists after all, the PUT is refused (restore points cannot be updated) and it is read
    then. The accepted copy is not read back either: watching it does that.
    """
    collection = parse_collection_id(target_collection_id)
    target_id = collection.restore_point_id(name)
    if not absent:
        existing = observe_copy(target_id)
        if existing is not None:
            return _same_source_or_conflict(existing, source_restore_point_id)
    client = compute_client(collection.subscription_id)
    body = m.RestorePoint(
        properties=m.RestorePointProperties(source_restore_point=m.ApiEntityReference(id=source_restore_point_id))
    )
    try:
        call(
            lambda: client.restore_points.begin_create(
                collection.resource_group, collection.name, name, body, polling=False
            ).result()
        )
    except ArmFailure as failure:
        if failure.kind in REFUSED_UNTRIED:
            raise
        again = observe_copy(target_id)
        if again is not None:
            return _same_source_or_conflict(again, source_restore_point_id)
        raise failure from None
    observed = None if absent else observe_copy(target_id)
    if observed is None:  # accepted but not read back (or not yet visible): report it as starting
        return {
            "id": target_id,
            "provisioningState": "Creating",
            "sourceRestorePointId": source_restore_point_id,
            "disks": [],
            "statusCodes": [],
        }
    return observed


def _same_source_or_conflict(existing: CopyObservation, source_restore_point_id: str) -> CopyObservation:
    if existing["sourceRestorePointId"] and normalize(existing["sourceRestorePointId"]) == normalize(
        source_restore_point_id
    ):
        return existing
    raise ArmFailure(
        "conflict",
        f"{existing['id']} already exists as a copy of {existing['sourceRestorePointId']}, "
        f"not {source_restore_point_id}",
    )


def delete_restore_point(restore_point_id: str) -> bool:
    """Ask ARM to delete a restore point; True once it is gone. Safe to run twice (404 is gone)."""
    ref = parse_restore_point_id(restore_point_id)
    client = compute_client(ref.collection.subscription_id)
    try:
        call(
            lambda: client.restore_points.begin_delete(
                ref.collection.resource_group, ref.collection.name, ref.name, polling=False
            ).result()
        )
    except ArmFailure as failure:
        if failure.kind != "not_found":
            raise
    return observe_copy(restore_point_id) is None
