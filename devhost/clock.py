"""Clocks the host reads time from.

The host never calls ``datetime.now()`` directly: orchestrator time (``current_utc_datetime``), durable timers and
timer triggers all come from one clock object, so tests can share a virtual clock with the ARM emulator and jump
simulated days without sleeping. Any object with ``now()``, ``advance_to()`` and ``is_virtual`` works.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the host needs from a clock (the emulator's ``VirtualClock`` satisfies it too)."""

    is_virtual: bool

    def now(self) -> datetime: ...

    def advance_to(self, when: datetime) -> None: ...


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class VirtualClock:
    """Time that only moves when someone calls ``advance_to`` (the host does, when nothing else can run)."""

    is_virtual: bool = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start or datetime(2025, 1, 1, tzinfo=UTC))
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance_to(self, when: datetime) -> None:
        with self._lock:
            when = _aware(when)
            if when > self._now:
                self._now = when

    def advance(self, delta: timedelta) -> None:
        if delta > timedelta(0):
            self.advance_to(self.now() + delta)


class ScaledClock:
    """Wall time sped up: ``now = start + (time.time() - anchor) * scale``.

    Two processes given the same start, scale and anchor agree on the time without talking to each other.
    ``advance_to`` moves the start forward (never back), for manual jumps in demos.
    """

    is_virtual: bool = False

    def __init__(self, start: datetime, scale: float, anchor: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self._start = _aware(start)
        self._scale = float(scale)
        self._anchor = time.time() if anchor is None else float(anchor)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=(time.time() - self._anchor) * self._scale)

    def advance_to(self, when: datetime) -> None:
        current = self.now()
        when = _aware(when)
        if when > current:
            with self._lock:
                self._start += when - current

    def advance(self, delta: timedelta) -> None:
        if delta > timedelta(0):
            self.advance_to(self.now() + delta)
