from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replication.policy import OutOfScope, load_policy, parse_policy
from replication.requests import ValidationError
from replication.settings import SettingsError

SUB = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"


def cid(name: str, sub: str = SUB, rg: str = "rg-app") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}"


GOOD = {
    "sources": {"resourceGroups": [f"/subscriptions/{SUB}/resourceGroups/rg-app"], "tags": {"replicate": "true"}},
    "targets": [
        {
            "region": "westus2",
            "resourceGroup": "{sourceResourceGroup}-dr",
            "copyTags": ["app"],
            "addTags": {"dr": "yes"},
        },
        {"region": "North Europe", "subscriptionId": OTHER, "resourceGroup": "dr-{region}"},
    ],
    "maxAttempts": 4,
}


def collection(
    name="vm1-rpc",
    tags=None,
    source_id="/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/vm1",
    **kw,
):
    return {
        "id": cid(name, **kw),
        "name": name,
        "location": "eastus",
        "sourceId": source_id,
        "tags": {"replicate": "true", "app": "web"} if tags is None else tags,
        "restorePoints": [],
    }


def test_sample_policy_in_the_repo_is_valid():
    with open("policy.sample.json", encoding="utf-8") as f:
        parse_policy(json.load(f))


def test_scope_and_templates():
    policy = parse_policy(GOOD)
    assert policy.scope_reason(collection()) is None
    assert "tag" in policy.scope_reason(collection(tags={}))
    assert "outside" in policy.scope_reason(collection(rg="rg-other"))
    assert "copy" in policy.scope_reason(collection(source_id=cid("src")))
    targets = policy.targets_for(collection())
    assert targets[0] == {
        "region": "westus2",
        "subscriptionId": SUB,
        "resourceGroup": "rg-app-dr",
        "tags": {"app": "web", "dr": "yes"},
    }
    assert targets[1] == {"region": "northeurope", "subscriptionId": OTHER, "resourceGroup": "dr-northeurope"}
    assert policy.covers_location(cid("anything").upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": [{"region": "westus9", "resourceGroup": "rg"}]}, "targets[0].region"),
        (
            {"targets": [{"region": "westus2", "resourceGroup": "rg"}, {"region": "westus9", "resourceGroup": "rg"}]},
            "targets[1].region",
        ),
        ({"targets": [{"region": "westus2", "resourceGroup": "{nope}"}]}, "targets[0].resourceGroup"),
        (
            {"targets": [{"region": "westus2", "resourceGroup": "rg", "subscriptionId": "x"}]},
            "targets[0].subscriptionId",
        ),
        ({"targets": []}, "targets"),
        ({"sources": {}}, "sources"),
        ({"sources": {"subscriptions": ["nope"]}}, "sources.subscriptions[0]"),
        ({"sources": {"resourceGroups": ["rg-app"]}}, "sources.resourceGroups[0]"),
        ({"sources": {"collections": [cid("x") + "/restorePoints/y"]}}, "sources.collections[0]"),
        ({"maxAttempts": 0}, "maxAttempts"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_errors_name_the_field(change, field):
    with pytest.raises(ValidationError) as error:
        parse_policy({**GOOD, **change})
    assert error.value.field == field, str(error.value)


def test_the_issue_example_message():
    with pytest.raises(ValidationError, match=r"^targets\[1\]\.region: 'westus9' is not an Azure region$"):
        parse_policy({**GOOD, "targets": [GOOD["targets"][0], {"region": "westus9", "resourceGroup": "rg"}]})


def test_load_policy_from_settings(monkeypatch, tmp_path):
    monkeypatch.delenv("REPLICATION_POLICY", raising=False)
    monkeypatch.delenv("REPLICATION_POLICY_PATH", raising=False)
    assert load_policy() is None
    path = tmp_path / "p.json"
    path.write_text(json.dumps(GOOD))
    monkeypatch.setenv("REPLICATION_POLICY_PATH", str(path))
    assert load_policy() is not None
    monkeypatch.setenv("REPLICATION_POLICY", json.dumps({**GOOD, "maxAttempts": "x"}))
    with pytest.raises(SettingsError, match=r"^REPLICATION_POLICY: maxAttempts"):
        load_policy()
    monkeypatch.setenv("REPLICATION_POLICY", "{broken")
    with pytest.raises(SettingsError, match="cannot read"):
        load_policy()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=15), c, max_size=3),
    max_leaves=10,
)


@given(st.one_of(_json, st.fixed_dictionaries({}, optional={"sources": _json, "targets": _json, "maxAttempts": _json})))
def test_any_document_is_accepted_or_refused_naming_a_field(doc):
    try:
        parse_policy(doc)
    except ValidationError as error:
        assert error.field


