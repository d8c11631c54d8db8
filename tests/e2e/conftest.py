"""The product end to end: the app's own functions in the local durable host, against the ARM emulator.

Both run in-process on loopback and share one virtual clock: the host jumps to the next durable
timer whenever nothing else can run, so hours of simulated copying take seconds, and no test
sleeps in real time for simulated time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
import requests
from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient

from devhost import Host
from emulator import start_emulator
from functions import sweep
from replication import arm

REPO = Path(__file__).resolve().parents[2]
SUB = "11111111-1111-1111-1111-111111111111"
CLIENT_ID = "00000000-0000-0000-0000-00000000c1d0"


def collection_id(name: str, group: str = "rg-app") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/restorePointCollections/{name}"


def make_scenario(vms: int = 2, points: int = 3, disks: tuple[int, ...] = (32, 64), **extra: Any) -> dict[str, Any]:
    return {
        "clock": {"start": "2026-11-20T00:00:00Z"},
        "tenantId": "00000000-0000-0000-0000-0000000000aa",
        "copyBandwidthMBps": 200,
        "subscriptions": [
            {
                "subscriptionId": SUB,
                "displayName": "prod",
                "resourceGroups": [{"name": "rg-app", "location": "eastus"}, {"name": "rg-dr", "location": "westus2"}],
            }
        ],
        "collections": [
            {
                "subscriptionId": SUB,
                "resourceGroup": "rg-app",
                "name": f"vm{v}-rpc",
                "location": "eastus",
                "tags": {"replicate": "true"},
                "vm": {
                    "name": f"vm{v}",
                    "vmSize": "Standard_D2s_v5",
                    "osType": "Linux",
                    "disks": [
                        {"name": f"vm{v}-disk{d}", "sizeGB": size, **({"lun": d - 1} if d else {})}
                        for d, size in enumerate(disks)
                    ],
                },
                "restorePoints": [
                    {"name": f"rp{i}", "timeCreated": f"2026-11-{10 + i:02d}T00:00:00Z", "changedPercent": 10}
                    for i in range(points)
                ],
            }
            for v in range(vms)
        ],
        "faults": {},
        **extra,
    }


class StaticToken:
    """A bearer token fetched once from the emulator's managed identity endpoint, for test-side SDK clients."""

    def __init__(self, emu: Any) -> None:
        body = requests.get(
            emu.identity_endpoint,
            params={"resource": "https://management.azure.com", "api-version": "2019-08-01"},
            headers={"X-IDENTITY-HEADER": emu.identity_header},
            timeout=10,
        ).json()
        self.token = AccessToken(body["access_token"], int(time.time()) + 3600)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self.token


