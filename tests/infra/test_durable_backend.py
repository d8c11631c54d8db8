"""DURABLE_BACKEND: Azure Storage (default) or the Durable Task Scheduler, chosen at deploy time.

The app settings are evaluated from the Bicep for each choice (infra_lib.evaluate: Bicep CLI cannot be
installed here), so both ways are checked, not just that the names appear somewhere: with Azure Storage
nothing overrides host.json; with DTS the settings that Learn documents wire the scheduler through
host.json overrides (AzureFunctionsJobHost__...), and the app's identity gets the data role on the hub.
"""

from __future__ import annotations

import json
from typing import Any

import infra_lib
import pytest

MAIN = infra_lib.INFRA / "main.bicep"
APP = infra_lib.INFRA / "modules" / "functionapp.bicep"
DTS = infra_lib.INFRA / "modules" / "durable-task-scheduler.bicep"
HOST_JSON = infra_lib.REPO / "host.json"

DURABLE_TASK_DATA_CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
ENDPOINT = "https://dts-rpr-abc.westus2.durabletask.io"
CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
OVERRIDE = "AzureFunctionsJobHost__"
PROVIDER_TYPE = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__type"
PROVIDER_CONNECTION = "AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName"
HUB_NAME = "AzureFunctionsJobHost__extensions__durableTask__hubName"
BUNDLE_ID = "AzureFunctionsJobHost__extensionBundle__id"
BUNDLE_VERSION = "AzureFunctionsJobHost__extensionBundle__version"


def durable_settings(backend: str, bundle: str = "preview") -> dict[str, Any]:
    """The backend-dependent app settings functionapp.bicep sets, for these parameter values."""
    tree = infra_lib.parse_bicep(APP)
    env = {
        "durableBackend": backend,
        "dtsExtensionBundle": bundle,
        "dtsEndpoint": ENDPOINT if backend == "dts" else "",
        "dtsTaskHubName": "replication" if backend == "dts" else "",
        "identityClientId": CLIENT_ID,
        "optionalAppSettings": [],
    }
    scope = infra_lib.evaluate_variables(tree, env, ["useDts", "dtsSettings", "dtsBundleSettings"])
    # appSettings concatenates exactly these variables (and the backend-independent literal list).
    args = tree["variables"]["appSettings"]["value"]["function"]["parameters"]
    assert tree["variables"]["appSettings"]["value"]["function"]["type"] == "concat"
    refs = [a for a in args.values() if isinstance(a, str)]
    assert {"dtsSettings", "dtsBundleSettings"} <= set(refs), f"appSettings must include both: {refs}"
    return infra_lib.settings_by_name(scope["dtsSettings"] + scope["dtsBundleSettings"])


def test_azure_storage_default_leaves_host_json_alone() -> None:
    settings = durable_settings("azureStorage")
    assert settings == {}, f"with Azure Storage nothing may override host.json: {sorted(settings)}"
    # And the literal (backend-independent) settings never override host.json either.
    names = infra_lib.app_setting_names([infra_lib.parse_bicep(APP)])
    always = names - set(durable_settings("dts"))
    assert not {n for n in always if n.startswith(OVERRIDE)}, "only the DTS choice may override host.json"


def test_dts_wires_the_scheduler_through_host_json_overrides() -> None:
    s = durable_settings("dts")
    assert s[PROVIDER_TYPE] == "azureManaged"
    connection_setting = s[PROVIDER_CONNECTION]
    assert connection_setting == "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
    assert s[connection_setting] == f"Endpoint={ENDPOINT};Authentication=ManagedIdentity;ClientID={CLIENT_ID}"
    assert s[HUB_NAME] == "%TASKHUB_NAME%"
    assert s["TASKHUB_NAME"] == "replication"
    # The documented preview bundle for non-.NET apps (Learn DTS quickstart), by override, not host.json.
    assert s[BUNDLE_ID] == "Microsoft.Azure.Functions.ExtensionBundle.Preview"
    assert s[BUNDLE_VERSION] == "[4.29.0, 5.0.0)"


def test_dts_with_host_json_bundle_sets_no_bundle_override() -> None:
    s = durable_settings("dts", bundle="hostJson")
    assert BUNDLE_ID not in s and BUNDLE_VERSION not in s
    assert s[PROVIDER_TYPE] == "azureManaged"


def test_overrides_address_sections_host_json_has() -> None:
    """Each AzureFunctionsJobHost__a__b__c override lands in a host.json section that exists, and host.json
    itself stays the Azure Storage configuration (no per-environment edits)."""
    host = json.loads(HOST_JSON.read_text(encoding="utf-8"))
    durable = host["extensions"]["durableTask"]
    assert "storageProvider" not in durable, "host.json must stay on the default (Azure Storage) provider"
    assert durable["hubName"] and "%" not in durable["hubName"]
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    for name in durable_settings("dts"):
        if not name.startswith(OVERRIDE):
            continue
        path = name[len(OVERRIDE) :].split("__")
        node: Any = host
        for part in path[:-1]:
            assert isinstance(node, dict), f"{name}: {part} is not a section"
            node = node.get(part, {}) if part == "storageProvider" else node.get(part)
            assert node is not None, f"{name}: host.json has no section {part!r}"


