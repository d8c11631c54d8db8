"""Event Grid trigger: a restore point was written somewhere in the subscription.

Acts only on ``ResourceWriteSuccess`` for ``restorePoints/write`` on collections in the policy's
scope that are sources (never the copies this app writes in target regions, which raise the same
events). The decision is idempotent ("collection C may have something new"), so duplicate,
out-of-order and concurrent deliveries all land on the one orchestration of the collection.

A failure to read the collection raises, so Event Grid retries the delivery (and dead-letters it
in the end): nothing is dropped silently. A misconfigured policy raises too, for the same reason.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from replication import arm
from replication.events import collection_from_event
from replication.policy import load_policy
from replication.settings import load_copy_settings

from .starter import ensure_replication, payload_for

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def eventgrid_restore_point_written(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    collection_id = collection_from_event(event.event_type, event.subject, event.get_json())
    if collection_id is None:
        log.debug("event %s ignored: not a restore point write", event.id)
        return
    policy = load_policy()  # raises SettingsError: delivery is retried, then dead-lettered
    if policy is None or not policy.covers_location(collection_id):
        log.info("event %s ignored: %s is outside the policy scope", event.id, collection_id)
        return
    collection = await asyncio.to_thread(arm.read_collection, collection_id)  # ArmFailure: retried by Event Grid
    if collection is None:
        log.info("event %s ignored: %s no longer exists", event.id, collection_id)
        return
    reason = policy.scope_reason(collection)
    if reason is not None:
        log.info("event %s ignored: %s: %s", event.id, collection_id, reason)
        return
    outcome = await ensure_replication(client, payload_for(collection, policy, load_copy_settings()))
    if outcome == "settling":
        # The run was about to end: the nudge may land after its last look. Failing the delivery makes
        # Event Grid deliver it again (its retry schedule starts at 10 s), when the run has either
        # re-planned or ended, and a new run is started.
        log.warning(
            "event %s: replication of %s was finishing; asking Event Grid to deliver again", event.id, collection_id
        )
        raise RedeliverLater(f"replication of {collection_id} was finishing")
    log.info("event %s: replication of %s %s", event.id, collection_id, outcome)


class RedeliverLater(Exception):
    """Raised so that Event Grid delivers an event again (any function failure makes it retry)."""
