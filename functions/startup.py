"""Checks when the app loads: a bad policy or setting is reported at once, not at the first event.

Loading never fails on a bad setting (the HTTP API must still serve progress and say what is
wrong); the error is logged here, and every entry point refuses to act on the bad value (503 from
the API, a retried delivery for Event Grid).
"""

from __future__ import annotations

import logging

from replication.policy import load_policy
from replication.settings import SettingsError, load_arm_settings, load_copy_settings

log = logging.getLogger(__name__)


def check_settings() -> list[str]:
    """Every setting problem, as messages naming the setting (empty when all is well)."""
    problems = []
    for load in (load_arm_settings, load_copy_settings, load_policy):
        try:
            load()
        except SettingsError as error:
            problems.append(str(error))
    try:
        if load_policy() is None:
            problems.append("REPLICATION_POLICY: no replication policy is configured; nothing will be replicated")
    except SettingsError:
        pass
    for problem in problems:
        log.error("configuration: %s", problem)
    return problems
