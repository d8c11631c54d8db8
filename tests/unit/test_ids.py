from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replication.ids import (
    InvalidResourceId,
    collection_instance_id,
    copy_instance_id,
    is_collection_id,
    lane_instance_id,
    legacy_target_collection_name,
    normalize,
    parse_collection_id,
    parse_restore_point_id,
    same_id,
)

SUB = "11111111-1111-1111-1111-111111111111"
RPC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"


def test_collection_id_round_trips_and_ignores_case_and_missing_slash():
    ref = parse_collection_id(RPC.replace("resourceGroups", "resourcegroups").lstrip("/"))
    assert (ref.subscription_id, ref.resource_group, ref.name) == (SUB, "rg-app", "vm1-rpc")
    assert same_id(ref.id, RPC.upper())


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-id",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        f"{RPC}/restorePoints/rp1",
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/x",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/bad name",
    ],
)
def test_non_collection_ids_are_refused_with_a_reason(bad):
    with pytest.raises(InvalidResourceId) as error:
        parse_collection_id(bad)
    assert str(error.value)
    assert not is_collection_id(bad)


def test_restore_point_id():
    ref = parse_restore_point_id(f"{RPC}/restorePoints/rp-1")
    assert ref.name == "rp-1" and ref.collection.name == "vm1-rpc"
    with pytest.raises(InvalidResourceId):
        parse_restore_point_id(RPC)


def test_instance_ids_are_stable_case_insensitive_and_durable_safe():
    a = collection_instance_id(RPC)
    assert a == collection_instance_id(RPC.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))
    assert a != collection_instance_id(RPC.replace("vm1-rpc", "vm2-rpc"))
    lane = lane_instance_id(a, "westus2")
    copy = copy_instance_id(lane, f"{RPC}/restorePoints/rp-20261120")
    for value in (a, lane, copy):
        assert not re.search(r"[/\\#?\s]", value)
        assert len(value) <= 100


@given(st.text(min_size=1, max_size=200))
def test_parsing_arbitrary_text_never_raises_anything_but_invalid(text):
    with contextlib.suppress(InvalidResourceId):
        parse_collection_id(text)
    with contextlib.suppress(InvalidResourceId):
        parse_restore_point_id(text)


def test_legacy_target_collection_name_is_the_old_formula():
    assert legacy_target_collection_name("vm1-rpc", "westus2") == "vm1-rpc-westus2"
    long = legacy_target_collection_name("x" * 80, "australiasoutheast")
    assert len(long) <= 80 and long.endswith("-australiasoutheast")
    assert normalize("/A/B/") == "/a/b"
