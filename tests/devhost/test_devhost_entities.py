"""Durable entities as the extension runs them for Python (docs/devhost.md, rules 11a-11f).

Each test drives the sample app's ``counter`` entity from orchestrators (or the client) through the real SDK and
checks what Azure would show: the caller's history (``EventSent`` out, the response as an ``EventRaised`` named by
the request id), the results and errors the SDK hands the orchestrator, and the entity's state.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from devhost_helpers import QUIET_SCHEDULE, SAMPLE_APP, run, start

from devhost import Host, VirtualClock

EVENT_SENT, EVENT_RAISED = 14, 15


def calls(host: Host, key: str, ops: list[list[Any]], signals: list[list[Any]] | None = None, tag: str = "") -> Any:
    status = run(host, "entity_calls", {"key": key, "ops": ops, "signals": signals or []}, f"calls-{key}{tag}")
    assert status["runtimeStatus"] == "Completed", status
    return status["output"]


def state(host: Host, key: str) -> Any:
    response = host.run_coroutine(host.durable_client().read_entity_state(df.EntityId("counter", key)))
    return response.entity_state if response.entity_exists else "absent"


def test_rule11a_a_call_goes_out_as_event_sent_and_its_result_comes_back_as_event_raised(host: Host) -> None:
    status = run(host, "uses_entity")
    assert status["runtimeStatus"] == "Completed" and status["output"] == 1
    history = host.history("uses_entity-test")
    sent = [e for e in history if e["EventType"] == EVENT_SENT]
    assert len(sent) == 1 and sent[0]["EventId"] == 0  # SendEvent takes a .NET task id, as the SDK numbers it
    assert sent[0]["Name"] == "op" and sent[0]["InstanceId"] == "@counter@c1"
    request = json.loads(sent[0]["Input"])
    assert request["op"] == "add" and request["parent"] == "uses_entity-test" and "signal" not in request
    assert json.loads(request["input"]) == "1"  # the SDK's JSON text, serialized once more by SetInput
    answers = [e for e in history if e["EventType"] == EVENT_RAISED]
    assert [(e["Name"], json.loads(e["Input"])) for e in answers] == [(request["id"], {"result": "1"})]


def test_rule11a_request_ids_are_deterministic_across_replays(host: Host) -> None:
    """Two calls in one orchestration: each replay must reproduce the ids (NewGuid from instance, time, counter)."""
    assert calls(host, "ids", [["add", 1], ["add", 2], ["get", None]]) == [{"ok": 1}, {"ok": 3}, {"ok": 3}]
    ids = [json.loads(e["Input"])["id"] for e in host.history("calls-ids") if e["EventType"] == EVENT_SENT]
    assert len(set(ids)) == 3


def test_rule11b_operations_on_one_entity_run_one_at_a_time(host: Host) -> None:
    """Ten orchestrations add 1 to one counter at once: every add sees all the earlier ones (no lost update)."""
    with host.engine.paused():  # all ten requests reach the entity together: one batch, run in order
        ids = [start(host, "entity_calls", f"add-{n}", {"key": "shared", "ops": [["add", 1]]}) for n in range(10)]
    host.run_until_idle(30)
    results = sorted(host.get_instance(i)["output"][0]["ok"] for i in ids)
    assert results == list(range(1, 11))
    assert state(host, "shared") == 10


def test_rule11b_messages_from_one_orchestration_arrive_in_order(host: Host) -> None:
    """A signal sent before a call is processed before it."""
    assert calls(host, "order", [["get", None]], signals=[["add", 10], ["add", 5]]) == [{"ok": 15}]


def test_rule11c_an_operation_that_raises_is_an_error_to_the_caller_and_the_entity_carries_on(host: Host) -> None:
    out = calls(host, "err", [["add", 4], ["fail", None], ["get", None], ["add", 1]])
    assert out == [{"ok": 4}, {"error": "refused at 4"}, {"ok": 4}, {"ok": 5}]
    history = host.history("calls-err")
    errors = [json.loads(e["Input"]) for e in history if e["EventType"] == EVENT_RAISED]
    assert errors[1] == {"result": json.dumps("refused at 4"), "exceptionType": "Error"}


def test_rule11c_an_out_of_process_batch_has_no_rollback(host: Host) -> None:
    """The extension takes the state the Python batch returns (RollbackEntityOperationsOnExceptions is .NET-only):
    a state change made before the raise stays. Entities that must not change on error validate first."""
    out = calls(host, "keep", [["add", 1], ["add_then_fail", 5], ["get", None]])
    assert out == [{"ok": 1}, {"error": "failed after changing the state"}, {"ok": 6}]


def test_rule11d_entity_state_survives_a_host_restart(tmp_path: Path, clock: VirtualClock) -> None:
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    db = str(tmp_path / "entities.sqlite")
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=db) as host:
        assert calls(host, "durable", [["add", 3]]) == [{"ok": 3}]
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=db) as host:
        assert calls(host, "durable", [["add", 4]], tag="-again") == [{"ok": 7}]
        assert state(host, "durable") == 7


def test_rule11e_a_call_to_a_missing_entity_function_is_swallowed_and_the_sdk_waits(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="devhost.dispatcher"):
        status = run(host, "calls_missing_entity")
    assert status["runtimeStatus"] == "Running"
    assert not [e for e in host.history("calls_missing_entity-test") if e["EventType"] == EVENT_SENT]
    assert "no_such_entity" in caplog.text and "is not an entity function" in caplog.text


def test_rule11e_a_signal_to_a_missing_entity_function_fails_the_orchestration(host: Host) -> None:
    status = run(host, "signals_missing_entity")
    assert status["runtimeStatus"] == "Failed"
    assert "no_such_entity" in status["output"] and "is not an entity function" in status["output"]


def test_rule11f_client_signal_and_read_state(host: Host) -> None:
    client = host.durable_client()
    assert state(host, "client") == "absent"
    host.run_coroutine(client.signal_entity(df.EntityId("counter", "client"), "add", 7))
    host.run_until_idle(30)
    assert state(host, "client") == 7
    assert calls(host, "client", [["get", None]]) == [{"ok": 7}]


def test_rule11a_a_replay_that_no_longer_sends_the_event_is_a_determinism_error(host: Host) -> None:
    """HandleEventSentEvent: the recorded EventSent must meet a send-event action with that id on replay."""
    status = run(host, "nondeterministic_entity", instance_id="nd-entity")
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith(
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled a send event task "
        "with sequence ID 0, type 'EventSent', name 'op', instance ID '@counter@nd', but the current orchestration "
        "replay instead scheduled a ScheduleTaskOrchestratorAction task at this sequence number."
    ), status["output"]
