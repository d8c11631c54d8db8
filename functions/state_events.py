"""Publishing the app's CloudEvents (``replication.cloudevents``) to an Event Grid custom topic.

Only when ``EVENTGRID_TOPIC_ENDPOINT`` is set (the Bicep sets it when ``eventsTopic`` is on). The publisher is
azure-core's own pipeline (retry, bearer token) with the app's identity: ``ManagedIdentityCredential`` with
``AZURE_CLIENT_ID``, else ``DefaultAzureCredential``; token scope ``https://eventgrid.azure.net/.default``,
role "EventGrid Data Sender" on the topic (Learn "Authenticate publishing clients using Microsoft Entra ID").
Publishing never fails the caller: a refused or unreachable topic is logged at WARNING and the event dropped
(the metrics and the report are the record; the events are notifications).

RPO changes are found by comparing each protection check with the last one this process saw. After a restart
the first check announces every lane whose objective is missed again (at least once), never a "met".
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime
from typing import Any

from replication.cloudevents import cloud_event, rpo_changes
from replication.settings import load_arm_settings, load_observe_settings

from . import telemetry

log = logging.getLogger(__name__)

SCOPE = "https://eventgrid.azure.net/.default"
CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
BATCH = 100

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_rpo_states: dict[str, dict[tuple[str, str], bool]] = {}


def _client(endpoint: str) -> Any:
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, RetryPolicy
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    identity = os.environ.get("IDENTITY_ENDPOINT") or ""
    key = (endpoint, identity)
    with _lock:
        client = _clients.get(key)
        if client is None:
            settings = load_arm_settings()
            credential = (
                ManagedIdentityCredential(client_id=settings.client_id)
                if settings.client_id
                else DefaultAzureCredential()
            )
            kwargs: dict[str, Any] = {}
            if settings.ca_bundle:  # dev only: the emulator's topic speaks HTTPS with its own CA
                kwargs["connection_verify"] = settings.ca_bundle
            client = PipelineClient(
                endpoint,
                policies=[
                    HeadersPolicy(),
                    RetryPolicy(retry_total=3, retry_backoff_factor=0.5, retry_backoff_max=4),
                    BearerTokenCredentialPolicy(credential, SCOPE),
                ],
                **kwargs,
            )
            _clients[key] = client
        return client


def publish(events: list[dict[str, Any]]) -> int:
    """Send ``events``; how many the topic accepted (0 when no topic is configured or it refused)."""
    if not events:
        return 0
    try:
        endpoint = load_observe_settings().topic_endpoint
    except Exception:  # misconfigured settings are reported by startup checks
        return 0
    if not endpoint:
        return 0
    from azure.core.rest import HttpRequest

    sent = 0
    try:
        client = _client(endpoint)
        for i in range(0, len(events), BATCH):
            chunk = events[i : i + BATCH]
            body = json.dumps(chunk).encode("utf-8")
            request = HttpRequest("POST", endpoint, headers={"Content-Type": CONTENT_TYPE}, content=body)
            response = client.send_request(request)
            if response.status_code != 200:
                log.warning(
                    "event topic refused %d events: HTTP %d %s", len(chunk), response.status_code, response.text()[:300]
                )
                continue
            sent += len(chunk)
    except Exception as error:  # never fail the caller for a notification
        log.warning("could not publish %d events: %s: %s", len(events), type(error).__name__, error)
    return sent


def copy_event(kind: str, lane: dict[str, Any], when: datetime, **data: Any) -> None:
    publish([cloud_event(kind, lane["sourceCollectionId"], lane["region"], when, **data)])


def rpo_transitions(lanes: list[dict[str, Any]], when: datetime) -> list[dict[str, Any]]:
    """Publish RpoObjectiveMissed / Met for lanes whose objective changed since the last check."""
    endpoint = load_arm_settings().endpoint  # one memory per ARM endpoint (tests run several emulators)
    with _lock:
        previous = dict(_rpo_states.get(endpoint) or {})
    events, states = rpo_changes(previous, lanes, when)
    with _lock:
        _rpo_states[endpoint] = states
    for event in events:
        line = "RPO objective met again" if event["type"].endswith("Met") else "RPO objective missed"
        telemetry.log.info(  # under "replication": exported by Azure Monitor, alerted on (infra/modules/alerts.bicep)
            "%s: collection=%s region=%s rpoHours=%s",
            line,
            event["source"],
            event["subject"],
            event["data"].get("rpoHours"),
        )
    publish(events)
    return events


def reset() -> None:
    with _lock:
        _clients.clear()
        _rpo_states.clear()
