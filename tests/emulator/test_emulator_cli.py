"""The CLI prints exactly one ready line, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests
from emulator_testkit import scenario

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"^emulator listening on https://127\.0\.0\.1:(\d+) identity http://127\.0\.0\.1:(\d+)/msi/token$")


def test_cli_starts_serves_and_stops(tmp_path: Path) -> None:
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(scenario()))
    ca = tmp_path / "ca.pem"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--scenario",
            str(scenario_file),
            "--ca-out",
            str(ca),
            "--clock",
            "scaled",
            "--clock-scale",
            "60",
            "--identity-header",
            "s3cret",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        match = READY.match(line)
        assert match, line
        port, identity_port = match.groups()
        clock = requests.get(f"https://127.0.0.1:{port}/_emulator/clock", verify=str(ca), timeout=5).json()
        assert clock["isVirtual"] is False and clock["now"].startswith("2026-11-20")
        token = requests.get(
            f"http://127.0.0.1:{identity_port}/msi/token",
            params={"resource": "https://management.azure.com", "api-version": "2019-08-01"},
            headers={"X-IDENTITY-HEADER": "s3cret"},
            timeout=5,
        )
        assert token.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


def test_only_loopback_addresses_are_accepted() -> None:
    import pytest

    from emulator import start_emulator

    with pytest.raises(ValueError, match="loopback"):
        start_emulator(None, host="0.0.0.0")
