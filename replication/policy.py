"""The replication policy: which collections are sources, where their copies go.

A platform team writes it, a reviewer reads it, and the app refuses anything outside it (the app's
identity must not be usable to copy arbitrary collections). JSON, given inline in
``REPLICATION_POLICY`` or by path in ``REPLICATION_POLICY_PATH``; see ``policy.sample.json``::

    {
      "sources": {
        "subscriptions": ["<guid>"],                      # every collection in these subscriptions
        "resourceGroups": ["/subscriptions/<guid>/resourceGroups/<rg>"],
        "collections": ["<restore point collection id>"],
        "tags": {"replicate": "true"}                     # and, if given, carrying all these tags
      },
      "targets": [
        {"region": "westus2", "subscriptionId": "{sourceSubscriptionId}",
         "resourceGroup": "{sourceResourceGroup}-dr", "copyTags": ["app"], "addTags": {"purpose": "dr"}}
      ],
      "maxAttempts": 3
    }

Templates may use ``{sourceSubscriptionId}``, ``{sourceResourceGroup}``, ``{sourceCollectionName}``
and ``{region}``. Validation errors name the field: ``targets[1].region: 'westus9' is not an Azure region``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ids import (
    InvalidResourceId,
    check_resource_group,
    check_subscription_id,
    is_collection_id,
    normalize,
    parse_collection_id,
)
from .model import CollectionInfo, Target
from .regions import is_region, normalize_region
from .requests import ValidationError, checked
from .settings import SettingsError, _setting

TEMPLATE_KEYS = ("sourceSubscriptionId", "sourceResourceGroup", "sourceCollectionName", "region")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_RG_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)$", re.IGNORECASE)
MAX_TARGETS = 10
MAX_TAGS = 50


TARGET_KEYS = ("region", "subscriptionId", "resourceGroup", "copyTags", "addTags", "retention", "backlog", "rpoHours")
RETENTION_KEYS = ("keepLast", "keepDays", "whenSourceGone")
WHEN_SOURCE_GONE = ("keep", "retention")
BACKLOG_MODES = ("all", "latest")
MAX_KEEP_LAST = 500  # Azure keeps at most 500 restore points per VM
MAX_KEEP_DAYS = 3650
BACKUP_RG_PREFIX = "azurebackuprg_"  # Azure Backup's own resource groups: never a source unless named

SWEEP_CHUNK = 100  # explicit collections per sweep unit (one short activity each)


class OutOfScope(ValueError):
    """A request the policy does not allow (a 403 for a caller); ``field`` names what is at fault."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TargetRule:
    region: str
    subscription_id: str  # template
    resource_group: str  # template
    copy_tags: tuple[str, ...] = ()
    add_tags: tuple[tuple[str, str], ...] = ()
    retention: dict[str, Any] | None = None  # replication.retention.RetentionRule as JSON
    backlog: str = "all"  # "all": every restore point in order; "latest": only the newest pending one
    rpo_hours: float | None = None  # recovery point objective of this region (protection report, alerts)


