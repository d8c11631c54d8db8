"""Instance status JSON as the Durable HTTP API returns it (what ``DurableOrchestrationStatus`` parses)."""

from __future__ import annotations

import json
from typing import Any

from . import history as h
from .store import Instance
from .timefmt import parse_iso

STATUS_CODES = {
    "Completed": 200,
    "Pending": 202,
    "Running": 202,
    "ContinuedAsNew": 202,
    "Failed": 400,
    "Terminated": 400,
}


def _api_time(text: str) -> str:
    return parse_iso(text).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def status_json(
    inst: Instance, *, show_input: bool = True, show_history: bool = False, show_history_output: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.runtime_status,
        "input": json.loads(inst.input) if (show_input and inst.input is not None) else None,
        "customStatus": inst.custom_status,
        "output": inst.output,
        "createdTime": _api_time(inst.created_time),
        "lastUpdatedTime": _api_time(inst.last_updated_time),
    }
    if show_history:
        events = public_history(inst, show_history_output)
        body["historyEvents"] = events  # the extension's key
        body["history"] = events  # what DurableOrchestrationStatus(history=...) reads
    return body


def public_history(inst: Instance, with_output: bool) -> list[dict[str, Any]]:
    """The simplified history the extension returns with ``showHistory=true`` (no replay bookkeeping events)."""
    names: dict[int, str] = {}
    scheduled_at: dict[int, str] = {}
    out: list[dict[str, Any]] = []
    for ev in inst.history:
        etype = ev["EventType"]
        if etype in (h.TASK_SCHEDULED, h.SUB_ORCHESTRATION_CREATED):
            names[ev["EventId"]] = ev.get("Name", "")
            scheduled_at[ev["EventId"]] = ev["Timestamp"]
            continue
        if etype in (h.ORCHESTRATOR_STARTED, h.ORCHESTRATOR_COMPLETED, h.TIMER_CREATED):
            continue
        item: dict[str, Any] = {"EventType": h.TYPE_NAMES.get(etype, str(etype)), "Timestamp": ev["Timestamp"]}
        if etype == h.EXECUTION_STARTED:
            item["FunctionName"] = ev.get("Name")
            if with_output:
                item["Input"] = _json_or_text(ev.get("Input"))
        elif etype in (h.TASK_COMPLETED, h.TASK_FAILED, h.SUB_ORCHESTRATION_COMPLETED, h.SUB_ORCHESTRATION_FAILED):
            task_id = ev["TaskScheduledId"]
            item["FunctionName"] = names.get(task_id, "")
            item["ScheduledTime"] = scheduled_at.get(task_id)
            if "Result" in ev and with_output:
                item["Result"] = _json_or_text(ev["Result"])
            if "Reason" in ev:
                item["Reason"] = ev["Reason"]
                item["Details"] = ev.get("Details")
        elif etype == h.TIMER_FIRED:
            item["FireAt"] = ev.get("FireAt")
        elif etype == h.EVENT_RAISED:
            item["Name"] = ev.get("Name")
            if with_output:
                item["Input"] = _json_or_text(ev.get("Input"))
        elif etype in (h.EXECUTION_COMPLETED, h.EXECUTION_FAILED, h.EXECUTION_TERMINATED):
            item["OrchestrationStatus"] = inst.runtime_status
            if with_output:
                item["Result"] = inst.output
        out.append(item)
    return out
