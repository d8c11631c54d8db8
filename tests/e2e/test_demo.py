"""`make demo` as a user runs it: the emulator and the local host as separate processes on a scaled clock, the
app driven through its HTTP API, the outcome written as JSON; while it runs it prints the dashboard's address
(which this test opens, as a person would in a browser), and it ends with the protection table."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

import requests

from .conftest import REPO, make_scenario


def _reader(stream, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def test_demo_copies_everything_serves_the_dashboard_and_ends_with_the_protection_table(tmp_path):
    scenario = make_scenario(vms=2, points=2)
    scenario["demo"] = {"targetRegions": ["westus2", "northeurope"], "targetResourceGroup": "rg-dr"}
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    began = time.monotonic()
    proc = subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    page = None
    try:
        while True:
            line = lines.get(timeout=180)
            if line is None:
                break
            seen.append(line)
            match = re.search(r"dashboard (http://\S+/api/dashboard\?code=\S+)", line)
            if match and page is None:
                page = requests.get(match.group(1), timeout=30)  # while the demo runs
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(seen)
    assert proc.returncode == 0, text[-4000:]
    assert page is not None, "the demo never printed the dashboard's address:\n" + text[-3000:]
    assert page.status_code == 200 and "Restore point protection" in page.text, page.text[:500]
    copies = json.loads(out.read_text())["copies"]
    assert len(copies) == 2 * 2 * 2
    assert {c["state"] for c in copies} == {"succeeded"}
    assert {c["targetRegion"] for c in copies} == {"westus2", "northeurope"}
    assert all(c["targetRestorePointId"].split("/")[4] == "rg-dr" for c in copies)
    assert set(copies[0]) == {"sourceRestorePointId", "targetRegion", "targetRestorePointId", "state", "reason"}
    # The protection table ends the output: per VM and region the newest usable copy's source time (rp1,
    # 2026-11-11), its RPO age on the demo's clock and whether the objective is met.
    tail = text[text.index("Protection") :]
    for vm in ("vm0-rpc", "vm1-rpc"):
        for region in ("westus2", "northeurope"):
            row = next((ln for ln in tail.splitlines() if vm in ln and region in ln), None)
            assert row is not None, tail
            assert "2026-11-11T00:00:00Z" in row and "missed" in row, row
            # Aged on the demo's clock (it starts 2026-11-20, 216 h after rp1), not the machine's.
            age = float(re.search(r"(\d+\.\d) h", row).group(1))
            assert 216 <= age < 250, row
    print(f"\n[figure] demo wall time {time.monotonic() - began:.1f} s")
