"""The Event Grid subscription delivers exactly what the trigger accepts, to the trigger, after deploy."""

from __future__ import annotations

import ast
import importlib
import sys
from types import ModuleType
from typing import Any

import infra_lib
import pytest

EVENTS_PY = infra_lib.REPO / "replication" / "events.py"
EVENTGRID_BICEP = infra_lib.INFRA / "eventgrid.bicep"
POSTDEPLOY = infra_lib.REPO / "scripts" / "postdeploy.sh"
AZURE_YAML = infra_lib.REPO / "azure.yaml"
TRIGGER = "eventgrid_restore_point_written"


def load_events() -> ModuleType:
    assert EVENTS_PY.is_file(), (
        "replication/events.py does not exist: the trigger's accepted event type and operation name "
        "(RESOURCE_WRITE_SUCCESS, RESTORE_POINT_WRITE_OPERATION) are expected there"
    )
    if str(infra_lib.REPO) not in sys.path:
        sys.path.insert(0, str(infra_lib.REPO))
    try:
        module = importlib.import_module("replication.events")
    except ImportError as error:
        pytest.fail(f"cannot import replication.events: {error!r}")
    for name in ("RESOURCE_WRITE_SUCCESS", "RESTORE_POINT_WRITE_OPERATION"):
        assert isinstance(getattr(module, name, None), str), f"replication/events.py must define {name} (a str)"
    return module


def subscription_properties() -> dict[str, Any]:
    tree = infra_lib.parse_bicep(EVENTGRID_BICEP)
    props = tree["variables"]["eventSubscriptionProperties"]["value"]
    assert isinstance(props, dict)
    subs = [r for r in tree["resources"].values() if r["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"]
    assert subs, "eventgrid.bicep declares no event subscription"
    for res in subs:
        config = res["config"].get("config", res["config"])  # conditional resources nest their body
        assert config["properties"] == "eventSubscriptionProperties", "every event subscription uses the shared body"
    return props


def test_filter_matches_trigger_constants() -> None:
    events = load_events()
    flt = subscription_properties()["filter"]
    assert infra_lib.string_literals(flt["includedEventTypes"]) == [events.RESOURCE_WRITE_SUCCESS]
    advanced = flt["advancedFilters"]
    assert len(advanced) == 1, f"expected one advanced filter, got {advanced}"
    (only,) = advanced
    assert only["operatorType"] == "StringIn"
    assert only["key"] == "data.operationName"
    assert infra_lib.string_literals(only["values"]) == [events.RESTORE_POINT_WRITE_OPERATION]
    assert "subjectBeginsWith" not in flt and "subjectEndsWith" not in flt


def test_system_topic_is_subscription_events_global() -> None:
    tree = infra_lib.parse_bicep(EVENTGRID_BICEP)
    topics = [r for r in tree["resources"].values() if r["type"] == "Microsoft.EventGrid/systemTopics"]
    created = [r for r in topics if not r["existing"]]
    assert len(created) == 1 and any(r["existing"] for r in topics), "one new topic, one reusable existing topic"
    body = created[0]["config"].get("config", created[0]["config"])
    assert body["location"] == "global"
    assert body["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert "useExistingSystemTopic" in tree["parameters"], "a parameter must allow reusing an existing topic"


def test_destination_retry_and_dead_letter() -> None:
    props = subscription_properties()
    dest = props["destination"]
    assert dest["endpointType"] == "AzureFunction"
    assert dest["properties"]["resourceId"].endswith("/functions/${functionName}")
    params = infra_lib.parse_bicep(EVENTGRID_BICEP)["parameters"]
    assert infra_lib.unquote(params["functionName"]["default"]) == TRIGGER
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dl = props["deadLetterWithResourceIdentity"]
    assert dl["identity"]["type"] == "UserAssigned", "dead-lettering must use an identity, not a key"
    assert dl["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert "deadLetterDestination" not in props, "key-based dead-lettering must not be configured"


def test_trigger_function_exists_in_app_code() -> None:
    """The destination names a function the app defines (decorated def or an explicit function_name)."""
    names: set[str] = set()
    for f in infra_lib.app_python_files():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
    if TRIGGER not in names:
        pytest.fail(f"the app code defines no function named {TRIGGER} (the event subscription's target)")


def test_postdeploy_hook_creates_the_subscription_from_this_template() -> None:
    assert POSTDEPLOY.is_file(), "scripts/postdeploy.sh missing"
    text = POSTDEPLOY.read_text(encoding="utf-8")
    assert "infra/eventgrid.bicep" in text, "the hook must deploy infra/eventgrid.bicep (single source of the filter)"
    for forbidden in ("--included-event-types", "--advanced-filter", "operationName"):
        assert forbidden not in text, f"the hook must not define its own filter ({forbidden})"
    yaml_text = AZURE_YAML.read_text(encoding="utf-8")
    assert "postdeploy:" in yaml_text and "scripts/postdeploy.sh" in yaml_text, "azure.yaml must run the hook"
