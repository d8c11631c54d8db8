"""Telemetry: OpenTelemetry metrics and structured logs, sent to Application Insights when it is configured.

Only when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set does :func:`configure` import and start
``azure-monitor-opentelemetry`` (``configure_azure_monitor``, the Azure Monitor OpenTelemetry Distro; Learn
"Enable Azure Monitor OpenTelemetry for Python"): without it nothing is imported and every ``record_*`` is a
no-op, so tests and the demo need no cloud. Tests hand in their own ``MeterProvider`` (the SDK's
``InMemoryMetricReader``) with :func:`use_meter_provider`.

Instruments (meter ``restore_point_replication``):

* ``rpr.copies.started`` / ``.succeeded`` / ``.failed`` (an attempt failed; it may be retried) /
  ``.given_up`` (failed every attempt) counters, attributes ``region``;
* ``rpr.arm.throttled`` counter: ARM or Compute answers that said wait (429, the hourly copy limit),
  attributes ``kind`` and ``activity``;
* ``rpr.copy.duration`` histogram, seconds from the copy's orchestration start to its outcome;
* ``rpr.rpo.age`` gauge, hours, per lane (``source_collection``, ``region``), from the last protection check;
* from the same check, what the Azure Monitor workbook (``infra/workbook.json``) shows as the dashboard does:
  ``rpr.lane.state`` (1 per lane, attribute ``state``: protected / at-risk / unprotected / unknown),
  ``rpr.lane.copies`` (copies per lane by ``state``: pending, copying, succeeded, failed, skipped, waiting),
  ``rpr.lane.disk_bytes`` (bytes of disks copied, per lane) and ``rpr.copy.progress`` (percent per disk of each
  copy in flight, attributes ``restore_point`` and ``disk``). Gauges, not log lines: Application Insights stores
  one pre-aggregated point per series and export interval, whatever the number of checks.

Activities run at least once, so a counter can count an activity that ran twice; alerts use the RPO gauge
and the given-up counter, which tolerate that. The Azure SDK's HTTP logging policy logs every request and
response at INFO; it is set to ``AZURE_SDK_HTTP_LOG_LEVEL`` (default WARNING) so the app's own decisions are
what INFO shows.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

log = logging.getLogger("replication.telemetry")

METER = "restore_point_replication"
HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"

_lock = threading.Lock()
_instruments: dict[str, Any] = {}
_rpo: dict[tuple[str, str], float] = {}
# name -> [(value, attributes)] of the last protection check, observed by the lane gauges.
_lane_points: dict[str, list[tuple[float, dict[str, str]]]] = {}
LANE_GAUGES = {
    "lane_state": ("rpr.lane.state", "{lane}"),
    "lane_copies": ("rpr.lane.copies", "{copy}"),
    "lane_disk_bytes": ("rpr.lane.disk_bytes", "By"),
    "copy_progress": ("rpr.copy.progress", "%"),
}
_configured = False


def configure() -> bool:
    """At app load: quiet the SDK's HTTP logging; start Azure Monitor if a connection string is set."""
    global _configured
    level = (os.environ.get("AZURE_SDK_HTTP_LOG_LEVEL") or "WARNING").strip().upper()
    logging.getLogger(HTTP_LOGGER).setLevel(getattr(logging, level, logging.WARNING))
    logging.getLogger("replication").setLevel(logging.INFO)
    logging.getLogger("functions").setLevel(logging.INFO)
    if _configured or not (os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or "").strip():
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import metrics
    except ImportError:
        log.warning("APPLICATIONINSIGHTS_CONNECTION_STRING is set but azure-monitor-opentelemetry is not installed")
        return False
    configure_azure_monitor(logger_name="replication")
    _configured = True
    use_meter_provider(metrics.get_meter_provider())
    return True


