"""Validation of what callers send, with errors that name the field.

A bad request must come back as a 4xx that says which field is wrong and why, never as a 500 or
a stack trace, and never as an orchestration that fails hours later on an ARM error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .ids import InvalidResourceId, check_resource_group, check_subscription_id, parse_collection_id
from .regions import is_region, normalize_region

MAX_TARGETS = 10
T = TypeVar("T")


class ValidationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": "InvalidRequest", "field": self.field, "message": str(self)}}


def checked(field: str, check: Callable[[Any], T], value: Any) -> T:
    """Run an id or name check; its refusal becomes a ValidationError naming ``field``."""
    try:
        return check(value)
    except InvalidResourceId as error:
        raise ValidationError(field, str(error)) from None


@dataclass(frozen=True)
class StartRequest:
    """What a caller asked for. ``source_collection_id`` None: every collection of the policy.
    ``regions`` None: the policy's targets; otherwise a subset of them (with the policy's groups,
    unless ``resource_group`` / ``subscription_id`` are given, which must then match the policy)."""

    source_collection_id: str | None
    regions: tuple[str, ...] | None
    resource_group: str | None
    subscription_id: str | None
    dry_run: bool


FIELDS = {"sourceCollectionId", "all", "targetRegions", "targetResourceGroup", "targetSubscriptionId", "dryRun"}


def parse_start_request(body: Any) -> StartRequest:
    """``{"sourceCollectionId" | "all": true, "targetRegions"?, "targetResourceGroup"?, "targetSubscriptionId"?,
    "dryRun"?}``."""
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValidationError(unknown[0] or '""', "unknown field")
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("dryRun", "expected true or false")
    every = body.get("all", False)
    if not isinstance(every, bool):
        raise ValidationError("all", "expected true or false")
    source_id = body.get("sourceCollectionId")
    if every:
        if source_id is not None or any(
            k in body for k in ("targetRegions", "targetResourceGroup", "targetSubscriptionId")
        ):
            raise ValidationError("all", "'all' replicates the whole policy: give no collection or targets with it")
        return StartRequest(None, None, None, None, dry_run)
    if not isinstance(source_id, str):
        raise ValidationError("sourceCollectionId", 'required (or "all": true): the id of a restore point collection')
    source = checked("sourceCollectionId", parse_collection_id, source_id)

    regions: tuple[str, ...] | None = None
    if "targetRegions" in body:
        raw = body["targetRegions"]
        if not isinstance(raw, list) or not raw:
            raise ValidationError("targetRegions", "a non-empty list of Azure region names")
        if len(raw) > MAX_TARGETS:
            raise ValidationError("targetRegions", f"at most {MAX_TARGETS} regions")
        seen: list[str] = []
        for i, region in enumerate(raw):
            if not isinstance(region, str) or not is_region(region):
                raise ValidationError(f"targetRegions[{i}]", f"{region!r} is not an Azure region")
            if normalize_region(region) in seen:
                raise ValidationError(f"targetRegions[{i}]", f"'{region}' is listed twice")
            seen.append(normalize_region(region))
        regions = tuple(seen)
    group = body.get("targetResourceGroup")
    if group is not None:
        checked("targetResourceGroup", check_resource_group, group)
    subscription = body.get("targetSubscriptionId")
    if subscription is not None:
        checked("targetSubscriptionId", check_subscription_id, subscription)
    return StartRequest(source.id, regions, group, subscription, dry_run)
