"""Validation of what callers send, with errors that name the field.

A bad request must come back as a 4xx that says which field is wrong and why, never as a 500 or
a stack trace, and never as an orchestration that fails hours later on an ARM error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ids import InvalidResourceId, check_resource_group, check_subscription_id, parse_collection_id
from .model import Target
from .regions import is_region, normalize_region

MAX_TARGETS = 10


class ValidationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": "InvalidRequest", "field": self.field, "message": str(self)}}


@dataclass(frozen=True)
class StartRequest:
    source_collection_id: str
    targets: tuple[Target, ...]


def parse_start_request(body: Any) -> StartRequest:
    """``{"sourceCollectionId", "targetRegions": [...], "targetResourceGroup", "targetSubscriptionId"?}``."""
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    unknown = sorted(set(body) - {"sourceCollectionId", "targetRegions", "targetResourceGroup", "targetSubscriptionId"})
    if unknown:
        raise ValidationError(unknown[0] or '""', "unknown field")
    source_id = body.get("sourceCollectionId")
    if not isinstance(source_id, str):
        raise ValidationError("sourceCollectionId", "required: the id of a restore point collection")
    try:
        source = parse_collection_id(source_id)
    except InvalidResourceId as error:
        raise ValidationError("sourceCollectionId", str(error)) from None

    regions = body.get("targetRegions")
    if not isinstance(regions, list) or not regions:
        raise ValidationError("targetRegions", "required: a non-empty list of Azure region names")
    if len(regions) > MAX_TARGETS:
        raise ValidationError("targetRegions", f"at most {MAX_TARGETS} regions")
    seen: set[str] = set()
    for i, region in enumerate(regions):
        if not isinstance(region, str) or not is_region(region):
            raise ValidationError(f"targetRegions[{i}]", f"{region!r} is not an Azure region")
        if normalize_region(region) in seen:
            raise ValidationError(f"targetRegions[{i}]", f"'{region}' is listed twice")
        seen.add(normalize_region(region))

    group = body.get("targetResourceGroup")
    if not isinstance(group, str) or not group.strip():
        raise ValidationError("targetResourceGroup", "required: the resource group for the target collections")
    try:
        check_resource_group(group)
    except InvalidResourceId as error:
        raise ValidationError("targetResourceGroup", str(error)) from None
    subscription = body.get("targetSubscriptionId", source.subscription_id)
    try:
        check_subscription_id(subscription)
    except InvalidResourceId as error:
        raise ValidationError("targetSubscriptionId", str(error)) from None
    targets = tuple(
        Target(region=normalize_region(r), subscriptionId=str(subscription), resourceGroup=group) for r in regions
    )
    return StartRequest(source.id, targets)
