"""Fixtures for the devhost tests: a started Host on the sample app, on a virtual clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from devhost_helpers import QUIET_SCHEDULE, SAMPLE_APP, real_now

from devhost import Host, VirtualClock


@pytest.fixture
def activity_log(tmp_path: Path) -> Path:
    return tmp_path / "activities.log"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(real_now())


@pytest.fixture
def host(tmp_path: Path, clock: VirtualClock, activity_log: Path) -> Iterator[Host]:
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE, "SAMPLE_ACTIVITY_LOG": str(activity_log)}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=str(tmp_path / "host.sqlite")) as started:
        yield started
