"""The emulated Microsoft.Compute restore point resources and Azure's cross-region copy rules.

All methods run on the server's event loop thread. Every refusal raises ``ArmError`` with the status
and code chosen in docs/emulator.md. Time-dependent values are computed from ``clock.now()`` when
read, never by background ticking.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from emulator import copy_rules, deletion, ids, metadata
from emulator.clock import Clock, parse_time
from emulator.compute_throttle import ComputeThrottler
from emulator.copy_rules import region
from emulator.errors import ArmError, entity_not_found, not_found, parent_not_found
from emulator.events import WRITE_SUCCESS, EventConfig, EventSink
from emulator.faults import FaultConfig, Faults
from emulator.models import Collection, Operation, RestorePoint, Subscription
from emulator.throttle import Throttler

COPIES_PER_HOUR = 3
RPC_KIND = "Microsoft.Compute/restorePointCollections"
RP_KIND = "Microsoft.Compute/restorePointCollections/restorePoints"
RPC_WRITE = "Microsoft.Compute/restorePointCollections/write"
RP_WRITE = "Microsoft.Compute/restorePointCollections/restorePoints/write"


def _reference_id(value: Any, where: str) -> str | None:
    """The ``id`` of an ``{"id": ...}`` reference in a request body (400 if it is not one)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id", ""), str):
        raise ArmError(400, "InvalidParameter", f"{where} must be an object with a string id.", target=f"{where}.id")
    return value.get("id")


SNAPSHOT_NOT_COPYABLE = ("Pending", "InstantAccess")


def source_snapshot_access(rp: RestorePoint, now: datetime) -> str | None:
    """A source restore point's disks' snapshotAccessState now (None: not modelled for it)."""
    if rp.snapshot_access is None:
        return None
    if rp.snapshot_available_at is not None and now >= rp.snapshot_available_at:
        return "Available"
    return rp.snapshot_access


