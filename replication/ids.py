"""ARM resource ids of restore point collections and restore points.

ARM ids are case-insensitive, and Azure itself returns them with varying case (``resourcegroups``
vs ``resourceGroups``) and, in one documented example, without the leading slash. Every
comparison in the product goes through :func:`normalize` so that the same resource is never seen
as two. Parsing uses ``azure.mgmt.core.tools`` rather than hand-written splitting.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from azure.mgmt.core.tools import is_valid_resource_id, parse_resource_id, resource_id

COMPUTE = "microsoft.compute"
COLLECTIONS = "restorepointcollections"
RESTORE_POINTS = "restorepoints"

# ARM names of restore point collections and restore points: letters, digits, '-', '_', '.'.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")


class InvalidResourceId(ValueError):
    """An id that is not what the caller needs; the message says why, for a 4xx to a caller."""


def normalize(rid: str) -> str:
    """Canonical form for comparisons: leading slash, no trailing slash, lower case."""
    rid = rid.strip()
    if not rid.startswith("/"):
        rid = "/" + rid
    return rid.rstrip("/").lower()


def same_id(a: str | None, b: str | None) -> bool:
    """True when two ARM ids name the same resource."""
    return a is not None and b is not None and normalize(a) == normalize(b)


@dataclass(frozen=True)
class CollectionRef:
    """A restore point collection: where it lives and what it is called."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return str(
            resource_id(
                subscription=self.subscription_id,
                resource_group=self.resource_group,
                namespace="Microsoft.Compute",
                type="restorePointCollections",
                name=self.name,
            )
        )

    def restore_point_id(self, name: str) -> str:
        return f"{self.id}/restorePoints/{name}"


@dataclass(frozen=True)
class RestorePointRef:
    """A restore point inside a collection."""

    collection: CollectionRef
    name: str

    @property
    def id(self) -> str:
        return self.collection.restore_point_id(self.name)


def check_subscription_id(subscription: object) -> str:
    if not isinstance(subscription, str) or not _SUBSCRIPTION.match(subscription):
        raise InvalidResourceId(f"{subscription!r} is not a subscription id (a GUID)")
    return subscription


def check_resource_group(resource_group: object) -> str:
    if not isinstance(resource_group, str) or not _RESOURCE_GROUP.match(resource_group) or resource_group.endswith("."):
        raise InvalidResourceId(f"{resource_group!r} is not a valid resource group name")
    return resource_group


def _check_parts(subscription: str, resource_group: str, name: str, what: str) -> None:
    check_subscription_id(subscription)
    check_resource_group(resource_group)
    if not _NAME.match(name):
        raise InvalidResourceId(f"'{name}' is not a valid {what} name")


def _parts(rid: object, what: str) -> tuple[str, Mapping[str, str | int]]:
    """Normalise the slash and parse with azure.mgmt.core; any non-id is refused."""
    if not isinstance(rid, str) or not rid.strip():
        raise InvalidResourceId(f"expected a {what} id")
    rid = "/" + rid.strip().lstrip("/")
    if not is_valid_resource_id(rid):
        raise InvalidResourceId(f"'{rid}' is not an ARM resource id")
    parts = parse_resource_id(rid)
    if str(parts.get("namespace", "")).lower() != COMPUTE or str(parts.get("type", "")).lower() != COLLECTIONS:
        raise InvalidResourceId(f"'{rid}' is not a {what} id")
    return rid, parts


def _collection(parts: Mapping[str, str | int]) -> CollectionRef:
    ref = CollectionRef(str(parts["subscription"]), str(parts["resource_group"]), str(parts["name"]))
    _check_parts(ref.subscription_id, ref.resource_group, ref.name, "restore point collection")
    return ref


def parse_collection_id(rid: str) -> CollectionRef:
    """Parse a restore point collection id, refusing anything else (a VM, a restore point...)."""
    rid, parts = _parts(rid, "restore point collection")
    if parts.get("children") or not parts.get("resource_group"):
        raise InvalidResourceId(
            f"'{rid}' is not a restore point collection id "
            "(/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name})"
        )
    return _collection(parts)


def parse_restore_point_id(rid: str) -> RestorePointRef:
    """Parse a restore point id (a child of a restore point collection)."""
    rid, parts = _parts(rid, "restore point")
    if str(parts.get("child_type_1", "")).lower() != RESTORE_POINTS or parts.get("child_type_2"):
        raise InvalidResourceId(f"'{rid}' is not a restore point id")
    name = str(parts["child_name_1"])
    if not _NAME.match(name):
        raise InvalidResourceId(f"'{name}' is not a valid restore point name")
    return RestorePointRef(_collection(parts), name)


def is_collection_id(rid: str | None) -> bool:
    """True for a restore point collection id (used to tell a copy's source from a VM id)."""
    if not rid:
        return False
    try:
        parse_collection_id(rid)
    except InvalidResourceId:
        return False
    return True


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _slug(text: str, length: int) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:length] or "x"


def collection_instance_id(collection_id: str) -> str:
    """Durable instance id of the orchestration that replicates one source collection.

    Derived from the normalised id so that duplicate or concurrent triggers for the same collection
    land on the same instance. Readable prefix for operators, hash for uniqueness; no characters
    that Durable forbids in instance ids ('/', '\\\\', '#', '?').
    """
    ref = parse_collection_id(collection_id)
    return f"rpc-{_slug(ref.name, 40)}-{_digest(normalize(ref.id), 12)}"


def lane_instance_id(collection_instance: str, region: str) -> str:
    """Instance id of one lane (source collection -> target region)."""
    return f"{collection_instance}~{_slug(region, 30)}"


def copy_instance_id(lane_instance: str, source_restore_point_id: str) -> str:
    """Instance id of the sub-orchestration that copies one restore point along one lane."""
    ref = parse_restore_point_id(source_restore_point_id)
    return f"{lane_instance}~{_slug(ref.name, 24)}-{_digest(normalize(ref.id), 8)}"


def target_collection_name(source_name: str, region: str) -> str:
    """Name of the target collection for a source collection and a region.

    One target resource group may hold the copies of one source for several regions, so the region
    is part of the name. ARM names are limited to 80 characters: longer ones keep a hash.
    """
    name = f"{source_name}-{region.lower()}"
    if len(name) <= 80:
        return name
    return f"{source_name[: 80 - len(region) - 10]}-{_digest(source_name, 8)}-{region.lower()}"
