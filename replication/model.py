"""Plain-JSON shapes that cross the durable boundary (activity results, orchestrator inputs).

Durable payloads must be JSON and are replayed on every episode, so these are TypedDicts over
dicts and lists: no classes to (de)serialise, and only the fields the product needs. What ARM
returns is reduced to these shapes at the edge (``arm.py``); ``sourceMetadata`` (with its
``osProfile``, secrets, custom and user data) never gets past that edge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, NotRequired, TypedDict


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
    "out_of_order",
    "not_found",
    "conflict",
    "forbidden",
    "invalid",
    "unexpected",
]
"""What went wrong with an ARM call, as ``replication.arm.classify`` decides it from what Azure answered."""

Fix = Literal["wait", "person", "nothing"]
"""Who or what fixes a failure: waiting (then retrying the same call), a person, or nothing at all."""

ERROR_KINDS: Mapping[ErrorKind, Fix] = MappingProxyType(
    {
        # ARM's request buckets (429 SubscriptionRequestsThrottled) or a Compute throttling policy (429
        # OperationNotAllowed / TooManyRequests naming the policy): wait the Retry-After, then retry.
        "throttled": "wait",
        # Compute's 3 copies per target collection per hour (429 with minutes of Retry-After): wait, then retry.
        "copy_quota": "wait",
        # ARM or Compute 5xx/408, a connection that failed or timed out, or the managed identity endpoint
        # unavailable (5xx, unreachable, timing out): back off, then retry.
        "transient": "wait",
        # Azure refuses to copy a restore point older than one already copied to that region, forever
        # ("after RP1 and RP3 are copied, RP2 can never be"): nobody can fix it; the lane skips that point.
        "out_of_order": "nothing",
        # The resource is not there (source deleted, target resource group missing...).
        "not_found": "person",
        # A 409 other than out_of_order (a target collection bound to another source, a copy already in
        # progress or already made under another name...): a person looks.
        "conflict": "person",
        # ARM refused the identity (401/403: a role assignment is missing) or the identity endpoint refused a
        # token (4xx: unknown client id, no identity attached): a person fixes the role or the identity.
        "forbidden": "person",
        # Any other 4xx: the request itself is wrong (a bug, or a bad input).
        "invalid": "person",
        # Anything else: a bug to report.
        "unexpected": "person",
    }
)
"""The one table of failure kinds and what fixes each; ``WAIT_FIXES`` etc. are read from it."""

WAIT_FIXES: frozenset[ErrorKind] = frozenset(k for k, fix in ERROR_KINDS.items() if fix == "wait")
"""Kinds an orchestrator rides out on durable timers (``retryAfterSeconds`` when given)."""

PERSON_FIXES: frozenset[ErrorKind] = frozenset(k for k, fix in ERROR_KINDS.items() if fix == "person")
"""Kinds that stop and wait for a person; the message says what to fix."""

NOTHING_FIXES: frozenset[ErrorKind] = frozenset(k for k, fix in ERROR_KINDS.items() if fix == "nothing")
"""Kinds no one can fix: give up on that one item (that restore point on that lane) and carry on."""


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
    retention: NotRequired[dict[str, object]]  # the policy target's retention rule (replication.retention)
    backlog: NotRequired[str]  # "latest": copy only the newest pending restore point


class Lane(TypedDict):
    sourceCollectionId: str
    targetCollectionId: str
    region: str


def json_object(value: object) -> dict[str, Any]:
    """A value that should be a JSON object, as a dict: Durable hands some payloads over as JSON text (the
    Python client double-encodes event data; status inputs come back as text), others already parsed;
    anything that is not an object is treated as empty."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}
