"""Every app setting the code reads is set by the Bicep (or has a default in code), and vice versa.

The names are discovered from the code's AST (string literals passed to os.environ.get / os.getenv /
os.environ[...] or to helpers that forward their first argument to those, e.g. ``_setting("X")``), mainly
in replication/settings.py, plus ``%NAME%`` binding expressions (the timer schedule).
"""

from __future__ import annotations

from pathlib import Path

import infra_lib

SETTINGS_PY = infra_lib.REPO / "replication" / "settings.py"
FIXTURE = Path(__file__).with_name("fixtures") / "settings_sample.py"
APP_BICEP = [infra_lib.INFRA / "main.bicep", infra_lib.INFRA / "modules" / "functionapp.bicep"]

# Read by the code without a default, yet deliberately not set in Azure.
NOT_SET_IN_AZURE = {
    "ARM_CA_BUNDLE": "dev only: trusts the local ARM emulator's certificate",
    "DEV_SCALED_CLOCK": "dev only: the report's clock follows the local stack's scaled clock (make demo, make dev)",
    "REPLICATION_POLICY_PATH": "alternative to REPLICATION_POLICY, which the Bicep sets inline",
}
# Functions platform settings the Bicep must set (identity-based storage, Entra-auth App Insights).
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# Durable Task Scheduler wiring (DURABLE_BACKEND=dts only): read by the Functions host and the Durable
# extension, not by the app's code (tests/infra/test_durable_backend.py checks their values both ways).
DTS_PLATFORM_SETTINGS = {
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__type",
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName",
    "AzureFunctionsJobHost__extensions__durableTask__hubName",
    "AzureFunctionsJobHost__extensionBundle__id",
    "AzureFunctionsJobHost__extensionBundle__version",
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    "TASKHUB_NAME",
}
# The contract with the app: set by the Bicep whatever the code's defaults.
CONTRACT_SETTINGS = {"AZURE_CLIENT_ID", "REPLICATION_POLICY", "SWEEP_SCHEDULE"}


def bicep_settings() -> set[str]:
    return infra_lib.app_setting_names(infra_lib.parse_bicep(p) for p in APP_BICEP)


def code_reads() -> tuple[list[infra_lib.SettingRead], list[tuple[str, str]]]:
    assert SETTINGS_PY.is_file(), (
        f"{SETTINGS_PY.relative_to(infra_lib.REPO)} does not exist: the app reads its settings there "
        "(contract with the app team), so the settings coverage cannot be checked"
    )
    reads: list[infra_lib.SettingRead] = []
    bindings: list[tuple[str, str]] = []
    files = infra_lib.app_python_files()
    helpers = infra_lib.env_helper_names(files)
    for f in files:
        src = f.read_text(encoding="utf-8")
        rel = f.relative_to(infra_lib.REPO).as_posix()
        reads.extend(infra_lib.find_setting_reads(src, rel, helpers))
        bindings.extend(infra_lib.find_binding_expressions(src, rel))
    assert any(r.where.startswith("replication/settings.py") for r in reads), (
        "found no setting reads in replication/settings.py: discovery broken or file rewritten?"
    )
    return reads, bindings


def test_discovery_on_fixture() -> None:
    reads = infra_lib.find_setting_reads(FIXTURE.read_text(encoding="utf-8"), FIXTURE.name)
    got = {r.name: r.has_default for r in reads}
    assert got == {
        "DIRECT_NO_DEFAULT": False,
        "GETENV_WITH_DEFAULT": True,
        "HELPER_NO_DEFAULT": False,
        "HELPER_KW_DEFAULT": True,
        "TRANSITIVE_HELPER": True,
        "OR_FALLBACK": True,
        "SUBSCRIPT_REQUIRED": False,
        "BARE_ENVIRON": False,
        "EXPLICIT_NONE_DEFAULT": False,
    }
    assert infra_lib.find_binding_expressions(FIXTURE.read_text(encoding="utf-8"), "f.py") == [
        ("SOME_SCHEDULE", "f.py:30")
    ]


def test_bicep_sets_platform_and_contract_settings() -> None:
    settings = bicep_settings()
    missing = (PLATFORM_SETTINGS | DTS_PLATFORM_SETTINGS | CONTRACT_SETTINGS) - settings
    assert not missing, f"the Bicep does not set {sorted(missing)}"
    forbidden = {s for s in settings if s in {"AzureWebJobsStorage", "APPINSIGHTS_INSTRUMENTATIONKEY"}}
    assert not forbidden, f"key-based settings must not be set: {sorted(forbidden)}"


def test_policy_is_a_required_parameter() -> None:
    params = infra_lib.parse_bicep(infra_lib.INFRA / "main.bicep")["parameters"]
    assert "replicationPolicy" in params, "main.bicep must take the replication policy as a parameter"
    assert params["replicationPolicy"]["default"] is None, "the policy parameter must have no default"


def test_every_setting_the_code_reads_is_set_or_defaulted() -> None:
    reads, bindings = code_reads()
    settings = bicep_settings()
    problems = [
        f"{r.name} (read at {r.where}, no default in code)"
        for r in reads
        if not r.has_default and r.name not in settings and r.name not in NOT_SET_IN_AZURE
    ]
    problems += [
        f"{name} (binding expression %{name}% at {where}: must be an app setting)"
        for name, where in bindings
        if name not in settings
    ]
    assert not problems, "the Bicep does not set: " + "; ".join(sorted(set(problems)))


def test_every_app_setting_the_bicep_sets_is_read_by_the_code() -> None:
    """Catches typos and stale settings: each non-platform setting must be read somewhere in the app."""
    reads, bindings = code_reads()
    read_names = {r.name for r in reads} | {name for name, _ in bindings}
    unread = bicep_settings() - PLATFORM_SETTINGS - DTS_PLATFORM_SETTINGS - read_names
    assert not unread, (
        f"the Bicep sets {sorted(unread)}, which the app code does not read "
        "(expected as string literals in replication/settings.py)"
    )
