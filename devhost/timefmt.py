"""Timestamp formats the Durable protocol uses (ISO 8601, UTC, ``Z`` suffix)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(when: datetime) -> str:
    """Format like the extension does for history timestamps and status times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO timestamp; naive values are taken as UTC (the SDK writes ``Z`` but users may not)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
