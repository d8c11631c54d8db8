"""`make dev` (``python -m dev``) as a newcomer runs it: start, run the printed curl, see a copy progress, Ctrl-C."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def test_launcher_prints_a_curl_that_starts_a_copy_that_progresses(tmp_path: Path) -> None:
    out = tmp_path / "dev.out"
    args = ["--port", "0", "--arm-port", "0", "--identity-port", "0", "--scale", "600", "--workdir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dev", *args],
        cwd=REPO,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops both" not in out.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, out.read_text()
            time.sleep(0.1)
        text = out.read_text()
        assert "function key: devhost-function-key" in text
        line = next(x.strip() for x in text.splitlines() if x.strip().startswith("curl -sS -X POST"))
        # The printed curl, run as printed (its words, exactly as a shell would split them).
        words = shlex.split(line)
        url, body = words[words.index("-X") + 2], words[words.index("-d") + 1]
        assert words[words.index("-H") + 1] == "Content-Type: application/json"
        answer = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert answer.status_code == 202, answer.text
        status_url = re.sub(r"/api/replications\?", f"/api/replications/{answer.json()['id']}?", url)
        seen: list[int] = []
        while time.monotonic() < deadline and not any(p > 0 for p in seen):
            doc = requests.get(status_url, timeout=30).json()
            seen = [
                (d.get("percent") or 0) if c.get("state") != "succeeded" else 100
                for lane in doc.get("lanes") or []
                for c in lane.get("copies") or []
                for d in c.get("disks") or [{}]
            ]
            time.sleep(0.5)
        assert any(p > 0 for p in seen), f"no copy progressed: {seen}"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, out.read_text()
    assert "stopped" in out.read_text()
