"""Pacing within Compute's own budgets, so the fleet slows down before Azure refuses it.

Every response of the Compute resource provider carries ``x-ms-ratelimit-remaining-resource``:
``Microsoft.Compute/PutRestorePointResource;5,Microsoft.Compute/PutRestorePointSubscriptionMaximum;149`` (the
calls each policy still allows after this one; recorded 2021-2025 in the azure-cli and azure-sdk-for-net
session recordings, `/work/shared/azure-restore-points.md` §7; format and 429 body: Learn "Troubleshooting API
throttling errors" for Compute). A spent policy answers 429 with a ``Retry-After``, and Compute measures refused
calls too (Learn's example shows measured 1238 above allowed 800), so a client that keeps calling keeps it spent.

:class:`Pacer` is pure bookkeeping (time is passed in or read from an injectable clock):

* **What it learns.** Per call class (method and what the URL addresses: a restore point, a collection, a
  list, an operation) the policies Compute charges it, from the header of every non-429 answer; per budget
  (subscription, region, policy, and for ``...Resource`` policies the resource addressed) the remaining count
  and when it was seen, the limit (the largest remaining + 1 ever seen), and the times of the calls this
  process let through. The region is the URL's ``/locations/{region}/`` or the ``location`` of the addressed
  collection as its own answers (GET, PUT, lists) showed it; Compute counts subscription policies per region.
* **Before a call** (:meth:`Pacer.before`): if any policy the call's class spends is estimated at or below
  its reserve (``max(MIN_RESERVE, RESERVE_FRACTION x limit)``, never the whole limit), the call is refused
  locally: no ARM call, and the caller gets the seconds to wait. Otherwise the call is counted against every
  such budget (so concurrent activities see each other's calls before the next header arrives).
* **The estimate.** remaining now = the last header's value, minus calls let through since that the header
  could not have counted (in flight or sent after it), plus this process's own calls that were inside the
  window when it was seen and have left it since (Compute's windows slide: Learn's 429 detail reports a window
  with ``startTime``/``endTime``). Calls by anyone else are not known, so they are assumed to stay in the
  window: the estimate is never above what the header allows.
* **The wait (``retryAfterSeconds``).** After a 429 for the policy: its ``Retry-After`` (once it has passed,
  calls go again as probes until the next answer's header says more). Otherwise the time
  until enough of this process's own counted calls leave the window to lift the budget above the reserve
  (call time + window - now); if its own calls are too few to do it, the time until the last header's whole
  window has turned over (seen + window - now), by when every call it counted has left. Windows: ``...3Min``
  180 s, ``...30Min`` 1800 s, ``...<n>Hour`` n hours (Learn's 3- and 30-minute policies); the newer names do not
  state one, so 1800 s, the longer documented window (an over-estimate costs a longer wait, never a 429; the
  next answer's header corrects the count). Callers refused earlier hold the slots they were promised, so
  the next refused caller is told a later time: waiters are spread over the refill, not woken all at once.

The pacer is **process-wide**: every orchestration's activities in one worker share it (one per process,
like the SDK clients). Scaled-out instances do not share it: each learns from Azure's own headers, which count
every instance's calls, so the remaining figure every instance reads already includes the others' spending;
only the calls between two answers are not seen, and the reserve is there for them (and for other clients of
the same subscription).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

HEADER = "x-ms-ratelimit-remaining-resource"
RESERVE_FRACTION = 0.05
MIN_RESERVE = 2
DEFAULT_WINDOW_SECONDS = 1800.0
MIN_WAIT_SECONDS = 1.0
URGENT_GRACE_SECONDS = 300.0  # a refused urgent caller's room is held this long after its time, to come back
HELD_FOR_URGENT_SECONDS = 60.0  # a call that is not urgent, held back for urgent work nearby, looks again after

_ENTRY = re.compile(r"^\s*(?:Microsoft\.Compute/)?(?P<policy>[A-Za-z0-9_.-]+);(?P<remaining>-?\d+)\s*$")
_WINDOW = re.compile(r"(?P<n>\d+)(?P<unit>Min|Hour|Hours|Sec)$")
_SUBSCRIPTION = re.compile(r"/subscriptions/(?P<sub>[^/?]+)", re.IGNORECASE)
_LOCATION = re.compile(r"/locations/(?P<loc>[^/?]+)", re.IGNORECASE)
_COLLECTION = re.compile(
    r"^(?P<id>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/restorepointcollections/[^/]+)",
    re.IGNORECASE,
)


def parse_header(value: str | None) -> dict[str, int]:
    """``Microsoft.Compute/A;5,Microsoft.Compute/B;149`` -> ``{"A": 5, "B": 149}`` (malformed entries dropped)."""
    out: dict[str, int] = {}
    for part in (value or "").split(","):
        match = _ENTRY.match(part)
        if match:
            out[match["policy"]] = int(match["remaining"])
    return out


def window_seconds(policy: str) -> float:
    """The policy's window, from its name (``...3Min``, ``...30Min``, ``...1Hour``), else the default."""
    match = _WINDOW.search(policy)
    if not match:
        return DEFAULT_WINDOW_SECONDS
    n = float(match["n"])
    return n * {"Min": 60.0, "Hour": 3600.0, "Hours": 3600.0, "Sec": 1.0}[match["unit"]]


