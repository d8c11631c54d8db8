"""``GET /api/protection``: is every VM protected? Read from Azure, computed by ``replication.protection``.

What it costs in Compute reads (the budgets of ``/work/shared`` §7: ``HighCostGetRestorePoint...`` for lists,
``LowCostGetRestorePoint...`` for single reads):

* listing: one high-cost GET per ARM page of each subscription or resource group of the policy
  (``Policy.sweep_units()``, as the sweep lists them); explicitly listed collections are read one by one;
* per source collection: one low-cost GET of the source (``$expand=restorePoints``) and, per target region,
  one of the target collection (two when it is absent: the name of earlier releases is looked up too);
* per lane, at most :data:`MAX_OBSERVED` ``$expand=instanceView`` GETs, newest copy first, until a usable
  copy is found; a copy seen usable is remembered for the life of the process (it never becomes
  unusable), so a steady fleet costs none of these.
* bytes of disks copied: nothing more; they come with the target collection's read
  (``replication.arm_protection.read_collection_with_disk_bytes``, each copy's ``diskSizeGB``).
* the lane's last announced RPO state: nothing more to read (it is a tag of the target collection, read with
  it); one PATCH of the target collection when a lane's objective changes (``functions.state_events``).

At 1,000 collections and 2 regions that is about 3,000 low-cost GETs per full refresh, over Compute's
subscription budget of a few hundred per window, so a report spends at most ``PROTECTION_MAX_READS``
(default 500) ARM reads; collections it could not afford are served from the cache, or reported
``unknown`` with that reason (ask again: the next report reads them first). Results are cached for
``PROTECTION_CACHE_SECONDS`` (default 300 s, on the report's clock); lanes that are copying are re-read
sooner than that is worth, so the cache is per source collection and the stalest are read first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from replication import arm, arm_protection
from replication import protection as domain
from replication.ids import (
    CollectionRef,
    legacy_target_collection_name,
    normalize,
    orphan_instance_id,
    same_id,
    target_collection_name,
)
from replication.model import CollectionInfo, CopyObservation
from replication.orphans import candidates
from replication.policy import Policy, load_policy
from replication.settings import ObserveSettings, SettingsError, load_arm_settings, load_observe_settings

from . import state_events, telemetry

bp = df.Blueprint()
log = logging.getLogger(__name__)

MAX_OBSERVED = 3  # instance views read per lane in one report
KNOWN_USABLE_MAX = 200_000


def utc_now() -> datetime:
    """The report's clock: UTC now. The end-to-end tests point it at the emulator's (virtual) clock.

    ``DEV_SCALED_CLOCK`` (dev only, written by ``make demo`` and ``make dev``; never set in Azure):
    ``<start>,<scale>,<anchor>``, the scaled clock the local stack's emulator and host run on (``start + (wall -
    anchor) * scale``), so RPO ages are measured on the simulated time the restore points were made in, not on
    the machine's date (which would make every demo lane days old)."""
    spec = os.environ.get("DEV_SCALED_CLOCK") or ""
    if spec:
        scaled = _scaled(spec)
        if scaled is not None:
            start, scale, anchor = scaled
            return start + timedelta(seconds=(time.time() - anchor) * scale)
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4)
def _scaled(spec: str) -> tuple[datetime, float, float] | None:
    try:
        start, scale, anchor = spec.split(",")
        when = domain.parse_time(start)
        return (when, float(scale), float(anchor)) if when is not None else None
    except ValueError:
        return None


class BudgetSpent(Exception):
    """This report may not read Azure any more."""


@dataclass
class Budget:
    limit: int
    used: int = 0

    def spend(self, n: int = 1) -> None:
        if self.used + n > self.limit:
            raise BudgetSpent
        self.used += n


