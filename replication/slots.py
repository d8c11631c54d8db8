"""Copy slots: a ceiling of concurrent copies per subscription and target region (issue #12).

Peers offer a copy budget per subscription and target region; the app's lanes run everywhere at once (thousands of
orchestrations on many worker instances), so the count of copies in flight must live in one place that every worker
sees and that changes one request at a time: a Durable Entity per ``subscriptionId|region``
(``orchestrators/copy_slots.py``), whose operations are processed serially. This module is its decision logic,
pure so that it can be tested with any sequence of requests:

* **never more holders than the ceiling** through ``acquire``: a request is granted only while fewer than
  ``ceiling`` leases are live. A ``force`` request (a copy that is already running in Azure: the lane found it, or
  the copy renews its own lease) is always recorded, because refusing it would not stop the copy, only hide it;
  such holders may push the count over the ceiling, and then nobody new is granted until it is below again;
* **idempotent**: a holder that asks again keeps its one slot (its lease is renewed), because orchestrators replay
  and activities, signals and whole lanes may run twice;
* **release by a non-holder is a no-op**: a late or duplicate release never frees someone else's slot;
* **leases expire**: a lane that crashed or was terminated never releases, so every slot is a lease that ends
  ``leaseSeconds`` after its last renewal and is then free for others. The time comes from the caller
  (its orchestration clock, deterministic), never from the entity's own clock, which a replay would not reproduce;
* **first come, first served**: a refused request waits in line (from when it was first refused); a free slot goes
  to the longest waiting, so a lane that asks every 5 minutes is never starved by others that happen to ask right
  after a slot frees. A waiter that stops asking for ``patienceSeconds`` (its lane ended, or moved on) loses its
  place, so a dead lane never holds the line.

State JSON: ``{"holders": {holder: leaseExpiresAt ISO}, "waiting": {holder: {"since": ISO, "seen": ISO}}}``.
No azure-functions import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_CEILING = 1000
MAX_LEASE_SECONDS = 30 * 24 * 3600
MAX_HOLDER_CHARS = 512
DEFAULT_PATIENCE_SECONDS = 900  # a waiter that has not asked for this long loses its place (lanes ask every 300 s)


class SlotRequestError(ValueError):
    """A request the entity cannot act on; the caller gets it as the operation's error, the state is unchanged."""


