"""Compute resource provider throttling: the ``x-ms-ratelimit-remaining-resource`` policies.

Every recorded response of the Compute RP carries ``x-ms-ratelimit-remaining-resource`` with the call
count left in each throttling policy the request was charged to (Learn *Troubleshooting API
throttling errors*; recordings in docs/emulator.md). These budgets are separate from, and far
tighter than, ARM's token buckets (``throttle.py``).

Model (choices in docs/emulator.md, "Compute throttling"):

- each policy is a **sliding-window counter**: ``limit`` calls in any ``windowSeconds``; every call is
  measured, refused ones included (the documented 429 detail has ``measuredRequestCount`` above
  ``allowedRequestCount``), so hammering a throttled policy keeps it throttled;
- ``subscription`` policies are kept per subscription **and region** (Learn: "throttled at a
  subscription and on a per-region basis"; the recordings' counters differ by region);
  ``resource`` policies per resource (the restore point collection a PUT or PATCH addresses, the
  resource an operation reports on);
- the header lists the policies in the recorded order and format
  (``Microsoft.Compute/PutRestorePointResource;5,Microsoft.Compute/PutRestorePointSubscriptionMaximum;149``);
- over a limit: 429 with ``Retry-After`` (seconds until the call would fit) and Compute's throttling
  body (code ``OperationNotAllowed``, a ``TooManyRequests`` detail whose target is the policy).

Everything is computed from the emulator clock, so under a virtual clock windows only move when the
clock is advanced.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

PROVIDER = "Microsoft.Compute"

# Operation ids (arm_app.py) -> the class of Compute operation they are charged as.
OPERATION_CLASS = {
    "RestorePoints_Create": "putRestorePoint",
    "RestorePointCollections_CreateOrUpdate": "putCollection",
    "RestorePointCollections_Update": "updateCollection",
    "RestorePoints_Get": "get",
    "RestorePointCollections_Get": "get",
    "RestorePointCollections_List": "list",
    "RestorePointCollections_ListAll": "list",
    "Operations_Get": "operation",
    "Operations_GetLocation": "operation",
    "RestorePoints_Delete": "delete",
    "RestorePointCollections_Delete": "delete",
}


@dataclass
class Policy:
    name: str
    limit: int
    window_seconds: float
    scope: str  # "subscription" (per subscription and region) or "resource"

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "windowSeconds": self.window_seconds, "scope": self.scope}


# Limits: the recorded remaining count after a first call, plus one. Windows: docs/emulator.md.
POLICIES: dict[str, tuple[int, float, str]] = {
    # Newest names (azure-cli recordings 2023-10, 2023-12, 2025-03; api-versions 2022-08-01..2024-11-01).
    "PutRestorePointResource": (6, 1800.0, "resource"),
    "PutRestorePointSubscriptionMaximum": (150, 1800.0, "subscription"),
    "PutRestorePointCollectionResource": (15, 1800.0, "resource"),
    "PutRestorePointCollectionSubscriptionMaximum": (150, 1800.0, "subscription"),
    "UpdateRestorePointCollectionResource": (15, 1800.0, "resource"),
    "UpdateRestorePointCollectionSubscriptionMaximum": (150, 1800.0, "subscription"),
    "LowCostGetRestorePointSubscriptionMaximum": (600, 1800.0, "subscription"),
    "HighCostGetRestorePointSubscriptionMaximum": (150, 1800.0, "subscription"),
    "GetOperationResource": (60, 30.0, "resource"),
    "GetOperationSubscriptionMaximum": (15000, 1800.0, "subscription"),
    "DeleteRestorePointSubscriptionMaximum": (360, 1800.0, "subscription"),
    # Older names (azure-sdk-for-net 2021-12 and 2023-04, azure-cli 2022-06): windows in the name.
    "CreateRestorePoints3Min": (120, 180.0, "subscription"),
    "CreateRestorePoints30Min": (600, 1800.0, "subscription"),
    "LowCostGetRestorePoint3Min": (500, 180.0, "subscription"),
    "LowCostGetRestorePoint30Min": (2500, 1800.0, "subscription"),
    "GetOperation3Min": (15000, 180.0, "subscription"),
    "GetOperation30Min": (30000, 1800.0, "subscription"),
    "DeleteRestorePoints3Min": (350, 180.0, "subscription"),
    "DeleteRestorePoints30Min": (1000, 1800.0, "subscription"),
}

# Which policies each class of call is charged to, per recorded generation of policy names.
PROFILES: dict[str, dict[str, list[str]]] = {
    "2023": {
        "putRestorePoint": ["PutRestorePointResource", "PutRestorePointSubscriptionMaximum"],
        "putCollection": ["PutRestorePointCollectionResource", "PutRestorePointCollectionSubscriptionMaximum"],
        "updateCollection": ["UpdateRestorePointCollectionResource", "UpdateRestorePointCollectionSubscriptionMaximum"],
        "get": ["LowCostGetRestorePointSubscriptionMaximum"],
        "list": ["HighCostGetRestorePointSubscriptionMaximum"],
        "operation": ["GetOperationResource", "GetOperationSubscriptionMaximum"],
        "delete": ["DeleteRestorePointSubscriptionMaximum"],
    },
    "2021": {
        "putRestorePoint": ["CreateRestorePoints3Min", "CreateRestorePoints30Min"],
        "putCollection": ["CreateRestorePoints3Min", "CreateRestorePoints30Min"],
        "updateCollection": ["CreateRestorePoints3Min", "CreateRestorePoints30Min"],
        "get": ["LowCostGetRestorePoint3Min", "LowCostGetRestorePoint30Min"],
        "list": ["LowCostGetRestorePoint3Min", "LowCostGetRestorePoint30Min"],
        "operation": ["GetOperation3Min", "GetOperation30Min"],
        "delete": ["DeleteRestorePoints3Min", "DeleteRestorePoints30Min"],
    },
}
DEFAULT_PROFILE = "2023"


def format_arm_time(value: datetime) -> str:
    """``2018-06-29T19:54:21.0914017+00:00``: seven fractional digits, as Compute writes times."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0+00:00"


