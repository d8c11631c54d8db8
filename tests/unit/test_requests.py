from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replication.requests import ValidationError, parse_start_request

SUB = "11111111-1111-1111-1111-111111111111"
RPC = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/restorePointCollections/vm1-rpc"
GOOD = {
    "sourceCollectionId": RPC,
    "targetRegions": ["westus2", "North Europe"],
    "targetResourceGroup": "rg-dr",
}


def test_good_request():
    req = parse_start_request(GOOD)
    assert req.regions == ("westus2", "northeurope")
    assert (req.resource_group, req.subscription_id, req.dry_run) == ("rg-dr", None, False)
    assert parse_start_request({"sourceCollectionId": RPC}).regions is None
    every = parse_start_request({"all": True, "dryRun": True})
    assert every.source_collection_id is None and every.dry_run


def test_all_excludes_a_collection():
    with pytest.raises(ValidationError) as error:
        parse_start_request({"all": True, "sourceCollectionId": RPC})
    assert error.value.field == "all"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sourceCollectionId": None}, "sourceCollectionId"),
        ({"sourceCollectionId": RPC + "/restorePoints/rp1"}, "sourceCollectionId"),
        ({"targetRegions": []}, "targetRegions"),
        ({"targetRegions": ["westus9"]}, "targetRegions[0]"),
        ({"targetRegions": ["westus2", "WestUS2"]}, "targetRegions[1]"),
        ({"targetResourceGroup": ""}, "targetResourceGroup"),
        ({"dryRun": "yes"}, "dryRun"),
        ({"targetResourceGroup": "bad/group"}, "targetResourceGroup"),
        ({"targetSubscriptionId": "nope"}, "targetSubscriptionId"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_requests_name_the_field(change, field):
    with pytest.raises(ValidationError) as error:
        parse_start_request({**GOOD, **change})
    assert error.value.field == field
    assert error.value.to_json()["error"]["field"] == field


def test_westus9_message_is_readable():
    with pytest.raises(ValidationError, match=r"targetRegions\[0\]: 'westus9' is not an Azure region"):
        parse_start_request({**GOOD, "targetRegions": ["westus9"]})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)


@given(st.one_of(_json, st.fixed_dictionaries({}, optional={k: _json for k in GOOD})))
def test_any_json_is_accepted_or_refused_with_a_field(body):
    try:
        parse_start_request(body)
    except ValidationError as error:
        assert error.field
