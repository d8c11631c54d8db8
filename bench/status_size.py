"""Custom status size: the largest status each orchestrator publishes, for 12, 100 and 500 restore points.

On Azure the Durable extension fails an orchestration whose custom status, serialized as JSON and
measured in UTF-16, is over 16 KB (``SetCustomStatus``; Learn "Custom orchestration status"). This runs
the app's own orchestrators in the local durable host against the ARM emulator (virtual clock) for one
collection with 16 disks copied to 5 regions, every ARM name 80 characters long, and records every
status any orchestrator sets (the SDK's ``set_custom_status``, measured as the extension measures it).
Besides the largest status seen, it prints a worst case: that status with every ``reason`` padded to
the 300-character cap that ``orchestrators.arm_calls.short`` enforces.

Target (issue 10): worst case <= 8 KB at 500 restore points. Exit code 1 if it is missed.

    .venv/bin/python -m bench.status_size [--points 12 100 500] [--regions 5] [--out bench/results/status_size.txt]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import azure.durable_functions as df  # noqa: E402

from bench import publish  # noqa: E402
from emulator import start_emulator  # noqa: E402
from orchestrators.arm_calls import REASON_CHARS  # noqa: E402
from tests.e2e.conftest import SUB, Api, app_host, make_policy  # noqa: E402

TARGET_BYTES = 8 * 1024
LIMIT_BYTES = 16 * 1024
REGIONS = ["westus2", "northeurope", "southeastasia", "australiaeast", "germanywestcentral"]
KINDS = {0: "replicate_collection", 1: "replicate_lane", 2: "copy_restore_point"}


def utf16_size(value: Any) -> int:
    """The status as the extension measures it: its JSON text, encoded as UTF-16."""
    return len(json.dumps(value).encode("utf-16-le"))


def name(prefix: str, length: int = 80) -> str:
    return (prefix + "-" + "x" * length)[:length]


def scenario(points: int, disks: int) -> dict[str, Any]:
    rg, dr = name("rg-workloads-prod"), name("rg-dr")
    return {
        "clock": {"start": "2026-11-20T00:00:00Z"},
        "tenantId": "00000000-0000-0000-0000-0000000000aa",
        "copyBandwidthMBps": 2000,
        "copiesPerHourPerCollection": 1000,
        "subscriptions": [
            {
                "subscriptionId": SUB,
                "displayName": "prod",
                "resourceGroups": [{"name": rg, "location": "eastus"}, {"name": dr, "location": "westus2"}],
            }
        ],
        "collections": [
            {
                "subscriptionId": SUB,
                "resourceGroup": rg,
                "name": name("vm-payments-api-rpc"),
                "location": "eastus",
                "tags": {"replicate": "true"},
                "vm": {
                    "name": name("vm-payments-api", 64),
                    "vmSize": "Standard_D2s_v5",
                    "osType": "Linux",
                    "disks": [
                        {"name": name(f"disk{d:02d}-payments-api"), "sizeGB": 4, **({"lun": d - 1} if d else {})}
                        for d in range(disks)
                    ],
                },
                "restorePoints": [
                    {
                        "name": name(f"rp{i:04d}-daily"),
                        "timeCreated": f"2026-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}T{i // 336 % 24:02d}:00:00Z",
                        "changedPercent": 1,
                    }
                    for i in range(points)
                ],
            }
        ],
        "faults": {},
    }


def measure(
    points: int, regions: list[str], disks: int, backend: str = "azure_storage", timeout: float = 7200.0
) -> tuple[dict[str, dict[str, Any]], float, int]:
    """Largest status per orchestrator (its size and the status), wall seconds, copies that succeeded."""
    largest: dict[str, dict[str, Any]] = defaultdict(lambda: {"bytes": 0, "status": None})
    original = df.DurableOrchestrationContext.set_custom_status

    def recording(self: Any, status: Any) -> None:
        kind = KINDS.get(self.instance_id.count("~"), "other")
        size = utf16_size(status)
        if size > largest[kind]["bytes"]:
            largest[kind] = {"bytes": size, "status": status}
        original(self, status)

    began = time.monotonic()
    scn = scenario(points, disks)
    collection = scn["collections"][0]
    source_id = (
        f"/subscriptions/{SUB}/resourceGroups/{collection['resourceGroup']}"
        f"/providers/Microsoft.Compute/restorePointCollections/{collection['name']}"
    )
    policy = make_policy(tuple(regions))
    for target in policy["targets"]:
        target["resourceGroup"] = scn["subscriptions"][0]["resourceGroups"][1]["name"]
    df.DurableOrchestrationContext.set_custom_status = recording  # type: ignore[method-assign]
    try:
        with start_emulator(scn) as emu, tempfile.TemporaryDirectory() as tmp:
            settings = {"REPLICATION_POLICY": json.dumps(policy), "SWEEP_SCHEDULE": "0 0 0 1 1 *"}
            with app_host(emu, Path(tmp) / "h.db", settings, backend=backend) as host:
                response = Api(host).start(sourceCollectionId=source_id)
                if response.status_code != 202:
                    raise SystemExit(f"start failed: {response.status_code} {response.text}")
                host.run_until_idle(timeout=timeout)
                failed = [i for i in host.instances() if i["runtimeStatus"] == "Failed"]
                if failed:
                    raise SystemExit(f"{len(failed)} orchestrations failed, e.g. {failed[0]}")
                copies = sum(
                    1
                    for i in host.instances()
                    if i["name"] == "copy_restore_point" and (i.get("output") or {}).get("state") == "succeeded"
                )
    finally:
        df.DurableOrchestrationContext.set_custom_status = original  # type: ignore[method-assign]
    return dict(largest), time.monotonic() - began, copies


def worst_case(status: Any) -> Any:
    """The status with every reason at its cap: the most any published status can carry."""
    if isinstance(status, dict):
        return {k: ("r" * REASON_CHARS if k == "reason" else worst_case(v)) for k, v in status.items()}
    if isinstance(status, list):
        return [worst_case(v) for v in status]
    return status


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, nargs="+", default=[12, 100, 500])
    parser.add_argument("--regions", type=int, default=5)
    parser.add_argument("--disks", type=int, default=16)
    parser.add_argument(
        "--backend", default="dts", help="devhost backend whose limits apply (dts: ids <= 100, payloads <= 1 MB)"
    )
    parser.add_argument("--timeout", type=float, default=7200.0, help="wall seconds per run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "status_size.txt")
    args = parser.parse_args()
    regions = REGIONS[: args.regions]
    lines = [
        f"One collection, {args.disks} disks, {len(regions)} regions ({', '.join(regions)}), 80-character ARM names.",
        "Sizes are the JSON text of the custom status in UTF-16 bytes (the extension's measure; limit 16 KB).",
        f"devhost backend: {args.backend} (its instance-id and payload limits were enforced throughout).",
        "",
        f"{'points':>6} | {'orchestrator':<22} | {'largest seen':>12} | {'worst case':>10} | "
        f"{'copies':>6} | {'wall':>6}",
        "-" * 80,
    ]
    ok = True
    worst_overall = 0
    for points in args.points:
        largest, wall, copies = measure(points, regions, args.disks, args.backend, args.timeout)
        for kind in KINDS.values():
            entry = largest.get(kind) or {"bytes": 0, "status": None}
            worst = utf16_size(worst_case(entry["status"])) if entry["status"] is not None else 0
            worst_overall = max(worst_overall, worst)
            if worst > TARGET_BYTES:
                ok = False
            lines.append(
                f"{points:>6} | {kind:<22} | {entry['bytes']:>10} B | {worst:>8} B | {copies:>6} | {wall:>5.0f}s"
            )
        print("\n".join(lines[-3:]), flush=True)
    lines += [
        "",
        f"worst case overall: {worst_overall} B (target {TARGET_BYTES} B, limit {LIMIT_BYTES} B): "
        + ("met" if ok else "MISSED"),
    ]
    return publish(lines, args.out, ok)


if __name__ == "__main__":
    raise SystemExit(main())
