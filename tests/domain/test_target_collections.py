"""Target collection names and the adoption rule, against the emulator through the product's ``arm`` layer.

Two teams' ``web-01-rpc`` (resource groups ``rg-app`` and ``rg-team-b``) replicate into one DR resource group.
"""

from __future__ import annotations

import pytest

from replication import arm
from replication.ids import CollectionRef, legacy_target_collection_name, same_id, target_collection_name
from tests.domain.emulated import SUB, rpc_id

REGION = "westus2"
TEAM_A = rpc_id("web-01-rpc", "rg-app")
TEAM_B = rpc_id("web-01-rpc", "rg-team-b")


def source(collection_id: str):
    info = arm.read_collection(collection_id)
    assert info is not None
    return info


def new_ref(collection_id: str) -> CollectionRef:
    return CollectionRef(SUB, "rg-dr", target_collection_name(collection_id, REGION))


def legacy_ref(collection_id: str) -> CollectionRef:
    return CollectionRef(SUB, "rg-dr", legacy_target_collection_name(source(collection_id)["name"], REGION))


def test_two_sources_of_the_same_name_get_two_targets_in_one_group(emu, product):
    a = arm.ensure_target_collection(source(TEAM_A), new_ref(TEAM_A), REGION, {}, legacy_ref(TEAM_A))
    b = arm.ensure_target_collection(source(TEAM_B), new_ref(TEAM_B), REGION, {}, legacy_ref(TEAM_B))
    assert not same_id(a["id"], b["id"])
    assert same_id(a["sourceId"], TEAM_A) and same_id(b["sourceId"], TEAM_B)
    # Both can copy: no collision, no conflict.
    assert arm.start_copy(a["id"], "rp-0", f"{TEAM_A}/restorePoints/rp-0")
    assert arm.start_copy(b["id"], "rp-0", f"{TEAM_B}/restorePoints/rp-0")


def test_the_legacy_name_collided(emu, product):
    """What earlier releases did: team B's lane found team A's target under the shared name and stopped."""
    assert legacy_ref(TEAM_A) == legacy_ref(TEAM_B)
    arm.ensure_target_collection(source(TEAM_A), legacy_ref(TEAM_A), REGION, {})
    with pytest.raises(arm.ArmFailure) as info:
        arm.ensure_target_collection(source(TEAM_B), legacy_ref(TEAM_B), REGION, {})
    assert info.value.kind == "conflict"


def test_a_legacy_target_bound_to_this_source_is_adopted(emu, product):
    legacy = arm.ensure_target_collection(source(TEAM_A), legacy_ref(TEAM_A), REGION, {})  # an earlier release
    arm.start_copy(legacy["id"], "rp-0", f"{TEAM_A}/restorePoints/rp-0")
    adopted = arm.ensure_target_collection(source(TEAM_A), new_ref(TEAM_A), REGION, {}, legacy_ref(TEAM_A))
    assert same_id(adopted["id"], legacy["id"])
    assert arm.read_collection(new_ref(TEAM_A).id) is None  # no second target was made
    assert [rp["name"] for rp in adopted["restorePoints"]] == ["rp-0"]


def test_a_legacy_target_bound_to_another_source_is_never_adopted(emu, product):
    theirs = arm.ensure_target_collection(source(TEAM_B), legacy_ref(TEAM_B), REGION, {})  # team B, old release
    ours = arm.ensure_target_collection(source(TEAM_A), new_ref(TEAM_A), REGION, {}, legacy_ref(TEAM_A))
    assert same_id(ours["id"], new_ref(TEAM_A).id) and same_id(ours["sourceId"], TEAM_A)
    assert same_id(source(theirs["id"])["sourceId"], TEAM_B)  # left alone


def test_the_new_name_is_preferred_when_both_are_bound_to_this_source(emu, product):
    arm.ensure_target_collection(source(TEAM_A), legacy_ref(TEAM_A), REGION, {})
    created = arm.ensure_target_collection(source(TEAM_A), new_ref(TEAM_A), REGION, {})
    again = arm.ensure_target_collection(source(TEAM_A), new_ref(TEAM_A), REGION, {}, legacy_ref(TEAM_A))
    assert same_id(again["id"], created["id"])


def test_a_new_name_bound_to_another_source_is_a_conflict(emu, product):
    arm.ensure_target_collection(source(TEAM_B), new_ref(TEAM_A), REGION, {})  # someone made it by hand
    with pytest.raises(arm.ArmFailure) as info:
        arm.ensure_target_collection(source(TEAM_A), new_ref(TEAM_A), REGION, {}, legacy_ref(TEAM_A))
    assert info.value.kind == "conflict"
