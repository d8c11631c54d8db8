"""Publishing the app's CloudEvents (``replication.cloudevents``) to an Event Grid custom topic.

Only when ``EVENTGRID_TOPIC_ENDPOINT`` is set (the Bicep sets it when ``eventsTopic`` is on). The publisher is
azure-core's own pipeline (retry, bearer token) with the app's identity: ``ManagedIdentityCredential`` with
``AZURE_CLIENT_ID``, else ``DefaultAzureCredential``; token scope ``https://eventgrid.azure.net/.default``,
role "EventGrid Data Sender" on the topic (Learn "Authenticate publishing clients using Microsoft Entra ID").
Publishing never fails the caller: a refused or unreachable topic is logged at WARNING and the event dropped
(the metrics and the report are the record; the events are notifications).

RPO changes are found by comparing each protection check with the state last announced for the lane, which is kept
in Azure, not in this process: the tag ``rpr-rpo-objective`` (``missed`` / ``met``) of the lane's target collection,
read with the collection by the report anyway (no read of its own) and written, one PATCH through Compute's
collection-update budget, only when the state changes (a steady fleet writes nothing; an outage costs one PATCH per
lane when it begins and one when it ends). So a restart, or a second instance, neither repeats a "missed" nor loses
a "met". Order: the event is published first, then the tag written; if the write fails (throttled, refused, a crash
in between) the next check announces the change again with the same event ``id``
(``replication.cloudevents.rpo_event_id``), so delivery stays at least once and a consumer dedupes on ``id``. Two
instances whose caches (``PROTECTION_CACHE_SECONDS``) straddle a change may both announce it: the same ``id``.
A lane whose target collection does not exist yet has nowhere to keep it: this process's memory serves (after a
restart its miss is announced again, as before), and its tag is written once the collection exists.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from replication import arm, arm_protection
from replication.cloudevents import RPO_TAG, cloud_event, rpo_transition
from replication.ids import normalize
from replication.settings import load_arm_settings, load_observe_settings

from . import telemetry

log = logging.getLogger(__name__)

SCOPE = "https://eventgrid.azure.net/.default"
CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
BATCH = 100

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_transitions = threading.Lock()  # one protection check's transitions at a time in this process


@dataclass(frozen=True)
class _Said:
    """What this process last announced for a lane, when, and whether the target collection's tag holds it."""

    state: str  # "met" / "missed"
    at: float  # time.monotonic()
    recorded: bool


# (source, region) -> what this process said. Not the record (the tag is): it covers lanes whose target collection
# does not exist yet, and a report that read the tag just before this process wrote it (two checks at once).
_said: dict[str, dict[tuple[str, str], _Said]] = {}


@dataclass
class LaneTarget:
    """A lane's target collection as the protection report last read it: where its RPO state is kept."""

    collection_id: str | None  # None: it does not exist (yet)
    tags: dict[str, str] = field(default_factory=dict)
    # time.monotonic() when the read was issued (a state said after it may be missing from ``tags``)
    read_at: float = field(default_factory=time.monotonic)


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


def rpo_transitions(
    lanes: list[dict[str, Any]],
    when: datetime,
    targets: Mapping[tuple[str, str], LaneTarget] | None = None,
    targets_lock: Any = None,
) -> list[dict[str, Any]]:
    """Publish RpoObjectiveMissed / Met for lanes whose objective changed since it was last announced (the
    :data:`RPO_TAG` of ``targets[(source, region)]``), log each change, and write the new state to the tag."""
    endpoint = load_arm_settings().endpoint  # one memory per ARM endpoint (tests run several emulators)
    lock = targets_lock or threading.Lock()
    with _transitions:
        said = _said.setdefault(endpoint, {})
        events: list[dict[str, Any]] = []
        writes: list[tuple[tuple[str, str], LaneTarget, str]] = []
        for lane in lanes:
            if lane.get("objectiveMet") is None:
                continue
            key = (normalize(str(lane["sourceCollectionId"])), str(lane["region"]))
            target = (targets or {}).get(key)
            exists = target is not None and bool(target.collection_id)
            with lock:
                tagged = target.tags.get(RPO_TAG) if target is not None and exists else None
                read_at = target.read_at if target is not None else 0.0
            mine = said.get(key)
            fresher = mine is not None and (not exists or mine.at > read_at)
            stored = mine.state if fresher and mine is not None else tagged
            event, _ = rpo_transition(stored, lane, when)
            now = "met" if lane["objectiveMet"] else "missed"
            if event is not None:
                events.append(event)
            recorded = False
            if target is not None and exists:
                in_azure = mine.state if fresher and mine is not None and mine.recorded else (tagged or "met")
                if in_azure.strip().lower() != now:
                    writes.append((key, target, now))  # a change, or one said before the collection existed
                else:
                    recorded = True
            said[key] = _Said(now, time.monotonic(), recorded)
        for event in events:
            line = "RPO objective met again" if event["type"].endswith("Met") else "RPO objective missed"
            # under "replication": exported by Azure Monitor, alerted on (infra/modules/alerts.bicep)
            telemetry.log.info(
                "%s: collection=%s region=%s rpoHours=%s",
                line,
                event["source"],
                event["subject"],
                event["data"].get("rpoHours"),
                extra={
                    "collection": event["source"],
                    "region": event["subject"],
                    "rpoHours": event["data"].get("rpoHours"),
                    "objectiveHours": event["data"].get("objectiveHours"),
                },
            )
        publish(events)
        for key, target, value in writes:
            if _record(target, value, lock):
                said[key] = _Said(value, time.monotonic(), True)
    return events


def _record(target: LaneTarget, value: str, lock: Any) -> bool:
    """Write the lane's announced RPO state to its target collection's tag (one PATCH); a failure is logged and
    the next check announces the change again, with the same event id."""
    assert target.collection_id is not None
    with lock:
        tags = {**target.tags, RPO_TAG: value}
    try:
        kept = arm_protection.tag_collection(target.collection_id, tags)
    except arm.ArmFailure as failure:
        log.warning(
            "could not record the RPO state %s on %s (%s: %s); the next check announces it again",
            value,
            target.collection_id,
            failure.kind,
            failure,
        )
        return False
    with lock:
        target.tags = kept or tags
    return True


def reset() -> None:
    with _lock:
        _clients.clear()
    with _transitions:
        _said.clear()
