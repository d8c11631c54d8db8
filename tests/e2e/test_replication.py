"""Full replications through the local host against the emulator, checked with the real SDK client."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from replication.ids import collection_instance_id, normalize

from .conftest import SUB, Api, admin, app_host, collection_id, lane_key, make_policy, make_scenario, sdk_client


def _targets(emu: Any) -> dict[str, list[Any]]:
    """Every target restore point in rg-dr, per target collection name, via azure-mgmt-compute."""
    client = sdk_client(emu)
    out = {}
    for c in client.restore_point_collections.list("rg-dr"):
        full = client.restore_point_collections.get("rg-dr", c.name, expand="restorePoints")
        out[lane_key(c.name)] = list(full.properties.restore_points or [])
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


def test_same_region_request_is_refused_up_front(emu, host, api):
    response = api.start(
        sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["eastus"], targetResourceGroup="rg-dr"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "targetRegions[0]"
    assert _targets(emu) == {}


def test_same_region_target_in_policy_gives_a_skipped_lane_with_a_reason(emu, tmp_path):
    settings = {"REPLICATION_POLICY": json.dumps(make_policy(("eastus", "westus2")))}
    with app_host(emu, tmp_path / "h.db", settings) as host:
        api = Api(host)
        response = api.start(sourceCollectionId=collection_id("vm0-rpc"))
        assert response.status_code == 202
        host.run_until_idle(timeout=60)
        lanes = {lane["region"]: lane for lane in api.get(response.json()["id"]).json()["lanes"]}
    assert lanes["eastus"]["state"] == "skipped" and "within a region" in lanes["eastus"]["reason"]
    assert lanes["westus2"]["state"] == "done"


def test_sources_outside_the_policy_get_403(emu, host, api, tmp_path):
    other_sub = "22222222-2222-2222-2222-222222222222"
    outside = collection_id("vm0-rpc").replace(SUB, other_sub)
    response = api.start(sourceCollectionId=outside)
    assert response.status_code == 403 and response.json()["error"]["field"] == "sourceCollectionId"
    wrong_group = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetResourceGroup="rg-elsewhere")
    assert wrong_group.status_code == 403 and wrong_group.json()["error"]["field"] == "targetResourceGroup"
    not_a_target = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["eastasia"])
    assert not_a_target.status_code == 403
    missing = api.start(sourceCollectionId=collection_id("vm-nope-rpc"))
    assert missing.status_code == 404


def test_without_a_policy_nothing_may_be_replicated(emu, tmp_path):
    with app_host(emu, tmp_path / "h.db", {"REPLICATION_POLICY": ""}) as host:
        response = Api(host).start(sourceCollectionId=collection_id("vm0-rpc"))
    assert response.status_code == 403


def test_dry_run_plans_without_writing(emu, host, api):
    response = api.start(sourceCollectionId=collection_id("vm0-rpc"), dryRun=True)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert [lane["region"] for lane in plan["lanes"]] == ["westus2", "northeurope"]
    for lane in plan["lanes"]:
        assert [c["state"] for c in lane["copies"]] == ["pending"] * 3
        assert lane["next"]["action"] == "copy" and lane["next"]["sourceRestorePointId"].endswith("/rp0")
    whole = api.start(all=True, dryRun=True).json()
    assert len(whole["collections"]) == 2 and not whole["truncated"]
    calls = admin(emu, "GET", "/_emulator/calls")
    assert not [k for k in calls if not k.split("_")[1].startswith(("Get", "List"))], calls
    assert host.instances() == []


def test_list_replications(emu, host, api):
    api.start(sourceCollectionId=collection_id("vm0-rpc"))
    api.start(sourceCollectionId=collection_id("vm1-rpc"))
    host.run_until_idle(timeout=120)
    rows = api.session.get(f"{api.base}/api/replications", timeout=30).json()["replications"]
    assert [r["runtimeStatus"] for r in rows] == ["Completed", "Completed"]
    assert {r["sourceCollectionId"].rsplit("/", 1)[-1] for r in rows} == {"vm0-rpc", "vm1-rpc"}


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
