"""Retention in the target regions: which copies a lane may delete, and why. Pure: no I/O, no clock.

A policy target may say ``"retention": {"keepLast": N, "keepDays": D, "whenSourceGone": "keep"}``.
A copy is kept if either rule keeps it (the N newest usable copies; copies whose source restore point
was created less than D days ago). Whatever the rule, retention never deletes:

* the newest usable copy of the lane (every disk restore point succeeded), the one recovery needs;
* a copy that is not finished (provisioningState other than Succeeded, or disks still copying);
* anything this app did not make: only restore points of a target collection bound to the lane's
  source, having a ``sourceRestorePoint``, are candidates (the caller passes only those collections);
* a copy whose source restore point is gone, unless ``whenSourceGone`` is ``retention`` (default
  ``keep``: that copy is then the only one of its data left anywhere).

And it deletes nothing at all (``paused``) while the lane's newest copy is not usable or the lane is
in error: pruning only ever follows a confirmed copy.

Copies are ordered by their **source** restore point's ``timeCreated``. Recorded Azure traffic shows a
copy's own ``timeCreated`` equal to its source's (azure-cli ``test_copy_vm_restore_point.yaml``,
azure-sdk-for-net ``CreateRpcAndRestorePoints.json``), while the Virtual-Machine-Restore-Points FAQ says
a copy shows its own creation time; so the copy's own time is used only where the source is gone, and
there it can only err towards keeping (a copy is never created before its source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .ids import normalize
from .model import CollectionInfo
from .planning import CopyState, LanePlan

WHEN_SOURCE_GONE = ("keep", "retention")
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class RetentionRule:
    keep_last: int | None = None
    keep_days: int | None = None
    when_source_gone: str = "keep"

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RetentionRule | None:
        """The rule of a policy target (validated by ``replication.policy``); None: no retention."""
        if not data or (data.get("keepLast") is None and data.get("keepDays") is None):
            return None
        return cls(data.get("keepLast"), data.get("keepDays"), str(data.get("whenSourceGone") or "keep"))

    def describe(self) -> str:
        parts = []
        if self.keep_last is not None:
            parts.append(f"keepLast {self.keep_last}")
        if self.keep_days is not None:
            parts.append(f"keepDays {self.keep_days}")
        return " or ".join(parts)


@dataclass(frozen=True)
class CopyFacts:
    """One restore point of a lane's target collection, as retention needs it."""

    id: str
    name: str
    source_restore_point_id: str | None  # None: not a copy, so not this app's
    source_time: str | None  # the source restore point's timeCreated; None when the source is gone
    own_time: str | None  # the copy's own timeCreated (used only when the source is gone)
    source_exists: bool
    provisioning_state: str
    usable: bool  # every disk restore point succeeded (known to)
    copying: bool = False  # not finished (or not known to be)


@dataclass(frozen=True)
class Deletion:
    id: str
    name: str
    source_restore_point_id: str
    reason: str


@dataclass(frozen=True)
class RetentionDecision:
    delete: tuple[Deletion, ...] = ()
    keep_newest: str | None = None  # the newest usable copy: never deleted
    paused: str | None = None  # why nothing may be deleted now

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        rows = [
            {
                "targetRestorePointId": d.id,
                "name": d.name,
                "sourceRestorePointId": d.source_restore_point_id,
                "reason": d.reason,
            }
            for d in self.delete
        ]
        out: dict[str, Any] = {"deleteCount": len(rows), "delete": rows[:limit] if limit is not None else rows}
        if self.keep_newest:
            out["keepNewest"] = self.keep_newest
        if self.paused:
            out["paused"] = self.paused
        return out


def parse_time(value: str | None) -> datetime | None:
    """An ARM timestamp (``Z`` or an offset, up to 7 fractional digits); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rank_time(copy: CopyFacts, rule: RetentionRule) -> datetime | None:
    """When the copy's data was taken, for ordering and age; None: unknown, so the copy is kept."""
    if copy.source_exists:
        return parse_time(copy.source_time)
    if rule.when_source_gone == "retention":
        return parse_time(copy.own_time)
    return None


def made_by_app(copy: CopyFacts) -> bool:
    return bool(copy.source_restore_point_id)


def finished(copy: CopyFacts) -> bool:
    return copy.provisioning_state.lower() == "succeeded" and not copy.copying


