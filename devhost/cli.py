"""``python -m devhost``: run an app directory on loopback until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from .clock import Clock, ScaledClock, VirtualClock
from .host import Host
from .timefmt import parse_iso


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Local durable host for a Functions app")
    parser.add_argument("--app-dir", default=".", help="directory holding function_app.py and host.json")
    parser.add_argument("--app-module", default="function_app")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", help='local.settings.json ({"Values": {...}})')
    parser.add_argument("--db", help="SQLite file (default: a temporary file, state lost on exit)")
    parser.add_argument("--clock", choices=("virtual", "scaled"), default="scaled")
    parser.add_argument("--clock-start", help="ISO start time (default: now)")
    parser.add_argument("--clock-scale", type=float, default=1.0)
    parser.add_argument("--clock-anchor", type=float, help="UNIX seconds at which the scaled clock read --clock-start")
    parser.add_argument("--clock-sync", help='URL to POST {"advanceTo": ISO} to on every virtual advance')
    parser.add_argument("--clock-sync-ca", help="CA PEM to verify an https --clock-sync URL (the emulator's CA)")
    parser.add_argument("--function-key", default="devhost-function-key")
    parser.add_argument("--master-key", default="devhost-master-key")
    parser.add_argument("--activity-duplicate-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backend",
        choices=("azure-storage", "azure_storage", "dts"),
        default="azure-storage",
        help="backend whose limits to hold (instance ids, payload sizes): Azure Storage or Durable Task Scheduler",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def make_clock(args: argparse.Namespace) -> Clock:
    start = parse_iso(args.clock_start) if args.clock_start else datetime.now(UTC)
    if args.clock == "virtual":
        return VirtualClock(start)
    return ScaledClock(start, args.clock_scale, args.clock_anchor)


def load_settings(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    values = json.loads(Path(path).read_text(encoding="utf-8")).get("Values") or {}
    return {str(k): str(v) for k, v in values.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    host = Host(
        args.app_dir,
        app_module=args.app_module,
        settings=load_settings(args.settings),
        clock=make_clock(args),
        db_path=args.db,
        port=args.port,
        function_key=args.function_key,
        master_key=args.master_key,
        activity_duplicate_rate=args.activity_duplicate_rate,
        seed=args.seed,
        backend=args.backend,
        clock_sync_url=args.clock_sync,
        clock_sync_ca=args.clock_sync_ca,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    host.start()
    print(f"devhost listening on {host.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        host.stop()
    return 0
