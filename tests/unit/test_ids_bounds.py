"""Instance ids and target collection names: bounded, safe, deterministic and distinct for any valid ARM names.

Limits: Durable Task Scheduler instance ids <= 100 characters; Azure Storage instance ids <= 256 without
'/', '\\', '#', '?' or control characters. ARM names of restore point collections and restore points: 1-80
characters, letters, digits, '_', '.', '-', starting with a letter or digit; resource groups: 1-90 of letters
(Unicode), digits, '_', '.', '-', '(', ')', not ending with '.' (Learn: naming rules for Azure resources).
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replication import ids
from replication.ids import (
    InvalidResourceId,
    collection_instance_id,
    copy_instance_id,
    lane_instance_id,
    legacy_target_collection_name,
    normalize,
    parse_collection_id,
    target_collection_name,
)
from replication.regions import AZURE_REGIONS

SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")  # nothing Durable or Azure Storage refuses
ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")

subscriptions = st.uuids().map(str)
groups = st.from_regex(r"[-\w._()]{1,90}", fullmatch=True).filter(lambda g: not g.endswith("."))
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", fullmatch=True)
long_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{79}", fullmatch=True)
regions = st.sampled_from(sorted(AZURE_REGIONS))


def collection(sub: str, group: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/restorePointCollections/{name}"


collections = st.builds(collection, subscriptions, groups, st.one_of(names, long_names))


def shout(text: str) -> str:
    """ARM ids are case-insensitive in ASCII (Unicode case mappings such as 'ß' -> 'SS' are not a case change)."""
    return text.translate(str.maketrans(string.ascii_lowercase, string.ascii_uppercase))


def ids_of(collection_id: str, region: str, rp_name: str) -> tuple[str, str, str]:
    c = collection_instance_id(collection_id)
    lane = lane_instance_id(c, region)
    return c, lane, copy_instance_id(lane, f"{collection_id}/restorePoints/{rp_name}")


def test_the_bounds_add_up():
    assert ids.REGION_PART_MAX == 18 == len("australiasoutheast") == len("germanywestcentral")
    assert ids.COLLECTION_INSTANCE_MAX == 57 and ids.LANE_INSTANCE_MAX == 76
    worst = collection("f" * 8 + "-ffff-ffff-ffff-" + "f" * 12, "g" * 90, "n" * 80)
    c, lane, copy = ids_of(worst, "australiasoutheast", "r" * 80)
    assert (len(c), len(lane), len(copy)) == (57, 76, 100)


@settings(max_examples=300, deadline=None)
@given(collections, regions, st.one_of(names, long_names))
def test_instance_ids_are_bounded_and_safe(collection_id, region, rp_name):
    for value in ids_of(collection_id, region, rp_name):
        assert len(value) <= ids.MAX_INSTANCE_ID
        assert SAFE.match(value), value


@settings(max_examples=200, deadline=None)
@given(collections, regions, names)
def test_instance_ids_are_deterministic_and_ignore_id_case(collection_id, region, rp_name):
    first = ids_of(collection_id, region, rp_name)
    assert first == ids_of(collection_id, region, rp_name)
    shouted = shout(collection_id).replace("/SUBSCRIPTIONS/", "/subscriptions/")
    assert first == ids_of(shouted, shout(region), shout(rp_name))


@settings(max_examples=300, deadline=None)
@given(collections, collections, regions, regions, names, names)
def test_instance_ids_are_distinct_for_distinct_inputs(c1, c2, r1, r2, n1, n2):
    rp1, rp2 = f"{c1}/restorePoints/{n1}", f"{c2}/restorePoints/{n2}"
    a, b = ids_of(c1, r1, n1), ids_of(c2, r2, n2)
    if normalize(c1) != normalize(c2):
        assert a[0] != b[0]
    if (normalize(c1), r1) != (normalize(c2), r2):
        assert a[1] != b[1]
    if (normalize(rp1), r1) != (normalize(rp2), r2):
        assert a[2] != b[2]


@settings(max_examples=100, deadline=None)
@given(collections, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{19,78}", fullmatch=True))
def test_same_collection_two_long_restore_point_names_sharing_a_prefix_stay_apart(collection_id, prefix):
    lane = lane_instance_id(collection_instance_id(collection_id), "westus2")
    one = copy_instance_id(lane, f"{collection_id}/restorePoints/{prefix}a")
    two = copy_instance_id(lane, f"{collection_id}/restorePoints/{prefix}b")
    assert one != two and one.split("~")[:2] == two.split("~")[:2]


@given(st.text(max_size=300), st.text(max_size=60))
def test_lane_ids_from_any_text_are_still_bounded_and_safe(collection_instance, region):
    lane = lane_instance_id(collection_instance, region)
    assert len(lane) <= ids.LANE_INSTANCE_MAX and SAFE.match(lane)
    copy = copy_instance_id(
        lane + "x" * 50, collection("11111111-1111-1111-1111-111111111111", "rg", "c") + "/restorePoints/r"
    )
    assert len(copy) <= ids.MAX_INSTANCE_ID and SAFE.match(copy)


def test_existing_collection_and_lane_ids_are_unchanged():
    """Running instances of earlier releases keep their ids (values computed with the earlier formulas)."""
    rpc = collection("11111111-1111-1111-1111-111111111111", "rg-app", "vm1-rpc")
    c = collection_instance_id(rpc)
    assert c == "rpc-vm1-rpc-2d0830f9e302"
    for region in sorted(AZURE_REGIONS):
        assert lane_instance_id(c, region) == f"{c}~{region}"


def test_a_region_longer_than_any_today_still_fits_and_stays_distinct():
    c = "rpc-vm1-rpc-2d0830f9e302"
    one, two = lane_instance_id(c, "x" * 25 + "east"), lane_instance_id(c, "x" * 25 + "west")
    assert one != two and max(len(one), len(two)) <= ids.LANE_INSTANCE_MAX


# ---- target collection names --------------------------------------------------------------------


def test_target_collection_name_is_readable():
    rpc = collection("11111111-1111-1111-1111-111111111111", "rg-app", "web-01-rpc")
    name = target_collection_name(rpc, "westus2")
    assert re.fullmatch(r"web-01-rpc-westus2-[0-9a-f]{8}", name)
    # ARM names are case-insensitive: the name keeps the case the id was given in, the hash ignores it.
    shouted = target_collection_name(rpc.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), "West US 2")
    assert shouted.lower() == name


def test_two_teams_sources_of_the_same_name_get_different_target_names():
    team_a = collection("11111111-1111-1111-1111-111111111111", "rg-team-a", "web-01-rpc")
    team_b = collection("11111111-1111-1111-1111-111111111111", "rg-team-b", "web-01-rpc")
    other_sub = collection("22222222-2222-2222-2222-222222222222", "rg-team-a", "web-01-rpc")
    names = {target_collection_name(c, "westus2") for c in (team_a, team_b, other_sub)}
    assert len(names) == 3
    # ... where the legacy formula gave all three the same name.
    assert {legacy_target_collection_name("web-01-rpc", "westus2")} == {"web-01-rpc-westus2"}


@settings(max_examples=300, deadline=None)
@given(collections, collections, regions, regions)
def test_target_names_are_valid_arm_names_bounded_and_distinct(c1, c2, r1, r2):
    n1, n2 = target_collection_name(c1, r1), target_collection_name(c2, r2)
    for name in (n1, n2):
        assert ARM_NAME.match(name) and len(name) <= 80 and re.search(r"[0-9a-f]$", name)
    if (normalize(parse_collection_id(c1).id), r1) != (normalize(parse_collection_id(c2).id), r2):
        assert n1 != n2
    assert n1 == target_collection_name(c1, r1)
    assert n1.lower() == target_collection_name(shout(c1).replace("/SUBSCRIPTIONS/", "/subscriptions/"), r1).lower()
    assert n1.startswith(parse_collection_id(c1).name[:20].rstrip("-._"))


def test_a_name_where_the_id_belongs_is_refused_with_a_pointer_to_the_legacy_name():
    with pytest.raises(InvalidResourceId, match="legacy_target_collection_name"):
        target_collection_name("web-01-rpc", "westus2")
