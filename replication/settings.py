"""App settings, read in one place.

Only entry points and activities call :func:`load_settings` (orchestrators must not read the
environment: they get what they need in their input). Every setting name is a string literal
passed to :func:`_setting`, so tests can discover them and check the Bicep sets each one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .slots import MAX_CEILING

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"


class SettingsError(ValueError):
    """A setting with a value the app cannot use; the message names the setting."""


def _setting(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int_setting(name: str, default: int, low: int, high: int) -> int:
    raw = _setting(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: '{raw}' is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value} is outside {low}..{high}")
    return value


@dataclass(frozen=True)
class ArmSettings:
    """Where ARM is and how to authenticate: one code path for Azure, sovereign clouds and the emulator."""

    endpoint: str
    credential_scope: str
    ca_bundle: str | None
    client_id: str | None


@dataclass(frozen=True)
class CopySettings:
    """How copies are run; passed to orchestrators as plain JSON in their input."""

    max_attempts: int
    on_failure: str  # "continue" with the next restore point, or "stop" the lane for a person
    poll_max_interval_seconds: int
    # Copies in flight per subscription and target region, across every orchestration (a Durable Entity counts
    # them, orchestrators/copy_slots.py); 0: no ceiling, and then no entity is ever called.
    max_concurrent_copies: int = 0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "maxAttempts": self.max_attempts,
            "onFailure": self.on_failure,
            "pollMaxIntervalSeconds": self.poll_max_interval_seconds,
        }
        if self.max_concurrent_copies:  # absent without a ceiling: orchestration inputs as before
            out["maxConcurrentCopies"] = self.max_concurrent_copies
        return out


def load_arm_settings() -> ArmSettings:
    endpoint = (_setting("ARM_ENDPOINT", DEFAULT_ARM_ENDPOINT) or DEFAULT_ARM_ENDPOINT).rstrip("/")
    if not endpoint.startswith("https://"):
        raise SettingsError(f"ARM_ENDPOINT: '{endpoint}' must be an https:// URL (bearer tokens need TLS)")
    scope = _setting("ARM_CREDENTIAL_SCOPE") or f"{endpoint}/.default"
    return ArmSettings(
        endpoint=endpoint,
        credential_scope=scope,
        ca_bundle=_setting("ARM_CA_BUNDLE"),
        client_id=_setting("AZURE_CLIENT_ID"),
    )


def load_copy_settings() -> CopySettings:
    on_failure = (_setting("ON_COPY_FAILURE", "continue") or "continue").lower()
    if on_failure not in ("continue", "stop"):
        raise SettingsError(f"ON_COPY_FAILURE: '{on_failure}' must be 'continue' or 'stop'")
    return CopySettings(
        max_attempts=_int_setting("MAX_COPY_ATTEMPTS", 3, 1, 20),
        on_failure=on_failure,
        poll_max_interval_seconds=60 * _int_setting("POLL_MAX_INTERVAL_MINUTES", 60, 10, 24 * 60),
        max_concurrent_copies=_ceiling_setting("MAX_CONCURRENT_COPIES_PER_REGION"),
    )


def _ceiling_setting(name: str) -> int:
    """A ceiling of concurrent copies: 0 (or unset) for none, else 1..MAX_CEILING; the error says what it means."""
    raw = _setting(name)
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_CEILING:
        raise SettingsError(
            f"{name}: '{raw}' must be a whole number from 0 to {MAX_CEILING}: the most copies in flight at once per "
            "subscription and target region (0 or unset: no ceiling)"
        )
    return value


@dataclass(frozen=True)
class ObserveSettings:
    """The protection report, telemetry and state-change events (``functions/protection.py``)."""

    cache_seconds: int  # how long a lane read from Azure is reused by the report
    max_reads: int  # ARM reads one report may spend; the rest is served from cache or reported unknown
    topic_endpoint: str  # Event Grid custom topic for CloudEvents; empty: no events
    http_log_level: str  # azure.core's HTTP logging policy (request and response lines)


def load_observe_settings() -> ObserveSettings:
    level = (_setting("AZURE_SDK_HTTP_LOG_LEVEL", "WARNING") or "WARNING").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"AZURE_SDK_HTTP_LOG_LEVEL: '{level}' is not a logging level")
    endpoint = _setting("EVENTGRID_TOPIC_ENDPOINT", "") or ""
    if endpoint and not endpoint.startswith("https://"):
        raise SettingsError(f"EVENTGRID_TOPIC_ENDPOINT: '{endpoint}' must be an https:// URL")
    return ObserveSettings(
        cache_seconds=_int_setting("PROTECTION_CACHE_SECONDS", 300, 0, 3600),
        max_reads=_int_setting("PROTECTION_MAX_READS", 500, 10, 100_000),
        topic_endpoint=endpoint,
        http_log_level=level,
    )