def slot_key(subscription_id: str, region: str) -> str:
    """The entity key: ``subscriptionId|region``, lower-case (ids and region names are case-insensitive)."""
    return f"{subscription_id.strip().lower()}|{region.strip().lower()}"


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise SlotRequestError(f"{what}: an ISO 8601 time is required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SlotRequestError(f"{what}: '{value[:40]}' is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise SlotRequestError(f"{what}: '{value[:40]}' has no time zone")
    return parsed.astimezone(UTC)


def _holder(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_HOLDER_CHARS:
        raise SlotRequestError(f"holder: a non-empty string of at most {MAX_HOLDER_CHARS} characters is required")
    return value


@dataclass(frozen=True)
class Waiter:
    """A refused request in line: first refused at ``since``, last asked at ``seen``."""

    since: datetime
    seen: datetime


@dataclass(frozen=True)
class SlotState:
    """Who holds a slot, and until when (lease expiry, UTC); who waits for one, and since when."""

    holders: dict[str, datetime] = field(default_factory=dict)
    waiting: dict[str, Waiter] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> SlotState:
        """Tolerant of a new entity (None) and of entries it cannot read (dropped: a lost lease only frees a slot,
        a lost waiter only its place in line)."""
        holders: dict[str, datetime] = {}
        waiting: dict[str, Waiter] = {}
        if isinstance(raw, dict) and isinstance(raw.get("holders"), dict):
            for holder, expiry in raw["holders"].items():
                try:
                    holders[_holder(holder)] = _time(expiry, "expiry")
                except SlotRequestError:
                    continue
        if isinstance(raw, dict) and isinstance(raw.get("waiting"), dict):
            for holder, entry in raw["waiting"].items():
                try:
                    if isinstance(entry, dict):
                        waiting[_holder(holder)] = Waiter(
                            _time(entry.get("since"), "since"), _time(entry.get("seen"), "seen")
                        )
                except SlotRequestError:
                    continue
        return cls(holders, waiting)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"holders": {h: e.isoformat() for h, e in sorted(self.holders.items())}}
        if self.waiting:
            out["waiting"] = {
                h: {"since": w.since.isoformat(), "seen": w.seen.isoformat()} for h, w in sorted(self.waiting.items())
            }
        return out

    def live(self, now: datetime) -> SlotState:
        """The leases still running at ``now`` (one that ends exactly at ``now`` has ended); waiters kept."""
        return SlotState({h: e for h, e in self.holders.items() if e > now}, dict(self.waiting))

    def in_line(self, now: datetime, patience_seconds: int) -> dict[str, Waiter]:
        """Waiters that asked within ``patience_seconds`` and hold no live lease."""
        patience = timedelta(seconds=patience_seconds)
        live = self.live(now).holders
        return {h: w for h, w in self.waiting.items() if now - w.seen < patience and h not in live}


@dataclass(frozen=True)
class AcquireRequest:
    holder: str
    now: datetime
    lease_seconds: int
    ceiling: int
    force: bool = False
    patience_seconds: int = DEFAULT_PATIENCE_SECONDS

    @classmethod
    def from_json(cls, raw: Any) -> AcquireRequest:
        if not isinstance(raw, dict):
            raise SlotRequestError("acquire: a JSON object is required")
        lease, ceiling = raw.get("leaseSeconds"), raw.get("ceiling")
        if not isinstance(lease, int) or isinstance(lease, bool) or not 1 <= lease <= MAX_LEASE_SECONDS:
            raise SlotRequestError(f"leaseSeconds: a whole number from 1 to {MAX_LEASE_SECONDS} is required")
        if not isinstance(ceiling, int) or isinstance(ceiling, bool) or not 1 <= ceiling <= MAX_CEILING:
            raise SlotRequestError(f"ceiling: a whole number from 1 to {MAX_CEILING} is required")
        patience = raw.get("patienceSeconds", DEFAULT_PATIENCE_SECONDS)
        if not isinstance(patience, int) or isinstance(patience, bool) or not 1 <= patience <= MAX_LEASE_SECONDS:
            raise SlotRequestError(f"patienceSeconds: a whole number from 1 to {MAX_LEASE_SECONDS} is required")
        holder, now = _holder(raw.get("holder")), _time(raw.get("now"), "now")
        return cls(holder, now, lease, ceiling, bool(raw.get("force")), patience)


@dataclass(frozen=True)
class ReleaseRequest:
    holder: str
    now: datetime

    @classmethod
    def from_json(cls, raw: Any) -> ReleaseRequest:
        if not isinstance(raw, dict):
            raise SlotRequestError("release: a JSON object is required")
        return cls(_holder(raw.get("holder")), _time(raw.get("now"), "now"))


@dataclass(frozen=True)
class Grant:
    """The answer to an acquire: ``granted``, how many leases are live after it, the ceiling asked for, and (when
    refused) when the first live lease ends at the latest, so a caller can say when a slot frees at worst."""

    granted: bool
    holders: int
    ceiling: int
    expires_at: datetime | None = None
    next_expiry: datetime | None = None
    position: int | None = None  # refused: place in line (1: next)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"granted": self.granted, "holders": self.holders, "ceiling": self.ceiling}
        if self.position is not None:
            out["position"] = self.position
        if self.expires_at is not None:
            out["expiresAt"] = self.expires_at.isoformat()
        if self.next_expiry is not None:
            out["nextExpiry"] = self.next_expiry.isoformat()
        return out


def acquire(state: SlotState, request: AcquireRequest) -> tuple[SlotState, Grant]:
    """Grant ``request.holder`` a slot if it holds one (renewed), if it must be recorded (``force``), or if a slot
    is free and no more waiters than free slots have been in line longer; else put it in line (or keep its place).
    Expired leases and waiters that stopped asking are dropped first. A renewal never shortens a lease."""
    now, holder = request.now, request.holder
    live = dict(state.live(now).holders)
    waiting = state.in_line(now, request.patience_seconds)
    until = now + timedelta(seconds=request.lease_seconds)
    mine = waiting.pop(holder, None)
    since = mine.since if mine is not None else now
    ahead = sum(1 for h, w in waiting.items() if (w.since, h) < (since, holder))
    if holder in live or request.force or ahead < request.ceiling - len(live):
        live[holder] = max(until, live.get(holder, until))
        return SlotState(live, waiting), Grant(True, len(live), request.ceiling, expires_at=live[holder])
    waiting[holder] = Waiter(since, now)
    next_expiry = min(live.values()) if live else None
    return SlotState(live, waiting), Grant(
        False, len(live), request.ceiling, next_expiry=next_expiry, position=ahead + 1
    )


def release(state: SlotState, request: ReleaseRequest) -> SlotState:
    """Free the holder's slot (and its place in line); a holder that holds none changes nothing (expired leases
    are dropped too)."""
    live = dict(state.live(request.now).holders)
    live.pop(request.holder, None)
    waiting = {h: w for h, w in state.waiting.items() if h != request.holder}
    return SlotState(live, waiting)


def refusal_reason(grant: Grant, region: str) -> str:
    """What a held lane shows (custom status, at most a line)."""
    line = f"; position {grant.position} in line" if grant.position else ""
    return f"{grant.holders} of {grant.ceiling} concurrent copies to {region} in this subscription are running{line}"
