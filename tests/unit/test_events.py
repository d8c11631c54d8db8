"""Event decoding, fed through the decoder the Functions library itself uses for Event Grid triggers."""

from __future__ import annotations

import json

from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from replication.events import RESOURCE_WRITE_SUCCESS, RESTORE_POINT_WRITE_OPERATION, collection_from_event

SUB = "11111111-1111-1111-1111-111111111111"
RPC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"


def event(subject: str = f"{RPC}/restorePoints/rp1", op: str = RESTORE_POINT_WRITE_OPERATION, **data) -> dict:
    """A ResourceWriteSuccess event in the Event Grid schema (Learn: event-schema-subscriptions)."""
    return {
        "topic": f"/subscriptions/{SUB}",
        "subject": subject,
        "eventType": RESOURCE_WRITE_SUCCESS,
        "eventTime": "2026-11-20T00:00:00.1234567Z",
        "id": "0c4b2c3e-6f5e-4d5e-9c1a-1e2a3b4c5d6e",
        "data": {
            "authorization": {"scope": subject, "action": op, "evidence": {"role": "Custom"}},
            "claims": {"appid": "x"},
            "correlationId": "a1b2",
            "resourceProvider": "Microsoft.Compute",
            "resourceUri": subject,
            "operationName": op,
            "status": "Succeeded",
            "subscriptionId": SUB,
            "tenantId": "00000000-0000-0000-0000-0000000000aa",
            **data,
        },
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def decode(raw: dict):
    ev = EventGridEventInConverter.decode(meta.Datum(json.dumps(raw), "json"), trigger_metadata=None)
    return collection_from_event(ev.event_type, ev.subject, ev.get_json())


def test_restore_point_write_names_its_collection():
    assert decode(event()) == RPC


def test_subject_casing_varies():
    assert (
        decode(event(subject=f"{RPC}/restorePoints/rp1".replace("resourceGroups", "resourcegroups"))).lower()
        == RPC.lower()
    )


def test_other_operations_and_types_are_ignored():
    assert decode(event(op="Microsoft.Compute/restorePointCollections/write", subject=RPC)) is None
    assert decode({**event(), "eventType": "Microsoft.Resources.ResourceWriteFailure"}) is None
    assert decode(event(status="Failed")) is None


def test_deployment_scoped_duplicate_falls_back_to_the_subject_or_is_ignored():
    deployment = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Resources/deployments/d1"
    assert decode(event(resourceUri=deployment)) == RPC
    assert decode(event(subject=deployment, resourceUri=deployment)) is None