def test_choose_targets_allows_only_the_policys_targets():
    policy = parse_policy(GOOD)
    source = collection()
    assert [t["region"] for t in policy.choose_targets(source)] == ["westus2", "northeurope"]
    assert [t["region"] for t in policy.choose_targets(source, ("northeurope",))] == ["northeurope"]
    assert policy.choose_targets(source, ("westus2",), "RG-APP-DR")[0]["resourceGroup"] == "rg-app-dr"
    for args, field in [
        ((("eastasia",),), "targetRegions[0]"),
        ((("westus2",), "rg-elsewhere"), "targetResourceGroup"),
        ((None, None, OTHER), "targetSubscriptionId"),  # westus2's copies stay in the source subscription
    ]:
        with pytest.raises(OutOfScope) as error:
            policy.choose_targets(source, *args)
        assert error.value.field == field
    with pytest.raises(ValidationError) as invalid:
        policy.choose_targets(source, ("eastus",))
    assert invalid.value.field == "targetRegions[0]"


def test_sweep_units_list_each_place_once():
    policy = parse_policy(
        {
            "sources": {
                "subscriptions": [OTHER],
                "resourceGroups": [
                    f"/subscriptions/{SUB}/resourceGroups/rg-app",
                    f"/subscriptions/{OTHER}/resourceGroups/x",
                ],
                "collections": [cid("inside-sub", sub=OTHER), *[cid(f"c{i}", rg="rg-solo") for i in range(150)]],
            },
            "targets": [{"region": "westus2", "resourceGroup": "dr"}],
        }
    )
    units = policy.sweep_units()
    assert units[:2] == [{"subscriptionId": OTHER}, {"subscriptionId": SUB, "resourceGroup": "rg-app"}]
    explicit = [u["collectionIds"] for u in units[2:]]
    assert [len(chunk) for chunk in explicit] == [100, 50]  # the one inside OTHER is listed with its subscription


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retian": 1}, "targets[0].retian"),
        ({"retention": {"keepLast": 7, "keepLsat": 3}}, "targets[0].retention.keepLsat"),
        ({"retention": {"keepLast": 0}}, "targets[0].retention.keepLast"),
        ({"retention": {"keepDays": True}}, "targets[0].retention.keepDays"),
        ({"retention": {"whenSourceGone": "keep"}}, "targets[0].retention"),
        ({"retention": {"keepLast": 2, "whenSourceGone": "delete"}}, "targets[0].retention.whenSourceGone"),
        ({"retention": []}, "targets[0].retention"),
        ({"backlog": "newest"}, "targets[0].backlog"),
    ],
)
def test_target_options_and_unknown_keys_name_the_field(change, field):
    doc = {**GOOD, "targets": [{**GOOD["targets"][0], **change}]}
    with pytest.raises(ValidationError) as error:
        parse_policy(doc)
    assert error.value.field == field, str(error.value)
    if field.endswith(("retian", "keepLsat")):
        assert str(error.value) == f"{field}: unknown key"


def test_every_problem_is_reported_at_once():
    from replication.policy import policy_errors

    doc = {
        **GOOD,
        "sources": {**GOOD["sources"], "tags": {"replicate": True}, "colections": []},
        "targets": [{**GOOD["targets"][0], "retian": {}}, {"region": "westus9", "resourceGroup": "rg"}],
        "maxAttempts": 99,
    }
    fields = [e.field for e in policy_errors(doc)]
    assert fields == [
        "sources.colections",
        "sources.tags.replicate",
        "targets[0].retian",
        "targets[1].region",
        "maxAttempts",
    ]
    assert policy_errors(GOOD) == []


def test_retention_and_backlog_reach_the_targets():
    doc = {
        **GOOD,
        "targets": [{**GOOD["targets"][0], "retention": {"keepLast": 7, "keepDays": 30}, "backlog": "latest"}],
    }
    (target,) = parse_policy(doc).targets_for(collection())
    assert target["retention"] == {"keepLast": 7, "keepDays": 30, "whenSourceGone": "keep"}
    assert target["backlog"] == "latest"
    assert "retention" not in parse_policy(GOOD).targets_for(collection())[0]


def test_azure_backup_resource_groups_are_sources_only_when_named():
    by_subscription = parse_policy({**GOOD, "sources": {"subscriptions": [SUB]}})
    backup = collection(rg="AzureBackupRG_eastus_1", tags={})
    assert not by_subscription.covers_location(backup["id"])
    assert "Azure Backup" in (by_subscription.scope_reason(backup) or "")
    assert by_subscription.scope_reason(collection(rg="rg-other", tags={})) is None
    named = parse_policy({**GOOD, "sources": {"subscriptions": [SUB], "collections": [backup["id"]]}})
    assert named.scope_reason(backup) is None
    by_group = parse_policy(
        {**GOOD, "sources": {"resourceGroups": [f"/subscriptions/{SUB}/resourceGroups/AzureBackupRG_eastus_1"]}}
    )
    assert by_group.scope_reason(backup) is None