def use_meter_provider(provider: Any) -> None:
    """Create the instruments on ``provider`` (an OpenTelemetry ``MeterProvider``); None turns them off."""
    with _lock:
        _instruments.clear()
        if provider is None:
            return
        meter = provider.get_meter(METER)
        for name in ("started", "succeeded", "failed", "given_up"):
            _instruments[name] = meter.create_counter(f"rpr.copies.{name}", unit="{copy}")
        _instruments["throttled"] = meter.create_counter("rpr.arm.throttled", unit="{answer}")
        _instruments["duration"] = meter.create_histogram("rpr.copy.duration", unit="s")
        _instruments["rpo"] = meter.create_observable_gauge("rpr.rpo.age", callbacks=[_observe_rpo], unit="h")
        for key, (name, unit) in LANE_GAUGES.items():
            _instruments[key] = meter.create_observable_gauge(name, callbacks=[_lane_observer(key)], unit=unit)


def _lane_observer(key: str) -> Any:
    def observe(options: Any) -> list[Any]:
        from opentelemetry.metrics import Observation

        with _lock:
            points = list(_lane_points.get(key) or [])
        return [Observation(value, attributes) for value, attributes in points]

    return observe


def _observe_rpo(options: Any) -> list[Any]:
    from opentelemetry.metrics import Observation

    with _lock:
        values = dict(_rpo)
    return [Observation(age, {"source_collection": src, "region": region}) for (src, region), age in values.items()]


def _add(name: str, attributes: dict[str, str], amount: float = 1) -> None:
    with _lock:
        instrument = _instruments.get(name)
    if instrument is not None:
        instrument.add(amount, attributes)


def copy_started(region: str) -> None:
    _add("started", {"region": region})


def copy_failed(region: str) -> None:
    _add("failed", {"region": region})


def copy_outcome(region: str, state: str, seconds: float | None) -> None:
    """A copy orchestration's outcome: ``succeeded`` or ``failed`` (given up)."""
    if state == "succeeded":
        _add("succeeded", {"region": region})
        with _lock:
            histogram = _instruments.get("duration")
        if histogram is not None and seconds is not None and seconds >= 0:
            histogram.record(seconds, {"region": region})
    elif state == "failed":
        _add("given_up", {"region": region})


def throttled(kind: str, activity: str) -> None:
    _add("throttled", {"kind": kind, "activity": activity})


def record_protection(lanes: list[dict[str, Any]]) -> None:
    """The RPO age of every lane read by the last protection check (lanes without a usable copy: none)."""
    values = {
        (str(lane["sourceCollectionId"]).lower(), str(lane["region"])): float(lane["rpoHours"])
        for lane in lanes
        if lane.get("rpoHours") is not None
    }
    points: dict[str, list[tuple[float, dict[str, str]]]] = {key: [] for key in LANE_GAUGES}
    for lane in lanes:
        where = {"source_collection": str(lane["sourceCollectionId"]).lower(), "region": str(lane["region"])}
        points["lane_state"].append((1, {**where, "state": str(lane.get("state") or "unknown")}))
        for state, count in sorted((lane.get("copies") or {}).items()):
            points["lane_copies"].append((float(count), {**where, "state": str(state)}))
        if lane.get("diskBytesCopied") is not None:
            points["lane_disk_bytes"].append((float(lane["diskBytesCopied"]), dict(where)))
        for copy in lane.get("inFlight") or []:
            for disk in copy.get("disks") or []:
                if disk.get("percent") is not None:
                    attributes = {**where, "restore_point": str(copy.get("name")), "disk": str(disk.get("name"))}
                    points["copy_progress"].append((float(disk["percent"]), attributes))
    with _lock:
        _rpo.clear()
        _rpo.update(values)
        _lane_points.clear()
        _lane_points.update(points)


def event(message: str, /, **fields: Any) -> None:
    """A structured INFO line: the message, then ``key=value`` pairs; the pairs also go as ``extra`` so the
    Azure Monitor exporter stores them as custom dimensions (collection, region, instance id)."""
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    log.info("%s %s", message, text, extra={k: v for k, v in fields.items() if v is not None})