@dataclass
class _Cache:
    endpoint: str = ""
    units: dict[str, tuple[datetime, list[CollectionInfo]]] = field(default_factory=dict)
    lanes: dict[str, tuple[datetime, list[dict[str, Any]]]] = field(default_factory=dict)
    usable: dict[str, CopyObservation] = field(default_factory=dict)
    # (source lower, region) -> the lane's target collection as last read (id, or None when it does not exist,
    # and its tags): where the lane's last announced RPO state lives (functions/state_events.py).
    targets: dict[tuple[str, str], state_events.LaneTarget] = field(default_factory=dict)


_cache = _Cache()
_lock = threading.Lock()


def reset_cache() -> None:
    global _cache
    with _lock:
        _cache = _Cache()


def _cache_for(endpoint: str) -> _Cache:
    """One cache per ARM endpoint (a test session talks to several emulators)."""
    global _cache
    with _lock:
        if _cache.endpoint != endpoint:
            _cache = _Cache(endpoint=endpoint)
        return _cache


def _read(budget: Budget, collection_id: str) -> CollectionInfo | None:
    budget.spend()
    return arm.read_collection(collection_id)


def _read_sized(budget: Budget, collection_id: str) -> tuple[CollectionInfo | None, dict[str, int | None]]:
    budget.spend()
    return arm_protection.read_collection_with_disk_bytes(collection_id)


def _target(
    budget: Budget, source: CollectionInfo, target: dict[str, Any]
) -> tuple[str, CollectionInfo | None, dict[str, int | None]]:
    """The lane's target collection (under its name, else the earlier releases' name) with its copies' disk bytes."""
    ref = CollectionRef(
        target["subscriptionId"], target["resourceGroup"], target_collection_name(source["id"], target["region"])
    )
    found, sizes = _read_sized(budget, ref.id)
    if found is None:
        legacy = CollectionRef(
            ref.subscription_id, ref.resource_group, legacy_target_collection_name(source["name"], target["region"])
        )
        old, old_sizes = _read_sized(budget, legacy.id)
        if old is not None and same_id(old.get("sourceId"), source["id"]):
            return legacy.id, old, old_sizes
    return ref.id, found, sizes


def _observe(budget: Budget, cache: _Cache, target: CollectionInfo | None) -> dict[str, CopyObservation | None]:
    """Instance views of the newest copies, newest first, until one is usable."""
    seen: dict[str, CopyObservation | None] = {}
    for point in domain.copies_newest_first(target)[:MAX_OBSERVED]:
        key = normalize(point["id"])
        with _lock:
            known = cache.usable.get(key)
        if known is not None:
            seen[key] = known
            break
        budget.spend()
        observation = arm.observe_copy(point["id"])
        seen[key] = observation
        if observation is not None and domain.usable(observation):
            with _lock:
                if len(cache.usable) >= KNOWN_USABLE_MAX:
                    cache.usable.clear()
                cache.usable[key] = observation
            break
    return seen


def read_source_lanes(
    policy: Policy, source_id: str, budget: Budget, cache: _Cache, now: datetime
) -> list[dict[str, Any]]:
    """Every lane of one source collection, read from Azure now (lists carry no restore points)."""
    source = _read(budget, source_id)
    if source is None:
        return []
    rows = []
    for target in policy.targets_for(source):
        region = target["region"]
        objective = policy.rpo_hours(region, domain.DEFAULT_RPO_HOURS)
        # When the read was issued, not when it is kept: a state this process announced (and tagged) after this
        # instant may be missing from what the GET returns, so it is fresher than this read (state_events).
        issued = time.monotonic()
        target_id, found, sizes = _target(budget, source, dict(target))
        observations = _observe(budget, cache, found)
        rows.append(
            domain.lane_protection(
                source,
                found,
                region,
                objective,
                observations,
                now,
                target_collection_id=target_id,
                disk_bytes=sizes,
                retention=target.get("retention"),
            )
        )
        with _lock:
            cache.targets[(normalize(source["id"]), region)] = state_events.LaneTarget(
                found["id"] if found is not None else None,
                dict(found["tags"]) if found is not None else {},
                read_at=issued,
            )
    return rows


