"""Helpers shared by the devhost tests (a uniquely named module: test dirs have no __init__.py)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost import Host  # noqa: E402

SAMPLE_APP = Path(__file__).resolve().parent / "sample_app"
# A schedule that does not fire during ordinary tests (noon on 1 January only).
QUIET_SCHEDULE = "0 0 12 1 1 *"


def real_now() -> datetime:
    """Start virtual clocks at wall time so the deliberately wrong ``datetime.now()`` orchestrators stay short."""
    return datetime.now(UTC).replace(microsecond=0)


def client_body(payload: Any) -> str | None:
    """What the Python ``DurableOrchestrationClient`` posts: its input JSON text, sent as a JSON *string*."""
    return None if payload is None else json.dumps(payload)


def start(host: Host, name: str, instance_id: str | None = None, payload: Any = None) -> str:
    """Start through the public webhook with the body the Python client would send (``client_body``)."""
    path = f"/runtime/webhooks/durabletask/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    body = client_body(payload)
    response = requests.post(host.url + path, params={"code": host.function_key}, json=body, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def run(host: Host, name: str, payload: Any = None, instance_id: str | None = None) -> dict[str, Any]:
    instance_id = start(host, name, instance_id or f"{name}-test", payload)
    host.run_until_idle(30)
    return host.get_instance(instance_id)
