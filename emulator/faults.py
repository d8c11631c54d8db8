"""Seeded, reproducible fault injection, set per scenario or switched at run time.

Each fault kind draws from its own ``random.Random`` derived from the seed, so the same sequence of
requests sees the same faults whatever other fault kinds are switched on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any

FAULT_FIELDS_DOC = {
    "seed": "int, default 0: seeds every fault stream",
    "serverErrorRate": "0..1: fraction of ARM calls answered 500/503 (statuses from serverErrorStatuses)",
    "serverErrorStatuses": "list of ints, default [500, 503]",
    "connectionResetRate": "0..1: fraction of ARM calls whose connection is aborted without a response",
    "slowResponseRate": "0..1: fraction of ARM calls delayed by slowResponseSeconds of REAL time",
    "slowResponseSeconds": "float, default 2.0",
    "throttleStormRate": "0..1: fraction of ARM calls refused 429 regardless of the token buckets",
    "throttleStormRetryAfter": "int seconds, default 30",
    "diskCopyFailureRate": "0..1: per copy, chance that one disk fails part-way (decided at copy start)",
    "copyProvisioningFailureRate": "0..1: per copy PUT, chance provisioning ends Failed",
    "operations": "list of operation ids (e.g. RestorePoints_Create); if set, call faults hit only these",
    "scheduledDeletes": 'list of {"id": resource id, "at": ISO time}: deleted out of band at that time',
}


@dataclass
class FaultConfig:
    seed: int = 0
    serverErrorRate: float = 0.0
    serverErrorStatuses: list[int] = field(default_factory=lambda: [500, 503])
    connectionResetRate: float = 0.0
    slowResponseRate: float = 0.0
    slowResponseSeconds: float = 2.0
    throttleStormRate: float = 0.0
    throttleStormRetryAfter: int = 30
    diskCopyFailureRate: float = 0.0
    copyProvisioningFailureRate: float = 0.0
    operations: list[str] = field(default_factory=list)
    scheduledDeletes: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FaultConfig:
        config = cls()
        config.update(data or {})
        return config

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}; known: {sorted(known)}")
        for name, value in data.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Faults:
    """Decides, reproducibly, which calls and copies are hit by which fault."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._streams: dict[str, random.Random] = {}

    def reconfigure(self, data: dict[str, Any], *, replace: bool = False) -> None:
        if replace:
            self.config = FaultConfig.from_dict(data)
        else:
            self.config.update(data)
        self._streams.clear()

    def _draw(self, kind: str) -> random.Random:
        stream = self._streams.get(kind)
        if stream is None:
            stream = random.Random(f"{self.config.seed}:{kind}")
            self._streams[kind] = stream
        return stream

    def applies_to(self, operation: str) -> bool:
        """Whether call-level faults (errors, resets, slowness, storms) apply to this operation."""
        return not self.config.operations or operation in self.config.operations

    def hit(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        return self._draw(kind).random() < rate

    def server_error(self) -> int | None:
        if self.hit("serverError", self.config.serverErrorRate):
            return self._draw("serverErrorStatus").choice(self.config.serverErrorStatuses)
        return None

    def disk_failure(self, disk_count: int) -> tuple[int, float] | None:
        """For a new copy: (index of the failing disk, fraction of its duration at which it fails)."""
        if disk_count and self.hit("diskCopyFailure", self.config.diskCopyFailureRate):
            stream = self._draw("diskCopyFailureWhere")
            return stream.randrange(disk_count), stream.uniform(0.05, 0.95)
        return None
