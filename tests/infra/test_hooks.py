"""The azd hooks, run for real with stub `azd` / `az` executables that record their arguments."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import infra_lib
import pytest

SCRIPTS = infra_lib.REPO / "scripts"
SUB_APP = "11111111-1111-1111-1111-111111111111"
SUB_OTHER = "22222222-2222-2222-2222-222222222222"

STUB = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_LOG"
case "$*" in
  *"system-topic list"*) printf '%s\\n' "${STUB_TOPIC_LIST:-}" ;;
  *"system-topic show"*"identity.type"*) printf 'SystemAssigned\\n' ;;
  *"system-topic show"*) printf '{}\\n' ;;
esac
exit 0
"""


def stub_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("az", "azd"):
        (bindir / name).write_text(STUB, encoding="utf-8")
        (bindir / name).chmod(0o755)
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "HOME": str(tmp_path),
        # The hook validates the policy with the app's own validator: a Python with the app's requirements.
        "REPLICATION_HOOK_PYTHON": sys.executable,
    }
    env.update(extra)
    return env


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    sh = shutil.which("sh")
    if sh is None:
        pytest.fail("no POSIX sh on PATH: the azd hooks need one")
    return subprocess.run([sh, str(SCRIPTS / script)], env=env, capture_output=True, text=True, timeout=60)


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


SCOPES = json.dumps([{"subscriptionId": SUB_APP, "resourceGroup": "rg-src"}])


VALID = {
    "sources": {"resourceGroups": [f"/subscriptions/{SUB_APP}/resourceGroups/rg-src"]},
    "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}],
}
# Valid, but its scopes cannot be derived (a whole subscription copied to a group named after each source's).
UNDERIVABLE = {
    "sources": {"subscriptions": [SUB_APP]},
    "targets": [{"region": "westus2", "resourceGroup": "{sourceResourceGroup}-dr"}],
}


def test_preprovision_loads_compact_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(VALID, indent=2) + "\n", encoding="utf-8")
    env = stub_env(tmp_path, REPLICATION_POLICY_FILE=str(policy), SOURCE_SCOPES=SCOPES, TARGET_SCOPES=SCOPES)
    proc = run("preprovision.sh", env)
    assert proc.returncode == 0, proc.stderr
    assert calls(tmp_path) == [f"env set REPLICATION_POLICY {json.dumps(VALID, separators=(',', ':'), sort_keys=True)}"]


