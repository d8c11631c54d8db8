"""The deployment's security baseline, as the issue states it: keyless, identity-based, Flex on a supported Python."""

from __future__ import annotations

import re
from typing import Any

import infra_lib

MODULES = infra_lib.INFRA / "modules"


def resource(path_name: str, symbolic: str) -> dict[str, Any]:
    tree = infra_lib.parse_bicep(MODULES / path_name)
    res = tree["resources"][symbolic]
    config: dict[str, Any] = res["config"]
    return config


def test_storage_is_keyless_and_private_to_entra() -> None:
    props = resource("storage.bicep", "storage")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["defaultToOAuthAuthentication"] is True
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True


def test_application_insights_local_auth_off() -> None:
    props = resource("monitoring.bicep", "applicationInsights")["properties"]
    assert props["DisableLocalAuth"] is True


def test_flex_consumption_python_with_user_assigned_identity() -> None:
    plan = resource("functionapp.bicep", "plan")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = resource("functionapp.bicep", "site")
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    # The version is the pythonVersion parameter (tests/infra/test_python_versions.py checks its values).
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["properties"]["httpsOnly"] is True


def test_no_keys_or_connection_secrets_anywhere() -> None:
    for path in infra_lib.bicep_files():
        text = path.read_text(encoding="utf-8")
        for pattern in (r"listKeys\(", r"AccountKey=", r"listkeys", r"InstrumentationKey", r"SharedAccessKey"):
            assert not re.search(pattern, text, re.IGNORECASE), f"{path}: {pattern}"


def test_azure_yaml_service_matches_bicep_tag() -> None:
    text = (infra_lib.REPO / "azure.yaml").read_text(encoding="utf-8")
    services = text.split("services:", 1)[1]
    assert re.search(r"^  api:\s*$", services, re.MULTILINE), "azure.yaml must define service 'api'"
    assert re.search(r"^    host: function\s*$", services, re.MULTILINE)
    assert re.search(r"^    language: python\s*$", services, re.MULTILINE)
    site = resource("functionapp.bicep", "site")
    assert "'azd-service-name': 'api'" in str(site["tags"]) or "azd-service-name" in str(site["tags"])
    for hook in ("preprovision", "postdeploy", "predown"):
        assert f"  {hook}:" in text and f"scripts/{hook}.sh" in text, f"azure.yaml must run scripts/{hook}.sh"
