"""Every field of every REST spec example response is present in the emulator's response, with the same type.

Excluded, because the examples have them only because their inputs asked for them (instant access and
excluded disks, which the emulator renders only when a scenario asks: test_emulator_snapshot_access.py):
``excludeDisks``, ``instantAccess``, ``instantAccessDurationMinutes``, ``snapshotAccessState``. Tag names are user data,
so only ``tags`` being an object is checked.

Where recorded traffic contradicts an example, the recording wins and the example field is not required:
the 201 of a restore point PUT (copy or source) lists its disks without ``diskRestorePoint`` (azure-cli
2022-06 and 2023-10, azure-sdk-for-net 2021-12 and 2023-04), and a source's 201 has no ``consistencyMode``
yet (azure-cli 2022-06 and 2023-10).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m
from emulator_testkit import (
    API,
    SRC_RPC,
    SUB,
    MakeEmulator,
    admin,
    advance,
    big_scenario,
    make_client,
    raw,
    src_rp,
    start_copy,
    target_collection,
)

from emulator import EmulatorHandle

EXAMPLES = Path("/work/shared/azure-spec-examples")
EXCLUDED = {"excludeDisks", "instantAccess", "instantAccessDurationMinutes", "snapshotAccessState"}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def missing_fields(example: Any, ours: Any, path: str = "$") -> list[str]:
    problems: list[str] = []
    if json_type(example) != json_type(ours):
        return [f"{path}: example {json_type(example)}, emulator {json_type(ours)}"]
    if isinstance(example, dict):
        for key, value in example.items():
            if key in EXCLUDED:
                continue
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            elif key == "tags":  # user data: only the type matters
                problems += [] if isinstance(ours[key], dict) else [f"{path}.tags: not an object"]
            else:
                problems += missing_fields(value, ours[key], f"{path}.{key}")
    elif isinstance(example, list) and example:
        if not ours:
            return [f"{path}: example has items, emulator none"]
        for i, item in enumerate(example):
            problems += missing_fields(item, ours[min(i, len(ours) - 1)], f"{path}[{i}]")
    return problems


def example(name: str, status: str) -> dict[str, Any]:
    body = dict(json.loads((EXAMPLES / f"{name}.json").read_text())["responses"][status]["body"])
    if name.startswith("RestorePoint_") and status == "201":  # recordings beat examples (module docstring)
        storage = body["properties"]["sourceMetadata"]["storageProfile"]
        for disk in [storage["osDisk"], *storage.get("dataDisks", [])]:
            disk.pop("diskRestorePoint", None)
        if "sourceRestorePoint" not in body["properties"]:
            body["properties"].pop("consistencyMode", None)
    return body


@pytest.fixture
def responses(make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The emulator's response for each example (same operation, analogous resource).

    The examples describe a Windows VM, so the source VM here is Windows (a Linux VM's ``osProfile``
    has ``linuxConfiguration`` instead of ``windowsConfiguration``).
    """
    data = big_scenario()
    data["collections"][0]["vm"]["osType"] = "Windows"
    emu: EmulatorHandle = make_emulator(data)
    client: ComputeManagementClient = make_client(emu, monkeypatch)
    base = emu.url + f"/subscriptions/{SUB}/resourceGroups"
    rpcs = "providers/Microsoft.Compute/restorePointCollections"
    tgt_url = f"{base}/rg-dr/{rpcs}/tgt?api-version={API}"
    body = {"location": "westus2", "tags": {"myTag1": "tagValue1"}, "properties": {"source": {"id": SRC_RPC}}}
    out: dict[str, dict[str, Any]] = {}
    out["RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy:201"] = raw(client, "PUT", tgt_url, body).json()
    out["RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy:200"] = raw(client, "PUT", tgt_url, body).json()
    # The emulator does not create VM-sourced collections through ARM: its seeded one has the same shape.
    source_get = raw(client, "GET", emu.url + SRC_RPC + f"?api-version={API}").json()
    out["RestorePointCollection_CreateOrUpdate:200"] = source_get
    out["RestorePointCollection_CreateOrUpdate:201"] = source_get
    out["RestorePointCollection_Get:200"] = raw(client, "GET", tgt_url).json()
    out["RestorePointCollection_Get_WithContainedRestorePoints:200"] = raw(
        client, "GET", emu.url + SRC_RPC + f"?api-version={API}&$expand=restorePoints"
    ).json()
    copy_url = f"{base}/rg-dr/{rpcs}/tgt/restorePoints/c0?api-version={API}"
    out["RestorePoint_Copy_BetweenRegions:201"] = raw(
        client, "PUT", copy_url, {"properties": {"sourceRestorePoint": {"id": src_rp(0)}}}
    ).json()
    create_url = emu.url + SRC_RPC + f"/restorePoints/new-rp?api-version={API}"
    out["RestorePoint_Create:201"] = raw(client, "PUT", create_url, {"properties": {}}).json()
    out["RestorePoint_Get:200"] = raw(client, "GET", emu.url + src_rp(0) + f"?api-version={API}").json()
    raw(client, "GET", copy_url)  # the first read still sees Creating (as a poller would)
    advance(emu, 3600)
    out["RestorePoint_Get_WithInstanceView:200"] = raw(client, "GET", copy_url + "&$expand=instanceView").json()
    assert admin(emu, "GET", "calls")["RestorePoints_Create:201"] == 2
    return out


CASES = [
    ("RestorePointCollection_CreateOrUpdate", "200", m.RestorePointCollection),
    ("RestorePointCollection_CreateOrUpdate", "201", m.RestorePointCollection),
    ("RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy", "200", m.RestorePointCollection),
    ("RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy", "201", m.RestorePointCollection),
    ("RestorePointCollection_Get", "200", m.RestorePointCollection),
    ("RestorePointCollection_Get_WithContainedRestorePoints", "200", m.RestorePointCollection),
    ("RestorePoint_Copy_BetweenRegions", "201", m.RestorePoint),
    ("RestorePoint_Create", "201", m.RestorePoint),
    ("RestorePoint_Get", "200", m.RestorePoint),
    ("RestorePoint_Get_WithInstanceView", "200", m.RestorePoint),
]


@pytest.mark.parametrize(("name", "status", "model"), CASES, ids=[f"{n}:{s}" for n, s, _ in CASES])
def test_response_has_every_example_field(
    responses: dict[str, dict[str, Any]], name: str, status: str, model: type
) -> None:
    ours = responses[f"{name}:{status}"]
    assert missing_fields(example(name, status), ours) == []
    parsed = model(ours)  # parses with the azure-mgmt-compute 39 model
    assert parsed.id == ours["id"]


def test_instance_view_parses_into_sdk_models(responses: dict[str, dict[str, Any]]) -> None:
    rp = m.RestorePoint(responses["RestorePoint_Get_WithInstanceView:200"])
    disk = rp.instance_view.disk_restore_points[0]
    assert disk.replication_status.status.code == "ReplicationState/succeeded"
    assert disk.replication_status.completion_percent == 100
    assert rp.source_metadata.storage_profile.os_disk.disk_restore_point.id == disk.id


def test_copy_carries_source_os_profile_like_azure(responses: dict[str, dict[str, Any]]) -> None:
    metadata = responses["RestorePoint_Copy_BetweenRegions:201"]["properties"]["sourceMetadata"]
    assert metadata["osProfile"]["secrets"] and "customData" in metadata["osProfile"]
    assert metadata["userData"]
    assert start_copy and target_collection  # helpers shared with other suites
