"""Client-side helpers for virtual-time tests: wait by advancing the emulator clock, not by sleeping.

Under a virtual clock every ``Retry-After`` the emulator sends (429 throttles, LRO polls) is in
simulated seconds. azure-core would sleep that long in real time and, since nothing advances the
clock meanwhile, find the same answer again. These drop-in replacements advance the clock instead:

    advance = clock_advancer(handle.clock)            # in-process, or admin_advancer(handle.admin_url, ca)
    client = ComputeManagementClient(cred, sub, base_url=..., connection_verify=...,
                                     retry_policy=VirtualTimeRetryPolicy(advance))
    client.restore_points.begin_create(..., polling=VirtualTimePolling(advance)).result()
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
from azure.core.pipeline.policies import RetryPolicy
from azure.mgmt.core.polling.arm_polling import ARMPolling

from emulator.clock import Clock

Advance = Callable[[float], None]


def clock_advancer(clock: Clock) -> Advance:
    """Advance an in-process clock by a number of simulated seconds."""

    def advance(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    return advance


def admin_advancer(admin_url: str, ca_pem_path: str) -> Advance:
    """Advance the clock of an emulator in another process through ``POST /_emulator/clock``."""

    def advance(seconds: float) -> None:
        response = requests.post(f"{admin_url}/clock", json={"advanceSeconds": seconds}, verify=ca_pem_path, timeout=10)
        response.raise_for_status()

    return advance


class VirtualTimeRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's RetryPolicy (same retry rules) whose waits advance the virtual clock."""

    def __init__(self, advance: Advance, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._advance = advance

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        delay = self.get_retry_after(response) if response is not None else None
        if not delay:
            delay = self.get_backoff_time(settings)
        if delay and delay > 0:
            self._advance(float(delay))


class VirtualTimePolling(ARMPolling):
    """ARM LRO polling that waits by advancing the virtual clock instead of sleeping.

    Compute's recorded LRO responses carry no ``Retry-After``, so, like azure-mgmt's ARMPolling, it waits
    ``timeout`` seconds (the SDK's default polling interval, 30) between polls, or the ``Retry-After`` when
    one is sent.
    """

    def __init__(self, advance: Advance, timeout: float = 30, **kwargs: Any) -> None:
        super().__init__(timeout, **kwargs)
        self._advance = advance

    def _sleep(self, delay: float) -> None:
        self._advance(float(delay))
