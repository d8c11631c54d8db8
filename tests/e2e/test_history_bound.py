"""Histories stay bounded however many restore points a collection has and however long a copy runs:
lanes continue as new after a batch of copies, copies after a number of looks."""

from __future__ import annotations

from emulator import start_emulator

from .conftest import Api, app_host, collection_id, make_scenario

BOUND = 300  # the figure; a look costs about 8 events, 25 looks per execution


def test_many_restore_points_and_a_three_day_copy_keep_every_history_small(tmp_path):
    scenario = make_scenario(vms=1, points=12, disks=(3 * 24 * 3600 * 100 / 1024,))  # 3 days at 100 MB/s
    scenario["copyBandwidthMBps"] = 100
    scenario["copiesPerHourPerCollection"] = 100  # this test is about history, not the hourly limit
    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db") as host:
        api = Api(host)
        response = api.start(sourceCollectionId=collection_id("vm0-rpc"), targetRegions=["westus2"])
        assert response.status_code == 202, response.text
        host.run_until_idle(timeout=300)
        doc = api.get(response.json()["id"]).json()
        sizes = {i["instanceId"]: len(host.history(i["instanceId"])) for i in host.instances()}
    lane = doc["lanes"][0]
    assert [c["state"] for c in lane["copies"]] == ["succeeded"] * 12
    assert max(sizes.values()) <= BOUND, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
