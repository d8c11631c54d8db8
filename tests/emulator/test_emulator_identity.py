"""Managed identity (App Service protocol 2019-08-01) and ARM authentication."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from emulator_testkit import API, SUB, make_client

from emulator import EmulatorHandle

RPC_URL = "/subscriptions/{sub}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm-web-1-rpc"


def test_managed_identity_credential_gets_a_token(emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", emu.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emu.identity_header)
    credential = ManagedIdentityCredential(client_id="33333333-3333-3333-3333-333333333333")
    token = credential.get_token("https://management.azure.com/.default")
    assert token.token.startswith("emu.")
    assert token.expires_on > 0
    assert emu.identity_endpoint.startswith("http://127.0.0.1:")


def test_identity_endpoint_requires_the_header_and_api_version(emu: EmulatorHandle) -> None:
    params = {"resource": "https://management.azure.com", "api-version": "2019-08-01"}
    assert requests.get(emu.identity_endpoint, params=params, timeout=5).status_code == 401
    wrong = requests.get(emu.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": "nope"}, timeout=5)
    assert wrong.status_code == 401
    ok = requests.get(
        emu.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": emu.identity_header}, timeout=5
    )
    body = ok.json()
    assert ok.status_code == 200
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["token_type"] == "Bearer"
    bad_version = requests.get(
        emu.identity_endpoint,
        params={**params, "api-version": "2017-09-01"},
        headers={"X-IDENTITY-HEADER": emu.identity_header},
        timeout=5,
    )
    assert bad_version.status_code == 400


def test_sdk_end_to_end_with_managed_identity(emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(emu, monkeypatch)
    rpc = client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert rpc.location == "eastus"


def test_arm_refuses_missing_and_foreign_tokens(emu: EmulatorHandle) -> None:
    url = emu.url + RPC_URL.format(sub=SUB) + f"?api-version={API}"
    missing = requests.get(url, verify=emu.ca_pem_path, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    foreign = requests.get(url, verify=emu.ca_pem_path, timeout=5, headers={"Authorization": "Bearer forged"})
    assert foreign.status_code == 401
    assert foreign.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in foreign.headers
    basic = requests.get(url, verify=emu.ca_pem_path, timeout=5, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    token = emu.issue_token()
    good = requests.get(url, verify=emu.ca_pem_path, timeout=5, headers={"Authorization": f"Bearer {token}"})
    assert good.status_code == 200


def test_sdk_with_a_foreign_token_fails_to_authenticate(emu: EmulatorHandle) -> None:
    from azure.core.credentials import AccessToken
    from azure.mgmt.compute import ComputeManagementClient

    class Forged:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken("forged", 4102444800)

    client = ComputeManagementClient(Forged(), SUB, base_url=emu.url, connection_verify=emu.ca_pem_path, retry_total=0)
    with pytest.raises(ClientAuthenticationError) as info:
        client.restore_point_collections.get("rg-app", "vm-web-1-rpc")
    assert info.value.status_code == 401
