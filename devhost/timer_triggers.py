"""Timer triggers: NCRONTAB schedules (``%SETTING%`` resolved) fired on the host clock.

They fire when the clock passes their next occurrence (advanced by durable timers, by the emulator, or by wall
time in scaled mode). They never advance virtual time themselves: a schedule always has a next occurrence, so
letting it pull the clock forward would make the host never idle.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from .app_loader import FunctionSpec, resolve_setting_refs
from .ncrontab import Schedule

if TYPE_CHECKING:
    from .host import Host

log = logging.getLogger("devhost.timers")


class TimerTriggers:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._next: dict[str, tuple[FunctionSpec, Schedule, datetime]] = {}
        self._last: dict[str, datetime] = {}
        self._initialised = False

    def _init(self) -> None:
        now = self.host.clock.now()
        for spec in self.host.specs:
            if spec.trigger_type != "timerTrigger":
                continue
            try:
                expression = resolve_setting_refs(str(spec.trigger.get("schedule", "")))
                schedule = Schedule.parse(expression)
            except (KeyError, ValueError) as exc:
                # The Functions host reports the function as in error and runs the others.
                log.error("timer function '%s' disabled: %s", spec.name, exc)
                continue
            self._next[spec.name] = (spec, schedule, schedule.next_after(now))
            if spec.trigger.get("runOnStartup"):
                self._invoke(spec, past_due=False, next_=self._next[spec.name][2])
        self._initialised = True

    def tick(self) -> None:
        """Called by the dispatcher on every step: invoke each function whose occurrence has passed (once)."""
        if not self._initialised:
            self._init()
        now = self.host.clock.now()
        for name, (spec, schedule, due) in list(self._next.items()):
            if now < due:
                continue
            following = schedule.next_after(now)
            past_due = following > schedule.next_after(due)
            self._next[name] = (spec, schedule, following)
            self._invoke(spec, past_due=past_due, next_=following)
            self._last[name] = now

    def _invoke(self, spec: FunctionSpec, *, past_due: bool, next_: datetime) -> None:
        host = self.host
        value = host.timer_request(past_due, self._last.get(spec.name), next_)
        busy = host.engine.busy()
        busy.__enter__()

        async def run() -> None:
            try:
                await host.invoker.call_async(spec, value)
            except Exception:
                log.exception("timer function '%s' failed", spec.name)
            finally:
                busy.__exit__(None, None, None)

        assert host._loop is not None
        asyncio.run_coroutine_threadsafe(run(), host._loop.loop)
