"""Telemetry: nothing without a connection string; with a meter provider the counters and the gauge move."""

from __future__ import annotations

import logging
import sys

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from functions import telemetry


def _values(reader: InMemoryMetricReader) -> dict[tuple[str, tuple], float]:
    out = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    value = getattr(p, "value", None)
                    if value is None:
                        value = getattr(p, "count", None)
                    out[(metric.name, tuple(sorted((p.attributes or {}).items())))] = value
    return out


def test_without_a_connection_string_nothing_is_started(monkeypatch):
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_SDK_HTTP_LOG_LEVEL", raising=False)
    assert telemetry.configure() is False
    assert "azure.monitor.opentelemetry" not in sys.modules
    assert logging.getLogger(telemetry.HTTP_LOGGER).level == logging.WARNING
    telemetry.copy_started("westus2")  # no provider: a no-op, never an error


def test_http_logging_follows_the_setting(monkeypatch):
    monkeypatch.setenv("AZURE_SDK_HTTP_LOG_LEVEL", "info")
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    telemetry.configure()
    assert logging.getLogger(telemetry.HTTP_LOGGER).level == logging.INFO
    monkeypatch.delenv("AZURE_SDK_HTTP_LOG_LEVEL")
    telemetry.configure()
    assert logging.getLogger(telemetry.HTTP_LOGGER).level == logging.WARNING


def test_counters_histogram_and_gauge_move():
    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        telemetry.copy_started("westus2")
        telemetry.copy_started("westus2")
        telemetry.copy_failed("westus2")
        telemetry.copy_outcome("westus2", "succeeded", 600.0)
        telemetry.copy_outcome("westus2", "failed", None)
        telemetry.throttled("throttled", "start_copy")
        telemetry.record_protection([{"sourceCollectionId": "/S/RPC", "region": "westus2", "rpoHours": 5.5}])
        values = _values(reader)
    finally:
        telemetry.use_meter_provider(None)
    region = (("region", "westus2"),)
    assert values[("rpr.copies.started", region)] == 2
    assert values[("rpr.copies.failed", region)] == 1
    assert values[("rpr.copies.succeeded", region)] == 1
    assert values[("rpr.copies.given_up", region)] == 1
    assert values[("rpr.copy.duration", region)] == 1  # one recorded duration
    assert values[("rpr.arm.throttled", (("activity", "start_copy"), ("kind", "throttled")))] == 1
    assert values[("rpr.rpo.age", (("region", "westus2"), ("source_collection", "/s/rpc")))] == 5.5


def test_protection_check_gauges_for_the_workbook():
    """What the Azure Monitor workbook (infra/workbook.json) charts: per lane its state, copies by state, disk
    bytes copied and the per-disk progress of copies in flight."""
    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    lane = {
        "sourceCollectionId": "/S/RPC",
        "region": "westus2",
        "state": "at-risk",
        "rpoHours": 30.0,
        "copies": {"succeeded": 2, "copying": 1, "skipped": 1},
        "diskBytesCopied": 2048,
        "inFlight": [{"name": "rp3", "disks": [{"name": "os", "percent": 40}, {"name": "data", "percent": None}]}],
    }
    try:
        telemetry.record_protection([lane])
        values = _values(reader)
    finally:
        telemetry.use_meter_provider(None)
    lane_attrs = (("region", "westus2"), ("source_collection", "/s/rpc"))
    assert values[("rpr.lane.state", (*lane_attrs[:1], ("source_collection", "/s/rpc"), ("state", "at-risk")))] == 1
    assert (
        values[("rpr.lane.copies", (("region", "westus2"), ("source_collection", "/s/rpc"), ("state", "skipped")))] == 1
    )
    assert values[("rpr.lane.disk_bytes", lane_attrs)] == 2048
    progress = (("disk", "os"), ("region", "westus2"), ("restore_point", "rp3"), ("source_collection", "/s/rpc"))
    assert values[("rpr.copy.progress", progress)] == 40
