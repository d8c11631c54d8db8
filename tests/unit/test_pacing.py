"""The Compute pacer: learns budgets from ``x-ms-ratelimit-remaining-resource`` and refuses before Azure would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replication.pacing import Pacer, call_class, parse_header, window_seconds

SUB = "11111111-1111-1111-1111-111111111111"
RPC = f"https://arm/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/restorePointCollections/t1"
RP = RPC + "/restorePoints/rp1?api-version=2026-04-01"
RPC2 = RPC[:-1] + "2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put_header(resource: int, subscription: int) -> dict[str, str]:
    return {
        "x-ms-ratelimit-remaining-resource": f"Microsoft.Compute/PutRestorePointResource;{resource},"
        f"Microsoft.Compute/PutRestorePointSubscriptionMaximum;{subscription}"
    }


def learn_region(pacer: Pacer, collection: str, region: str = "westus2") -> None:
    pacer.after("GET", collection, 200, {}, body={"id": collection.split("arm", 1)[1], "location": region})


def test_parse_header_reads_the_recorded_format():
    value = "Microsoft.Compute/PutRestorePointResource;5,Microsoft.Compute/PutRestorePointSubscriptionMaximum;149"
    assert parse_header(value) == {"PutRestorePointResource": 5, "PutRestorePointSubscriptionMaximum": 149}
    assert parse_header("Microsoft.Compute/GetOperation3Min;14998, Microsoft.Compute/GetOperation30Min;29998") == {
        "GetOperation3Min": 14998,
        "GetOperation30Min": 29998,
    }
    assert parse_header(None) == {} and parse_header("garbage,;,x;y") == {}


def test_windows_come_from_the_policy_names():
    assert window_seconds("CreateRestorePoints3Min") == 180
    assert window_seconds("LowCostGetRestorePoint30Min") == 1800
    assert window_seconds("CopyRestorePointResource1Hour") == 3600
    assert window_seconds("PutRestorePointSubscriptionMaximum") == 1800  # unstated: the longer documented one


def test_call_classes():
    assert call_class("PUT", RP) == "PUT restorePoint"
    assert call_class("GET", RPC + "?$expand=restorePoints") == "GET collection"
    assert call_class(
        "GET", f"https://arm/subscriptions/{SUB}/providers/Microsoft.Compute/restorePointCollections"
    ) == ("GET list")
    op = f"https://arm/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus2/operations/abc?p=1"
    assert call_class("GET", op) == "GET operation"


def test_nothing_is_refused_before_anything_is_known():
    pacer = Pacer(Clock())
    refusal, counted = pacer.before("PUT", RP)
    assert refusal is None and counted == []


def test_a_subscription_budget_at_its_reserve_refuses_locally_until_own_calls_leave_the_window():
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    # A 150-call policy (limit = the largest remaining seen + 1) now at 9 remaining; reserve max(2, 5% of 150) = 8.
    pacer.after("PUT", RP, 201, put_header(5, 149), [])
    pacer.after("PUT", RP, 201, put_header(5, 9), [])
    refusal, counted = pacer.before("PUT", RP)
    assert refusal is None and counted  # 9 > 8: goes, and is counted
    clock.now += 1
    refusal, _ = pacer.before("PUT", RP)
    assert refusal is not None  # estimate 8 <= reserve 8
    assert refusal.policy == "PutRestorePointSubscriptionMaximum" and refusal.region == "westus2"
    # The one call this process made (at 1000) leaves the 1800 s window at 2800; the first header's call at 1000 too.
    assert refusal.seconds == 2800 - 1001
    assert "no call made" in refusal.message()
    clock.now = 2801
    assert pacer.before("PUT", RP)[0] is None


def test_resource_policies_are_per_collection():
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    learn_region(pacer, RPC2)
    pacer.after("PUT", RP, 201, put_header(5, 140), [])
    pacer.after("PUT", RP, 201, put_header(2, 140), [])  # t1's own budget (limit 6, reserve 2) is at its reserve
    assert pacer.before("PUT", RP)[0] is not None
    refusal, _ = pacer.before("PUT", RPC2 + "/restorePoints/rp1?api-version=2026-04-01")
    assert refusal is None  # another collection: its own PutRestorePointResource budget, not known yet


def test_a_429_blocks_the_policy_for_its_retry_after():
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    pacer.after("PUT", RP, 201, put_header(5, 100), [])
    headers = {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/PutRestorePointSubscriptionMaximum;0"}
    pacer.after("PUT", RP, 429, headers, [], retry_after=120)
    refusal, _ = pacer.before("PUT", RP)
    assert refusal is not None and refusal.seconds == 120
    clock.now += 121
    pacer.after("PUT", RP, 201, put_header(5, 100), [])
    assert pacer.before("PUT", RP)[0] is None


def test_policies_seen_only_in_429s_are_not_paced():
    """The hourly copy limit appears only at 0 in its 429 (docs/emulator.md): it stays ``copy_quota``, never paced."""
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    pacer.after("PUT", RP, 201, put_header(5, 100), [])
    pacer.after(
        "PUT",
        RP,
        429,
        {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/CopyRestorePointResource1Hour;0"},
        [],
        retry_after=900,
    )
    assert pacer.before("PUT", RP)[0] is None


def test_regions_have_their_own_subscription_budgets():
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC, "westus2")
    learn_region(pacer, RPC2, "northeurope")
    pacer.after("PUT", RP, 201, put_header(5, 149), [])
    pacer.after("PUT", RP, 201, put_header(5, 3), [])
    assert pacer.before("PUT", RP)[0] is not None
    assert pacer.before("PUT", RPC2 + "/restorePoints/rp9")[0] is None


def test_regions_are_learned_from_list_pages():
    pacer = Pacer(Clock())
    path = RPC.split("arm", 1)[1]
    pacer.after(
        "GET",
        f"https://arm/subscriptions/{SUB}/providers/x",
        200,
        {},
        body={"value": [{"id": path.upper(), "location": "West US 2"}]},
    )
    learn = pacer._region(RP)
    assert learn == "westus2"


@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=40), st.integers(1, 600))
def test_never_lets_a_budget_below_its_reserve_between_headers(seen: list[int], limit: int):
    """However the headers went, calls let through between two headers never take the estimate below the reserve."""
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    for remaining in seen:
        pacer.after("PUT", RP, 201, put_header(5, min(remaining, limit)), [])
    budget_before = pacer.remaining(SUB, "PutRestorePointSubscriptionMaximum", "westus2")
    assert budget_before is not None
    let_through = 0
    while pacer.before("PUT", RP)[0] is None:
        let_through += 1
        clock.now += 0.001
        assert let_through <= 1000
    after = pacer.remaining(SUB, "PutRestorePointSubscriptionMaximum", "westus2")
    assert after is not None and after >= min(2, budget_before)


def test_an_observation_older_than_its_window_no_longer_holds_calls_back():
    """A budget seen spent by others' calls (none of them this process's) is free again a window later."""
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    pacer.after("PUT", RP, 201, put_header(5, 149), [])
    pacer.after("PUT", RP, 201, put_header(5, 0), [])
    refusal, _ = pacer.before("PUT", RP)
    assert refusal is not None and refusal.seconds <= 1800
    clock.now += 1801
    assert pacer.before("PUT", RP)[0] is None


def test_a_first_sight_in_a_429_borrows_the_policys_limit_from_another_region():
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC, "westus2")
    pacer.learn_region(RPC2, "northeurope")
    pacer.after("PUT", RP, 201, put_header(5, 149), [])
    headers = {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/PutRestorePointSubscriptionMaximum;0"}
    pacer.after("PUT", RPC2 + "/restorePoints/rp1", 429, headers, [], retry_after=60)
    budget = pacer._budgets
    limits = {k.region: b.limit for k, b in budget.items() if k.policy == "PutRestorePointSubscriptionMaximum"}
    assert limits == {"westus2": 150, "northeurope": 150}


def test_urgent_callers_go_first_and_others_leave_them_room():
    # Work for a lane with no usable copy yet (``arm.urgent``) is let through before work for lanes already
    # protected: a fleet's first copies start at the pace the budget allows (bench/fleet.py), second copies wait.
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    pacer.after("PUT", RP, 201, put_header(5, 149), [])
    pacer.after("PUT", RP, 201, put_header(5, 8), [])  # at the reserve (8 of 150)
    urgent, _ = pacer.before("PUT", RP, urgent=True)
    later, _ = pacer.before("PUT", RP)
    assert urgent is not None and later is not None
    assert later.seconds >= urgent.seconds  # the one that is not urgent is told to come back after it
    clock.now += 1
    pacer.after("PUT", RP, 201, put_header(5, 9), [])  # one call of someone else's left the window: room for one
    assert pacer.before("PUT", RP)[0] is not None  # not urgent: the room is the waiting urgent caller's
    refusal, counted = pacer.before("PUT", RP, urgent=True)
    assert refusal is None and counted
    clock.now = 1000 + 1800 + 2  # the whole window has turned over: room for everyone
    assert pacer.before("PUT", RP)[0] is None


def test_second_copies_leave_room_for_first_copies_waiting_on_their_target_collection():
    # A lane with no usable copy yet waits on its target collection's PUT budget; the next budget it needs is the
    # copy PUT. A copy that is not urgent (a second copy) leaves that room, or it takes the slot first.
    clock = Clock()
    pacer = Pacer(clock)
    learn_region(pacer, RPC)
    collection_header = {
        "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/PutRestorePointCollectionResource;5,"
        "Microsoft.Compute/PutRestorePointCollectionSubscriptionMaximum;{}"
    }
    learn_region(pacer, RPC2)
    for remaining in (149, 8):  # the collection PUT budget at its reserve
        pacer.after("PUT", RPC2, 201, {k: v.format(remaining) for k, v in collection_header.items()}, [])
    pacer.after("PUT", RP, 201, put_header(5, 149), [])
    pacer.after("PUT", RP, 201, put_header(5, 9), [])  # the copy PUT budget: room for one
    waiting, _ = pacer.before("PUT", RPC2, urgent=True)
    assert waiting is not None  # the urgent lane waits for its target collection
    assert pacer.before("PUT", RP)[0] is not None  # a second copy leaves the copy slot for it
    refusal, counted = pacer.before("PUT", RP, urgent=True)
    assert refusal is None and counted  # an urgent copy takes it
