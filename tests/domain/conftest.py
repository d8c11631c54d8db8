"""The product's ARM layer (``replication.arm``) against the emulator, with the product's own credential.

Every test gets a fresh emulator (virtual clock) and the app settings the Functions host would give the
product: ``ARM_ENDPOINT``/``ARM_CA_BUNDLE`` pointing at the emulator, ``AZURE_CLIENT_ID`` (so ``arm`` builds
its ``ManagedIdentityCredential``) and ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` (the App Service protocol).
Retry backoffs are set to zero so that the retries azure-core makes cost no real time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator import EmulatorHandle, start_emulator
from replication import arm
from tests.domain.emulated import BASE_SCENARIO, CLIENT_ID


@pytest.fixture
def scenario() -> dict[str, Any]:
    return copy.deepcopy(BASE_SCENARIO)


@pytest.fixture
def emu(scenario: dict[str, Any]) -> Iterator[EmulatorHandle]:
    handle = start_emulator(scenario)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def product(emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Point the product at the emulator; call the fixture's value to change a setting (clients are rebuilt)."""
    monkeypatch.setitem(arm.ARM_RETRY, "retry_backoff_factor", 0.0)
    monkeypatch.setitem(arm.IDENTITY_OPTIONS, "retry_backoff_factor", 0.0)

    def configure(**settings: str) -> None:
        values = {
            "ARM_ENDPOINT": emu.url,
            "ARM_CA_BUNDLE": str(emu.ca_pem_path),
            "AZURE_CLIENT_ID": CLIENT_ID,
            "IDENTITY_ENDPOINT": emu.identity_endpoint,
            "IDENTITY_HEADER": emu.identity_header,
            **settings,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        arm.reset_clients()

    configure()
    yield configure
    arm.reset_clients()
