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

from .regions import AZURE_REGIONS, normalize_region

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


# ---- durable instance ids -----------------------------------------------------------------------
#
# Limits: the Durable Task Scheduler takes instance ids of at most 100 characters; the Azure Storage backend
# takes 256 and forbids '/', '\', '#', '?' and control characters (they become table keys; Learn: Durable
# orchestrations, "Orchestration identity"). Every id below
# is built from [a-z0-9-] parts joined by '~' and is at most MAX_INSTANCE_ID long by construction:
#   collection  rpc-<name slug, 40>-<12 hex>                       <= 57
#   lane        <collection>~<region, 18>                          <= 76
#   copy        <lane>~<restore point name slug, 14>-<8 hex>        <= 100
# 18 is the longest Azure region name (australiasoutheast, germanywestcentral: see regions.py); a longer name
# that may appear one day keeps a prefix and a hash, so it still fits and stays distinct.

MAX_INSTANCE_ID = 100
_COLLECTION_SLUG = 40
COLLECTION_INSTANCE_MAX = len("rpc-") + _COLLECTION_SLUG + 1 + 12
REGION_PART_MAX = max(len(region) for region in AZURE_REGIONS)
LANE_INSTANCE_MAX = COLLECTION_INSTANCE_MAX + 1 + REGION_PART_MAX
_COPY_DIGEST = 8
_COPY_SLUG = MAX_INSTANCE_ID - LANE_INSTANCE_MAX - 1 - 1 - _COPY_DIGEST
_INSTANCE_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


def collection_instance_id(collection_id: str) -> str:
    """Durable instance id of the orchestration that replicates one source collection.

    Derived from the normalised id so that duplicate or concurrent triggers for the same collection
    land on the same instance. Readable prefix for operators, hash for uniqueness; no characters
    that Durable forbids in instance ids ('/', '\\\\', '#', '?'). Unchanged since the first release, so
    running instances keep their ids.
    """
    ref = parse_collection_id(collection_id)
    return f"rpc-{_slug(ref.name, _COLLECTION_SLUG)}-{_digest(normalize(ref.id), 12)}"


def lane_instance_id(collection_instance: str, region: str) -> str:
    """Instance id of one lane (source collection -> target region): ``<collection instance>~<region>``.

    For an id made by :func:`collection_instance_id` and a real region this is the same id as before the
    length bound existed; anything longer or unsafe is fitted (a prefix and a hash of the whole).
    """
    return f"{_fit(collection_instance, COLLECTION_INSTANCE_MAX)}~{_region_part(region)}"


def copy_instance_id(lane_instance: str, source_restore_point_id: str) -> str:
    """Instance id of the sub-orchestration that copies one restore point along one lane.

    ``<lane instance>~<restore point name, 14>-<8 hex of the normalised restore point id>``: at most 100
    characters whatever the names (ARM allows 80-character restore point names).
    """
    ref = parse_restore_point_id(source_restore_point_id)
    name = _slug(ref.name, _COPY_SLUG).rstrip("-") or "x"
    return f"{_fit(lane_instance, LANE_INSTANCE_MAX)}~{name}-{_digest(normalize(ref.id), _COPY_DIGEST)}"


def orphan_instance_id(target_collection_id: str) -> str:
    """Instance id of the orchestration that applies retention to a target collection whose whole source
    collection is gone (``orchestrators/orphan_lane.py``): ``gone-<target name slug, 40>-<12 hex>`` (at most
    58 characters), derived from the normalised target collection id, so every sweep that finds the same
    orphan joins its one orchestration instead of starting a second one."""
    ref = parse_collection_id(target_collection_id)
    return f"gone-{_slug(ref.name, _COLLECTION_SLUG)}-{_digest(normalize(ref.id), 12)}"


def _region_part(region: str) -> str:
    """A region as it appears in ids and names: ARM's short lower-case form, at most REGION_PART_MAX long."""
    part = _slug(normalize_region(region), 200)
    if len(part) <= REGION_PART_MAX:
        return part
    return f"{part[: REGION_PART_MAX - 9].rstrip('-')}-{_digest(part, 8)}"


def _fit(text: str, limit: int) -> str:
    """``text`` if it is short enough and safe in an instance id, else a safe prefix and a hash of all of it."""
    if len(text) <= limit and _INSTANCE_SAFE.match(text):
        return text
    prefix = re.sub(r"[^A-Za-z0-9._~-]+", "-", text)[: limit - 13].rstrip("-")
    return f"{prefix}-{_digest(text, 12)}" if prefix else _digest(text, 12)


# ---- target collection names --------------------------------------------------------------------
#
# ARM names of restore point collections: 1-80 characters, letters, digits, '_', '.', '-', starting with a
# letter or digit (the Microsoft.Compute rows of Learn "Naming rules and restrictions for Azure resources";
# images and snapshots also end with a letter, digit or '_'). The names below end with a hex digit.

TARGET_NAME_MAX = 80
_TARGET_DIGEST = 8


def target_collection_name(source_collection_id: str, region: str) -> str:
    """Name of the target collection of one source collection in one region.

    ``<source name>-<region>-<8 hex of the normalised source collection id>``, at most 80 characters (the
    source name is shortened when needed). Two teams' ``web-01-rpc`` in different resource groups or
    subscriptions replicated into one DR resource group get different names; the region keeps the names of
    one source's targets in several regions apart when they share a resource group.

    Adoption: a lane that finds no collection under this name looks under
    :func:`legacy_target_collection_name` (the formula of earlier releases). It prefers an existing collection
    bound to this source (``properties.source.id`` is this source, compared normalised, and in this region)
    under either name, the new name first, and adopts the legacy one rather than creating a second target
    (Azure copies a restore point only once to a region, so the copies already made there must be found
    where they are). It never adopts a collection bound to another source: such a legacy-named collection
    belongs to another team's source of the same name and is left alone (the new name is used); a
    new-named one bound to another source is a conflict for a person. ``arm.ensure_target_collection``
    applies this rule when given the legacy name.
    """
    if "/" not in source_collection_id:  # callers of earlier releases passed the source's name
        raise InvalidResourceId(
            f"target_collection_name takes the source collection id, not a name ('{source_collection_id}'); "
            "legacy_target_collection_name takes the name"
        )
    ref = parse_collection_id(source_collection_id)
    region_part = _region_part(region)
    room = TARGET_NAME_MAX - len(region_part) - _TARGET_DIGEST - 2
    name = ref.name if len(ref.name) <= room else ref.name[:room].rstrip("-._")
    return f"{name}-{region_part}-{_digest(normalize(ref.id), _TARGET_DIGEST)}"


def legacy_target_collection_name(source_name: str, region: str) -> str:
    """The target collection name of earlier releases: ``<source name>-<region>`` (hashed past 80 characters).

    It collides for two sources of the same name; kept only so that a lane can adopt a target collection
    created under it (see :func:`target_collection_name` for the rule).
    """
    name = f"{source_name}-{region.lower()}"
    if len(name) <= TARGET_NAME_MAX:
        return name
    return f"{source_name[: TARGET_NAME_MAX - len(region) - 10]}-{_digest(source_name, 8)}-{region.lower()}"