@dataclass(frozen=True)
class Policy:
    subscriptions: frozenset[str]
    resource_groups: frozenset[tuple[str, str]]  # (subscription, group), lower case
    collections: frozenset[str]  # normalised ids
    tags: tuple[tuple[str, str], ...]
    targets: tuple[TargetRule, ...]
    max_attempts: int | None
    raw: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The policy as given (orchestrators rebuild it with :func:`parse_policy`)."""
        return self.raw

    def covers_location(self, collection_id: str) -> bool:
        """In scope by where it lives (before tags are known): cheap, no I/O."""
        try:
            ref = parse_collection_id(collection_id)
        except InvalidResourceId:
            return False
        sub, group = ref.subscription_id.lower(), ref.resource_group.lower()
        if normalize(ref.id) in self.collections or (sub, group) in self.resource_groups:
            return True
        # Azure Backup keeps its own restore point collections in AzureBackupRG_* groups: they are
        # Backup's to manage, so a subscription-wide scope never makes them sources; naming the
        # collection (or its resource group) does.
        return sub in self.subscriptions and not group.startswith(BACKUP_RG_PREFIX)

    def covers_location_without(self, collection_id: str) -> bool:
        """In scope through a subscription or resource group, i.e. without being listed by id."""
        ref = parse_collection_id(collection_id)
        sub, group = ref.subscription_id.lower(), ref.resource_group.lower()
        return sub in self.subscriptions or (sub, group) in self.resource_groups

    def scope_reason(self, collection: CollectionInfo) -> str | None:
        """None if the collection is a source under this policy, else why not."""
        if not self.covers_location(collection["id"]):
            if self.covers_location_without(collection["id"]):
                return (
                    "the collection is in an Azure Backup resource group (AzureBackupRG_*); "
                    "name it in sources.collections to replicate it"
                )
            return "the collection is outside the policy's source scope"
        if is_collection_id(collection.get("sourceId")):
            return "the collection is itself a copy (its source is a restore point collection)"
        tags = {k.lower(): v for k, v in (collection.get("tags") or {}).items()}
        for key, value in self.tags:
            if tags.get(key.lower()) != value:
                return f"the collection does not carry the tag {key}={value}"
        return None

    def rpo_hours(self, region: str, default: float) -> float:
        """The recovery point objective of a target region (``targets[].rpoHours``), else ``default``."""
        for rule in self.targets:
            if rule.region == normalize_region(region) and rule.rpo_hours is not None:
                return rule.rpo_hours
        return default

    def targets_for(self, collection: CollectionInfo) -> list[Target]:
        """Each target with its templates resolved for this source, and the tags its collection gets."""
        ref = parse_collection_id(collection["id"])
        tags = collection.get("tags") or {}
        out: list[Target] = []
        for rule in self.targets:
            values = {
                "sourceSubscriptionId": ref.subscription_id,
                "sourceResourceGroup": ref.resource_group,
                "sourceCollectionName": ref.name,
                "region": rule.region,
            }
            target: Target = {
                "region": rule.region,
                "subscriptionId": rule.subscription_id.format(**values),
                "resourceGroup": rule.resource_group.format(**values),
            }
            target_tags = {k: v for k, v in tags.items() if k in rule.copy_tags}
            target_tags.update(dict(rule.add_tags))
            if target_tags:
                target["tags"] = target_tags
            if rule.retention:
                target["retention"] = dict(rule.retention)
            if rule.backlog != "all":
                target["backlog"] = rule.backlog
            out.append(target)
        return out

    def choose_targets(
        self,
        collection: CollectionInfo,
        regions: tuple[str, ...] | None = None,
        resource_group: str | None = None,
        subscription_id: str | None = None,
    ) -> list[Target]:
        """The policy's targets for a source, or the subset a caller named. Naming a region, group or
        subscription the policy does not use is OutOfScope; naming the source's own region, invalid."""
        targets = self.targets_for(collection)
        chosen = targets
        if regions is not None:
            by_region = {t["region"]: t for t in targets}
            chosen = []
            for i, region in enumerate(regions):
                if region == normalize_region(collection["location"]):
                    raise ValidationError(f"targetRegions[{i}]", f"'{region}' is the source's own region")
                if region not in by_region:
                    raise OutOfScope(f"targetRegions[{i}]", f"'{region}' is not a target region of the policy")
                chosen.append(by_region[region])
        for field, wanted, actual in (
            ("targetResourceGroup", resource_group, [t["resourceGroup"] for t in chosen]),
            ("targetSubscriptionId", subscription_id, [t["subscriptionId"] for t in chosen]),
        ):
            if wanted is not None and any(a.lower() != wanted.lower() for a in actual):
                raise OutOfScope(field, f"'{wanted}' is not where the policy puts these copies")
        return chosen

    def sweep_units(self) -> list[dict[str, Any]]:
        """What a sweep lists: whole subscriptions, resource groups not inside them, explicit collections."""
        units: list[dict[str, Any]] = [{"subscriptionId": s} for s in sorted(self.subscriptions)]
        units += [
            {"subscriptionId": s, "resourceGroup": g}
            for s, g in sorted(self.resource_groups)
            if s not in self.subscriptions
        ]
        explicit = sorted(c for c in self.collections if not self.covers_location_without(c))
        units += [{"collectionIds": explicit[i : i + SWEEP_CHUNK]} for i in range(0, len(explicit), SWEEP_CHUNK)]
        return units

    def orphan_units(self) -> list[dict[str, Any]]:
        """Target resource groups the sweep must also list to find copies whose source collection is gone
        (``replication.orphans``): each target's group as it resolves for the policy's source subscriptions,
        groups and collections, unless a source unit lists it already (a subscription-wide list shows every
        collection of the subscription, copies included). Listed per resource group (``targetsOnly``), which
        the target role's ``restorePointCollections/read`` at that group allows; nothing in them is started
        as a source. A template that needs what only a source collection tells (``{sourceResourceGroup}`` of
        a whole-subscription source, ``{sourceCollectionName}``) cannot be listed ahead: such copies are found
        only where a source unit lists them (README, Retention)."""
        contexts: list[dict[str, str]] = [{"sourceSubscriptionId": s} for s in sorted(self.subscriptions)]
        contexts += [{"sourceSubscriptionId": s, "sourceResourceGroup": g} for s, g in sorted(self.resource_groups)]
        for cid in sorted(self.collections):
            ref = parse_collection_id(cid)
            contexts.append(
                {
                    "sourceSubscriptionId": ref.subscription_id.lower(),
                    "sourceResourceGroup": ref.resource_group,
                    "sourceCollectionName": ref.name,
                }
            )
        found: set[tuple[str, str]] = set()
        for rule in self.targets:
            for context in contexts:
                values = {**context, "region": rule.region}
                needed = set(_TEMPLATE.findall(rule.subscription_id) + _TEMPLATE.findall(rule.resource_group))
                if needed - set(values):
                    continue
                sub = rule.subscription_id.format(**values).lower()
                group = rule.resource_group.format(**values)
                if sub in self.subscriptions or (sub, group.lower()) in self.resource_groups:
                    continue  # a source unit lists it
                found.add((sub, group.lower()))
        return [{"subscriptionId": s, "resourceGroup": g, "targetsOnly": True} for s, g in sorted(found)]


