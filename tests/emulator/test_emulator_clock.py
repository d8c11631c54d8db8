"""The clocks the emulator and the durable host share: virtual and scaled, both never going backwards."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from emulator.clock import ScaledClock, VirtualClock

START = datetime(2026, 11, 20, tzinfo=UTC)


def test_virtual_clock_moves_only_forward() -> None:
    clock = VirtualClock(START)
    assert clock.is_virtual
    assert clock.now() == START and clock.now().tzinfo is not None
    clock.advance(timedelta(minutes=5))
    assert clock.now() == START + timedelta(minutes=5)
    clock.advance_to(START)  # earlier: no-op
    assert clock.now() == START + timedelta(minutes=5)
    clock.advance_to(START + timedelta(hours=1))
    assert clock.now() == START + timedelta(hours=1)
    clock.advance(timedelta(seconds=-10))
    assert clock.now() == START + timedelta(hours=1)


def test_virtual_clock_is_thread_safe() -> None:
    clock = VirtualClock(START)
    threads = [
        threading.Thread(target=lambda: [clock.advance(timedelta(seconds=1)) for _ in range(500)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == START + timedelta(seconds=2000)


def test_scaled_clock_follows_wall_time_and_shifts_forward() -> None:
    anchor = time.time() - 10  # 10 real seconds ago
    clock = ScaledClock(START, 60.0, anchor)
    assert not clock.is_virtual
    elapsed = (clock.now() - START).total_seconds()
    assert 590 <= elapsed <= 700
    target = clock.now() + timedelta(days=1)
    clock.advance_to(target)
    assert clock.now() >= target
    before = clock.now()
    clock.advance_to(START)
    assert clock.now() >= before
    clock.advance(timedelta(hours=1))
    assert clock.now() >= before + timedelta(hours=1)


def test_two_scaled_clocks_with_one_anchor_agree() -> None:
    anchor = time.time()
    first, second = ScaledClock(START, 10.0, anchor), ScaledClock(START, 10.0, anchor)
    assert abs((first.now() - second.now()).total_seconds()) < 1.0
