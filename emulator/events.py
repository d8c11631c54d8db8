"""Event Grid ``Microsoft.Resources.Subscriptions`` events for writes, with Azure's delivery quirks.

Every successful PUT/DELETE through the emulator (copies included) raises an event in the Event Grid
schema. Quirks that can be switched on: duplicate delivery (at-least-once), a preceding event for the
same operation carrying a ``deployments`` resource, lower-cased ``resourcegroups`` in subjects, and
out-of-order delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import aiohttp

from emulator.clock import format_time

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"


@dataclass
class EventConfig:
    webhook: str | None = None
    seed: int = 0
    duplicateRate: float = 0.0
    deploymentPrefaceRate: float = 0.0
    lowercaseSubjectRate: float = 0.0
    outOfOrder: bool = False

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown event fields: {sorted(unknown)}; known: {sorted(known)}")
        for name, value in data.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class EventSink:
    """Builds events, keeps the log (in delivery order) and posts them to the webhook, if any."""

    tenant_id: str
    config: EventConfig = field(default_factory=EventConfig)
    log: list[dict[str, Any]] = field(default_factory=list)
    delivery_errors: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))
    _held: dict[str, Any] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None
    _queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None

    def reseed(self) -> None:
        self._rng = random.Random(f"{self.config.seed}:events")

    def _event(self, event_type: str, resource_id: str, operation: str, when: datetime) -> dict[str, Any]:
        subscription = resource_id.split("/")[2]
        subject = resource_id
        if self.config.lowercaseSubjectRate and self._rng.random() < self.config.lowercaseSubjectRate:
            subject = subject.replace("/resourceGroups/", "/resourcegroups/")
        correlation = str(uuid.uuid4())
        return {
            "topic": f"/subscriptions/{subscription}",
            "subject": subject,
            "eventType": event_type,
            "eventTime": format_time(when),
            "id": str(uuid.uuid4()),
            "data": {
                "authorization": {
                    "scope": resource_id,
                    "action": operation,
                    "evidence": {"role": "Contributor"},
                },
                "claims": {"appid": "emulator-managed-identity"},
                "correlationId": correlation,
                "resourceProvider": "Microsoft.Compute",
                "resourceUri": resource_id,
                "operationName": operation,
                "status": "Succeeded",
                "subscriptionId": subscription,
                "tenantId": self.tenant_id,
            },
            "dataVersion": "2",
            "metadataVersion": "1",
        }

    def emit(self, event_type: str, resource_id: str, operation: str, when: datetime) -> None:
        """Record (and deliver) the event(s) for one successful write or delete."""
        event = self._event(event_type, resource_id, operation, when)
        batch: list[dict[str, Any]] = []
        if self.config.deploymentPrefaceRate and self._rng.random() < self.config.deploymentPrefaceRate:
            preface = self._event(event_type, resource_id, operation, when)
            rg_path = "/".join(resource_id.split("/")[:5])
            deployment = f"{rg_path}/providers/Microsoft.Resources/deployments/{uuid.uuid4()}"
            preface["subject"] = deployment
            preface["data"]["resourceUri"] = deployment
            preface["data"]["resourceProvider"] = "Microsoft.Resources"
            preface["data"]["operationName"] = "Microsoft.Resources/deployments/write"
            preface["data"]["correlationId"] = event["data"]["correlationId"]
            batch.append(preface)
        batch.append(event)
        if self.config.duplicateRate and self._rng.random() < self.config.duplicateRate:
            batch.append(event)
        for item in batch:
            self._deliver_in_order(item)

    def _deliver_in_order(self, event: dict[str, Any]) -> None:
        if self.config.outOfOrder:
            if self._held is None and self._rng.random() < 0.5:
                self._held = event  # delivered after the next event
                return
            self._send(event)
            if self._held is not None:
                held, self._held = self._held, None
                self._send(held)
            return
        self._send(event)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._send(held)

    def _send(self, event: dict[str, Any]) -> None:
        self.log.append(event)
        if self.config.webhook:
            with contextlib.suppress(RuntimeError):  # no running loop (in-process seeding): log only
                loop = asyncio.get_running_loop()
                if self._queue is None:
                    self._queue = asyncio.Queue()
                    task = loop.create_task(self._worker())
                    self._tasks.add(task)
                self._queue.put_nowait((self.config.webhook, event))

    async def _worker(self) -> None:
        """Posts one event per request, in log order (reordering is done before, in the log)."""
        assert self._queue is not None
        while True:
            url, event = await self._queue.get()
            await self._post(url, [event])
            self._queue.task_done()

    async def _post(self, url: str, events: list[dict[str, Any]]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            headers = {"aeg-event-type": "Notification"}
            async with self._session.post(url, json=events, headers=headers) as response:
                if response.status >= 300:
                    self.delivery_errors += 1
        except (aiohttp.ClientError, OSError):
            self.delivery_errors += 1

    async def close(self) -> None:
        if self._queue is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._queue.join(), 2)
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