class EmulatorState:
    """Everything the emulator knows; reset and re-seeded from a scenario dict."""

    def __init__(self, clock: Clock, scenario: dict[str, Any], events_webhook: str | None = None) -> None:
        self.clock = clock
        self.events = EventSink(tenant_id="", config=EventConfig(webhook=events_webhook))
        self.calls: dict[str, int] = {}
        self._seeding = False
        self.load(scenario)

    # ----------------------------------------------------------------- seeding
    def load(self, scenario: dict[str, Any]) -> None:
        """Replace all state with the scenario (the clock is shared and only moves forward)."""
        self.scenario = scenario
        self.tenant_id: str = scenario.get("tenantId", "00000000-0000-0000-0000-0000000000aa")
        self.bandwidth_bytes = float(scenario.get("copyBandwidthMBps", 250)) * 1024 * 1024
        self.page_size = int(scenario.get("pageSize", 50))
        self.initiation_delay = timedelta(seconds=float(scenario.get("copyInitiationSeconds", 0)))
        # Recorded Compute LRO responses carry no Retry-After (docs/emulator.md); a number here adds one.
        retry_after = scenario.get("lroRetryAfterSeconds")
        self.lro_retry_after: int | None = None if retry_after is None else int(retry_after)
        throttling = scenario.get("throttling", {})
        limits = {k: (float(v[0]), float(v[1])) for k, v in throttling.get("limits", {}).items()}
        self.throttler = Throttler(limits, enabled=bool(throttling.get("enabled", True)))
        self.compute_throttler = ComputeThrottler.from_config(scenario.get("computeThrottling"))
        self.limit_refusals: dict[str, int] = {}  # 429s of the hourly copy / VM-create limits, per policy name
        self.storm_refusals = 0  # 429s of throttle storms (rate and windows)
        self.outage_refusals: dict[str, int] = {}  # calls refused by region outages, per region
        self.copies_per_hour = int(scenario.get("copiesPerHourPerCollection", COPIES_PER_HOUR))
        self.faults = Faults(FaultConfig.from_dict(scenario.get("faults")))
        webhook = self.events.config.webhook
        event_config = EventConfig(webhook=webhook)
        event_config.update(scenario.get("events", {}))
        self.events.config = event_config
        self.events.tenant_id = self.tenant_id
        self.events.log.clear()
        self.events.reseed()
        self.calls.clear()
        self.subscriptions: dict[str, Subscription] = {}
        self.collections: dict[str, Collection] = {}
        self.operations: dict[str, Operation] = {}
        self.pending_deletes: list[Operation] = []
        # Every accepted restore point DELETE with what its collection held at that moment (admin API
        # ``/_emulator/deletes``): tests check that no delete ever left a target without its newest usable copy.
        self.delete_log: list[dict[str, Any]] = []
        self.scheduled_done: set[tuple[str, str]] = set()
        self.lane_high_water: dict[tuple[str, str], datetime] = {}
        self.delete_seconds = timedelta(seconds=float(scenario.get("deleteSeconds", 0)))
        self.delete_auto_complete = timedelta(seconds=float(scenario.get("deleteCompletesAfterSeconds", 60)))
        if "clock" in scenario and "start" in scenario["clock"]:
            self.clock.advance_to(parse_time(scenario["clock"]["start"]))
        for sub in scenario.get("subscriptions", []):
            subscription = Subscription(sub["subscriptionId"], sub.get("displayName", sub["subscriptionId"]))
            for rg in sub.get("resourceGroups", []):
                subscription.resource_groups[rg["name"].lower()] = (rg["name"], rg["location"])
            self.subscriptions[subscription.subscription_id.lower()] = subscription
        # Seeded resources existed before the emulator started: they raise no events.
        self._seeding = True
        try:
            for spec in scenario.get("collections", []):
                self._seed_collection(spec)
        finally:
            self._seeding = False

    def _seed_collection(self, spec: dict[str, Any]) -> None:
        sub, rg_name, name = spec["subscriptionId"], spec["resourceGroup"], spec["name"]
        rg = self.resource_group(sub, rg_name)
        rpc_id = ids.collection_id(sub, rg, name)
        vm = spec.get("vm") or {"name": name.removesuffix("-rpc")}
        location = spec.get("location") or self.subscriptions[sub.lower()].resource_groups[rg.lower()][1]
        collection = Collection(
            rpc_id=rpc_id,
            subscription=sub,
            resource_group=rg,
            name=name,
            location=location,
            tags=dict(spec.get("tags", {})),
            guid=str(uuid.uuid5(uuid.NAMESPACE_URL, ids.key(rpc_id))),
            source_id=metadata.vm_id(sub, rg, vm["name"]),
            source_location=location,
            vm=vm,
        )
        self.collections[ids.key(rpc_id)] = collection
        for rp in spec.get("restorePoints", []):
            self.create_source_restore_point(rpc_id, rp["name"], rp.get("timeCreated"), rp.get("changedPercent"), rp)

    def resource_group(self, sub: str, rg: str) -> str:
        subscription = self.subscriptions.get(sub.lower())
        if subscription is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        found = subscription.resource_groups.get(rg.lower())
        if found is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return found[0]

    def create_source_restore_point(
        self,
        collection_id: str,
        name: str,
        time_created: str | None = None,
        changed_percent: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RestorePoint:
        """Create a complete source restore point, as a VM would (admin API and seeding)."""
        collection = self.collections.get(ids.key(collection_id))
        if collection is None:
            raise ArmError(404, "ResourceNotFound", f"Restore point collection '{collection_id}' not found.")
        if collection.vm is None:
            raise ArmError(400, "BadRequest", "Source restore points can only be created in a VM's collection.")
        if name.lower() in collection.restore_points:
            raise ArmError(409, "OperationNotAllowed", f"Restore point '{name}' already exists.")
        extra = extra or {}
        rp_id = ids.restore_point_id(collection.rpc_id, name)
        created = parse_time(time_created) if time_created else self.clock.now()
        rp = RestorePoint(
            rp_id=rp_id,
            name=name,
            collection_key=ids.key(collection.rpc_id),
            time_created=created,
            consistency_mode=extra.get("consistencyMode", "ApplicationConsistent"),
            source_metadata=metadata.build_source_metadata(
                collection.vm, collection.subscription, collection.resource_group, collection.location, rp_id
            ),
            changed_percent=float(10 if changed_percent is None else changed_percent),
            instant_access_minutes=extra.get("instantAccessDurationMinutes"),
        )
        excluded = extra.get("excludeDisks") or []
        if excluded:
            # Spec example RestorePoint_Get_WithInstanceView (2025-04-01): an excluded disk is listed in
            # excludeDisks and absent from sourceMetadata.storageProfile, so nothing of it is copied.
            rp.exclude_disks = [{"id": str(d.get("id"))} for d in excluded if isinstance(d, dict)]
            gone = {d["id"].lower() for d in rp.exclude_disks}
            storage = rp.source_metadata.get("storageProfile", {})
            storage["dataDisks"] = [
                d for d in storage.get("dataDisks", []) if d["managedDisk"]["id"].lower() not in gone
            ]
        if extra.get("snapshotAccessState"):
            # Scenario/admin knob: the disks' snapshotAccessState (e.g. Pending, InstantAccess) until
            # snapshotAvailableAfterSeconds after creation, then Available.
            rp.snapshot_access = str(extra["snapshotAccessState"])
            rp.snapshot_available_at = created + timedelta(seconds=float(extra.get("snapshotAvailableAfterSeconds", 0)))
        collection.restore_points[name.lower()] = rp
        if not self._seeding:
            self.events.emit(WRITE_SUCCESS, rp_id, RP_WRITE, self.clock.now())
        return rp

    # ----------------------------------------------------------------- lookups
    def list_subscriptions(self) -> list[Subscription]:
        return list(self.subscriptions.values())

    def get_collection(self, sub: str, rg: str, name: str) -> Collection:
        rg = self.resource_group(sub, rg)
        found = self.collections.get(ids.key(ids.collection_id(sub, rg, name)))
        if found is None:
            raise not_found(RPC_KIND, name, rg)
        return found

    def find_collection(self, sub: str, rg: str, name: str) -> Collection | None:
        """The collection, or None if it (or its resource group or subscription) does not exist."""
        subscription = self.subscriptions.get(sub.lower())
        found = subscription.resource_groups.get(rg.lower()) if subscription else None
        if found is None:
            return None
        return self.collections.get(ids.key(ids.collection_id(sub, found[0], name)))

    def list_collections(self, sub: str, rg: str | None) -> list[Collection]:
        if rg is not None:
            rg = self.resource_group(sub, rg)
        elif sub.lower() not in self.subscriptions:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return [
            c
            for c in self.collections.values()
            if c.subscription.lower() == sub.lower() and (rg is None or c.resource_group.lower() == rg.lower())
        ]

    def get_restore_point(self, sub: str, rg: str, rpc: str, name: str, *, count_read: bool = True) -> RestorePoint:
        rg = self.resource_group(sub, rg)
        collection = self.collections.get(ids.key(ids.collection_id(sub, rg, rpc)))
        if collection is None:
            raise parent_not_found(RPC_KIND, rpc, rg)
        rp = collection.restore_points.get(name.lower())
        if rp is None:
            raise entity_not_found()
        if count_read:
            self.observe(rp)
        return rp

    def find_restore_point(self, rp_id: str) -> RestorePoint | None:
        parsed = ids.parse(rp_id)
        if parsed is None or parsed.restore_point is None:
            return None
        collection = self.collections.get(parsed.collection_key)
        return None if collection is None else collection.restore_points.get(parsed.restore_point.lower())

    # ----------------------------------------------------------------- provisioning
    def observe(self, rp: RestorePoint) -> None:
        """A client read the restore point (or its operation): Creating ends on a read after the first.

        So a client always sees ``Creating``/``InProgress`` at least once, and then ``Succeeded`` as soon as
        the copy is initiated (``copyInitiationSeconds`` of simulated time after the PUT, default 0).
        """
        if rp.provisioning_state == "Creating":
            ready = rp.provisioning_ready_at is None or self.clock.now() >= rp.provisioning_ready_at
            if rp.status_reads >= 1 and ready:
                # A source deleted before the copy was initiated fails the creation itself.
                lost_source = (
                    rp.copy is not None
                    and rp.copy.aborted_at is not None
                    and rp.provisioning_ready_at is not None
                    and rp.copy.aborted_at <= rp.provisioning_ready_at
                )
                rp.provisioning_state = "Failed" if rp.provisioning_fails or lost_source else "Succeeded"
        rp.status_reads += 1

    # ----------------------------------------------------------------- collections
    def put_collection(self, sub: str, rg: str, name: str, body: dict[str, Any]) -> tuple[Collection, bool]:
        rg = self.resource_group(sub, rg)
        rpc_key = ids.key(ids.collection_id(sub, rg, name))
        existing = self.collections.get(rpc_key)
        location = body.get("location")
        properties = body.get("properties") or {}
        tags = body.get("tags") or {}
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        if not isinstance(tags, dict) or not isinstance(properties, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        if existing is not None and existing.deleting_op is not None:
            raise ArmError(409, "OperationNotAllowed", f"Restore point collection '{name}' is being deleted.")
        if existing is not None:
            if region(location) != region(existing.location):
                raise ArmError(
                    409,
                    "InvalidResourceLocation",
                    f"The resource '{name}' already exists in location '{existing.location}' in resource group "
                    f"'{rg}'. A resource with the same name cannot be created in location '{location}'. "
                    "Please select a new resource name.",
                )
            self._check_only_tags_change(existing, properties)
            existing.tags = {str(k): str(v) for k, v in tags.items()}
            self.events.emit(WRITE_SUCCESS, existing.rpc_id, RPC_WRITE, self.clock.now())
            return existing, False
        source_id = _reference_id(properties.get("source"), "properties.source")
        if not isinstance(source_id, str) or not source_id:
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'source' is missing (null).",
                target="properties.source.id",
            )
        parsed = ids.parse(source_id)
        if parsed is None or parsed.restore_point is not None:
            raise ArmError(
                400,
                "InvalidParameter",
                "The emulator creates restore point collections through ARM only as cross-region copy targets: "
                "properties.source.id must be a restore point collection id (VM collections come from the scenario).",
                target="properties.source.id",
            )
        source = self.collections.get(parsed.collection_key)
        if source is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"Source restore point collection '{source_id}' was not found.",
                target="properties.source.id",
            )
        if source.is_target:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Restore point collection '{source.rpc_id}' is itself a copy; a copied restore point collection "
                "cannot be the source of another cross-region copy.",
                target="properties.source.id",
            )
        if region(source.location) == region(location):
            raise ArmError(
                400,
                "InvalidParameter",
                f"Cross-region copy requires a target region different from the source region '{source.location}'.",
                target="location",
            )
        collection = Collection(
            rpc_id=ids.collection_id(sub, rg, name),
            subscription=sub,
            resource_group=rg,
            name=name,
            location=location,
            tags={str(k): str(v) for k, v in tags.items()},
            guid=str(uuid.uuid4()),
            source_id="/" + source_id.strip("/"),
            source_location=source.location,
            source_collection_key=ids.key(source.rpc_id),
        )
        self.collections[rpc_key] = collection
        self.events.emit(WRITE_SUCCESS, collection.rpc_id, RPC_WRITE, self.clock.now())
        return collection, True

    def _check_only_tags_change(self, existing: Collection, properties: dict[str, Any]) -> None:
        for prop, value in properties.items():
            if prop == "source":
                new_id = _reference_id(value, "properties.source")
                if new_id is not None and ids.key(new_id) != ids.key(existing.source_id):
                    raise ArmError(
                        409,
                        "PropertyChangeNotAllowed",
                        "Changing property 'source.id' is not allowed.",
                        target="properties.source.id",
                    )
            elif prop in ("provisioningState", "restorePointCollectionId", "restorePoints"):
                continue
            elif value is not None:
                raise ArmError(
                    409,
                    "PropertyChangeNotAllowed",
                    f"Changing property '{prop}' is not allowed.",
                    target=f"properties.{prop}",
                )

    def patch_collection(self, sub: str, rg: str, name: str, body: dict[str, Any]) -> Collection:
        collection = self.get_collection(sub, rg, name)
        if not isinstance(body.get("tags") or {}, dict) or not isinstance(body.get("properties") or {}, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        self._check_only_tags_change(collection, body.get("properties") or {})
        if "tags" in body and body["tags"] is not None:
            collection.tags = {str(k): str(v) for k, v in body["tags"].items()}
        self.events.emit(WRITE_SUCCESS, collection.rpc_id, RPC_WRITE, self.clock.now())
        return collection

    # ----------------------------------------------------------------- restore points
    def put_restore_point(
        self, sub: str, rg: str, rpc: str, name: str, body: dict[str, Any]
    ) -> tuple[RestorePoint, Operation]:
        rg = self.resource_group(sub, rg)
        collection = self.collections.get(ids.key(ids.collection_id(sub, rg, rpc)))
        if collection is None:
            raise parent_not_found(RPC_KIND, rpc, rg)
        if collection.deleting_op is not None:
            raise ArmError(409, "OperationNotAllowed", f"Restore point collection '{rpc}' is being deleted.")
        if name.lower() in collection.restore_points:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Restore point '{name}' already exists; restore points cannot be updated. "
                "Delete it first or use another name.",
            )
        properties = body.get("properties") or {}
        source_ref = properties.get("sourceRestorePoint") if isinstance(properties, dict) else None
        if not isinstance(properties, dict) or not isinstance(source_ref or {}, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        source_id = (source_ref or {}).get("id")
        if source_id is not None and not isinstance(source_id, str):
            raise ArmError(
                400,
                "InvalidParameter",
                "properties.sourceRestorePoint.id must be a string.",
                target="properties.sourceRestorePoint.id",
            )
        now = self.clock.now()
        if not source_id:
            if collection.vm is None:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    "properties.sourceRestorePoint.id is required in a cross-region copy collection.",
                    target="properties.sourceRestorePoint.id",
                )
            copy_rules.check_vm_create_limits(self, collection, now)
            rp = self.create_source_restore_point(collection.rpc_id, name, extra=properties)
            collection.copy_times.append(now)
            rp.provisioning_state = "Creating"
            rp.provisioning_ready_at = now + self.initiation_delay
            return rp, self.new_operation("create", sub, collection.location, ids.key(rp.rp_id))
        source = self.find_restore_point(source_id)
        if source is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"Source restore point '{source_id}' was not found.",
                target="properties.sourceRestorePoint.id",
            )
        source_collection = self.collections[source.collection_key]
        access = source_snapshot_access(source, now)
        if access in SNAPSHOT_NOT_COPYABLE:
            # No source says what Azure does when asked to copy a restore point whose disk snapshots are not
            # yet available (snapshotAccessState Pending, or InstantAccess only); stricter than Azure, the
            # emulator refuses, so the product must wait for them itself.
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Restore point '{source_id}' cannot be copied yet: its disk snapshots are {access}.",
            )
        copy_rules.check_copy_rules(self, collection, source_collection, source, now)
        rp_id = ids.restore_point_id(collection.rpc_id, name)
        job = copy_rules.new_copy_job(self, collection, source_collection, source, rp_id, now + self.initiation_delay)
        rp = RestorePoint(
            rp_id=rp_id,
            name=name,
            collection_key=ids.key(collection.rpc_id),
            # Recorded (azure-cli 2022-06 and 2023-10, azure-sdk-for-net 2021-12 and 2023-04): a copy's own
            # timeCreated is its source's, from the 201 on. (The Virtual-Machine-Restore-Points FAQ says the
            # copy shows its own creation time; the recordings say otherwise, and win.)
            time_created=source.time_created,
            consistency_mode=source.consistency_mode,
            source_metadata=metadata.copy_metadata_for_target(source.source_metadata, rp_id),
            changed_percent=source.changed_percent,
            source_restore_point_id=source.rp_id,
            source_restore_point_key=ids.key(source.rp_id),
            provisioning_state="Creating",
            provisioning_ready_at=now + self.initiation_delay,
            provisioning_fails=self.faults.hit("copyProvisioning", self.faults.config.copyProvisioningFailureRate),
            copy=job,
        )
        collection.restore_points[name.lower()] = rp
        collection.copy_times.append(now)
        self.events.emit(WRITE_SUCCESS, rp_id, RP_WRITE, now)
        return rp, self.new_operation("create", sub, collection.location, ids.key(rp_id))

    # ----------------------------------------------------------------- deletes (see deletion.py)
    def delete_collection(self, sub: str, rg: str, name: str) -> Operation | None:
        return deletion.delete_collection(self, sub, rg, name)

    def delete_restore_point(self, sub: str, rg: str, rpc: str, name: str) -> Operation | None:
        return deletion.delete_restore_point(self, sub, rg, rpc, name)

    def delete_by_id(
        self, resource_id: str, when: datetime | None = None, *, restore_points_only: bool = False
    ) -> bool:
        """Out-of-band delete (admin API, scheduled faults), completed at once."""
        return deletion.delete_by_id(self, resource_id, when, restore_points_only=restore_points_only)

    def sweep(self) -> None:
        """Apply what the passing of time alone brings (scheduled deletes, unpolled deletes)."""
        deletion.sweep(self)

    # ----------------------------------------------------------------- operations
    def new_operation(self, kind: str, sub: str, location: str, resource_key: str) -> Operation:
        now = self.clock.now()
        op = Operation(str(uuid.uuid4()), kind, sub, region(location), resource_key, now, now)
        self.operations[op.op_id] = op
        return op

    def get_operation(self, sub: str, location: str, op_id: str) -> Operation:
        op = self.operations.get(op_id.lower())
        if op is None or op.subscription.lower() != sub.lower() or op.location != region(location):
            raise ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")
        return op

    def operation_status(self, op: Operation) -> str:
        """Read an operation's status (counts as a read): InProgress at least once, then terminal."""
        now = self.clock.now()
        if op.end is not None:
            return "Failed" if op.failed_error else "Succeeded"
        if op.kind == "delete":
            if op.reads >= 1 and now >= op.ready_at:
                deletion.finish_delete(self, op)
            op.reads += 1
            return "Succeeded" if op.end else "InProgress"
        rp = self.find_restore_point(op.resource_key)
        op.reads += 1
        if rp is None:
            op.end = now
            op.failed_error = {
                "code": "ResourceNotFound",
                "message": "The restore point was deleted while it was being created.",
            }
            return "Failed"
        self.observe(rp)
        if rp.provisioning_state == "Creating":
            return "InProgress"
        op.end = now
        if rp.provisioning_state == "Failed":
            op.failed_error = {
                "code": "InternalExecutionError",
                "message": "An internal execution error occurred. Please retry later.",
            }
            return "Failed"
        return "Succeeded"
