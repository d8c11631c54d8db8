"""Plain-JSON shapes that cross the durable boundary (activity results, orchestrator inputs).

Durable payloads must be JSON and are replayed on every episode, so these are TypedDicts over
dicts and lists: no classes to (de)serialise, and only the fields the product needs. What ARM
returns is reduced to these shapes at the edge (``arm.py``); ``sourceMetadata`` (with its
``osProfile``, secrets, custom and user data) never gets past that edge.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class RestorePointInfo(TypedDict):
    id: str
    name: str
    timeCreated: str | None
    provisioningState: str
    # Set on copies: the restore point this one was copied from.
    sourceRestorePointId: str | None


class CollectionInfo(TypedDict):
    id: str
    name: str
    location: str
    # properties.source.id: a VM for an ordinary collection, a collection for a copy target.
    sourceId: str | None
    tags: dict[str, str]
    restorePoints: list[RestorePointInfo]


class DiskObservation(TypedDict):
    id: str
    name: str
    code: str | None
    level: str | None
    percent: int | None


class CopyObservation(TypedDict):
    """A target restore point as seen through ``$expand=instanceView``."""

    id: str
    provisioningState: str
    sourceRestorePointId: str | None
    disks: list[DiskObservation]
    statusCodes: list[str]


ErrorKind = Literal[
    "throttled",
    "copy_quota",
    "transient",
    "not_found",
    "conflict",
    "out_of_order",
    "forbidden",
    "invalid",
    "unexpected",
]

# What waiting fixes: the orchestrators wait these out on durable timers, however long they last.
WAIT_FIXES: frozenset[str] = frozenset({"throttled", "copy_quota", "transient"})


class ArmError(TypedDict):
    kind: ErrorKind
    status: int | None
    code: str | None
    message: str
    retryAfterSeconds: NotRequired[float]


class ArmResult(TypedDict):
    """Envelope of every activity result: ARM failures are data, so orchestrators decide what they mean."""

    ok: bool
    value: NotRequired[object]
    error: NotRequired[ArmError]


class Target(TypedDict):
    region: str
    subscriptionId: str
    resourceGroup: str
    tags: NotRequired[dict[str, str]]


class Lane(TypedDict):
    sourceCollectionId: str
    targetCollectionId: str
    region: str
