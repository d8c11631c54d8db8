from __future__ import annotations

import json
from pathlib import Path

from functions.startup import check_settings


def test_problems_name_the_setting(monkeypatch, caplog):
    monkeypatch.setenv("ARM_ENDPOINT", "http://insecure")
    monkeypatch.setenv("ON_COPY_FAILURE", "sometimes")
    monkeypatch.setenv("REPLICATION_POLICY", json.dumps({"sources": {"subscriptions": []}, "targets": []}))
    problems = check_settings()
    assert [p.split(":")[0] for p in problems] == ["ARM_ENDPOINT", "ON_COPY_FAILURE", "REPLICATION_POLICY"]
    assert "configuration: ARM_ENDPOINT" in caplog.text


def test_good_settings_have_no_problems(monkeypatch):
    for name in (
        "ARM_ENDPOINT",
        "ON_COPY_FAILURE",
        "MAX_COPY_ATTEMPTS",
        "POLL_MAX_INTERVAL_MINUTES",
        "REPLICATION_POLICY_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLICATION_POLICY", Path("policy.sample.json").read_text(encoding="utf-8"))
    assert check_settings() == []
