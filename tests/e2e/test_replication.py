"""Full replications through the local host against the emulator, checked with the real SDK client."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from replication.ids import collection_instance_id, normalize

from .conftest import SUB, admin, collection_id, make_scenario, sdk_client


def _targets(emu: Any) -> dict[str, list[Any]]:
    """Every target restore point in rg-dr, per target collection name, via azure-mgmt-compute."""
    client = sdk_client(emu)
    out = {}
    for c in client.restore_point_collections.list("rg-dr"):
        full = client.restore_point_collections.get("rg-dr", c.name, expand="restorePoints")
        out[c.name] = list(full.properties.restore_points or [])
    return out


def test_replicates_every_restore_point_to_both_regions_once_in_order(emu, host, api):
    ids = []
    for v in range(2):
        response = api.start(
            sourceCollectionId=collection_id(f"vm{v}-rpc"),
            targetRegions=["westus2", "northeurope"],
            targetResourceGroup="rg-dr",
        )
        assert response.status_code == 202, response.text
        payload = response.json()
        assert payload["id"] == collection_instance_id(collection_id(f"vm{v}-rpc"))
        assert payload["statusQueryGetUri"]
        ids.append(payload["id"])

    host.run_until_idle(timeout=120)

    targets = _targets(emu)
    assert sorted(targets) == sorted(f"vm{v}-rpc-{r}" for v in range(2) for r in ("westus2", "northeurope"))
    for name, points in targets.items():
        sources = [normalize(p.properties.source_restore_point.id) for p in points]
        assert len(sources) == len(set(sources)) == 3, name
        vm = name.split("-rpc")[0]
        assert set(sources) == {normalize(f"{collection_id(f'{vm}-rpc')}/restorePoints/rp{i}") for i in range(3)}

    for instance_id in ids:
        doc = api.get(instance_id).json()
        assert doc["runtimeStatus"] == "Completed", doc
        assert [lane["region"] for lane in doc["lanes"]] == ["westus2", "northeurope"]
        for lane in doc["lanes"]:
            assert lane["state"] == "done", lane
            assert [c["state"] for c in lane["copies"]] == ["succeeded"] * 3
            assert [c["name"] for c in lane["copies"]] == ["rp0", "rp1", "rp2"]


def test_duplicate_requests_join_one_orchestration(emu, host, api):
    body = {
        "sourceCollectionId": collection_id("vm0-rpc"),
        "targetRegions": ["westus2"],
        "targetResourceGroup": "rg-dr",
    }
    first, second = api.start(**body), api.start(**body)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    host.run_until_idle(timeout=120)
    points = _targets(emu)["vm0-rpc-westus2"]
    assert len(points) == 3


def test_new_restore_point_after_a_run_is_copied_by_the_next_run(emu, host, api):
    body = {
        "sourceCollectionId": collection_id("vm0-rpc"),
        "targetRegions": ["westus2"],
        "targetResourceGroup": "rg-dr",
    }
    assert api.start(**body).status_code == 202
    host.run_until_idle(timeout=120)
    admin(emu, "POST", "/_emulator/restore-points", {"collectionId": collection_id("vm0-rpc"), "name": "rp9"})
    assert api.start(**body).status_code == 202
    host.run_until_idle(timeout=120)
    names = sorted(p.name for p in _targets(emu)["vm0-rpc-westus2"])
    assert names == ["rp0", "rp1", "rp2", "rp9"]


@pytest.mark.parametrize(
    ("regions", "reason_fragment"),
    [(["eastus"], "within a region")],
)
def test_same_region_lane_is_blocked_with_a_reason(emu, host, api, regions, reason_fragment):
    response = api.start(
        sourceCollectionId=collection_id("vm0-rpc"), targetRegions=regions, targetResourceGroup="rg-dr"
    )
    host.run_until_idle(timeout=60)
    doc = api.get(response.json()["id"]).json()
    assert doc["lanes"][0]["state"] == "blocked"
    assert reason_fragment in doc["lanes"][0]["reason"]
    assert _targets(emu) == {}


def test_bad_requests_get_4xx_naming_the_field(api):
    cases = [
        (
            {"sourceCollectionId": "nope", "targetRegions": ["westus2"], "targetResourceGroup": "rg"},
            "sourceCollectionId",
        ),
        (
            {"sourceCollectionId": collection_id("vm0-rpc"), "targetRegions": ["westus9"], "targetResourceGroup": "rg"},
            "targetRegions[0]",
        ),
    ]
    for body, field in cases:
        response = api.start(**body)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == field
    raw = api.session.post(
        f"{api.base}/api/replications", data="{not json", headers={"content-type": "application/json"}
    )
    assert raw.status_code == 400 and "Traceback" not in raw.text
    wrong_type = api.session.post(f"{api.base}/api/replications", data="x=1", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    assert api.get("rpc-unknown-000000000000").status_code == 404
    assert api.get("..%2F..%2Fetc").status_code == 404


def test_function_key_is_required(host):
    import requests

    response = requests.post(f"{host.url}/api/replications", json={}, timeout=10)
    assert response.status_code == 401


def test_copies_poll_sparingly(emu, host, api):
    """A full copy of a 64 GB disk takes ~6 simulated minutes; incremental ones less. The
    adaptive schedule should look a handful of times per copy, not every 30 seconds."""
    api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"], targetResourceGroup="rg-dr")
    host.run_until_idle(timeout=120)
    calls = admin(emu, "GET", "/_emulator/calls")
    gets = sum(n for key, n in calls.items() if key.startswith("RestorePoints_Get"))
    assert 3 <= gets <= 3 * 6, calls


_ = (Counter, SUB, make_scenario)