def decide(
    copies: list[CopyFacts],
    rule: RetentionRule | None,
    now: datetime,
    lane_error: str | None = None,
    *,
    collection_gone: bool = False,
) -> RetentionDecision:
    """What retention deletes from one lane's target collection now, oldest first, each with its reason.
    ``collection_gone``: the whole source collection is gone (``replication.orphans``), so the reasons say so."""
    if rule is None or (rule.keep_last is None and rule.keep_days is None):
        return RetentionDecision()
    ours = [c for c in copies if made_by_app(c)]
    dated = [(t, c) for c in ours if (t := rank_time(c, rule)) is not None]
    dated.sort(key=lambda tc: (tc[0], tc[1].name.lower()), reverse=True)  # newest first
    # The lane's newest copy: by its source's time, or (an unreadable time) any copy not known to be
    # finished makes the lane's state unknown, so nothing is deleted.
    newest = dated[0][1] if dated else None
    keeper = next((c for _, c in dated if c.usable and finished(c)), None)
    if lane_error:
        return RetentionDecision(keep_newest=keeper.id if keeper else None, paused=lane_error)
    if newest is None:
        return RetentionDecision(paused="no copy of a known date: nothing to prune")
    if not (newest.usable and finished(newest)):
        return RetentionDecision(
            keep_newest=keeper.id if keeper else None,
            paused=f"the newest copy {newest.name} is not usable yet; pruning waits for it",
        )
    assert keeper is newest
    unfinished = [c for c in ours if not finished(c) and c.provisioning_state.lower() != "deleting"]
    if unfinished:
        return RetentionDecision(
            keep_newest=keeper.id, paused=f"copy {unfinished[0].name} is not finished; pruning waits for it"
        )
    # keepLast N: a copy goes only once N usable copies are newer than it (so N usable copies remain, and
    # an unusable one among the newest is never what makes room).
    kept_last: set[str] = set()
    if rule.keep_last is not None:
        newer_usable = 0
        for _, c in dated:
            if newer_usable < rule.keep_last:
                kept_last.add(c.id)
            newer_usable += 1 if c.usable else 0
    cutoff = now - timedelta(days=rule.keep_days) if rule.keep_days is not None else None
    deletions = []
    for when, c in reversed(dated):  # oldest first
        if c.id == keeper.id or c.id in kept_last or not finished(c):
            continue  # (a Deleting one is on its way already)
        if cutoff is not None and when >= cutoff:
            continue
        reason = _reason(c, when, rule, collection_gone)
        deletions.append(Deletion(c.id, c.name, str(c.source_restore_point_id), reason))
    return RetentionDecision(tuple(deletions), keeper.id)


def _reason(copy: CopyFacts, when: datetime, rule: RetentionRule, collection_gone: bool = False) -> str:
    parts = []
    if rule.keep_last is not None:
        parts.append(f"not among the {rule.keep_last} newest usable copies (keepLast {rule.keep_last})")
    if rule.keep_days is not None:
        parts.append(f"over {rule.keep_days} days old (keepDays {rule.keep_days})")
    taken = when.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    if copy.source_exists:
        head = f"retention: source created {taken}, "
    elif collection_gone:
        head = f"retention: source collection gone (whenSourceGone retention), copy created {taken}, "
    else:
        head = f"retention: source restore point gone (whenSourceGone retention), copy created {taken}, "
    return head + " and ".join(parts)


# ---- from a lane plan -------------------------------------------------------------------------


def retention_facts(source: CollectionInfo, target: CollectionInfo, plan: LanePlan) -> list[CopyFacts]:
    """The target collection's restore points as retention sees them. Only called for a target collection
    bound to the lane's source (the plan is not blocked), so everything in it with a ``sourceRestorePoint``
    is this app's (or a manual copy of the same source, which is as good)."""
    sources = {normalize(p["id"]): p for p in source["restorePoints"]}
    states = {normalize(c.target_id): c.state for c in plan.copies if c.target_id}
    facts = []
    for t in target["restorePoints"]:
        src_id = t.get("sourceRestorePointId")
        src = sources.get(normalize(src_id)) if src_id else None
        state = states.get(normalize(t["id"]))
        prov = t["provisioningState"].lower()
        unconfirmed = state is CopyState.UNCONFIRMED
        facts.append(
            CopyFacts(
                id=t["id"],
                name=t["name"],
                source_restore_point_id=src_id,
                source_time=src["timeCreated"] if src else None,
                own_time=t.get("timeCreated"),
                source_exists=src is not None,
                provisioning_state=t["provisioningState"],
                # Older copies finished before a newer one could start (one copy at a time per lane, and a
                # failed one is deleted); the newest is usable once this run watched it succeed.
                usable=prov == "succeeded" and not unconfirmed,
                copying=unconfirmed or prov in ("creating", "updating"),
            )
        )
    return facts


