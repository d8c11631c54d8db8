"""Start, join or nudge the one orchestration of a source collection.

Shared by the HTTP API, the Event Grid trigger and the sweep: whichever fires, and however often,
one instance per collection runs (its id is derived from the collection id). If it is already
running, it gets a ``restorePointWritten`` event, so it re-plans before finishing instead of
missing a restore point that arrived while it ran.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from replication.ids import collection_instance_id
from replication.model import CollectionInfo, Target
from replication.policy import Policy
from replication.settings import CopySettings

log = logging.getLogger(__name__)

ACTIVE = ("Running", "Pending", "ContinuedAsNew")
NUDGE_EVENT = "restorePointWritten"


def orchestration_input(
    source_id: str, targets: list[Target], copy: CopySettings, policy: Policy | None
) -> dict[str, Any]:
    settings = copy.to_json()
    if policy is not None and policy.max_attempts is not None:
        settings["maxAttempts"] = policy.max_attempts
    return {"sourceCollectionId": source_id, "targets": targets, "copy": settings}


def status_dict(status: Any) -> dict[str, Any] | None:
    """A Durable status object as plain JSON, or None when the instance does not exist."""
    if not status or not getattr(status, "instance_id", None):
        return None
    runtime = status.runtime_status
    return {
        "instanceId": status.instance_id,
        "runtimeStatus": str(getattr(runtime, "value", runtime)),
        "customStatus": status.custom_status,
        "output": status.output,
        "createdTime": status.created_time.isoformat() if status.created_time else None,
        "lastUpdatedTime": status.last_updated_time.isoformat() if status.last_updated_time else None,
    }


def runtime_status(status: Any) -> str | None:
    item = status_dict(status)
    return item["runtimeStatus"] if item else None


def stopped_for_a_person(status: Any) -> bool:
    """The last run stopped a lane after a failure (``ON_COPY_FAILURE=stop``): it waits for a person."""
    if runtime_status(status) != "Completed":
        return False
    lanes = (getattr(status, "custom_status", None) or {}).get("lanes") or []
    return any(lane.get("state") == "stopped" for lane in lanes)


async def ensure_replication(
    client: df.DurableOrchestrationClient, payload: dict[str, Any], *, by_person: bool = False
) -> str:
    """Make sure the collection's one orchestration will see what is in Azure now. Returns:

    * ``started`` (nothing was running), ``joined`` (a concurrent caller started it first);
    * ``nudged``: it was running and got a ``restorePointWritten`` event, which it acts on before it ends;
    * ``settling``: it was running but about to end (``phase: settling``), so the nudge may arrive after
      its last look: the caller should ask again later (Event Grid: fail the delivery so it redelivers);
    * ``suspended``: a person suspended it; the nudge waits in its queue until they resume it;
    * ``held``: a lane stopped for a person (``ON_COPY_FAILURE=stop``); only ``by_person``, the HTTP
      API, starts it again.

    A run that Failed or was Terminated is started afresh: planning from Azure makes a new run safe.
    """
    instance_id = collection_instance_id(payload["sourceCollectionId"])
    status = await client.get_status(instance_id)
    state = runtime_status(status)
    if state == "Suspended":
        await _nudge(client, instance_id, by_person)
        log.info("%s is suspended: nudged, it acts when resumed", instance_id)
        return "suspended"
    if state in ACTIVE:
        settling = (getattr(status, "custom_status", None) or {}).get("phase") == "settling"
        if await _nudge(client, instance_id, by_person):
            return "settling" if settling else "nudged"
        status = await client.get_status(instance_id)  # it ended between the look and the nudge
    if not by_person and stopped_for_a_person(status):
        log.info("%s is held: a lane stopped after a failed copy and waits for a person", instance_id)
        return "held"
    try:
        await client.start_new("replicate_collection", instance_id, payload)
        return "started"
    except Exception:
        if runtime_status(await client.get_status(instance_id)) in ACTIVE:
            await _nudge(client, instance_id, by_person)
            return "joined"
        raise


async def _nudge(client: df.DurableOrchestrationClient, instance_id: str, by_person: bool) -> bool:
    """Raise the nudge; False when the instance had already ended (the SDK raises for 410 and 404).
    ``byPerson``: a person asked (the HTTP API), so lanes stopped for a person run again."""
    try:
        await client.raise_event(instance_id, NUDGE_EVENT, {"byPerson": by_person})
    except Exception as error:
        log.info("could not nudge %s: %s", instance_id, type(error).__name__)
        return False
    return True


def payload_for(collection: CollectionInfo, policy: Policy, copy: CopySettings) -> dict[str, Any]:
    return orchestration_input(collection["id"], policy.targets_for(collection), copy, policy)
