"""Fixtures for the emulator's conformance suite: a fresh emulator per test and real SDK clients."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient

sys.path.insert(0, str(Path(__file__).resolve().parent))  # emulator_testkit, whatever the import mode

from emulator_testkit import big_scenario, make_client, scenario

from emulator import EmulatorHandle, start_emulator


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorHandle]]:
    handles: list[EmulatorHandle] = []

    def make(data: dict[str, Any] | None = None, **kwargs: Any) -> EmulatorHandle:
        handle = start_emulator(data if data is not None else scenario(), **kwargs)
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        handle.stop()


@pytest.fixture
def emu(make_emulator: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    return make_emulator(big_scenario())


@pytest.fixture
def client(emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> ComputeManagementClient:
    return make_client(emu, monkeypatch)