def _list_unit(unit: dict[str, Any], policy: Policy, budget: Budget) -> list[CollectionInfo]:
    """The sources in scope of one sweep unit (whole, every page)."""
    if "collectionIds" in unit:
        found = [_read(budget, c) for c in unit["collectionIds"]]
        items = [c for c in found if c is not None]
    else:
        items, token = [], None
        while True:
            budget.spend()
            page, token = arm.list_collections_page(unit["subscriptionId"], unit.get("resourceGroup"), token)
            items += page
            if not token:
                break
    gone = _gone_sources(policy, items, budget)
    return [c for c in items if policy.scope_reason(c) is None] + gone  # type: ignore[list-item]


def _gone_sources(policy: Policy, items: list[CollectionInfo], budget: Budget) -> list[dict[str, Any]]:
    """Target collections of a listed unit whose source collection is gone (``replication.orphans``: bound to a
    policy target, and the source's GET answered 404; a source on the same listing exists, no read spent).
    Marked ``goneSource`` so the report lists them apart: they protect nothing any more, and with
    ``whenSourceGone: keep`` they stay until a person deletes them."""
    out: list[dict[str, Any]] = []
    for collection, target in candidates(policy, items):
        source_id = str(collection["sourceId"])
        try:
            budget.spend()
            if arm.read_collection(source_id) is not None:
                continue
        except BudgetSpent:
            break  # the sources' own lanes come first; the next report looks again
        except arm.ArmFailure:
            continue  # not known to be gone: nothing is said
        retention = target.get("retention") or {}
        out.append(
            {
                "goneSource": True,
                "sourceCollectionId": source_id,
                "region": target["region"],
                "targetCollectionId": collection["id"],
                "whenSourceGone": retention.get("whenSourceGone") or "keep",
                "instanceId": orphan_instance_id(collection["id"]),
            }
        )
    return out


def build_report(
    policy: Policy, settings: ObserveSettings, now: datetime, cache: _Cache | None = None
) -> dict[str, Any]:
    """The report; reads Azure within the budget, reuses what the cache holds (``cache``: this process's)."""
    if cache is None:
        cache = _cache_for(load_arm_settings().endpoint)
    budget = Budget(settings.max_reads)
    ttl = timedelta(seconds=settings.cache_seconds)
    sources: list[CollectionInfo] = []
    unlisted: list[str] = []
    for unit in policy.sweep_units():
        key = repr(sorted(unit.items()))
        with _lock:
            hit = cache.units.get(key)
        if hit is not None and now - hit[0] < ttl:
            sources += hit[1]
            continue
        try:
            listed = _list_unit(unit, policy, budget)
        except BudgetSpent:
            if hit is not None:
                sources += hit[1]
            else:
                unlisted.append(_describe(unit))
            continue
        except arm.ArmFailure as failure:
            if hit is not None:
                sources += hit[1]
            else:
                unlisted.append(f"{_describe(unit)}: {failure.kind}")
            continue
        with _lock:
            cache.units[key] = (now, listed)
        sources += listed

    def age(source: CollectionInfo) -> datetime:
        with _lock:
            entry = cache.lanes.get(normalize(source["id"]))
        return entry[0] if entry else datetime.min.replace(tzinfo=UTC)

    gone = {normalize(str(s["targetCollectionId"])): dict(s) for s in sources if s.get("goneSource")}
    sources = [s for s in sources if not s.get("goneSource")]
    lanes: list[dict[str, Any]] = []
    stale = 0
    for source in sorted({normalize(s["id"]): s for s in sources}.values(), key=age):
        key = normalize(source["id"])
        with _lock:
            entry = cache.lanes.get(key)
        if entry is not None and now - entry[0] < ttl:
            lanes += [domain.aged(row, now) for row in entry[1]]
            continue
        try:
            rows = read_source_lanes(policy, source["id"], budget, cache, now)
        except (BudgetSpent, arm.ArmFailure) as error:
            reason = (
                "not read in this report: its budget of ARM reads is spent (ask again)"
                if isinstance(error, BudgetSpent)
                else f"could not read it from Azure now: {error.kind}: {error}"
            )
            if entry is not None:
                stale += 1
                lanes += [{**domain.aged(row, now), "stale": True, "reason": reason} for row in entry[1]]
            else:
                lanes += [
                    domain.unknown_lane(
                        source["id"], t["region"], policy.rpo_hours(t["region"], domain.DEFAULT_RPO_HOURS), reason
                    )
                    for t in policy.targets_for(source)
                ]
            continue
        for row in rows:
            row["readAt"] = domain._iso(now)
        with _lock:
            cache.lanes[key] = (now, rows)
        lanes += rows
    return domain.report(
        lanes,
        now,
        complete=not unlisted and not any(lane["state"] == "unknown" for lane in lanes),
        unlisted=unlisted,
        armReads=budget.used,
        staleSources=stale,
        cacheSeconds=settings.cache_seconds,
        sourceCollectionsGone=[{k: v for k, v in g.items() if k != "goneSource"} for g in gone.values()],
    )


