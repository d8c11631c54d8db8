"""Honouring Retry-After in virtual time: the client advances the emulator clock instead of sleeping."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.identity import ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient
from emulator_testkit import SUB, MakeEmulator, big_scenario, src_rp, target_collection

from emulator.virtual_time import VirtualTimePolling, VirtualTimeRetryPolicy, admin_advancer, clock_advancer


def test_retry_policy_advances_the_clock_on_429(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["throttling"] = {"limits": {"reads": [2, 1]}}
    emu = make_emulator(data)
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emu.identity_header)
    client = ComputeManagementClient(
        ManagedIdentityCredential(),
        SUB,
        base_url=emu.url,
        connection_verify=emu.ca_pem_path,
        retry_policy=VirtualTimeRetryPolicy(clock_advancer(emu.clock)),
    )
    before = emu.clock.now()
    started = time.monotonic()
    for _ in range(6):
        client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert time.monotonic() - started < 2  # no real sleeping
    assert emu.clock.now() - before >= timedelta(seconds=4)  # 4 throttled reads, 1 simulated second each


def test_lro_polling_advances_the_clock(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_scenario()
    data["copyInitiationSeconds"] = 45
    emu = make_emulator(data)
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emu.identity_header)
    client = ComputeManagementClient(
        ManagedIdentityCredential(), SUB, base_url=emu.url, connection_verify=emu.ca_pem_path
    )
    target_collection(client)
    before = emu.clock.now()
    started = time.monotonic()
    rp = client.restore_points.begin_create(
        "rg-dr",
        "tgt",
        "c0",
        {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}},
        polling=VirtualTimePolling(admin_advancer(emu.admin_url, emu.ca_pem_path)),
    ).result()
    assert rp.provisioning_state == "Succeeded"
    assert time.monotonic() - started < 2
    # No Retry-After (as recorded): the SDK's 30 s polling interval per poll, simulated.
    assert emu.clock.now() - before >= timedelta(seconds=45)