def lane_error(plan: LanePlan) -> str | None:
    """Why pruning pauses on this lane, or None: a blocked lane, a failed copy awaiting cleanup, or a
    restore point newer than every copy that failed every attempt (the lane is behind)."""
    if plan.blocked:
        return f"the lane is blocked: {plan.blocked}"
    newest_copy = max((i for i, c in enumerate(plan.copies) if c.target_id), default=-1)
    for i, c in enumerate(plan.copies):
        if c.state is CopyState.FAILED_TARGET:
            return f"the failed copy of {c.source['name']} is not cleaned up yet"
        if c.state is CopyState.GIVEN_UP and i > newest_copy:
            return f"the copy of {c.source['name']} failed every attempt; pruning waits for a newer good copy"
    return None


def decide_retention(
    source: CollectionInfo,
    target: CollectionInfo | None,
    plan: LanePlan,
    rule: RetentionRule | None,
    now: datetime,
) -> RetentionDecision | None:
    if rule is None:
        return None
    if target is None:
        return RetentionDecision(paused="the target collection does not exist yet")
    if plan.blocked:
        return RetentionDecision(paused=lane_error(plan))
    return decide(retention_facts(source, target, plan), rule, now, lane_error(plan))


# ---- expired rows of the progress API ---------------------------------------------------------------


def mark_expired(plan: LanePlan, target: CollectionInfo | None, rule: RetentionRule | None, now: datetime) -> LanePlan:
    """The plan with each source restore point that has no copy and that the rule would not keep marked
    ``EXPIRED`` instead of out of order: retention deleted its copy, or it was never needed (a newer one was
    copied first and this one is outside the rule anyway). Without this the progress API showed every pruned
    copy as ``skipped``, which reads as a gap in protection.

    Derived from Azure state and the rule alone, never from what a lane learnt, so it is the same after a
    crash or a purge of the task hub: a copy counts once it exists in the target and has not failed (the
    newest one counts whether or not this run watched it finish). A row is expired only if it is out of
    order (never pending or waiting), its source restore point succeeded (an unusable one stays skipped),
    at least one copy is newer than it (so it could not be the newest usable one), keepLast copies are
    newer than it (with keepLast) and it is older than keepDays (with keepDays). A blocked lane is shown as
    it is: nothing of it expires."""
    if rule is None or (rule.keep_last is None and rule.keep_days is None) or plan.blocked or target is None:
        return plan
    existing = (CopyState.COPIED, CopyState.UNCONFIRMED)
    copied = sorted(
        (t, c.source["name"].lower())
        for c in plan.copies
        if c.state in existing and (t := parse_time(c.source.get("timeCreated"))) is not None
    )
    if not copied:
        return plan
    cutoff = now - timedelta(days=rule.keep_days) if rule.keep_days is not None else None
    out = []
    for c in plan.copies:
        when = parse_time(c.source.get("timeCreated"))
        if (
            c.state is CopyState.OUT_OF_ORDER
            and c.source["provisioningState"].lower() == "succeeded"
            and when is not None
        ):
            newer = sum(1 for key in copied if key > (when, c.source["name"].lower()))
            outside = newer >= max(1, rule.keep_last or 0) and (cutoff is None or when < cutoff)
            if outside:
                taken = when.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
                reason = (
                    f"expired: source created {taken}, outside the target's retention ({rule.describe()}); "
                    f"{newer} newer cop{'y' if newer == 1 else 'ies'} kept, so retention deletes a copy of it "
                    "(or it was never needed)"
                )
                out.append(replace(c, state=CopyState.EXPIRED, reason=reason))
                continue
        out.append(c)
    return replace(plan, copies=tuple(out))
