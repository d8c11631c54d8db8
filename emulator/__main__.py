"""CLI: ``python -m emulator --port N --scenario FILE --ca-out PATH ...``; prints one ready line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from emulator.scenario import load_scenario
from emulator.server import DEFAULT_IDENTITY_HEADER, EmulatorServers, make_clock


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="HTTPS port for ARM and /_emulator (0: any free)")
    parser.add_argument("--scenario", help="scenario JSON file (default: the built-in demo scenario)")
    parser.add_argument("--ca-out", required=True, help="where to write the CA certificate PEM")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--identity-port", type=int, default=0, help="HTTP port of the managed identity endpoint")
    parser.add_argument("--identity-header", default=DEFAULT_IDENTITY_HEADER, help="IDENTITY_HEADER secret")
    parser.add_argument("--clock", choices=["virtual", "scaled"], default="virtual")
    parser.add_argument("--clock-start", help="ISO start time (default: the scenario's clock.start)")
    parser.add_argument("--clock-scale", type=float, default=60.0, help="simulated seconds per real second")
    parser.add_argument("--clock-anchor", type=float, help="UNIX time at which the scaled clock is at start")
    parser.add_argument("--events-webhook", help="URL receiving Event Grid events (loopback)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    scenario = load_scenario(args.scenario)
    clock = make_clock(scenario, args.clock, args.clock_start, args.clock_scale, args.clock_anchor)
    servers = EmulatorServers.build(scenario, clock, args.identity_header, args.events_webhook)
    servers.ca.cert_pem.write_to_path(str(Path(args.ca_out)))
    await servers.start(args.host, args.port, args.identity_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"emulator listening on https://{args.host}:{servers.port} "
        f"identity http://{args.host}:{servers.identity_port}/msi/token",
        flush=True,
    )
    await stop.wait()
    await servers.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
