"""What depends on the storage backend: instance-id rules, payload limits, timer lengths.

Two backends, chosen with ``Host(..., backend=...)`` / ``--backend`` (default Azure Storage):

``azure_storage`` (what the app uses in Azure)
  * Client starts: the extension's own checks, which run whatever the backend
    (Azure/azure-functions-durable-extension ``ContextImplementations/DurableClient.cs``,
    ``IDurableOrchestrationClient.StartNewAsync``, ``IsInvalidCharacter``, ``MaxInstanceIdLength = 256``): no id
    starting with ``@``, none containing ``/ \\ # ?`` or a control character (``char.IsControl``), none over 256
    characters. They throw ``ArgumentException``; the HTTP API answers those with 400 "One or more of the arguments
    submitted is incorrect" (``HttpApiHandler.cs``, ``HandleRequestAsync``).
  * Sub-orchestration ids: Azure Storage escapes ``/ \\ # ?`` and control characters in table keys
    (Azure/durabletask ``src/DurableTask.AzureStorage/Tracking/KeySanitation.cs``, ``EscapePartitionKey``), so those
    are accepted. No source states a length limit for them (only Azure Table's key size): devhost is stricter and
    applies the client's 256 characters, failing the parent orchestration.
  * Payloads: no hard limit. Queue messages over 45 KB (``MessageManager.cs``, ``MaxStorageQueuePayloadSizeInBytes``)
    and table properties over 60 KB UTF-16 (``AzureTableTrackingStore.cs``, ``MaxTablePropertySizeInBytes``) move to
    blobs. (Custom status has its own 16 KB rule, in the extension: see ``shim.py``.)
  * Timers: ``MaximumDelayTime`` 6 days, ``LongRunningTimerIntervalLength`` 3 days
    (``AzureStorageDurabilityProvider.cs``); longer delays fail ``ValidateDelayTime``.

``dts`` (Durable Task Scheduler)
  Learn "Durable Task Scheduler", *Limitations and considerations* (MicrosoftDocs/azure-docs
  ``articles/azure-functions/durable/durable-task-scheduler/durable-task-scheduler.md``): orchestration instance ids
  of 1 to 100 printable ASCII characters (0x20-0x7E), ``@`` reserved; orchestrator inputs and outputs, activity
  inputs and outputs, external event data and custom status at most 1 MB each. The sources do not say how a
  violation surfaces, so devhost is strict: a client start or raise is refused (HTTP 500, the extension's answer to
  an exception from the backend), and an orchestration that would send such a payload or start such a
  sub-orchestration fails. "1 MB" is taken as 1,000,000 UTF-8 bytes (the smaller reading). Timers: devhost keeps
  the Azure Storage timer lengths (not verified for this backend).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from .payload import utf8_bytes

AZURE_STORAGE = "azure_storage"
DTS = "dts"
_ALIASES = {
    "azure_storage": AZURE_STORAGE,
    "azure-storage": AZURE_STORAGE,
    "azurestorage": AZURE_STORAGE,
    "dts": DTS,
    "durable-task-scheduler": DTS,
}

CLIENT_MAX_INSTANCE_ID = 256  # DurableClient.MaxInstanceIdLength
DTS_MAX_INSTANCE_ID = 100
DTS_MAX_PAYLOAD_BYTES = 1_000_000


class InstanceIdRejected(Exception):
    """A start the extension refuses with an ``ArgumentException`` (HTTP 400)."""


class BackendRejected(Exception):
    """A request the backend itself refuses (HTTP 500 from the extension)."""


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"  # char.IsControl: U+0000-U+001F, U+007F-U+009F


@dataclass(frozen=True)
class Backend:
    name: str
    maximum_delay: timedelta = timedelta(days=6)
    long_timer_interval: timedelta = timedelta(days=3)

    @property
    def label(self) -> str:
        return "Azure Storage" if self.name == AZURE_STORAGE else "Durable Task Scheduler"

    # ------------------------------------------------------------------ instance ids

    def check_client_instance_id(self, instance_id: str) -> None:
        """Raise ``InstanceIdRejected`` / ``BackendRejected`` for an id a client start may not use."""
        if instance_id.startswith("@"):
            raise InstanceIdRejected("instanceId (Parameter 'Orchestration instance ids must not start with @.')")
        if any(ch in "/\\?#" or _is_control(ch) for ch in instance_id):
            raise InstanceIdRejected(
                "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, or control "
                "characters.')"
            )
        if len(instance_id) > CLIENT_MAX_INSTANCE_ID:
            raise InstanceIdRejected(f"Instance ID lengths must not exceed {CLIENT_MAX_INSTANCE_ID} characters.")
        problem = self._dts_id_problem(instance_id)
        if problem:
            raise BackendRejected(problem)

    def sub_orchestration_id_problem(self, instance_id: str) -> str | None:
        """Why the backend would not take this sub-orchestration id (the extension's own checks are in the shim)."""
        if self.name == AZURE_STORAGE:
            if len(instance_id) > CLIENT_MAX_INSTANCE_ID:
                return (
                    f"devhost (stricter than Azure Storage, which has no documented limit here): sub-orchestration "
                    f"instance id of {len(instance_id)} characters exceeds {CLIENT_MAX_INSTANCE_ID}."
                )
            return None
        return self._dts_id_problem(instance_id)

    def _dts_id_problem(self, instance_id: str) -> str | None:
        if self.name != DTS:
            return None
        if not 1 <= len(instance_id) <= DTS_MAX_INSTANCE_ID:
            return (
                f"Durable Task Scheduler: orchestration instance IDs must be 1 to {DTS_MAX_INSTANCE_ID} characters; "
                f"'{instance_id[:40]}...' has {len(instance_id)}."
            )
        if any(not 0x20 <= ord(ch) <= 0x7E for ch in instance_id):
            return (
                "Durable Task Scheduler: orchestration instance IDs may only contain printable ASCII characters "
                f"(0x20-0x7E): {instance_id!r}."
            )
        return None

    # ------------------------------------------------------------------ payloads

    def payload_problem(self, what: str, text: str | None) -> str | None:
        """Why the backend would not take this serialized payload (``what``: e.g. "activity output")."""
        if self.name != DTS or text is None:
            return None
        size = utf8_bytes(text)
        if size > DTS_MAX_PAYLOAD_BYTES:
            return (
                f"Durable Task Scheduler: the {what} is {size:,} bytes; the maximum payload size is 1 MB "
                f"(devhost counts {DTS_MAX_PAYLOAD_BYTES:,} UTF-8 bytes)."
            )
        return None

    # ------------------------------------------------------------------ timers

    def delay_problem(self, delay: timedelta) -> str | None:
        """``DurabilityProvider.ValidateDelayTime`` (Azure Storage: ``AzureStorageDurabilityProvider``)."""
        if delay > self.maximum_delay:
            days = self.maximum_delay.total_seconds() / 86400
            return (
                f"The Azure Storage provider supports a maximum of {days:g} days for time-based delays"
                if self.name == AZURE_STORAGE
                else f"devhost: delays over {days:g} days are not supported"
            )
        return None


def get_backend(name: str | None) -> Backend:
    key = _ALIASES.get((name or AZURE_STORAGE).lower())
    if key is None:
        raise ValueError(f"unknown backend {name!r}: use 'azure_storage' (default) or 'dts'")
    return Backend(key)
