"""The host killed with SIGKILL at random points (inside activities, between episodes, with timers
pending) and restarted on its SQLite store, while the emulator injects every fault: every copy still
ends done exactly once. A small run of bench/soak.py (the full one copies 200 restore points)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_random_host_kills_lose_and_duplicate_nothing(tmp_path):
    out = tmp_path / "soak.txt"
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--collections", "4", "--points", "3", "--scale", "200",
         "--kill-min", "1.5", "--kill-max", "3.5", "--timeout", "240", "--seed", "3", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = out.read_text() if out.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "duplicate target restore points:    0" in report
    assert "Failed target restore points left:  0" in report
    assert "stuck orchestrations:               0" in report
    kills = int(report.split("host killed ")[1].split(" ")[0])
    assert kills >= 2, report