def admin(emu: Any, method: str, path: str, body: Any = None) -> Any:
    """The emulator's admin API (plain JSON over its HTTPS port)."""
    response = requests.request(method, f"{emu.url}{path}", json=body, verify=str(emu.ca_pem_path), timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def sdk_client(emu: Any) -> ComputeManagementClient:
    return ComputeManagementClient(
        StaticToken(emu), SUB, base_url=emu.url, connection_verify=emu.ca_pem_path, polling_interval=0
    )


@pytest.fixture
def scenario() -> dict[str, Any]:
    return make_scenario()


@pytest.fixture
def emu(scenario: dict[str, Any]) -> Iterator[Any]:
    handle = start_emulator(scenario)
    try:
        yield handle
    finally:
        handle.stop()


def make_policy(regions: tuple[str, ...] = ("westus2", "northeurope"), **sources: Any) -> dict[str, Any]:
    return {
        "sources": sources or {"subscriptions": [SUB]},
        "targets": [
            {
                "region": r,
                "subscriptionId": "{sourceSubscriptionId}",
                "resourceGroup": "rg-dr",
                "copyTags": ["replicate"],
            }
            for r in regions
        ],
    }


def host_settings(emu: Any, **overrides: str) -> dict[str, str]:
    return {
        "REPLICATION_POLICY": json.dumps(make_policy()),
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "ARM_ENDPOINT": emu.url,
        "ARM_CA_BUNDLE": str(emu.ca_pem_path),
        "AZURE_CLIENT_ID": CLIENT_ID,
        "IDENTITY_ENDPOINT": emu.identity_endpoint,
        "IDENTITY_HEADER": emu.identity_header,
        "MAX_COPY_ATTEMPTS": "3",
        "ON_COPY_FAILURE": "continue",
        "SWEEP_SCHEDULE": "0 0 */6 * * *",
        **overrides,
    }


class _ClockTime:
    """``time`` as MSAL's caches read it, on the shared (virtual) clock."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def time(self) -> float:
        return float(self.clock.now().timestamp())

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def _libraries_on(clock: Any) -> Iterator[None]:
    """Libraries that keep real-time caches must see the simulated clock too: MSAL caches a managed
    identity endpoint's 5xx/429 answer for its Retry-After or 5 s (``msal/managed_identity.py``
    ``_ThrottledHttpClient``, ``msal/individual_cache.py``), which on a virtual clock would hide hours
    of simulated recovery behind 5 real seconds."""
    import msal.individual_cache as cache

    real = cache.time
    cache.time = _ClockTime(clock)  # type: ignore[assignment]
    # The Compute pacer estimates refills in the time Compute's windows run on (simulated here).
    arm.PACER.reset(clock=lambda: float(clock.now().timestamp()))
    # What the sweep has seen exists is per process: each test's fleet starts unseen, on its clock.
    sweep.SEEN.reset(clock=lambda: float(clock.now().timestamp()))
    try:
        yield
    finally:
        cache.time = real
        arm.PACER.reset(clock=time.time)
        sweep.SEEN.reset(clock=time.time)


@contextmanager
def app_host(emu: Any, db_path: Path, settings: dict[str, str] | None = None, **host_kwargs: Any) -> Iterator[Host]:
    """The app in the local durable host, wired to ``emu`` and sharing its clock."""
    with _libraries_on(emu.clock), _app_host(emu, db_path, settings, **host_kwargs) as host:
        yield host


@contextmanager
def _app_host(emu: Any, db_path: Path, settings: dict[str, str] | None = None, **host_kwargs: Any) -> Iterator[Host]:
    arm.reset_clients()
    h = Host(
        REPO, settings=host_settings(emu, **(settings or {})), clock=emu.clock, db_path=str(db_path), **host_kwargs
    )
    h.start()
    try:
        yield h
    finally:
        h.stop()
        arm.reset_clients()


@pytest.fixture
def host(emu: Any, tmp_path: Path) -> Iterator[Host]:
    with app_host(emu, tmp_path / "host.db") as h:
        yield h


class Api:
    """The app's HTTP API as a caller sees it (function key, JSON)."""

    def __init__(self, host: Host) -> None:
        self.base = host.url
        self.session = requests.Session()
        self.session.params = {"code": "devhost-function-key"}  # type: ignore[assignment]

    def start(self, **body: Any) -> requests.Response:
        return self.session.post(f"{self.base}/api/replications", json=body, timeout=30)

    def get(self, instance_id: str) -> requests.Response:
        return self.session.get(f"{self.base}/api/replications/{instance_id}", timeout=30)


@pytest.fixture
def api(host: Host) -> Api:
    return Api(host)


def lane_key(target_collection_name: str) -> str:
    """A target collection's name without the hash of its source (``vm0-rpc-westus2-1a2b3c4d`` ->
    ``vm0-rpc-westus2``), so assertions read as the lane they are about; the hash is tested in unit tests."""
    return re.sub(r"-[0-9a-f]{8}$", "", target_collection_name)


@contextmanager
def counting_episodes() -> Iterator[dict[str, int]]:
    """Episodes per instance while inside: each episode builds one SDK context from the host's JSON."""
    counts: dict[str, int] = {}
    original = df.DurableOrchestrationContext.from_json.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, json_string: str) -> Any:
        context = original(cls, json_string)
        counts[context.instance_id] = counts.get(context.instance_id, 0) + 1
        return context

    df.DurableOrchestrationContext.from_json = classmethod(counting)  # type: ignore[method-assign,assignment]
    try:
        yield counts
    finally:
        df.DurableOrchestrationContext.from_json = classmethod(original)  # type: ignore[method-assign,assignment]
