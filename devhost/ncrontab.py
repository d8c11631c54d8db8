"""NCRONTAB schedules (the Functions timer trigger format): ``second minute hour day month day-of-week``.

Evaluated against the host clock, so simulated time drives timer triggers too. Like NCrontab, a time matches
when every field matches (day-of-month AND day-of-week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _value(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    return names[upper] if upper in names else int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(base, names)
            end = high if step_text else start
        if start < low or end > high or start > end or step < 1:
            raise ValueError(f"bad NCRONTAB field '{text}'")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields (second minute hour day month day-of-week): '{expression}'")
        names: tuple[dict[str, int], ...] = ({}, {}, {}, {}, _MONTHS, _DAYS)
        fields = [_field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _RANGES, names, strict=True)]
        return cls(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5])

    def next_after(self, after: datetime) -> datetime:
        """First matching instant strictly after ``after`` (searches up to ~5 years ahead)."""
        start = after.replace(microsecond=0) + timedelta(seconds=1)
        day = start.replace(hour=0, minute=0, second=0)
        for _ in range(366 * 5):
            weekday = (day.weekday() + 1) % 7  # Python Monday=0 -> cron Sunday=0
            if day.month in self.months and day.day in self.days and weekday in self.weekdays:
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            candidate = day.replace(hour=hour, minute=minute, second=second)
                            if candidate >= start:
                                return candidate
            day += timedelta(days=1)
        raise ValueError("schedule never fires")