def _check_template(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "required: a string")
    for key in _TEMPLATE.findall(value):
        if key not in TEMPLATE_KEYS:
            raise ValidationError(field, f"unknown template variable {{{key}}}; use one of {list(TEMPLATE_KEYS)}")
    return value


def _string_list(data: dict[str, Any], key: str, field: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValidationError(field, "expected a list of strings")
    return value


def _tags(value: Any, field: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or len(value) > MAX_TAGS:
        raise ValidationError(field, f"expected an object of at most {MAX_TAGS} string tags")
    for k, v in value.items():
        if not isinstance(v, str) or not k or len(k) > 512 or len(v) > 256:
            raise ValidationError(f"{field}.{k}", "tag names are 1-512 characters, values strings of up to 256")
    return tuple(sorted(value.items()))


class PolicyErrors(ValidationError):
    """Every problem of a policy document at once (the deploy hook prints them all); ``field`` and the
    message are the first one's, so callers that show one error show the first."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__(errors[0].field, errors[0].message)
        self.errors = errors


class _Errors:
    def __init__(self) -> None:
        self.found: list[ValidationError] = []

    def add(self, field: str, message: str) -> None:
        self.found.append(ValidationError(field, message))

    def unknown(self, data: dict[str, Any], allowed: set[str], prefix: str) -> None:
        for key in sorted(set(data) - allowed, key=str):
            name = key if key else '""'
            self.add(f"{prefix}.{name}" if prefix else name, "unknown key")


def _retention(value: Any, field: str, errors: _Errors) -> dict[str, Any] | None:
    """``{"keepLast": N, "keepDays": D, "whenSourceGone": "keep"|"retention"}`` (replication.retention)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(field, "expected an object with keepLast and/or keepDays")
        return None
    errors.unknown(value, set(RETENTION_KEYS), field)
    out: dict[str, Any] = {}
    for key, low, high in (("keepLast", 1, MAX_KEEP_LAST), ("keepDays", 1, MAX_KEEP_DAYS)):
        n = value.get(key)
        if n is None:
            continue
        if not isinstance(n, int) or isinstance(n, bool) or not low <= n <= high:
            errors.add(f"{field}.{key}", f"a whole number from {low} to {high}")
        else:
            out[key] = n
    if "keepLast" not in value and "keepDays" not in value:
        errors.add(field, "give keepLast, keepDays or both (a copy is kept if either keeps it)")
    gone = value.get("whenSourceGone", "keep")
    if gone not in WHEN_SOURCE_GONE:
        errors.add(f"{field}.whenSourceGone", f"{gone!r} is not one of {list(WHEN_SOURCE_GONE)}")
    else:
        out["whenSourceGone"] = gone
    return out


def policy_errors(data: Any) -> list[ValidationError]:
    """Every problem of a policy document, each naming its field; empty when it is valid."""
    try:
        parse_policy(data)
    except PolicyErrors as error:
        return list(error.errors)
    except ValidationError as error:
        return [error]
    return []


def parse_policy(data: Any) -> Policy:
    """Validate a policy document; every error names the field and the problem. All problems are
    collected (``PolicyErrors.errors``); the exception's own field and message are the first one's."""
    errors = _Errors()

    def guard(default: Any, work: Any, *args: Any) -> Any:
        try:
            return work(*args)
        except ValidationError as error:
            errors.found.append(error)
            return default

    if not isinstance(data, dict):
        raise ValidationError("policy", "expected a JSON object")
    errors.unknown(data, {"sources", "targets", "maxAttempts", "description"}, "")
    sources = data.get("sources")
    subscriptions: set[str] = set()
    groups: set[tuple[str, str]] = set()
    collections: set[str] = set()
    tags: tuple[tuple[str, str], ...] = ()
    if not isinstance(sources, dict):
        errors.add("sources", "required: an object with subscriptions, resourceGroups, collections, tags")
    else:
        errors.unknown(sources, {"subscriptions", "resourceGroups", "collections", "tags"}, "sources")
        for i, sub in enumerate(guard([], _string_list, sources, "subscriptions", "sources.subscriptions")):
            checked_sub = guard(None, checked, f"sources.subscriptions[{i}]", check_subscription_id, sub)
            if checked_sub:
                subscriptions.add(checked_sub.lower())
        for i, rg in enumerate(guard([], _string_list, sources, "resourceGroups", "sources.resourceGroups")):
            match = _RG_ID.match(rg.strip())
            if not match:
                errors.add(f"sources.resourceGroups[{i}]", f"'{rg}' is not /subscriptions/<id>/resourceGroups/<name>")
                continue
            ok_sub = guard(None, checked, f"sources.resourceGroups[{i}]", check_subscription_id, match.group(1))
            ok_rg = guard(None, checked, f"sources.resourceGroups[{i}]", check_resource_group, match.group(2))
            if ok_sub and ok_rg:
                groups.add((match.group(1).lower(), match.group(2).lower()))
        for i, cid in enumerate(guard([], _string_list, sources, "collections", "sources.collections")):
            ref = guard(None, checked, f"sources.collections[{i}]", parse_collection_id, cid)
            if ref is not None:
                collections.add(normalize(ref.id))
        if not (subscriptions or groups or collections) and not errors.found:
            errors.add("sources", "name at least one subscription, resource group or collection")
        tags = guard((), _tags, sources.get("tags", {}), "sources.tags")

    targets_data = data.get("targets")
    rules: list[TargetRule] = []
    if not isinstance(targets_data, list) or not targets_data:
        errors.add("targets", "required: a non-empty list")
        targets_data = []
    elif len(targets_data) > MAX_TARGETS:
        errors.add("targets", f"at most {MAX_TARGETS} targets")
        targets_data = []
    seen: set[str] = set()
    for i, t in enumerate(targets_data):
        field = f"targets[{i}]"
        if not isinstance(t, dict):
            errors.add(field, "expected an object")
            continue
        before = len(errors.found)
        errors.unknown(t, set(TARGET_KEYS), field)
        region = t.get("region")
        if not isinstance(region, str) or not is_region(region):
            errors.add(f"{field}.region", f"{region!r} is not an Azure region")
            region = ""
        else:
            region = normalize_region(region)
            if region in seen:
                errors.add(f"{field}.region", f"'{region}' is listed twice")
            seen.add(region)
        subscription = guard(
            "", _check_template, f"{field}.subscriptionId", t.get("subscriptionId", "{sourceSubscriptionId}")
        )
        if subscription and "{" not in subscription:
            guard(None, checked, f"{field}.subscriptionId", check_subscription_id, subscription)
        group = guard("", _check_template, f"{field}.resourceGroup", t.get("resourceGroup"))
        if group and "{" not in group:
            guard(None, checked, f"{field}.resourceGroup", check_resource_group, group)
        copy_tags = guard([], _string_list, t, "copyTags", f"{field}.copyTags")
        add_tags = guard((), _tags, t.get("addTags", {}), f"{field}.addTags")
        retention = _retention(t.get("retention"), f"{field}.retention", errors)
        backlog = t.get("backlog", "all")
        if backlog not in BACKLOG_MODES:
            errors.add(f"{field}.backlog", f"{backlog!r} is not one of {list(BACKLOG_MODES)}")
        rpo = t.get("rpoHours")
        if rpo is not None and (not isinstance(rpo, int | float) or isinstance(rpo, bool) or not 0.25 <= rpo <= 8760):
            errors.add(f"{field}.rpoHours", "a number of hours from 0.25 to 8760")
        if len(errors.found) == before:
            rules.append(
                TargetRule(
                    region,
                    subscription,
                    group,
                    tuple(copy_tags),
                    add_tags,
                    retention,
                    str(backlog),
                    None if rpo is None else float(rpo),
                )
            )

    attempts = data.get("maxAttempts")
    if attempts is not None and (
        not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 20
    ):
        errors.add("maxAttempts", "a whole number from 1 to 20")
    if errors.found:
        raise PolicyErrors(errors.found)
    return Policy(
        frozenset(subscriptions), frozenset(groups), frozenset(collections), tags, tuple(rules), attempts, data
    )


def load_policy() -> Policy | None:
    """The policy from the app settings; None if none is configured. Invalid: SettingsError naming the field."""
    inline = _setting("REPLICATION_POLICY")
    path = _setting("REPLICATION_POLICY_PATH")
    if inline is None and path is None:
        return None
    source = "REPLICATION_POLICY"
    try:
        if inline is not None:
            text = inline
        else:
            source = "REPLICATION_POLICY_PATH"
            text = Path(str(path)).read_text(encoding="utf-8")
        return parse_policy(json.loads(text))
    except ValidationError as error:
        raise SettingsError(f"{source}: {error}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SettingsError(f"{source}: cannot read the policy ({type(error).__name__}: {error})") from None
