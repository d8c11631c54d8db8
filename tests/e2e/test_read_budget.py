"""Reads per copy: what a lane spends of Compute's read budget, counted by the emulator.

Compute's read policy is per subscription and region (``LowCostGetRestorePointSubscriptionMaximum``, 600 calls
per window in the 2023 recordings; docs/emulator.md), and every lane of every collection reads the same source
region. A collection read with ``$expand=restorePoints`` used to happen once per lane per turn (before and
after creating the target, and again after every copy): 36,280 ``read_lane`` runs for 4,000 copies in
bench/fleet.py, which held a fleet's first copies to 43% of the pace the copy budget allows. Now one read of the
source plans every lane (``replication.lanes.read_collection_lanes``), a lane goes on from an empty target it
has just made without reading it, and a read hands on the next pending copies (``planning.queued_after``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emulator import start_emulator

from .conftest import Api, admin, app_host, collection_id, make_policy, make_scenario


def _collection_gets(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items() if op.startswith("RestorePointCollections_Get:"))


def _run(tmp_path: Path, points: int, regions: tuple[str, ...]) -> tuple[dict[str, int], dict[str, Any]]:
    emu = start_emulator(make_scenario(vms=1, points=points, disks=(32,)))
    try:
        settings = {"REPLICATION_POLICY": json.dumps(make_policy(regions))}
        with app_host(emu, tmp_path / "h.db", settings) as host:
            api = Api(host)
            response = api.start(sourceCollectionId=collection_id("vm0-rpc"))
            assert response.status_code == 202, response.text
            instance = response.json()["id"]
            host.run_until_idle(timeout=300)
            calls = admin(emu, "GET", "/_emulator/calls")
            doc = api.get(instance).json()
    finally:
        emu.stop()
    return calls, doc


def test_one_lane_reads_its_collections_once_per_batch_of_copies(tmp_path: Path) -> None:
    calls, doc = _run(tmp_path, points=4, regions=("westus2",))
    assert doc["runtimeStatus"] == "Completed", doc
    [lane] = doc["lanes"]
    assert [c["state"] for c in lane["copies"]] == ["succeeded"] * 4, lane
    assert calls.get("RestorePoints_Create:201") == 4, calls
    # The API's check of the source, the collection's read (source 200, target 404), the read of the name of
    # earlier releases before the target is created (404), and the lane's one read at the end (source and
    # target, 200): 6. Before: 16 (both read before and after creating the target and after every copy).
    assert _collection_gets(calls) == 6, calls
    # No copy is read before its PUT when the plan found none, nor read back after it: the watch reads it.
    assert "RestorePoints_Get:404" not in calls, sorted(calls.items())


def test_lanes_share_the_collections_read_of_the_source(tmp_path: Path) -> None:
    calls, doc = _run(tmp_path, points=2, regions=("westus2", "northeurope", "southeastasia"))
    assert doc["runtimeStatus"] == "Completed", doc
    assert [lane["state"] for lane in doc["lanes"]] == ["done"] * 3, doc["lanes"]
    assert calls.get("RestorePoints_Create:201") == 6, calls
    # Source: the API's check, the collection's read, and 1 per lane at its end; targets: 3 per lane (the
    # collection's 404, the name of earlier releases 404, at the end 200). Before: 32.
    assert _collection_gets(calls) == 2 + 3 * (1 + 3), calls
