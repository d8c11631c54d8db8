"""Clocks shared by the emulator and the local durable host.

Everything time-dependent in the emulator (copy progress, token-bucket refill, hourly copy limits,
LRO completion) is computed lazily from ``clock.now()``, so advancing a virtual clock instantly
changes what the next request sees; nothing ticks in the background.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` allowed) into an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """Format like ARM does (``2021-01-27T20:35:05.8401519+00:00``, here with microseconds)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class Clock(Protocol):
    """What the emulator and the durable host need from a clock."""

    is_virtual: bool

    def now(self) -> datetime: ...

    def advance_to(self, when: datetime) -> None: ...

    def advance(self, delta: timedelta) -> None: ...


class VirtualClock:
    """A clock that only moves when told to, so tests never wait for simulated time."""

    is_virtual = True

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance_to(self, when: datetime) -> None:
        """Move forward to ``when``; never backwards (a no-op if ``when`` is not later)."""
        with self._lock:
            if when > self._now:
                self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if delta > timedelta(0):
                self._now = self._now + delta

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now().isoformat()})"


class ScaledClock:
    """Wall time scaled by a factor from an anchor: ``now = start + (time.time() - anchor) * scale``.

    Two processes given the same start, scale and anchor agree on the time, which is how the CLI
    emulator and a separately started durable host share one clock.
    """

    is_virtual = False

    def __init__(self, start: datetime, scale: float, anchor: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._start = start.astimezone(UTC)
        self.scale = scale
        self.anchor = time.time() if anchor is None else anchor
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.time() - self.anchor) * self.scale
            return self._start + timedelta(seconds=elapsed) + self._offset

    def advance_to(self, when: datetime) -> None:
        """Shift the offset forward so that ``now()`` is at least ``when``; never backwards."""
        current = self.now()
        if when > current:
            with self._lock:
                self._offset += when - current

    def advance(self, delta: timedelta) -> None:
        if delta > timedelta(0):
            with self._lock:
                self._offset += delta

    def __repr__(self) -> str:
        return f"ScaledClock(now={self.now().isoformat()}, scale={self.scale})"