@dataclass
class Refusal:
    """A Compute throttling refusal: which policy, and what the 429 says."""

    policy: Policy
    retry_after: int
    window_start: datetime
    window_end: datetime
    measured: int

    def body(self) -> dict[str, Any]:
        detail = {
            "operationGroup": self.policy.name,
            "startTime": format_arm_time(self.window_start),
            "endTime": format_arm_time(self.window_end),
            "allowedRequestCount": self.policy.limit,
            "measuredRequestCount": self.measured,
        }
        return {
            "error": {
                "code": "OperationNotAllowed",
                "message": "The server rejected the request because too many requests have been received "
                "for this subscription.",
                "details": [
                    {"code": "TooManyRequests", "target": self.policy.name, "message": json.dumps(detail)},
                ],
            }
        }


@dataclass
class Charge:
    """The outcome of charging one call: the header to send and, if spent, the refusal."""

    header: str | None
    refusal: Refusal | None = None


@dataclass
class ComputeThrottler:
    enabled: bool = True
    profile: str = DEFAULT_PROFILE
    policies: dict[str, Policy] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)  # 429s per policy
    _windows: dict[tuple[str, ...], deque[float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> ComputeThrottler:
        throttler = cls()
        throttler.policies = {name: Policy(name, *spec) for name, spec in POLICIES.items()}
        throttler.configure(config or {})
        return throttler

    def configure(self, config: dict[str, Any]) -> None:
        """Apply ``{"enabled", "profile", "policies": {name: {"limit", "windowSeconds"}}}`` (merge)."""
        known = {"enabled", "profile", "policies"}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"unknown computeThrottling fields: {sorted(unknown)}; known: {sorted(known)}")
        if "enabled" in config:
            self.enabled = bool(config["enabled"])
        if "profile" in config:
            if config["profile"] not in PROFILES:
                raise ValueError(f"unknown computeThrottling profile {config['profile']!r}; known: {sorted(PROFILES)}")
            self.profile = str(config["profile"])
        for name, spec in (config.get("policies") or {}).items():
            if name not in self.policies:
                raise ValueError(f"unknown Compute throttling policy {name!r}; known: {sorted(self.policies)}")
            if not isinstance(spec, dict) or set(spec) - {"limit", "windowSeconds"}:
                raise ValueError(f"policy {name!r}: expected {{'limit': int, 'windowSeconds': number}}")
            policy = self.policies[name]
            if "limit" in spec:
                policy.limit = int(spec["limit"])
            if "windowSeconds" in spec:
                policy.window_seconds = float(spec["windowSeconds"])
                if policy.window_seconds <= 0:
                    raise ValueError(f"policy {name!r}: windowSeconds must be positive")

    def reset(self) -> None:
        self._windows.clear()
        self.throttled.clear()

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "profile": self.profile,
            "operationPolicies": PROFILES[self.profile],
            "policies": {name: p.as_dict() for name, p in self.policies.items()},
            "throttled": dict(sorted(self.throttled.items())),
        }

    def charge(
        self,
        operation: str,
        subscription: str,
        regions: list[str],
        resource_key: str | None,
        now: datetime,
    ) -> Charge:
        """Measure one call against its policies; the header for single-region calls, and any refusal.

        ``regions`` is the region(s) the call is served in: one for calls on a resource, every region a
        subscription-wide list fans out to (ARM merges those and sends no Compute header).
        """
        op_class = OPERATION_CLASS.get(operation)
        if not self.enabled or op_class is None or not regions:
            return Charge(None)
        stamp = now.timestamp()
        parts: list[str] = []
        refusal: Refusal | None = None
        for name in PROFILES[self.profile][op_class]:
            policy = self.policies[name]
            if policy.scope == "resource":
                if resource_key is None:
                    continue
                keys = [("resource", resource_key.lower(), name)]
            else:
                keys = [("subscription", subscription.lower(), region, name) for region in regions]
            remaining_here: int | None = None
            for key in keys:
                window = self._windows.setdefault(key, deque())
                while window and window[0] <= stamp - policy.window_seconds:
                    window.popleft()
                window.append(stamp)
                measured = len(window)
                remaining = max(0, policy.limit - measured)
                remaining_here = remaining if remaining_here is None else min(remaining_here, remaining)
                if measured > policy.limit and refusal is None:
                    fits_at = window[measured - policy.limit] + policy.window_seconds
                    oldest = datetime.fromtimestamp(window[0], UTC)
                    refusal = Refusal(
                        policy,
                        max(1, math.ceil(fits_at - stamp)),
                        oldest,
                        oldest + timedelta(seconds=policy.window_seconds),
                        measured,
                    )
            if remaining_here is not None:
                parts.append(f"{PROVIDER}/{name};{remaining_here}")
        if refusal is not None:
            self.throttled[refusal.policy.name] = self.throttled.get(refusal.policy.name, 0) + 1
        header = ",".join(parts) if len(regions) == 1 and parts else None
        return Charge(header, refusal)
