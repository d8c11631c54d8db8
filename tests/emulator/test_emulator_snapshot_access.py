"""Source restore points whose disk snapshots are not yet available for copy, and ones created without some
disks (``excludeDisks``): shapes from the spec example RestorePoint_Get_WithInstanceView (2025-04-01), and the
emulator's stricter-than-Azure refusal to copy before the snapshots are available (no source says what
Azure does then)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from emulator_testkit import SRC_RPC, admin, advance, rp_id, start_copy, target_collection


def _instance_view(client, name):
    return client.restore_points.get("rg-app", SRC_RPC.rsplit("/", 1)[-1], name, expand="instanceView").as_dict()


def test_snapshots_not_yet_available_are_shown_and_refuse_a_copy_until_they_are(emu, client):
    admin(
        emu,
        "POST",
        "restore-points",
        {
            "collectionId": SRC_RPC,
            "name": "rp-ia",
            "snapshotAccessState": "InstantAccess",
            "snapshotAvailableAfterSeconds": 3600,
            "instantAccessDurationMinutes": 120,
        },
    )
    disks = _instance_view(client, "rp-ia")["properties"]["instanceView"]["diskRestorePoints"]
    assert disks and {d["snapshotAccessState"] for d in disks} == {"InstantAccess"}
    target_collection(client)
    with pytest.raises(HttpResponseError) as refused:
        start_copy(client, rp_id(SRC_RPC, "rp-ia"), "rp-ia")
    assert refused.value.status_code == 409 and "InstantAccess" in str(refused.value)
    advance(emu, 3600)
    disks = _instance_view(client, "rp-ia")["properties"]["instanceView"]["diskRestorePoints"]
    assert {d["snapshotAccessState"] for d in disks} == {"Available"}
    assert start_copy(client, rp_id(SRC_RPC, "rp-ia"), "rp-ia").as_dict()["properties"]["provisioningState"]


def test_excluded_disks_are_listed_and_absent_from_the_metadata(emu, client):
    props = _instance_view(client, "rp-0")["properties"]
    data_disks = props["sourceMetadata"]["storageProfile"].get("dataDisks") or []
    if not data_disks:
        pytest.skip("the default scenario's VM has no data disk")
    excluded = data_disks[0]["managedDisk"]["id"]
    admin(emu, "POST", "restore-points", {"collectionId": SRC_RPC, "name": "rp-ex", "excludeDisks": [{"id": excluded}]})
    props = _instance_view(client, "rp-ex")["properties"]
    assert props["excludeDisks"] == [{"id": excluded}]
    ids = [d["managedDisk"]["id"] for d in props["sourceMetadata"]["storageProfile"].get("dataDisks") or []]
    assert excluded not in ids
