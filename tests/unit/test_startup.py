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
        "MAX_CONCURRENT_COPIES_PER_REGION",
        "REPLICATION_POLICY_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLICATION_POLICY", Path("policy.sample.json").read_text(encoding="utf-8"))
    assert check_settings() == []


def test_copy_ceiling_setting(monkeypatch):
    """MAX_CONCURRENT_COPIES_PER_REGION: unset or 0 is no ceiling (and nothing in the orchestration input), else
    1..1000; anything else is an error naming the setting."""
    from replication.settings import SettingsError, load_copy_settings

    monkeypatch.delenv("MAX_CONCURRENT_COPIES_PER_REGION", raising=False)
    assert "maxConcurrentCopies" not in load_copy_settings().to_json()
    monkeypatch.setenv("MAX_CONCURRENT_COPIES_PER_REGION", "0")
    assert "maxConcurrentCopies" not in load_copy_settings().to_json()
    monkeypatch.setenv("MAX_CONCURRENT_COPIES_PER_REGION", " 4 ")
    assert load_copy_settings().to_json()["maxConcurrentCopies"] == 4
    for bad in ("-1", "two", "1001", "2.5"):
        monkeypatch.setenv("MAX_CONCURRENT_COPIES_PER_REGION", bad)
        try:
            load_copy_settings()
        except SettingsError as exc:
            assert str(exc).startswith("MAX_CONCURRENT_COPIES_PER_REGION: ") and "no ceiling" in str(exc)
        else:
            raise AssertionError(bad)
