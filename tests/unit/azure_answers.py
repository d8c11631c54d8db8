"""Exceptions exactly as azure-core, azure-mgmt-compute and azure-identity raise them, without a network.

Only the socket is replaced: a ``requests`` transport adapter hands back one canned HTTP answer (or raises
what ``requests`` raises for a refused connection or a timeout). Everything above it is the real library:
azure-core's ``RequestsTransport`` and pipeline, the generated ``ComputeManagementClient`` operations with
their ``error_map`` and ``ARMErrorFormat``, and azure-identity's ``ManagedIdentityCredential`` (App Service
flavour, MSAL underneath). So the exception a test classifies is the object production would classify.

The answers themselves are Azure's, each from a cited source (see ``tests/unit/test_classify.py``). Behaviour
tests against ARM run against the emulator (``tests/domain``); this is only for building exception objects.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient
from requests.adapters import BaseAdapter
from urllib3 import HTTPResponse
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from replication import arm

SUB = "11111111-1111-1111-1111-111111111111"
RPC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"
RP = f"{RPC}/restorePoints/rp-2"
IDENTITY_ENDPOINT = "http://127.0.0.1:41111/msi/token"  # never connected to: the adapter answers
CLIENT_ID = "22222222-2222-2222-2222-222222222222"

Answer = tuple[int, Any, dict[str, str]] | BaseException  # (status, JSON body or raw text, headers) or a raise


class CannedAdapter(BaseAdapter):
    """A ``requests`` adapter that answers every request with the next canned answer (the last one repeats)."""

    def __init__(self, answers: list[Answer]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        status, body, headers = answer
        response = requests.Response()
        response.status_code = status
        response.reason = requests.status_codes._codes.get(status, ("",))[0].replace("_", " ").title()  # type: ignore[attr-defined]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(data)), **headers}
        response.raw = HTTPResponse(
            body=io.BytesIO(data), headers=all_headers, status=status, preload_content=False, decode_content=False
        )
        response.headers.update(all_headers)
        response.url = str(request.url)
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def transport(answers: list[Answer]) -> tuple[RequestsTransport, CannedAdapter]:
    adapter = CannedAdapter(answers)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False), adapter


def refused_connection(port: int = 41111) -> requests.exceptions.ConnectionError:
    """What ``requests`` raises when nothing listens on the port (urllib3's NewConnectionError inside)."""
    reason = NewConnectionError(None, f"Failed to establish a new connection: [Errno 111] Connection refused (:{port})")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(reason)


def read_timeout() -> requests.exceptions.ReadTimeout:
    return requests.exceptions.ReadTimeout(ReadTimeoutError(None, "/msi/token", "Read timed out. (read timeout=30)"))  # type: ignore[arg-type]


class StaticToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", int(time.time()) + 3600)


def arm_client(answers: list[Answer], credential: Any = None) -> ComputeManagementClient:
    """The real client, no retries, whose every ARM request gets the canned answers."""
    canned, _ = transport(answers)
    return ComputeManagementClient(
        credential or StaticToken(), SUB, transport=canned, retry_total=0, polling_interval=0
    )


def arm_error(answer: Answer, call: Callable[[ComputeManagementClient], Any] | None = None) -> Exception:
    """What one real SDK call raises for one canned ARM answer (by default: starting a copy)."""
    client = arm_client([answer])
    call = call or start_copy
    with pytest.raises(Exception) as info:
        call(client)
    return info.value


def start_copy(client: ComputeManagementClient) -> Any:
    body = {"properties": {"sourceRestorePoint": {"id": RP}}}
    return client.restore_points.begin_create("rg-dr", "vm1-rpc-westus2", "rp-2", body, polling=False).result()


def read_collection(client: ComputeManagementClient) -> Any:
    return client.restore_point_collections.get("rg-app", "vm1-rpc", expand="restorePoints")


@contextmanager
def identity_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The App Service identity environment (IDENTITY_ENDPOINT + IDENTITY_HEADER), as Functions sets it."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", IDENTITY_ENDPOINT)
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-secret")
    monkeypatch.delenv("IDENTITY_SERVER_THUMBPRINT", raising=False)
    monkeypatch.delenv("MSI_ENDPOINT", raising=False)
    yield


def identity_credential(answers: list[Answer]) -> tuple[Any, CannedAdapter]:
    """The product's credential wrapper around the real ManagedIdentityCredential, with canned identity answers."""
    canned, adapter = transport(answers)
    inner = ManagedIdentityCredential(client_id=CLIENT_ID, transport=canned, retry_total=0)
    return arm._Credential(inner), adapter


def token_error(monkeypatch: pytest.MonkeyPatch, answer: Answer) -> Exception:
    """What an ARM call raises when the identity endpoint gives ``answer``: through the real ARM pipeline."""
    with identity_env(monkeypatch):
        credential, _ = identity_credential([answer])
        client = arm_client([(200, {}, {})], credential)
        with pytest.raises(Exception) as info:
            read_collection(client)
        return info.value