def _params(tree: dict[str, Any]) -> dict[str, Any]:
    return tree["parameters"]


def _allowed(param: dict[str, Any]) -> list[str]:
    for d in param.get("decorators") or []:
        if d.get("type") == "allowed":
            return [infra_lib.unquote(v) for v in d["argument"]]
    raise AssertionError(f"no @allowed on {param!r:.200}")


def test_backend_is_a_deploy_time_choice_defaulting_to_azure_storage() -> None:
    main = infra_lib.parse_bicep(MAIN)
    backend = _params(main)["durableBackend"]
    assert backend["default"] == "azureStorage"
    assert _allowed(backend) == ["azureStorage", "dts"]
    parameters = json.loads((infra_lib.INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["durableBackend"]["value"] == "${DURABLE_BACKEND=azureStorage}"
    assert parameters["dtsExtensionBundle"]["value"] == "${DTS_EXTENSION_BUNDLE=preview}"
    use = infra_lib.evaluate_variables(main, {"durableBackend": "dts"}, ["useDts"])["useDts"]
    assert use is True
    assert infra_lib.evaluate_variables(main, {"durableBackend": "azureStorage"}, ["useDts"])["useDts"] is False


def test_scheduler_module_only_with_dts_and_wired_into_the_app() -> None:
    main = infra_lib.parse_bicep(MAIN)
    module = main["modules"]["durableTaskScheduler"]
    assert infra_lib.unquote(module["detail"]["path"]) == "modules/durable-task-scheduler.bicep"
    assert module["config"]["condition"] == "useDts", "the scheduler must exist only with DURABLE_BACKEND=dts"
    params = module["config"]["config"]["params"]
    assert "appPrincipalId" in json.dumps(params["appPrincipalId"]), "the app's identity gets the data role"
    assert params["ipAllowlist"], "an empty ipAllowlist denies every caller"
    app_params = main["modules"]["functionApp"]["config"]["params"]
    for param, output in (("dtsEndpoint", "endpoint"), ("dtsTaskHubName", "taskHubName")):
        value = app_params[param]["operator"]
        assert value["type"] == "conditional" and value["operands"]["condition"] == "useDts", param
        assert f'"operand_2": "{output}"' in json.dumps(value["operands"]["true_value"]), param
    assert app_params["durableBackend"] == "durableBackend"
    depends = json.dumps(main["modules"]["functionApp"]["config"].get("dependsOn"))
    assert "durableTaskScheduler" in depends, "the app must start after its task hub role exists"


def test_scheduler_task_hub_and_data_role() -> None:
    tree = infra_lib.parse_bicep(DTS)
    resources = tree["resources"]
    scheduler = resources["scheduler"]
    assert scheduler["type"] == "Microsoft.DurableTask/schedulers"
    hub = resources["taskHub"]
    assert hub["type"] == "Microsoft.DurableTask/schedulers/taskHubs"
    assert hub["config"]["parent"] == "scheduler"
    assert tree["variables"]["durableTaskDataContributor"]["value"] == DURABLE_TASK_DATA_CONTRIBUTOR
    app_role = resources["appDataContributor"]
    assert app_role["type"] == "Microsoft.Authorization/roleAssignments"
    config = app_role["config"]
    assert config["scope"] == "taskHub", "least privilege: the task hub, not the scheduler"
    assert config["properties"]["principalId"] == "appPrincipalId"
    assert config["properties"]["principalType"] == "ServicePrincipal"
    assert "durableTaskDataContributor" in json.dumps(config["properties"]["roleDefinitionId"])
    dashboard = resources["dashboardDataContributor"]["config"]
    assert "condition" in dashboard, "the dashboard role is opt-in"
    assert dashboard["config"]["scope"] == "taskHub"
    # SKU: Consumption by default (main.bicep), capacity only for Dedicated.
    assert _allowed(tree["parameters"]["skuName"]) == ["Consumption", "Dedicated"]
    assert infra_lib.parse_bicep(MAIN)["parameters"]["dtsSkuName"]["default"] == "Consumption"


@pytest.mark.parametrize("backend", ["azureStorage", "dts"])
def test_no_secret_in_durable_settings(backend: str) -> None:
    for name, value in durable_settings(backend).items():
        text = str(value)
        assert "AccountKey=" not in text and "SharedAccessKey" not in text, name
        if name == "DURABLE_TASK_SCHEDULER_CONNECTION_STRING":
            assert "Authentication=ManagedIdentity" in text
