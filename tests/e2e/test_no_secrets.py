"""ARM hands the product a restore point's ``sourceMetadata``: ``osProfile`` (secret references,
custom data), ``userData``. None of it, and no bearer token, may reach a response, a log line or a
durable payload (histories are stored and replayed; custom status is served)."""

from __future__ import annotations

import json
import logging

from emulator import start_emulator

from .conftest import Api, app_host, collection_id, make_scenario, sdk_client

USER_DATA = "U0VDUkVULVVTRVJEQVRBLTQyCg=="  # base64 of "SECRET-USERDATA-42"
ADMIN = "admin-secret-4242"
HOST_NAME = "secret-host-4242"


def test_no_os_profile_user_data_or_token_anywhere(tmp_path, caplog):
    scenario = make_scenario(vms=1, points=2)
    scenario["collections"][0]["vm"].update(userData=USER_DATA, adminUsername=ADMIN, computerName=HOST_NAME)
    caplog.set_level(logging.DEBUG)
    with start_emulator(scenario) as emu, app_host(emu, tmp_path / "h.db") as host:
        api = Api(host)
        started = api.start(sourceCollectionId=collection_id("vm0-rpc"))
        host.run_until_idle(timeout=120)
        dry = api.start(sourceCollectionId=collection_id("vm0-rpc"), dryRun=True).text
        served = [
            started.text,
            dry,
            api.get(started.json()["id"]).text,
            api.session.get(f"{api.base}/api/replications").text,
        ]
        durable = [json.dumps(host.history(i["instanceId"])) + json.dumps(i) for i in host.instances()]
        tokens = list(emu._servers.issuer.tokens)  # every token the product was issued
        metadata = sdk_client(emu).restore_points.get("rg-app", "vm0-rpc", "rp0").properties.source_metadata
        os_profile = metadata.os_profile
    assert "completed" in served[2].lower()
    haystacks = {"responses": "\n".join(served), "durable state": "\n".join(durable), "logs": caplog.text}
    assert tokens and os_profile.custom_data and os_profile.secrets and metadata.user_data == USER_DATA
    vault_url = os_profile.secrets[0].vault_certificates[0].certificate_url
    needles = [USER_DATA, ADMIN, HOST_NAME, os_profile.custom_data, vault_url, "osProfile", "sourceMetadata", *tokens]
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"{needle[:20]}... found in {where}"
