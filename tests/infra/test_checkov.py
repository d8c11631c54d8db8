"""checkov scans infra/ (bicep framework) with zero failed checks; every suppression carries a reason.

checkov pins versions that clash with the app's dev environment (packaging<24, pycep-parser==0.5.1,
python-dateutil<3 via botocore), so it lives in its own virtualenv, created here on first use:
``$CHECKOV_VENV`` or ``.venv/checkov`` (inside the gitignored main venv; ``make clean`` removes it too).
If checkov cannot be installed or run, this test FAILS: it never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path
from typing import Any

import infra_lib
import pytest

CHECKOV_SPEC = "checkov==3.3.30"
VENV = Path(os.environ.get("CHECKOV_VENV", infra_lib.REPO / ".venv" / "checkov"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
CHECKOV = BIN / ("checkov.exe" if os.name == "nt" else "checkov")
STAMP = VENV / f".installed-{CHECKOV_SPEC}"
MIN_REASON = 20

# A first run creates the venv and installs checkov (~25 s here, longer on a slow network).
pytestmark = pytest.mark.timeout(900)


def ensure_checkov() -> Path:
    if STAMP.is_file() and CHECKOV.is_file():
        return CHECKOV
    if not (BIN / "python").exists() and not (BIN / "python.exe").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    python = BIN / ("python.exe" if os.name == "nt" else "python")
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CHECKOV_SPEC],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0 or not CHECKOV.is_file():
        pytest.fail(f"could not install {CHECKOV_SPEC} into {VENV}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    STAMP.write_text(CHECKOV_SPEC + "\n", encoding="utf-8")
    return CHECKOV


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    checkov = ensure_checkov()
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="WARNING")
    proc = subprocess.run(
        [str(checkov), "-d", str(infra_lib.INFRA), "--framework", "bicep", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=infra_lib.REPO,
    )
    # Exit code 1 means failed checks; anything else non-zero is checkov itself failing.
    if proc.returncode not in (0, 1):
        pytest.fail(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"checkov printed no JSON report:\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")
    reports = data if isinstance(data, list) else [data]
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    assert len(bicep) == 1, f"expected one bicep report, got {[r.get('check_type') for r in reports]}"
    result: dict[str, Any] = bicep[0]
    return result


def test_checkov_parsed_everything(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse some Bicep files: {summary}"
    assert summary["resource_count"] > 0 and summary["passed"] > 0, f"checkov scanned nothing: {summary}"


def test_checkov_no_failed_checks(report: dict[str, Any]) -> None:
    failed = report["results"]["failed_checks"]
    lines = [f"{c['check_id']} {c['check_name']} -> {c['resource']} ({c['file_path']})" for c in failed]
    assert not failed, "checkov failed checks:\n" + "\n".join(lines)


def test_every_suppression_has_a_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    weak = [
        f"{c['check_id']} on {c['resource']}"
        for c in skipped
        if len((c.get("check_result", {}).get("suppress_comment") or "").strip()) < MIN_REASON
    ]
    assert not weak, f"suppressions without a written reason: {weak}"
    # Keep the list reviewed: a new suppression must be added here (and to the README's Deploy section) on purpose.
    assert {(c["check_id"], c["resource"]) for c in skipped} <= {
        ("CKV_AZURE_35", "Microsoft.Storage/storageAccounts.storage"),
        ("CKV_AZURE_59", "Microsoft.Storage/storageAccounts.storage"),
        ("CKV_AZURE_43", "Microsoft.Storage/storageAccounts.storage"),
        ("CKV_AZURE_225", "Microsoft.Web/serverfarms.plan"),
        ("CKV_AZURE_222", "Microsoft.Web/sites.site"),
        ("CKV_AZURE_17", "Microsoft.Web/sites.site"),
        ("CKV_AZURE_212", "Microsoft.Web/sites.site"),
        ("CKV_AZURE_213", "Microsoft.Web/sites.site"),
        ("CKV_AZURE_193", "Microsoft.EventGrid/topics.topic"),
    }
