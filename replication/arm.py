"""Azure Resource Manager access for restore points, through the real ``azure-mgmt-compute`` client.

One credential and one client per subscription per process (Learn: manage connections in Azure
Functions). Every function here does one ARM thing, is safe to run twice, and returns the plain
shapes of ``model.py``; ARM failures come back as :class:`ArmFailure` with a kind the orchestrators
act on (wait and retry, or give up with a reason a person can act on).

Retries: azure-core's ``RetryPolicy`` absorbs short blips inside an activity. A ``Retry-After``
longer than :data:`INLINE_RETRY_AFTER_CAP` (the hourly copy limit answers with minutes) is not
slept on inside an activity: it surfaces as ``throttled`` and the orchestrator waits on a durable
timer, which costs nothing while it waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m

from .ids import CollectionRef, normalize, parse_collection_id, parse_restore_point_id, same_id
from .model import ArmError, CollectionInfo, CopyObservation, DiskObservation, ErrorKind, RestorePointInfo
from .settings import ArmSettings, load_arm_settings

log = logging.getLogger(__name__)

INLINE_RETRY_AFTER_CAP = 10.0  # seconds an activity may sleep on one Retry-After
T = TypeVar("T")


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


_lock = threading.Lock()
_credential: Any = None
_clients: dict[str, ComputeManagementClient] = {}


def _make_credential(settings: ArmSettings) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.client_id:
        return ManagedIdentityCredential(client_id=settings.client_id)
    return DefaultAzureCredential()


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
                retry_policy=_ShortRetryPolicy(retry_total=4, retry_backoff_factor=0.5, retry_backoff_max=8),
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


def _retry_after(error: HttpResponseError) -> float | None:
    response = getattr(error, "response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def classify(error: Exception) -> ArmFailure:
    """Map an azure-core exception to what the orchestrator should do about it."""
    if isinstance(error, ArmFailure):
        return error
    if isinstance(error, ClientAuthenticationError):
        return ArmFailure("forbidden", f"authentication failed: {_message(error)}", 401, _code(error))
    if isinstance(error, ResourceNotFoundError):
        return ArmFailure("not_found", _message(error), 404, _code(error))
    if isinstance(error, HttpResponseError):
        status = error.status_code
        if status == 429:
            return ArmFailure("throttled", _message(error), 429, _code(error), _retry_after(error) or 60.0)
        if status in (401, 403):
            return ArmFailure("forbidden", _message(error), status, _code(error))
        if status == 404:
            return ArmFailure("not_found", _message(error), status, _code(error))
        if status == 409:
            return ArmFailure("conflict", _message(error), status, _code(error))
        if status is not None and (status >= 500 or status == 408):
            return ArmFailure("transient", _message(error), status, _code(error), _retry_after(error))
        if status is not None and 400 <= status < 500:
            return ArmFailure("invalid", _message(error), status, _code(error))
        return ArmFailure("unexpected", _message(error), status, _code(error))
    if isinstance(error, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
        return ArmFailure("transient", f"connection problem: {type(error).__name__}")
    return ArmFailure("unexpected", f"{type(error).__name__}: {error}")


def _code(error: Exception) -> str | None:
    inner = getattr(error, "error", None)
    return getattr(inner, "code", None) if inner is not None else None


def _message(error: Exception) -> str:
    inner = getattr(error, "error", None)
    text = getattr(inner, "message", None) if inner is not None else None
    return str(text or getattr(error, "message", None) or error).splitlines()[0][:500]


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


def read_collection(collection_id: str) -> CollectionInfo | None:
    """A collection with its restore points (``$expand=restorePoints``), or None if it does not exist."""
    ref = parse_collection_id(collection_id)
    client = compute_client(ref.subscription_id)
    try:
        body = call(lambda: client.restore_point_collections.get(ref.resource_group, ref.name, expand="restorePoints"))
    except ArmFailure as failure:
        if failure.kind == "not_found":
            return None
        raise
    return _collection_info(body.as_dict())


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
    return [_collection_info(c.as_dict()) for c in items], token


def observe_copy(restore_point_id: str) -> CopyObservation | None:
    """A target restore point with its instance view, or None if it does not exist."""
    ref = parse_restore_point_id(restore_point_id)
    client = compute_client(ref.collection.subscription_id)
    try:
        rp = call(
            lambda: client.restore_points.get(
                ref.collection.resource_group, ref.collection.name, ref.name, expand="instanceView"
            )
        )
    except ArmFailure as failure:
        if failure.kind == "not_found":
            return None
        raise
    return _observation(rp.as_dict())


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
    source: CollectionInfo, target: CollectionRef, region: str, tags: dict[str, str]
) -> CollectionInfo:
    """Create the target collection bound to ``source``, or confirm the one that exists.

    Read before write: an existing collection bound to this source in this region is success
    (a re-run after a crash lands here); one bound to anything else is a conflict a person must
    resolve, never overwritten.
    """
    existing = read_collection(target.id)
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
        # A concurrent or earlier attempt may have created it: read again before giving up.
        again = read_collection(target.id)
        if again is not None and same_id(again["sourceId"], source["id"]):
            return again
        raise failure from None
    info = _collection_info(created.as_dict())
    info["restorePoints"] = []
    return info


def start_copy(target_collection_id: str, name: str, source_restore_point_id: str) -> CopyObservation:
    """Start copying a source restore point into the target collection, without waiting on the LRO.

    Safe to run twice: if the target restore point already exists with the same source, that copy
    is the answer; if it exists with another source, that is a conflict.
    """
    collection = parse_collection_id(target_collection_id)
    target_id = collection.restore_point_id(name)
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
        again = observe_copy(target_id)
        if again is not None:
            return _same_source_or_conflict(again, source_restore_point_id)
        raise failure from None
    observed = observe_copy(target_id)
    if observed is None:  # accepted but not yet visible: report it as starting
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
