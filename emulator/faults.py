"""Seeded, reproducible fault injection, set per scenario or switched at run time.

Each fault kind draws from its own ``random.Random`` derived from the seed, so the same sequence of
requests sees the same faults whatever other fault kinds are switched on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from emulator.clock import parse_time

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
    "scheduledDeletes": 'list of {"id": resource id, "at": ISO time, "restorePointsOnly"?: bool}: deleted out of '
    "band at that time (restorePointsOnly: every restore point of that collection, the collection stays)",
    "regionOutages": 'list of {"region", "from": ISO, "to": ISO, "reads"?: true, "writes"?: true, "mode"?: '
    '"unavailable"|"reset", "retryAfter"?: int}: calls on resources in that region fail between the times',
    "throttleStorms": 'list of {"from": ISO, "to": ISO, "retryAfter"?: 30, "source"?: "arm"|"compute", '
    '"operations"?: [operation ids]}: every (matching) ARM call is refused 429 between the times',
    "identityOutages": 'list of {"from": ISO, "to": ISO, "status"?: 500}: the managed identity endpoint answers '
    "that status between the times",
}

WINDOW_FIELDS = {
    "regionOutages": {"region", "from", "to", "reads", "writes", "mode", "retryAfter"},
    "throttleStorms": {"from", "to", "retryAfter", "source", "operations"},
    "identityOutages": {"from", "to", "status"},
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
    scheduledDeletes: list[dict[str, Any]] = field(default_factory=list)
    regionOutages: list[dict[str, Any]] = field(default_factory=list)
    throttleStorms: list[dict[str, Any]] = field(default_factory=list)
    identityOutages: list[dict[str, Any]] = field(default_factory=list)

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
            if name in WINDOW_FIELDS or name == "scheduledDeletes":
                _check_entries(name, value)
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_entries(name: str, value: Any) -> None:
    """Windowed faults and scheduled deletes are lists of objects with ISO times: refuse anything else."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ValueError(f"{name} must be a list of objects")
    for entry in value:
        if name == "scheduledDeletes":
            if set(entry) - {"id", "at", "restorePointsOnly"} or "id" not in entry or "at" not in entry:
                raise ValueError('scheduledDeletes entries are {"id", "at", "restorePointsOnly"?}')
            parse_time(entry["at"])
            continue
        unknown = set(entry) - WINDOW_FIELDS[name]
        if unknown:
            raise ValueError(f"unknown {name} fields: {sorted(unknown)}; known: {sorted(WINDOW_FIELDS[name])}")
        if "from" not in entry or "to" not in entry:
            raise ValueError(f"{name} entries need 'from' and 'to' (ISO times on the emulator clock)")
        if parse_time(entry["from"]) >= parse_time(entry["to"]):
            raise ValueError(f"{name}: 'from' must be before 'to'")
        if name == "regionOutages":
            if not isinstance(entry.get("region"), str):
                raise ValueError("regionOutages entries need a 'region'")
            if entry.get("mode", "unavailable") not in ("unavailable", "reset"):
                raise ValueError("regionOutages mode is 'unavailable' (503) or 'reset'")
        if name == "throttleStorms" and entry.get("source", "arm") not in ("arm", "compute"):
            raise ValueError("throttleStorms source is 'arm' or 'compute'")


def _active(entry: dict[str, Any], now: datetime) -> bool:
    return parse_time(entry["from"]) <= now < parse_time(entry["to"])


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

    # ----------------------------------------------------------------- time windows (emulator clock)
    def throttle_storm(self, now: datetime, operation: str) -> dict[str, Any] | None:
        """The storm window active now for this operation, if any."""
        for entry in self.config.throttleStorms:
            ops = entry.get("operations")
            if _active(entry, now) and (not ops or operation in ops):
                return entry
        return None

    def region_outage(self, now: datetime, region: str, write: bool) -> dict[str, Any] | None:
        """The outage window active now for reads or writes on resources in this region, if any."""
        for entry in self.config.regionOutages:
            if entry["region"].replace(" ", "").lower() != region or not _active(entry, now):
                continue
            if entry.get("writes" if write else "reads", True):
                return entry
        return None

    def identity_outage(self, now: datetime) -> dict[str, Any] | None:
        for entry in self.config.identityOutages:
            if _active(entry, now):
                return entry
        return None

    def disk_failure(self, disk_count: int) -> tuple[int, float] | None:
        """For a new copy: (index of the failing disk, fraction of its duration at which it fails)."""
        if disk_count and self.hit("diskCopyFailure", self.config.diskCopyFailureRate):
            stream = self._draw("diskCopyFailureWhere")
            return stream.randrange(disk_count), stream.uniform(0.05, 0.95)
        return None
