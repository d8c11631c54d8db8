"""Benchmark (not a test): instanceView GETs per second the ARM emulator serves on one core.

Starts ``python -m emulator`` pinned to CPU 0 (``taskset``, when available) with 1,000 source
collections, creates 1,000 cross-region copies through ARM, then hammers
``GET .../restorePoints/{rp}?$expand=instanceView`` round-robin from an aiohttp client pinned to
CPU 1 with keep-alive connections. Throttling is switched off in the bench scenario: ARM's 25 reads/s
per subscription and Compute's 600 restore point GETs per 30 minutes and region would otherwise be the
limit, which is the point of ARM and Compute, not of the emulator.

Usage: ``.venv/bin/python bench/emulator_throughput.py [--seconds 10] [--concurrency 32] [--out FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
SUB = "11111111-1111-1111-1111-111111111111"
API = "2026-04-01"
COLLECTIONS = 1000


def bench_scenario() -> dict[str, object]:
    return {
        "clock": {"start": "2026-11-20T00:00:00Z"},
        "tenantId": "00000000-0000-0000-0000-0000000000aa",
        "copyBandwidthMBps": 250,
        "throttling": {"enabled": False},
        "computeThrottling": {"enabled": False},
        "copiesPerHourPerCollection": 1000,
        "subscriptions": [
            {
                "subscriptionId": SUB,
                "displayName": "bench",
                "resourceGroups": [{"name": "rg-app", "location": "eastus"}, {"name": "rg-dr", "location": "westus2"}],
            }
        ],
        "collections": [
            {
                "subscriptionId": SUB,
                "resourceGroup": "rg-app",
                "name": f"vm-{i}-rpc",
                "location": "eastus",
                "vm": {
                    "name": f"vm-{i}",
                    "disks": [
                        {"name": f"vm-{i}-os", "sizeGB": 128},
                        {"name": f"vm-{i}-data", "sizeGB": 1024, "lun": 0},
                    ],
                },
                "restorePoints": [{"name": "rp-0", "timeCreated": "2026-11-19T00:00:00Z"}],
            }
            for i in range(COLLECTIONS)
        ],
    }


def pinned(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > cpu else []


async def run_client(base: str, ca: str, token: str, seconds: float, concurrency: int) -> tuple[int, float]:
    ssl_context = ssl.create_default_context(cafile=ca)
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(ssl=ssl_context, limit=concurrency)
    rpcs = f"{base}/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections"
    src = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections"
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        sem = asyncio.Semaphore(concurrency)

        async def setup(i: int) -> None:
            async with sem:
                body = {"location": "westus2", "properties": {"source": {"id": f"{src}/vm-{i}-rpc"}}}
                async with session.put(f"{rpcs}/t-{i}?api-version={API}", json=body) as r:
                    assert r.status == 201, await r.text()
                body = {"properties": {"sourceRestorePoint": {"id": f"{src}/vm-{i}-rpc/restorePoints/rp-0"}}}
                async with session.put(f"{rpcs}/t-{i}/restorePoints/c-0?api-version={API}", json=body) as r:
                    assert r.status == 201, await r.text()

        await asyncio.gather(*(setup(i) for i in range(COLLECTIONS)))
        count = 0
        deadline = time.monotonic() + seconds

        async def worker(offset: int) -> None:
            nonlocal count
            i = offset
            while time.monotonic() < deadline:
                url = f"{rpcs}/t-{i % COLLECTIONS}/restorePoints/c-0?api-version={API}&$expand=instanceView"
                async with session.get(url) as r:
                    body = await r.read()
                    assert r.status == 200 and b'"instanceView"' in body
                count += 1
                i += concurrency

        started = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return count, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "bench/results/emulator_throughput.txt"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="emulator-bench-"))
    scenario = workdir / "scenario.json"
    scenario.write_text(json.dumps(bench_scenario()))
    ca = workdir / "ca.pem"
    command = [
        *pinned(0),
        sys.executable,
        "-m",
        "emulator",
        "--port",
        "0",
        "--scenario",
        str(scenario),
        "--ca-out",
        str(ca),
    ]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"(https://\S+) identity", line)
        assert match, line
        base = match.group(1)
        import requests

        token = requests.post(f"{base}/_emulator/token", json={}, verify=str(ca), timeout=10).json()["access_token"]
        if pinned(1):
            os.sched_setaffinity(0, {1})
        count, elapsed = asyncio.run(run_client(base, str(ca), token, args.seconds, args.concurrency))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    rate = count / elapsed
    report = (
        f"emulator throughput benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n"
        f"GET restorePoints/{{rp}}?$expand=instanceView over {COLLECTIONS} copies (2 disks each), TLS, keep-alive\n"
        f"server pinned to CPU 0: {'yes' if pinned(0) else 'no (taskset missing)'}; client on CPU 1; "
        f"concurrency {args.concurrency}; {elapsed:.1f} s\n"
        f"requests: {count}\n"
        f"throughput: {rate:.0f} requests/s (target >= 500)\n"
    )
    Path(args.out).write_text(report)
    print(report, end="")
    return 0 if rate >= 500 else 1


if __name__ == "__main__":
    sys.exit(main())