@pytest.mark.parametrize(
    ("policy", "scopes", "message"),
    [
        (None, SCOPES, "not found"),
        ("[1]", SCOPES, "must hold a JSON object"),
        ("{", SCOPES, "cannot read"),
        ("{}", SCOPES, "sources: required"),
        (json.dumps(UNDERIVABLE), "", "could not derive the role scopes"),
        (json.dumps(VALID), "[]", "non-empty JSON array"),
        (json.dumps(VALID), '[{"subscriptionId": "nope"}]', "subscriptionId GUID"),
        (json.dumps(VALID), json.dumps([{"subscriptionId": SUB_APP, "rg": "x"}]), "unknown keys"),
    ],
)
def test_preprovision_rejects_bad_input(tmp_path: Path, policy: str | None, scopes: str, message: str) -> None:
    path = tmp_path / "policy.json"
    if policy is not None:
        path.write_text(policy, encoding="utf-8")
    env = stub_env(tmp_path, REPLICATION_POLICY_FILE=str(path), SOURCE_SCOPES=scopes, TARGET_SCOPES=SCOPES)
    proc = run("preprovision.sh", env)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_preprovision_validates_the_policy_with_the_apps_validator(tmp_path: Path) -> None:
    """The issue's example: every problem is reported, each naming its field, and nothing is set."""
    bad = {
        "sources": {"resourceGroups": [f"/subscriptions/{SUB_APP}/resourceGroups/rg-src"], "tags": {"replicate": True}},
        "targets": [
            {"region": "westus2", "resourceGroup": "rg-dr", "retian": {"keepLast": 7}},
            {"region": "westus9", "resourceGroup": "rg-dr"},
        ],
        "maxAttempts": 99,
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    env = stub_env(tmp_path, REPLICATION_POLICY_FILE=str(path), SOURCE_SCOPES=SCOPES, TARGET_SCOPES=SCOPES)
    proc = run("preprovision.sh", env)
    assert proc.returncode != 0
    assert "4 problem(s)" in proc.stderr, proc.stderr
    for line in (
        "sources.tags.replicate: tag names are 1-512 characters, values strings of up to 256",
        "targets[0].retian: unknown key",
        "targets[1].region: 'westus9' is not an Azure region",
        "maxAttempts: a whole number from 1 to 20",
    ):
        assert line in proc.stderr, proc.stderr
    assert calls(tmp_path) == []  # nothing reached the azd environment


def test_preprovision_needs_a_python_with_the_apps_requirements(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    env = stub_env(tmp_path, REPLICATION_POLICY_FILE=str(path), SOURCE_SCOPES=SCOPES, TARGET_SCOPES=SCOPES)
    env["REPLICATION_HOOK_PYTHON"] = ""
    env["PATH"] = env["PATH"].split(os.pathsep)[0]  # only the stubs: no python3 at all
    proc = run("preprovision.sh", env)
    assert proc.returncode != 0
    assert "needs Python 3 with the app's requirements" in proc.stderr
    assert calls(tmp_path) == []


def load_derive() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_derive_scopes", SCRIPTS / "derive_scopes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RG_ID = f"/subscriptions/{SUB_APP}/resourceGroups/rg-vms"
COLLECTION = f"/subscriptions/{SUB_OTHER}/resourceGroups/rg-b/providers/Microsoft.Compute/restorePointCollections/c1"


def test_derive_scopes_from_policy() -> None:
    derive = load_derive().derive
    policy = {
        "sources": {"resourceGroups": [RG_ID], "collections": [COLLECTION]},
        "targets": [
            {"region": "westus2", "resourceGroup": "{sourceResourceGroup}-dr"},
            {"region": "northeurope", "subscriptionId": SUB_APP, "resourceGroup": "rg-{region}-copies"},
        ],
    }
    assert derive(policy) == {
        "SOURCE_SCOPES": [
            {"subscriptionId": SUB_APP, "resourceGroup": "rg-vms"},
            {"subscriptionId": SUB_OTHER, "resourceGroup": "rg-b"},
        ],
        "TARGET_SCOPES": [
            {"subscriptionId": SUB_APP, "resourceGroup": "rg-vms-dr"},
            {"subscriptionId": SUB_OTHER, "resourceGroup": "rg-b-dr"},
            {"subscriptionId": SUB_APP, "resourceGroup": "rg-northeurope-copies"},
        ],
    }


def test_derive_scopes_refuses_to_guess() -> None:
    module = load_derive()
    policy = {
        "sources": {"subscriptions": [SUB_APP]},
        "targets": [{"region": "westus2", "resourceGroup": "{sourceResourceGroup}-dr"}],
    }
    with pytest.raises(module.PolicyScopeError, match="set TARGET_SCOPES explicitly"):
        module.derive(policy)
    # A whole-subscription source with a fixed target group is fine, and covers the RG-level duplicates.
    policy = {
        "sources": {"subscriptions": [SUB_APP], "resourceGroups": [RG_ID]},
        "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}],
    }
    assert module.derive(policy)["SOURCE_SCOPES"] == [{"subscriptionId": SUB_APP}]


def test_preprovision_derives_scopes_when_unset(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {"sources": {"resourceGroups": [RG_ID]}, "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}]}
        ),
        encoding="utf-8",
    )
    proc = run("preprovision.sh", stub_env(tmp_path, REPLICATION_POLICY_FILE=str(policy)))
    assert proc.returncode == 0, proc.stderr
    log = calls(tmp_path)
    assert f'env set SOURCE_SCOPES [{{"subscriptionId":"{SUB_APP}","resourceGroup":"rg-vms"}}]' in log
    assert f'env set TARGET_SCOPES [{{"subscriptionId":"{SUB_APP}","resourceGroup":"rg-dr"}}]' in log


def deploy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {
        "AZURE_ENV_NAME": "prod",
        "AZURE_SUBSCRIPTION_ID": SUB_APP,
        "AZURE_RESOURCE_GROUP": "rg-prod",
        "AZURE_LOCATION": "eastus",
        "AZURE_FUNCTION_APP_ID": f"/subscriptions/{SUB_APP}/resourceGroups/rg-prod/providers/Microsoft.Web/sites/f",
        "AZURE_STORAGE_ACCOUNT_ID": f"/subscriptions/{SUB_APP}/resourceGroups/rg-prod/providers/x/st",
        "EVENTGRID_DEADLETTER_CONTAINER": "eventgrid-deadletter",
        "EVENTGRID_IDENTITY_ID": f"/subscriptions/{SUB_APP}/resourceGroups/rg-prod/providers/y/id-eg",
        "EVENTGRID_SOURCE_SUBSCRIPTION_IDS": json.dumps([SUB_APP, SUB_OTHER]),
    }
    base.update(extra)
    return stub_env(tmp_path, **base)


def test_postdeploy_creates_topics_and_deploys_eventgrid_bicep(tmp_path: Path) -> None:
    proc = run("postdeploy.sh", deploy_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    deployments = [c for c in calls(tmp_path) if c.startswith("deployment group create")]
    assert len(deployments) == 2
    app, other = deployments
    assert f"--subscription {SUB_APP} --resource-group rg-prod " in app
    assert f"--subscription {SUB_OTHER} --resource-group rg-prod-events " in other
    for d in deployments:
        assert "infra/eventgrid.bicep" in d
        assert "useExistingSystemTopic=false" in d and "systemTopicName=evgt-rpr-prod" in d
        assert "eventSubscriptionName=rpr-prod" in d and "deadLetterContainerName=eventgrid-deadletter" in d
    assert any(c.startswith(f"group create --subscription {SUB_OTHER} --name rg-prod-events") for c in calls(tmp_path))


def test_postdeploy_reuses_an_existing_topic(tmp_path: Path) -> None:
    topic = f"/subscriptions/{SUB_OTHER}/resourceGroups/rg-shared/providers/Microsoft.EventGrid/systemTopics/t1"
    env = deploy_env(tmp_path, EVENTGRID_EXISTING_SYSTEM_TOPIC_IDS=json.dumps([topic]))
    proc = run("postdeploy.sh", env)
    assert proc.returncode == 0, proc.stderr
    log = calls(tmp_path)
    other = next(c for c in log if c.startswith(f"deployment group create --subscription {SUB_OTHER}"))
    assert "--resource-group rg-shared " in other
    assert "systemTopicName=t1 useExistingSystemTopic=true" in other
    patch = next(c for c in log if c.startswith("rest --method patch"))
    assert topic in patch and "SystemAssigned, UserAssigned" in patch
    assert not any(c.startswith(f"group create --subscription {SUB_OTHER}") for c in log)


def test_postdeploy_needs_provision_outputs(tmp_path: Path) -> None:
    env = deploy_env(tmp_path, AZURE_FUNCTION_APP_ID="")
    proc = run("postdeploy.sh", env)
    assert proc.returncode != 0 and "AZURE_FUNCTION_APP_ID is not set" in proc.stderr


def test_predown_removes_event_subscriptions_and_roles(tmp_path: Path) -> None:
    topic = f"/subscriptions/{SUB_OTHER}/resourceGroups/rg-shared/providers/Microsoft.EventGrid/systemTopics/t1"
    role = f"/subscriptions/{SUB_APP}/providers/Microsoft.Authorization/roleDefinitions/abc"
    env = deploy_env(tmp_path, STUB_TOPIC_LIST=topic, SOURCE_ROLE_DEFINITION_ID=role, TARGET_ROLE_DEFINITION_ID="")
    proc = run("predown.sh", env)
    assert proc.returncode == 0, proc.stderr
    log = calls(tmp_path)
    assert any("event-subscription delete" in c and "-g rg-shared" in c and "-n rpr-prod" in c for c in log)
    assert any(c.startswith(f"group delete --subscription {SUB_OTHER} -n rg-prod-events") for c in log)
    assert any(c.startswith(f"role definition delete --name abc --scope /subscriptions/{SUB_APP}") for c in log)


def test_preprovision_rederives_its_own_scopes_but_keeps_explicit_ones(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {"sources": {"resourceGroups": [RG_ID]}, "targets": [{"region": "westus2", "resourceGroup": "rg-new"}]}
        ),
        encoding="utf-8",
    )
    stale = json.dumps([{"subscriptionId": SUB_APP, "resourceGroup": "rg-old"}], separators=(",", ":"))
    explicit = json.dumps([{"subscriptionId": SUB_OTHER, "resourceGroup": "rg-mine"}])
    env = stub_env(
        tmp_path,
        REPLICATION_POLICY_FILE=str(policy),
        TARGET_SCOPES=stale,
        TARGET_SCOPES_DERIVED=stale,
        SOURCE_SCOPES=explicit,
    )
    proc = run("preprovision.sh", env)
    assert proc.returncode == 0, proc.stderr
    log = calls(tmp_path)
    assert f'env set TARGET_SCOPES [{{"subscriptionId":"{SUB_APP}","resourceGroup":"rg-new"}}]' in log
    assert not any(c.startswith("env set SOURCE_SCOPES") for c in log)


def test_policy_sample_gives_deployable_scopes() -> None:
    """The README (Deploy) points platform engineers at policy.sample.json: its scopes must derive cleanly."""
    sample = infra_lib.REPO / "policy.sample.json"
    assert sample.is_file(), "policy.sample.json (written by the app team) is missing"
    scopes = load_derive().derive(json.loads(sample.read_text(encoding="utf-8")))
    assert scopes["SOURCE_SCOPES"] and scopes["TARGET_SCOPES"]
    for scope in scopes["SOURCE_SCOPES"] + scopes["TARGET_SCOPES"]:
        assert set(scope) <= {"subscriptionId", "resourceGroup"}
