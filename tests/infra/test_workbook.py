"""The Azure Monitor workbook (issue 13): the dashboard's views over what the app really sends Application Insights.

``infra/workbook.json`` is the workbook's content (``Notebook/1.0``); ``infra/modules/workbook.bicep`` deploys it
as ``Microsoft.Insights/workbooks`` with ``serializedData`` read by ``loadTextContent``. Every metric a query
names must be one the app's telemetry emits (read here from the OpenTelemetry SDK's in-memory reader after
driving ``functions.telemetry`` with a full protection report), every dimension one it sets, every log line one
the code writes; so renaming an instrument, an attribute or a log line without the workbook fails here.
(No Bicep CLI in this sandbox, nor on npm: the npm package ``bicep`` is an unrelated 0.0.6; the Bicep is parsed
with pycep, and checkov scans it in test_checkov.py.)
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import infra_lib
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from functions import telemetry

WORKBOOK = infra_lib.INFRA / "workbook.json"
MODULE = infra_lib.INFRA / "modules" / "workbook.bicep"
MAIN = infra_lib.INFRA / "main.bicep"
# The dashboard's sections (functions/dashboard.py), one workbook item each.
VIEWS = {"summary", "matrix", "inflight", "failures", "sweep"}


def _workbook() -> dict[str, Any]:
    return json.loads(WORKBOOK.read_text(encoding="utf-8"))


def _queries() -> dict[str, str]:
    out = {}
    for item in infra_lib.walk_json(_workbook()):
        if isinstance(item, dict) and item.get("type") == 3:
            out[item["name"]] = item["content"]["query"]
    return out


def _emitted() -> tuple[set[str], set[str]]:
    """Metric names and attribute keys the app's telemetry emits, everything it records driven once."""
    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        telemetry.copy_started("westus2")
        telemetry.copy_failed("westus2")
        telemetry.copy_outcome("westus2", "succeeded", 60.0)
        telemetry.copy_outcome("westus2", "failed", None)
        telemetry.throttled("throttled", "start_copy")
        telemetry.record_protection(
            [
                {
                    "sourceCollectionId": "/s/rpc",
                    "region": "westus2",
                    "state": "protected",
                    "rpoHours": 1.0,
                    "copies": {"succeeded": 1, "copying": 1},
                    "diskBytesCopied": 1,
                    "inFlight": [{"name": "rp1", "disks": [{"name": "os", "percent": 5}]}],
                }
            ]
        )
        data = reader.get_metrics_data()
    finally:
        telemetry.use_meter_provider(None)
    names, keys = set(), set()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                names.add(metric.name)
                for point in metric.data.data_points:
                    keys |= set(point.attributes or {})
    return names, keys


def _code_log_fields() -> set[str]:
    """Keyword fields of every ``telemetry.event(...)`` call and the ``extra`` keys of the app's log calls."""
    fields: set[str] = set()
    for path in infra_lib.app_python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "event":
                fields |= {k.arg for k in node.keywords if k.arg}
            for k in node.keywords:
                if k.arg == "extra" and isinstance(k.value, ast.Dict):
                    fields |= {ast.literal_eval(key) for key in k.value.keys if isinstance(key, ast.Constant)}
    return fields


def test_workbook_has_the_dashboards_views():
    doc = _workbook()
    assert doc["version"] == "Notebook/1.0"
    assert set(_queries()) >= VIEWS, set(_queries())


def test_queries_name_only_what_the_app_emits():
    names, keys = _emitted()
    fields = _code_log_fields()
    code = "\n".join(p.read_text(encoding="utf-8") for p in infra_lib.app_python_files())
    for name, query in _queries().items():
        bound = set(re.findall(r"\blet (\w+)\s*=", query))
        heads = re.findall(r"^(?:let \w+\s*=\s*)?(\w+)\s*$", query, re.M)
        used_tables = {t for t in heads if t not in bound}
        assert used_tables and used_tables <= {"customMetrics", "traces"}, (name, used_tables)
        for metric in re.findall(r'"(rpr\.[a-z_.]+)"', query):
            assert metric in names, f"{name}: {metric!r} is not a metric the app emits ({sorted(names)})"
        for dim in re.findall(r"customDimensions\.(\w+)", query):
            if "customMetrics" in query:
                assert dim in keys, f"{name}: dimension {dim!r} is not an attribute the app sets ({sorted(keys)})"
            else:
                assert dim in fields, f"{name}: {dim!r} is not a field the app logs ({sorted(fields)})"
        for message in re.findall(r'message startswith "([^"]+)"', query):
            assert f'"{message}' in code, f"{name}: no code logs {message!r}"
    assert any("rpr.rpo.age" in q for q in _queries().values())


def test_bicep_deploys_the_workbook_from_the_json_file():
    text = MODULE.read_text(encoding="utf-8")
    assert "Microsoft.Insights/workbooks@" in text
    assert "loadTextContent('../workbook.json')" in text and "serializedData:" in text
    assert "sourceId: applicationInsightsId" in text and "category: 'workbook'" in text
    tree = infra_lib.parse_bicep(MODULE)
    types = {r.get("type") for r in (tree.get("resources") or {}).values()}
    assert "Microsoft.Insights/workbooks" in types
    main = MAIN.read_text(encoding="utf-8")
    assert re.search(r"module workbook 'modules/workbook.bicep'", main)
    assert "applicationInsightsId: monitoring.outputs.applicationInsightsId" in main
