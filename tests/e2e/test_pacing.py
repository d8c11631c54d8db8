"""Pacing within Compute's budgets (``replication/pacing.py``) against the emulator's Compute throttling.

The emulator charges every Compute call to the recorded policies and answers 429 in Compute's format when
one is spent (docs/emulator.md, "Compute throttling"; Learn "Troubleshooting API throttling errors"). With
budgets squeezed far below Azure's, the same fleet runs twice: with the app pacing itself, and with pacing
off (``COMPUTE_PACING=off``: the budgets are still read, calls are never refused locally).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator import start_emulator
from replication import arm

from .conftest import Api, admin, app_host, collection_id, make_scenario

TIGHT = {
    "compute": {
        "policies": {
            "PutRestorePointSubscriptionMaximum": {"limit": 4, "windowSeconds": 900},
            "LowCostGetRestorePointSubscriptionMaximum": {"limit": 20, "windowSeconds": 600},
        }
    }
}
VMS = 6


def _run(tmp_path: Path, pacing: str) -> dict[str, Any]:
    emu = start_emulator(make_scenario(vms=VMS, points=2, disks=(32,)))
    try:
        admin(emu, "POST", "/_emulator/throttling", {**TIGHT, "reset": True})
        with app_host(emu, tmp_path / f"host-{pacing}.db", {"COMPUTE_PACING": pacing}) as host:
            api = Api(host)
            ids = []
            for v in range(VMS):
                response = api.start(sourceCollectionId=collection_id(f"vm{v}-rpc"))
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            host.run_until_idle(timeout=240)
            docs = [api.get(i).json() for i in ids]
            refusals = arm.PACER.refusals
        throttling = admin(emu, "GET", "/_emulator/throttling")
    finally:
        emu.stop()
    states = [c["state"] for d in docs for lane in d["lanes"] for c in lane["copies"]]
    return {
        "states": states,
        "runtime": [d["runtimeStatus"] for d in docs],
        "compute429s": sum(throttling["compute"]["throttled"].values()),
        "refusals": refusals,
    }


def test_pacing_keeps_every_copy_and_takes_fewer_429s(tmp_path: Path) -> None:
    paced = _run(tmp_path, "on")
    unpaced = _run(tmp_path, "off")
    expected = VMS * 2 * 2  # VMs x restore points x regions
    assert paced["states"] == ["succeeded"] * expected, paced
    assert paced["runtime"] == ["Completed"] * VMS
    assert unpaced["compute429s"] > 0, unpaced  # the budgets are tight enough to matter
    assert paced["refusals"] > 0
    assert paced["compute429s"] < unpaced["compute429s"], (paced, unpaced)
    print(
        f"\npaced: {paced['compute429s']} Compute 429s, {paced['refusals']} local refusals; "
        f"unpaced: {unpaced['compute429s']} Compute 429s, states {sorted(set(unpaced['states']))}"
    )
