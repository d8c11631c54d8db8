"""The copy-slot entity and the lane's side of it: a ceiling of concurrent copies per subscription and target region.

``MAX_CONCURRENT_COPIES_PER_REGION`` (0 or unset: no ceiling, and then nothing here runs: no entity call, no
history change) is shared by every orchestration on every worker, so it is counted by one Durable Entity per
``subscriptionId|region`` of the *target*: entity operations are processed one at a time per entity, in arrival
order (Learn "Durable entities"; docs/devhost.md rules 11), which makes check-and-take one step. The decisions are
``replication.slots`` (pure, property-tested); this module is the thin entity function and the orchestrator calls.

How a lane uses it (``orchestrators/replicate_lane.py``, two call sites):

* before a copy sub-orchestration starts (``copy`` and ``recopy``), :func:`acquire_slot` asks the entity
  (``call_entity``); refused, the lane shows ``held`` with the reason ("2 of 2 concurrent copies to westus2 in this
  subscription are running") and ``nextCheckAt``, waits ``SLOT_WAIT_SECONDS`` on a durable timer and asks again;
  after ``SLOT_WAITS_PER_EXECUTION`` waits it continues as new (bounded history; the new execution re-plans).
* ``monitor`` (a copy Azure is already running, found by the plan) acquires with ``force``: it never waits, because
  holding back the watcher would not stop the copy, but the copy is counted, so no new copy starts beside it.
* the holder is the copy's own instance id (derived from the lane and the source restore point, so a replayed, a
  re-run or a restarted lane asks for the same slot and keeps its one slot).
* the copy orchestrator renews its lease (a ``force`` acquire, by ``signal_entity``: one-way, no waiting) when it
  starts or continues as new, before every look at the copy and on every wait; looks are at most
  ``pollMaxIntervalSeconds`` apart, so a live copy never loses its slot with a lease of
  ``max(SLOT_LEASE_SECONDS, 3 x pollMaxIntervalSeconds)``; a dead lane's slot frees within that lease.
* :func:`run_copy` releases the slot when the copy sub-orchestration ends, whatever its outcome, also when it
  failed or was terminated (the lane's exception path: released, then raised as before). A lane terminated while
  its copy runs releases nothing: the lease frees that slot.
* an entity error (a bad request: a bug) never lets a copy start without a slot: the lane treats it as held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from replication import slots
from replication.ids import parse_collection_id

from .arm_calls import short

bp = df.Blueprint()
log = logging.getLogger(__name__)

ENTITY_NAME = "copy_slots"
SLOT_WAIT_SECONDS = 300.0  # a held lane asks again after 5 minutes
SLOT_WAITS_PER_EXECUTION = 24  # 2 hours of asking, then continue_as_new: bounded history
SLOT_LEASE_SECONDS = 6 * 3600


@bp.entity_trigger(context_name="context", entity_name=ENTITY_NAME)
def copy_slots(context: df.DurableEntityContext) -> None:
    """Operations ``acquire`` (returns the grant), ``release`` (returns None) and ``get`` (the state). A request it
    cannot read raises: the caller gets an error, and the state is set only after a decision, so it is unchanged
    (an out-of-process batch keeps whatever state the function set, even before a raise)."""
    state = slots.SlotState.from_json(context.get_state(dict))
    operation = context.operation_name
    if operation == "acquire":
        state, grant = slots.acquire(state, slots.AcquireRequest.from_json(context.get_input()))
        answer: Any = grant.to_json()
    elif operation == "release":
        state = slots.release(state, slots.ReleaseRequest.from_json(context.get_input()))
        answer = None
    elif operation == "get":
        answer = state.to_json()
    else:
        raise slots.SlotRequestError(f"unknown operation '{operation}'")
    context.set_state(state.to_json())
    context.set_result(answer)


def slot_of(lane: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any] | None:
    """What a copy needs to hold its slot (``{"key", "ceiling", "leaseSeconds"}``), or None without a ceiling."""
    ceiling = int(settings.get("maxConcurrentCopies") or 0)
    if ceiling <= 0:
        return None
    target = parse_collection_id(lane["targetCollectionId"])
    lease = max(SLOT_LEASE_SECONDS, 3 * int(settings.get("pollMaxIntervalSeconds") or 0))
    return {"key": slots.slot_key(target.subscription_id, lane["region"]), "ceiling": ceiling, "leaseSeconds": lease}


def _request(context: df.DurableOrchestrationContext, slot: dict[str, Any], holder: str, force: bool) -> dict[str, Any]:
    return {
        "holder": holder,
        "now": context.current_utc_datetime.isoformat(),
        "leaseSeconds": slot["leaseSeconds"],
        "ceiling": slot["ceiling"],
        "force": force,
    }


def acquire_slot(
    context: df.DurableOrchestrationContext,
    slot: dict[str, Any] | None,
    region: str,
    holder: str,
    monitor: bool,
    publish: Callable[..., None],
) -> Generator[Any, Any, bool]:
    """Hold a slot for ``holder``: True once held (at once without a ceiling), False after
    ``SLOT_WAITS_PER_EXECUTION`` refusals (the caller continues as new and asks again there)."""
    if slot is None:
        return True
    entity = df.EntityId(ENTITY_NAME, slot["key"])
    waits = 0
    while True:
        try:
            answer: dict[str, Any] = yield context.call_entity(
                entity, "acquire", _request(context, slot, holder, force=monitor)
            )
        except Exception as exc:  # the entity refused the request itself: never copy without a slot
            if not context.is_replaying:
                log.error("copy slot %s: acquire for %s failed: %s", slot["key"], holder, exc)
            answer = {"granted": False, "holders": slot["ceiling"], "ceiling": slot["ceiling"]}
        if answer.get("granted"):
            if waits:  # the hold is over: its reason and times go
                publish("planning", reason=None, until=None, nextCheckAt=None)
            return True
        if waits >= SLOT_WAITS_PER_EXECUTION:
            return False
        waits += 1
        grant = slots.Grant(
            False,
            int(answer.get("holders") or 0),
            int(answer.get("ceiling") or slot["ceiling"]),
            position=int(answer["position"]) if answer.get("position") else None,
        )
        next_at = context.current_utc_datetime + timedelta(seconds=SLOT_WAIT_SECONDS)
        publish(
            "held",
            reason=short(slots.refusal_reason(grant, region)),
            until=next_at.isoformat(),
            nextCheckAt=next_at.isoformat(),
            current=None,
        )
        yield context.create_timer(next_at)


def release_slot(context: df.DurableOrchestrationContext, slot: dict[str, Any] | None, holder: str) -> None:
    """Free ``holder``'s slot (one-way: nothing to wait for; releasing a slot not held is a no-op)."""
    if slot is not None:
        request = {"holder": holder, "now": context.current_utc_datetime.isoformat()}
        context.signal_entity(df.EntityId(ENTITY_NAME, slot["key"]), "release", request)


def renew_slot(context: df.DurableOrchestrationContext, slot: dict[str, Any] | None) -> None:
    """The copy orchestrator renews its own lease (holder: its instance id). ``force``: the copy is running, so it
    is counted even if its lease had run out and its slot had gone to another."""
    if slot is not None:
        request = _request(context, slot, context.instance_id, force=True)
        context.signal_entity(df.EntityId(ENTITY_NAME, slot["key"]), "acquire", request)


def run_copy(
    context: df.DurableOrchestrationContext,
    slot: dict[str, Any] | None,
    child_id: str,
    payload: dict[str, Any],
) -> Generator[Any, Any, dict[str, Any]]:
    """The copy sub-orchestration, its slot released when it ends whatever the outcome (a failed or terminated copy
    raises here as before, after the release)."""
    try:
        result: dict[str, Any] = yield context.call_sub_orchestrator(
            "copy_restore_point", {**payload, "slot": slot} if slot is not None else payload, child_id
        )
    except Exception:
        release_slot(context, slot, child_id)
        raise
    release_slot(context, slot, child_id)
    return result
