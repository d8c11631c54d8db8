"""Orchestration patterns run through the SDK's real replay protocol on the virtual clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import requests
from devhost_helpers import run, start

from devhost import Host, VirtualClock
from devhost.timefmt import parse_iso


def test_hello_sequence_completes_with_activity_results(host: Host) -> None:
    status = run(host, "hello_sequence", ["Tokyo", "Seattle"])
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!"]


def test_history_is_the_replay_protocol_shape(host: Host) -> None:
    run(host, "hello_sequence", ["A"], instance_id="shape")
    events = host.history("shape")
    types = [e["EventType"] for e in events]
    assert types[:2] == [12, 0]  # OrchestratorStarted, ExecutionStarted
    assert 4 in types and 5 in types  # TaskScheduled, TaskCompleted
    assert types[-2:] == [1, 13]  # ExecutionCompleted, then the episode's OrchestratorCompleted (as DurableTask)
    for event in events:
        assert {"EventType", "EventId", "IsPlayed", "Timestamp"} <= event.keys()
        assert event["Timestamp"].endswith("Z")


def test_fan_out_fan_in_uses_task_all(host: Host) -> None:
    status = run(host, "fan_out_fan_in", 6)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == sum(2 * i for i in range(6))


def test_durable_timers_advance_the_virtual_clock(host: Host, clock: VirtualClock) -> None:
    before = clock.now()
    status = run(host, "timers_in_sequence")
    assert status["runtimeStatus"] == "Completed"
    stamps = [parse_iso(s) for s in status["output"]]
    assert stamps == [before + dt.timedelta(days=d) for d in (1, 2, 3)]
    assert clock.now() == before + dt.timedelta(days=3)


def test_long_timer_is_split_into_hops_like_azure_storage(host: Host, clock: VirtualClock) -> None:
    before = clock.now()
    status = run(host, "long_timer", instance_id="long")
    assert parse_iso(status["output"]) == before + dt.timedelta(days=10)
    fired = [parse_iso(e["FireAt"]) - before for e in host.history("long") if e["EventType"] == 11]
    assert fired == [dt.timedelta(days=3), dt.timedelta(days=6), dt.timedelta(days=10)]  # hop while > 6 days remain


def test_task_any_timeout_wins_when_no_event(host: Host, clock: VirtualClock) -> None:
    before = clock.now()
    status = run(host, "timer_race")
    assert status["output"]["approved"] is None
    assert parse_iso(status["output"]["timed_out_at"]) == before + dt.timedelta(hours=1)


def test_task_any_event_wins_and_timer_is_cancelled(host: Host, clock: VirtualClock) -> None:
    before = clock.now()
    with host.hold_clock():
        instance_id = start(host, "timer_race", "race")
        host.run_coroutine(host.durable_client().raise_event(instance_id, "Approval", {"by": "ops"}))
    host.run_until_idle(30)
    status = host.get_instance("race")
    assert status["runtimeStatus"] == "Completed"
    # The Python client double-encodes event data, so the orchestrator gets the JSON text (rule 6, py#295).
    assert status["output"] == {"approved": '{"by": "ops"}'}
    assert clock.now() == before  # the cancelled timer neither fired nor moved time
    assert host.store.counts()["timers"] == 0


def test_sub_orchestrations_complete_and_fail_into_parent(host: Host) -> None:
    status = run(host, "parent_orchestrator", instance_id="parent")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["children"] == [["Hello c0!"], ["Hello c1!"], ["Hello c2!"]]
    assert "boom: x" in status["output"]["child_error"]
    assert host.get_instance("parent:child:1")["runtimeStatus"] == "Completed"
    assert host.get_instance("parent:bad")["runtimeStatus"] == "Failed"


def test_external_events_and_custom_status(host: Host) -> None:
    instance_id = start(host, "wait_for_events", "events")
    host.run_until_idle(30)
    status = host.get_instance(instance_id)
    assert status["runtimeStatus"] == "Running"
    assert status["customStatus"] == {"stage": "waiting"}
    client = host.durable_client()
    host.run_coroutine(client.raise_event(instance_id, "First", 1))
    host.run_until_idle(30)
    # Raised through the Python client: it posts json.dumps(1) as a JSON string, so "1" arrives (rule 6).
    assert host.get_instance(instance_id)["customStatus"] == {"stage": "got-first", "first": "1"}
    # Raised through the public sendEventPostUri with a plain JSON body (not the Python client's encoding).
    url = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/Second"
    response = requests.post(url, params={"code": host.function_key}, json={"x": 2}, timeout=10)
    assert response.status_code == 202
    host.run_until_idle(30)
    status = host.get_instance(instance_id)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["1", {"x": 2}]
    assert status["customStatus"] == {"stage": "done"}


def test_event_raised_before_the_wait_is_buffered(host: Host) -> None:
    with host.hold_clock():
        instance_id = start(host, "wait_for_events", "early")
        client = host.durable_client()
        host.run_coroutine(client.raise_event(instance_id, "Second", "b"))
        host.run_coroutine(client.raise_event(instance_id, "First", "a"))
    host.run_until_idle(30)
    assert host.get_instance(instance_id)["output"] == ['"a"', '"b"']  # double-encoded by the Python client


def test_continue_as_new_long_loop_of_200_activities(host: Host, activity_log: Path) -> None:
    status = run(host, "counter_loop", {"done": 0, "total": 200, "batch": 20}, instance_id="loop")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == 200
    assert status["customStatus"] == {"done": 200}
    history = host.history("loop")
    assert sum(1 for e in history if e["EventType"] == 4) == 20  # only the last generation's history is kept
    assert len(activity_log.read_text().splitlines()) == 200


def test_activity_failure_fails_orchestration_with_reason(host: Host) -> None:
    status = run(host, "failing_orchestrator", "kaput")
    assert status["runtimeStatus"] == "Failed"
    assert "Orchestrator function 'failing_orchestrator' failed" in status["output"]
    assert "ValueError: boom: kaput" in status["output"]
    assert "engine.py" not in status["output"] and "invoke.py" not in status["output"]  # only the user's frames


def test_activity_failure_can_be_caught(host: Host) -> None:
    status = run(host, "catching_orchestrator")
    assert status["runtimeStatus"] == "Completed"
    assert "boom: caught" in status["output"]["caught"]


def test_call_activity_with_retry_succeeds_after_failures(host: Host, tmp_path: Path, clock: VirtualClock) -> None:
    before = clock.now()
    payload = {"counter": str(tmp_path / "flaky.count"), "fail_times": 2}
    status = run(host, "retrying_orchestrator", payload)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "ok after 3"
    assert clock.now() == before + dt.timedelta(minutes=2)  # two retry timers of firstRetryInterval each


def test_call_activity_with_retry_gives_up_after_max_attempts(host: Host, tmp_path: Path) -> None:
    payload = {"counter": str(tmp_path / "flaky.count"), "fail_times": 10}
    status = run(host, "retrying_orchestrator", payload)
    assert status["runtimeStatus"] == "Failed"
    assert "flaky attempt 3" in status["output"]
    assert (tmp_path / "flaky.count").read_text() == "3"


def test_changed_timer_time_is_not_a_determinism_error(host: Host) -> None:
    """DurableTask matches a replayed timer by id and type only (HandleTimerCreatedEvent), never by fireAt."""
    status = run(host, "nondeterministic_timer", instance_id="nd-timer")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == "finished"


def test_changed_activity_input_is_not_a_determinism_error(host: Host) -> None:
    """DurableTask matches a replayed activity by id, type and name (HandleTaskScheduledEvent), not by input."""
    status = run(host, "nondeterministic_input", instance_id="nd-input")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"][1] == "Hello second!"


def test_changed_activity_name_is_a_determinism_error(host: Host) -> None:
    status = run(host, "nondeterministic_name", instance_id="nd-name")
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task "
        "with sequence number 0 named 'say_hello', but the current orchestration replay instead scheduled an "
        "activity task named 'double' with this sequence number.  Was a change made to the orchestrator code after "
        "this instance had already started running?"
    )