def is_resource_policy(policy: str) -> bool:
    """``...Resource`` policies count per resource (the collection, the operation), the others per subscription."""
    return policy.endswith("Resource")


def normalize_region(region: str) -> str:
    return region.replace(" ", "").lower()


def _path(url: str) -> str:
    """The path of a URL (or of a path with a query), without a trailing slash."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    return path.rstrip("/")


def call_class(method: str, url: str) -> str:
    """What a call addresses, with its method: ``PUT restorePoint``, ``GET collection``, ``GET list`` ..."""
    segments = [s for s in _path(url).lower().split("/") if s]
    if "operations" in segments:
        kind = "operation"
    elif len(segments) >= 2 and segments[-2] == "restorepoints":
        kind = "restorePoint"
    elif len(segments) >= 2 and segments[-2] == "restorepointcollections":
        kind = "collection"
    elif segments and segments[-1] == "restorepointcollections":
        kind = "list"
    else:
        kind = "other"
    return f"{method.upper()} {kind}"


def collection_of(url: str) -> str | None:
    match = _COLLECTION.match(_path(url))
    return match["id"].lower() if match else None


@dataclass(frozen=True)
class BudgetKey:
    subscription: str
    region: str  # "" when unknown
    policy: str
    resource: str  # "" for subscription-wide policies


@dataclass
class Budget:
    remaining: int
    seen: float
    limit: int
    window: float
    unseen: int = 0  # calls let through that the last header could not have counted
    in_flight: int = 0
    blocked_until: float = 0.0
    calls: deque[float] = field(default_factory=deque)
    promises: deque[float] = field(default_factory=deque)  # when refused callers were told to come back
    urgent_promises: deque[float] = field(default_factory=deque)  # the same, for urgent callers

    def reserve(self) -> int:
        return min(self.limit - 1, max(MIN_RESERVE, math.ceil(self.limit * RESERVE_FRACTION)))

    def estimate(self, now: float) -> int:
        if now >= self.seen + self.window:  # every call the last header counted has left the window since
            return self.limit - sum(1 for t in self.calls if t + self.window > now)
        freed = sum(1 for t in self.calls if self.seen - self.window < t <= self.seen and t + self.window <= now)
        return min(self.limit, self.remaining - self.unseen + freed)

    def live_urgent(self, now: float) -> int:
        """Urgent callers refused here and still to come back (within their grace)."""
        return sum(1 for p in self.urgent_promises if p + URGENT_GRACE_SECONDS > now)

    def wait(self, now: float, urgent: bool = False, urgent_nearby: int = 0) -> float | None:
        """None if a call may go now, else seconds until the budget should be above its reserve.

        Callers already refused and told to come back later hold the slots they were promised, so the next
        one refused is told a later time: waiters are spread over the refill instead of all waking at once.
        ``urgent`` callers (work for a lane with no usable copy yet) go first: a call that is not urgent
        leaves room for every urgent caller still waiting, and an urgent one counts only urgent waiters
        ahead of it."""
        if self.promises:
            self.promises = deque(p for p in self.promises if p > now)
        if self.urgent_promises:  # held a while past their time: a durable timer wakes its caller a little late
            self.urgent_promises = deque(p for p in self.urgent_promises if p + URGENT_GRACE_SECONDS > now)
        queue = self.urgent_promises if urgent else self.promises
        ahead = len(self.urgent_promises) + (0 if urgent else len(self.promises))
        estimate = self.estimate(now)
        reserve = self.reserve()
        if now < self.blocked_until:  # Compute said when (a 429's Retry-After): that, spread over the waiters
            seconds = self.blocked_until - now + ahead * self.window / max(1, self.limit - reserve)
            queue.append(now + seconds)
            return seconds
        held = 0 if urgent else len(self.urgent_promises)
        if self.blocked_until > self.seen or estimate > reserve + held + urgent_nearby:
            if urgent and self.urgent_promises and self.urgent_promises[0] <= now:
                self.urgent_promises.popleft()  # an urgent caller back for the room it was promised
            return None  # a probe after a 429's Retry-After (no answer since), or room left
        if estimate > reserve + held:
            # Room here, but for urgent work waiting on the region's other budgets and about to need it: look
            # again shortly, promised nothing (a promise would push every later caller back behind it).
            return HELD_FOR_URGENT_SECONDS
        need = reserve - estimate + 1 + ahead
        leaving = sorted(t + self.window - now for t in self.calls if t + self.window > now)
        if len(leaving) >= need:
            seconds = leaving[need - 1]
        else:
            base = max(leaving[-1] if leaving else 0.0, self.seen + self.window - now, 0.0)
            per_window = max(1, self.limit - reserve)
            seconds = base + self.window * ((need - len(leaving) - 1) // per_window)
        seconds = max(seconds, MIN_WAIT_SECONDS)
        queue.append(now + seconds)
        return seconds


@dataclass(frozen=True)
class Refusal:
    seconds: float
    policy: str
    region: str
    estimate: int
    limit: int
    reserve: int

    @classmethod
    def of(cls, key: BudgetKey, budget: Budget, seconds: float, now: float) -> Refusal:
        return cls(
            max(MIN_WAIT_SECONDS, math.ceil(seconds)),
            key.policy,
            key.region,
            budget.estimate(now),
            budget.limit,
            budget.reserve(),
        )

    def message(self) -> str:
        where = f" in {self.region}" if self.region else ""
        return (
            f"paced by the app: Compute policy {self.policy}{where} has about {max(0, self.estimate)} of "
            f"{self.limit} calls left (reserve {self.reserve}); no call made, waiting about "
            f"{self.seconds:.0f} s for it to refill"
        )


class Pacer:
    """Compute budgets as this process has seen them (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self, clock: Callable[[], float] | None = None) -> None:
        """Forget everything learned (and optionally read time from another clock: a simulated one in tests)."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._classes: dict[str, frozenset[str]] = {}
            self._budgets: dict[BudgetKey, Budget] = {}
            self._regions: dict[str, str] = {}  # collection id (lower) -> region
            self.refusals = 0

    # ---- keys ----

    def _region(self, url: str) -> str:
        match = _LOCATION.search(_path(url))
        if match:
            return normalize_region(match["loc"])
        collection = collection_of(url)
        return self._regions.get(collection, "") if collection else ""

    def _key(self, url: str, policy: str) -> BudgetKey:
        sub_match = _SUBSCRIPTION.search(_path(url))
        sub = sub_match["sub"].lower() if sub_match else ""
        resource = ""
        if is_resource_policy(policy):
            resource = (
                _path(url).lower()
                if "/operations/" in _path(url).lower()
                else (collection_of(url) or _path(url).lower())
            )
        return BudgetKey(sub, self._region(url), policy, resource)

    # ---- the two hooks ----

    def _urgent_nearby(self, key: BudgetKey, now: float) -> int:
        """Urgent callers waiting on the other write budgets of the same subscription and region (lock held).

        Work for a lane with no usable copy yet goes through several budgets in turn (its target collection's
        PUT, then its first copy's PUT): a call that is not urgent must leave room for it on the next budget
        too, or a second copy takes the slot a first copy was about to need (bench/fleet.py: 75% without this,
        86% with it). Reads are left out: they are many and brief, and a read waiter is not about
        to need a write."""
        if not key.policy.startswith("Put"):
            return 0
        return sum(
            budget.live_urgent(now)
            for other, budget in self._budgets.items()
            if other != key
            and other.policy.startswith("Put")
            and other.subscription == key.subscription
            and other.region == key.region
        )

    def before(self, method: str, url: str, urgent: bool = False) -> tuple[Refusal | None, list[BudgetKey]]:
        """Refuse the call (a :class:`Refusal`), or count it and return the budgets it was counted against.
        ``urgent``: see :meth:`Budget.wait`."""
        now = self._clock()
        with self._lock:
            policies = self._classes.get(call_class(method, url), frozenset())
            keys = [self._key(url, p) for p in sorted(policies)]
            worst: Refusal | None = None
            for key in keys:
                budget = self._budgets.get(key)
                if budget is None:
                    continue
                seconds = budget.wait(now, urgent, 0 if urgent else self._urgent_nearby(key, now))
                if seconds is not None and (worst is None or seconds > worst.seconds):
                    worst = Refusal.of(key, budget, seconds, now)
            if worst is not None:
                self.refusals += 1
                return worst, []
            counted = []
            for key in keys:
                budget = self._budgets.get(key)
                if budget is not None:
                    budget.unseen += 1
                    budget.in_flight += 1
                    budget.calls.append(now)
                    while budget.calls and budget.calls[0] + budget.window <= now - budget.window:
                        budget.calls.popleft()
                    counted.append(key)
            return None, counted

    def admits(self, calls: Iterable[tuple[str, str]], urgent: bool = False) -> Refusal | None:
        """Would every one of these calls be let through now? The worst refusal if not. No call is counted, but a
        refusal is remembered as a promise (:meth:`Budget.wait`), as for a refused call: the caller comes back.

        An activity that needs several reads asks before the first: a read spent on the source region is
        wasted if the target region's budget then refuses the read that completes the plan."""
        worst: Refusal | None = None
        now = self._clock()
        with self._lock:
            for method, url in calls:
                for policy in sorted(self._classes.get(call_class(method, url), frozenset())):
                    key = self._key(url, policy)
                    budget = self._budgets.get(key)
                    nearby = 0 if urgent else self._urgent_nearby(key, now)
                    seconds = None if budget is None else budget.wait(now, urgent, nearby)
                    if budget is not None and seconds is not None and (worst is None or seconds > worst.seconds):
                        worst = Refusal.of(key, budget, seconds, now)
        return worst

    def after(
        self,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        counted: Iterable[BudgetKey] = (),
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        """Learn from an answer: the policies of its call class, the remaining counts, the regions in its body."""
        now = self._clock()
        values = parse_header(_header(headers, HEADER))
        with self._lock:
            for key in counted:
                budget = self._budgets.get(key)
                if budget is not None:
                    budget.in_flight = max(0, budget.in_flight - 1)
            if status != 429 and 200 <= status < 500 and values:
                cls = call_class(method, url)
                self._classes[cls] = self._classes.get(cls, frozenset()) | frozenset(values)
            self._learn_regions(url, body)
            for policy, remaining in values.items():
                key = self._key(url, policy)
                budget = self._budgets.get(key)
                if budget is None:
                    # A first sight in a 429 (remaining 0) says nothing of the limit: take the policy's elsewhere.
                    limit = max([remaining + 1] + [b.limit for k, b in self._budgets.items() if k.policy == policy])
                    budget = Budget(remaining, now, limit, window_seconds(policy))
                    self._budgets[key] = budget
                    budget.calls.append(now)  # the call that brought the first header was this process's
                budget.remaining, budget.seen = remaining, now
                budget.limit = max(budget.limit, remaining + 1)
                budget.unseen = budget.in_flight  # still in flight: not counted by this header, perhaps
                if status == 429 and remaining <= 0:
                    budget.blocked_until = max(budget.blocked_until, now + (retry_after or budget.window))

    def learn_region(self, url: str, region: str) -> None:
        """The region of the collection ``url`` addresses, e.g. from the ``location`` of a PUT that creates it."""
        collection = collection_of(url)
        if collection and region:
            with self._lock:
                self._regions[collection] = normalize_region(region)

    def _learn_regions(self, url: str, body: Any) -> None:
        if not isinstance(body, dict):
            return
        value = body.get("value")
        items: list[Any] = value if isinstance(value, list) else [body]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("location"), str):
                collection = collection_of(item["id"])
                if collection:
                    self._regions[collection] = normalize_region(item["location"])

    def remaining(self, subscription: str, policy: str, region: str = "", resource: str = "") -> int | None:
        """The current estimate for one budget (tests, benchmarks)."""
        with self._lock:
            budget = self._budgets.get(BudgetKey(subscription.lower(), region, policy, resource))
            return None if budget is None else budget.estimate(self._clock())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value
