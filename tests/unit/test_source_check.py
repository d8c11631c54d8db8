"""Is a source restore point ready to copy, and whole (replication.source_check.assess_source)?"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replication.source_check import assess_source

EXAMPLE = Path("/work/shared/azure-spec-examples/RestorePoint_Get_WithInstanceView.json")


def body(states, excluded=(), missing=False):
    disks = [{"id": f"/x/diskRestorePoints/d{i}", "snapshotAccessState": s} for i, s in enumerate(states) if s]
    data = [{"name": "data1", "diskRestorePoint": None if missing else {"id": "/x/diskRestorePoints/d1"}}]
    return {
        "properties": {
            "provisioningState": "Succeeded",
            "excludeDisks": [{"id": f"/subscriptions/s/providers/Microsoft.Compute/disks/{d}"} for d in excluded],
            "sourceMetadata": {
                "storageProfile": {"osDisk": {"name": "os", "diskRestorePoint": {"id": "/d0"}}, "dataDisks": data}
            },
            "instanceView": {"diskRestorePoints": disks},
        }
    }


@pytest.mark.parametrize(
    ("states", "waits"),
    [
        ((None, None), False),
        (("Available", "AvailableWithInstantAccess"), False),
        (("Unknown",), False),
        (("Available", "Pending"), True),
        (("InstantAccess",), True),
    ],
)
def test_pending_and_instant_access_only_snapshots_are_waited_for(states, waits):
    verdict = assess_source(body(states))
    assert bool(verdict["wait"]) is waits
    if waits:
        assert "not yet available for copy" in verdict["wait"]
    assert verdict["notes"] == []


def test_excluded_and_missing_disks_are_reported():
    notes = assess_source(body((None,), excluded=("disk2",), missing=True))["notes"]
    assert any("excludes disk(s) disk2" in n for n in notes)
    assert any("data1 have no disk restore point" in n for n in notes)


@pytest.mark.skipif(not EXAMPLE.exists(), reason="spec examples not present")
def test_the_spec_example_copies_and_reports_its_excluded_disk():
    verdict = assess_source(json.loads(EXAMPLE.read_text())["responses"]["200"]["body"])
    assert verdict["wait"] is None  # AvailableWithInstantAccess
    assert len(verdict["notes"]) == 1 and "excludes disk(s) vm8768_disk2" in verdict["notes"][0]
