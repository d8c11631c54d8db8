"""`make demo` as a user runs it: the emulator and the local host as separate processes on a scaled
clock, the app driven through its HTTP API, the outcome written as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import REPO, make_scenario


def test_demo_copies_everything_and_writes_the_outcome(tmp_path):
    scenario = make_scenario(vms=2, points=2)
    scenario["demo"] = {"targetRegions": ["westus2", "northeurope"], "targetResourceGroup": "rg-dr"}
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    out = tmp_path / "out.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo",
            "--scenario",
            str(path),
            "--json",
            str(out),
            "--scale",
            "1500",
            "--workdir",
            str(tmp_path / "work"),
            "--timeout",
            "120",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    copies = json.loads(out.read_text())["copies"]
    assert len(copies) == 2 * 2 * 2
    assert {c["state"] for c in copies} == {"succeeded"}
    assert {c["targetRegion"] for c in copies} == {"westus2", "northeurope"}
    assert all(c["targetRestorePointId"].split("/")[4] == "rg-dr" for c in copies)
    assert set(copies[0]) == {"sourceRestorePointId", "targetRegion", "targetRestorePointId", "state", "reason"}
