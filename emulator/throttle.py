"""ARM request throttling: per-subscription token buckets refilled on the emulator clock.

Azure Resource Manager (since 2024) throttles per subscription and region with token buckets:
reads 250 refilling 25/s, writes 200 refilling 10/s, deletes 200 refilling 10/s. Refill is computed
from ``clock.now()``, so under a virtual clock the bucket only refills when the clock is advanced and
a 429's ``Retry-After`` is in simulated seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "reads": (250.0, 25.0),
    "writes": (200.0, 10.0),
    "deletes": (200.0, 10.0),
}


@dataclass
class Bucket:
    capacity: float
    refill_per_second: float
    tokens: float
    updated: datetime

    def refill(self, now: datetime) -> None:
        elapsed = (now - self.updated).total_seconds()
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
            self.updated = now

    def take(self, now: datetime) -> tuple[bool, int, int]:
        """Take one token: (allowed, remaining, retry_after_seconds)."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True, int(self.tokens), 0
        missing = 1.0 - self.tokens
        return False, 0, max(1, math.ceil(missing / self.refill_per_second))


class Throttler:
    """One bucket per (subscription, principal, kind), as ARM keeps them per subscription and principal."""

    def __init__(self, limits: dict[str, tuple[float, float]] | None = None, enabled: bool = True) -> None:
        self.limits = dict(DEFAULT_LIMITS)
        if limits:
            self.limits.update(limits)
        self.enabled = enabled
        self._buckets: dict[tuple[str, str, str], Bucket] = {}
        self.throttled: dict[str, int] = {}  # 429s per bucket kind (reads/writes/deletes)

    def take(self, subscription: str, kind: str, now: datetime, principal: str = "") -> tuple[bool, int, int]:
        """Take a token from the (subscription, principal, kind) bucket: (allowed, remaining, retry_after)."""
        if not self.enabled:
            return True, int(self.limits[kind][0]) - 1, 0
        bucket_key = (subscription.lower(), principal.lower(), kind)
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            capacity, rate = self.limits[kind]
            bucket = Bucket(capacity, rate, capacity, now)
            self._buckets[bucket_key] = bucket
        result = bucket.take(now)
        if not result[0]:
            self.throttled[kind] = self.throttled.get(kind, 0) + 1
        return result

    def configure(self, config: dict[str, object]) -> None:
        """Apply ``{"enabled"?, "limits"?: {kind: [capacity, refillPerSecond]}}`` at run time (merge)."""
        unknown = set(config) - {"enabled", "limits"}
        if unknown:
            raise ValueError(f"unknown throttling fields: {sorted(unknown)}; known: ['enabled', 'limits']")
        if "enabled" in config:
            self.enabled = bool(config["enabled"])
        limits = config.get("limits") or {}
        if not isinstance(limits, dict):
            raise ValueError("throttling limits must be an object")
        for kind, value in limits.items():
            if kind not in DEFAULT_LIMITS:
                raise ValueError(f"unknown ARM bucket {kind!r}; known: {sorted(DEFAULT_LIMITS)}")
            capacity, rate = float(value[0]), float(value[1])
            self.limits[kind] = (capacity, rate)
        self._buckets.clear()

    def as_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "limits": {kind: list(value) for kind, value in self.limits.items()},
            "throttled": dict(sorted(self.throttled.items())),
        }

    def reset(self) -> None:
        self._buckets.clear()
        self.throttled.clear()