def _describe(unit: dict[str, Any]) -> str:
    if "collectionIds" in unit:
        return f"{len(unit['collectionIds'])} listed collections"
    where = f"subscription {unit['subscriptionId']}"
    return where + (f" resource group {unit['resourceGroup']}" if unit.get("resourceGroup") else "")


def evaluate(now: datetime | None = None) -> dict[str, Any]:
    """Build the report and act on it: the RPO gauge, and events when a lane's objective changes."""
    policy = load_policy()
    if policy is None:
        raise SettingsError("REPLICATION_POLICY: no replication policy is configured")
    settings = load_observe_settings()
    when = now or utc_now()
    # One cache for the whole check: the lanes are compared with the target collections this report read (their
    # tags hold the last announced state), never with whatever cache the process holds by the time it compares
    # (a cache replaced in between has none of them: every lane would look collection-less and be announced
    # again from memory).
    cache = _cache_for(load_arm_settings().endpoint)
    doc = build_report(policy, settings, when, cache)
    telemetry.record_protection(doc["lanes"])
    state_events.rpo_transitions(doc["lanes"], when, cache.targets, _lock)
    return doc


def _error(status: int, code: str, message: str, field: str | None = None) -> func.HttpResponse:
    import json

    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return func.HttpResponse(json.dumps({"error": error}), status_code=status, mimetype="application/json")


@bp.route(route="protection", methods=["GET"])
async def http_protection(req: func.HttpRequest) -> func.HttpResponse:
    """The protection report (JSON; CSV with ``?format=csv``)."""
    import json

    fmt = req.params.get("format", "json")
    if fmt not in ("json", "csv"):
        return _error(400, "InvalidRequest", "format: 'json' or 'csv'", "format")
    try:
        doc = await asyncio.to_thread(evaluate)
    except SettingsError as error:
        return _error(503, "Misconfigured", f"the app is misconfigured: {error}")
    if fmt == "csv":
        return func.HttpResponse(
            domain.to_csv(doc),
            status_code=200,
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="protection.csv"'},
        )
    return func.HttpResponse(json.dumps(doc), status_code=200, mimetype="application/json")


@bp.timer_trigger(arg_name="timer", schedule="%PROTECTION_SCHEDULE%", run_on_startup=False)
def timer_protection(timer: func.TimerRequest) -> None:
    """Check the fleet's RPO on a schedule: the gauge moves and events go out without anyone asking."""
    try:
        doc = evaluate()
    except SettingsError as error:
        log.error("protection check not run: %s", error)
        return
    log.info("protection check: %s", json_summary(doc))


def json_summary(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc["summary"], sort_keys=True)
