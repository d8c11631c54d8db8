"""The rules devhost holds the way the Durable extension and DurableTask do (docs/devhost.md, "Rules devhost holds").

Each test drives a small orchestrator of tests/devhost/sample_app through the real SDK and checks what Azure would
show: the instance's status and output, and the history as DurableTask would have written it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from devhost_helpers import QUIET_SCHEDULE, SAMPLE_APP, real_now, run, start

import devhost.dispatcher
from devhost import Host, VirtualClock
from devhost.cli import parse_args
from devhost.replay import SdkOutcome

TASK_SCHEDULED, TASK_COMPLETED, SUB_CREATED, SUB_FAILED = 4, 5, 7, 9
TIMER_CREATED, TIMER_FIRED, ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED, EVENT_RAISED = 10, 11, 12, 13, 15


def types(host: Host, instance_id: str) -> list[int]:
    return [e["EventType"] for e in host.history(instance_id)]


def raise_plain(host: Host, instance_id: str, name: str, value: Any) -> requests.Response:
    """Raise an event with a plain JSON body, as curl or any non-Python client would."""
    url = f"{host.url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/{name}"
    return requests.post(url, params={"code": host.function_key}, json=value, timeout=10)


def start_raw(host: Host, name: str, instance_id: str, body: Any = None) -> requests.Response:
    url = f"{host.url}/runtime/webhooks/durabletask/orchestrators/{name}/{instance_id}"
    return requests.post(url, params={"code": host.function_key}, json=body, timeout=10)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def episode_done_after(host: Host, instance_id: str, event_type: int) -> Callable[[], bool]:
    """True once an event of ``event_type`` is in history and the episode that applied it has ended."""

    def check() -> bool:
        seen = types(host, instance_id)
        return event_type in seen and ORCHESTRATOR_COMPLETED in seen[seen.index(event_type) :]

    return check


@pytest.fixture
def dts_host(tmp_path: Path, clock: VirtualClock) -> Iterator[Host]:
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=str(tmp_path / "dts.sqlite"), backend="dts") as host:
        yield host


# ---------------------------------------------------------------- rule 1: custom status size


def test_rule1_custom_status_of_16kb_utf16_is_accepted(host: Host) -> None:
    # JSON "x"*8701 with its quotes is 8703 UTF-16 code units = 17406 bytes: (int)(17406 / 1024.0) = 16 KB.
    status = run(host, "custom_status_size", {"first": 8701})
    assert status["runtimeStatus"] == "Completed"
    assert status["customStatus"] == "x" * 8701


def test_rule1_custom_status_over_16kb_fails_the_instance(host: Host) -> None:
    status = run(host, "custom_status_size", {"first": 8702})  # 17408 bytes = 17 KB
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'custom_status_size' failed: The UTF-16 size of the JSON-serialized payload must not "
        "exceed 16 KB. The current payload size is 17 KB."
    )
    assert status["customStatus"] is None  # SetCustomStatus threw before storing it
    assert TASK_SCHEDULED not in types(host, "custom_status_size-test")  # the shim threw before any action


def test_rule1_custom_status_growing_too_big_later_surfaces_as_nondeterminism(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """In a later episode the shim throws before replaying any action, so DurableTask then meets the recorded
    TaskScheduled with no action for it and fails the instance with its non-determinism error (devhost logs the
    first cause)."""
    with caplog.at_level(logging.WARNING, logger="devhost.dispatcher"):
        status = run(host, "custom_status_size", {"first": 10, "later": 9000})
    assert "must not exceed 16 KB" in caplog.text
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith(
        "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task "
        "with sequence ID 0 and name 'say_hello' (version ''), but the current replay execution hasn't (yet?) "
        "scheduled this task."
    )


# ---------------------------------------------------------------- rule 2: actions replayed in order, .NET numbering


def test_rule2_task_all_fails_only_after_every_child_ended(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("children_one_fails", "fan"))
    host.run_until_idle(30)
    # The SDK already raised (one child failed), but Task.WhenAll still waits for the other child.
    assert host.get_instance("fan:fails")["runtimeStatus"] == "Failed"
    assert host.get_instance("fan:waits")["runtimeStatus"] == "Running"
    assert SUB_FAILED in types(host, "fan")
    assert host.get_instance("fan")["runtimeStatus"] == "Running"
    assert raise_plain(host, "fan:waits", "Go", "now").status_code == 202
    host.run_until_idle(30)
    status = host.get_instance("fan")
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'children_one_fails' failed: ")
    assert "boom: x" in status["output"]


def test_rule2_dotnet_numbering_wins_when_the_sdk_disagrees(host: Host) -> None:
    """The sub-orchestration call on the instance's own id faults in .NET before it is numbered, so the activity
    becomes .NET task 0 - which the SDK, numbering both, matches to its sub-orchestration task."""
    status = run(host, "numbering_shift", instance_id="shift")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"winner": "sub-orchestration", "result": "Hello activity!"}
    scheduled = [(e["EventId"], e["Name"]) for e in host.history("shift") if e["EventType"] == TASK_SCHEDULED]
    assert scheduled == [(0, "say_hello")]
    assert SUB_CREATED not in types(host, "shift")


# ---------------------------------------------------------------- rule 3: one buffered event per wait (py#507)


def test_rule3_early_event_completes_both_sdk_waits_but_only_one_dotnet_wait(host: Host) -> None:
    with host.hold_clock():
        start(host, "same_event_twice", "twice")
        wait_for(episode_done_after(host, "twice", TIMER_CREATED))
        assert raise_plain(host, "twice", "Item", 1).status_code == 202
        wait_for(episode_done_after(host, "twice", EVENT_RAISED))
    host.run_until_idle(30)
    # The SDK took event 1 for both waits and scheduled the activity; .NET is blocked at the second wait.
    assert host.get_instance("twice")["runtimeStatus"] == "Running"
    assert TASK_SCHEDULED not in types(host, "twice")
    assert host.store.counts() == {"inbox": 0, "activities": 0, "timers": 0}
    assert raise_plain(host, "twice", "Item", 2).status_code == 202  # unblocks .NET's second wait
    host.run_until_idle(30)
    status = host.get_instance("twice")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [1, 1, "Hello after!"]  # the SDK never saw event 2's value
    assert types(host, "twice").count(EVENT_RAISED) == 2


# ---------------------------------------------------------------- rule 4: no completion while a task is open


def test_rule4_uncancelled_timer_keeps_the_instance_running_until_it_fires(host: Host, clock: VirtualClock) -> None:
    before = clock.now()
    with host.hold_clock():
        start(host, "forgets_timer", "forgot")
        wait_for(episode_done_after(host, "forgot", TASK_COMPLETED))
        status = host.get_instance("forgot")
        assert status["runtimeStatus"] == "Running"  # the SDK returned, the one-day timer is still open
        assert status["output"] is None
        assert host.store.counts()["timers"] == 1
    host.run_until_idle(30)
    status = host.get_instance("forgot")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == "Hello fast!"
    assert clock.now() == before + dt.timedelta(days=1)
    assert TIMER_FIRED in types(host, "forgot")


# ---------------------------------------------------------------- rule 5: continue-as-new carry-over


def test_rule5_events_processed_after_continue_as_new_are_carried_over(host: Host) -> None:
    with host.hold_clock(), host.engine.paused():
        start(host, "event_loop", "adder", {"sum": 0, "target": 6, "generations": 0})
        for value in (1, 2, 3):  # all three land in the first episode's batch
            assert raise_plain(host, "adder", "Add", value).status_code == 202
    host.run_until_idle(30)
    status = host.get_instance("adder")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"sum": 6, "target": 6, "generations": 3}
    # The last execution started with the event carried over to it, after its ExecutionStarted.
    assert types(host, "adder")[:4] == [ORCHESTRATOR_STARTED, 0, EVENT_RAISED, ORCHESTRATOR_COMPLETED]


def test_rule5_events_queued_before_continue_as_new_are_dropped(host: Host) -> None:
    with host.hold_clock(), host.engine.paused():
        start(host, "start_then_add", "drop", {"seen": []})
        for name, value in (("Add", 1), ("Add", 2), ("Start", "go")):
            assert raise_plain(host, "drop", name, value).status_code == 202
    host.run_until_idle(30)
    status = host.get_instance("drop")
    assert status["runtimeStatus"] == "Running"  # the second execution waits for a new Start
    # .NET queued both Adds before the wait and gave the wait Add 1; the SDK's deferred event is the last one,
    # Add 2. Neither of the two leftover events reaches the new execution (ContinueAsNew without preserve).
    assert json.loads(status["input"]) == {"seen": [2]}
    assert EVENT_RAISED not in types(host, "drop")
    for name, value in (("Start", "go"), ("Add", 5)):
        assert raise_plain(host, "drop", name, value).status_code == 202
        host.run_until_idle(30)
    assert host.get_instance("drop")["output"] == {"seen": [2, 5]}


# ---------------------------------------------------------------- rule 6: payloads as the Python client sends them


def test_rule6_python_client_event_data_arrives_as_json_text(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("waits_for_go", "py-event"))
    host.run_until_idle(30)
    host.run_coroutine(client.raise_event("py-event", "Go", {"a": 1}))
    host.run_until_idle(30)
    assert host.get_instance("py-event")["output"] == '{"a": 1}'  # a str, not a dict
    raised = next(e for e in host.history("py-event") if e["EventType"] == EVENT_RAISED)
    assert raised["Input"] == json.dumps('{"a": 1}')


def test_rule6_plain_json_event_data_arrives_as_its_value(host: Host) -> None:
    host.run_coroutine(host.durable_client().start_new("waits_for_go", "plain-event"))
    host.run_until_idle(30)
    assert raise_plain(host, "plain-event", "Go", {"a": 1}).status_code == 202
    host.run_until_idle(30)
    assert host.get_instance("plain-event")["output"] == {"a": 1}
    raised = next(e for e in host.history("plain-event") if e["EventType"] == EVENT_RAISED)
    assert raised["Input"] == '{"a":1}'


def test_rule6_orchestration_input_is_the_json_token_the_sdk_gets(host: Host) -> None:
    """The context's ``input`` is ExecutionStarted.Input as a JSON token; the 1.x SDK only re-dumps dicts, so a
    JSON list posted by a plain client breaks get_input, while the Python client's JSON string works."""
    assert start_raw(host, "hello_sequence", "plain-list", ["Tokyo"]).status_code == 202
    host.run_coroutine(host.durable_client().start_new("hello_sequence", "py-list", ["Tokyo"]))
    host.run_until_idle(30)
    failed = host.get_instance("plain-list")
    assert failed["runtimeStatus"] == "Failed"
    assert "the JSON object must be str, bytes or bytearray, not list" in failed["output"]
    assert host.get_instance("py-list")["output"] == ["Hello Tokyo!"]


# ---------------------------------------------------------------- rule 7: duplicate completions


def test_rule7_duplicate_completions_stay_in_history(tmp_path: Path) -> None:
    settings = {"SWEEP_SCHEDULE": QUIET_SCHEDULE}
    clock = VirtualClock(real_now())
    with Host(SAMPLE_APP, settings=settings, clock=clock, activity_duplicate_rate=1.0) as host:
        status = run(host, "hello_sequence", ["a", "b"], instance_id="dups")
        history = host.history("dups")
    assert status["output"] == ["Hello a!", "Hello b!"]  # the replay used the first completion of each
    assert Counter(e["TaskScheduledId"] for e in history if e["EventType"] == TASK_COMPLETED) == {0: 2, 1: 2}


# ---------------------------------------------------------------- rule 8: sub-orchestration on a running id


def test_rule8_sub_orchestration_on_a_running_id_silently_replaces_it(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("waits_for_go", "victim"))
    host.run_until_idle(30)
    assert host.get_instance("victim")["runtimeStatus"] == "Running"
    status = run(host, "starts_child_on", "victim", instance_id="usurper")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello p!"]
    victim = host.get_instance("victim")
    assert (victim["name"], victim["runtimeStatus"], victim["output"]) == ("hello_sequence", "Completed", ["Hello p!"])
    started = host.history("victim")[1]
    assert started["ParentInstance"]["OrchestrationInstance"]["InstanceId"] == "usurper"
    assert raise_plain(host, "victim", "Go", 1).status_code == 410  # the waiting execution is gone


# ---------------------------------------------------------------- rule 9: IsPlayed as Azure Storage persists it


def test_rule9_is_played_as_azure_storage_stores_it(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    contexts: list[dict[str, Any]] = []
    real_invoke = devhost.dispatcher.invoke

    def spy(handle: Any, context_json: str) -> SdkOutcome:
        contexts.append(json.loads(context_json))
        return real_invoke(handle, context_json)

    monkeypatch.setattr(devhost.dispatcher, "invoke", spy)
    run(host, "hello_sequence", ["a", "b"], instance_id="played")
    first, last = contexts[0], contexts[-1]
    assert first["isReplaying"] is False and [e["IsPlayed"] for e in first["history"]] == [False, False]
    assert last["isReplaying"] is True
    flags = [(e["EventType"], e["IsPlayed"]) for e in last["history"]]
    assert flags == [
        (ORCHESTRATOR_STARTED, False),
        (0, True),  # ExecutionStarted, processed in episode 1
        (TASK_SCHEDULED, False),  # appended after the replay, never processed before being written
        (ORCHESTRATOR_COMPLETED, False),
        (ORCHESTRATOR_STARTED, False),
        (TASK_COMPLETED, True),
        (TASK_SCHEDULED, False),
        (ORCHESTRATOR_COMPLETED, False),
        (ORCHESTRATOR_STARTED, False),
        (TASK_COMPLETED, False),  # this episode's new event
    ]


# ---------------------------------------------------------------- rule 10: instance ids and payloads per backend


def test_rule10_azure_storage_client_instance_id_rules(host: Host) -> None:
    for bad, message in (
        ("a" * 257, "Instance ID lengths must not exceed 256 characters."),
        ("@entity", "Orchestration instance ids must not start with @."),
        ("bad\nid", "Orchestration instance ids must not contain /, \\, #, ?, or control characters."),
    ):
        response = start_raw(host, "hello_sequence", requests.utils.quote(bad, safe=""), None)
        assert response.status_code == 400, bad
        assert message in response.json()["ExceptionMessage"]
    with pytest.raises(Exception, match="must not start with @"):
        host.run_coroutine(host.durable_client().start_new("hello_sequence", "@entity"))
    assert start_raw(host, "hello_sequence", "a" * 256, None).status_code == 202


def test_rule10_azure_storage_sub_orchestration_ids(host: Host) -> None:
    assert run(host, "starts_child_on", "c" * 200, instance_id="long-ok")["runtimeStatus"] == "Completed"
    status = run(host, "starts_child_on", "c" * 257, instance_id="too-long")
    assert status["runtimeStatus"] == "Failed"
    assert "exceeds 256" in status["output"]


def test_rule10_dts_instance_ids(dts_host: Host) -> None:
    assert start_raw(dts_host, "hello_sequence", "a" * 101, None).status_code == 500
    assert start_raw(dts_host, "hello_sequence", requests.utils.quote("caf\u00e9"), None).status_code == 500
    assert start_raw(dts_host, "hello_sequence", "a" * 100, None).status_code == 202
    status = run(dts_host, "starts_child_on", "c" * 101, instance_id="dts-parent")
    assert status["runtimeStatus"] == "Failed"
    assert "Durable Task Scheduler" in status["output"] and "100" in status["output"]


def test_rule10_dts_payload_limit(dts_host: Host, host: Host) -> None:
    big = 1_000_001
    status = run(dts_host, "returns_big_output", big, instance_id="big")
    assert status["runtimeStatus"] == "Failed"
    assert "output of activity 'big_output'" in status["output"] and "1 MB" in status["output"]
    assert run(host, "returns_big_output", big, instance_id="big")["output"] == big  # Azure Storage: blobs
    dts_host.run_coroutine(dts_host.durable_client().start_new("waits_for_go", "dts-event"))
    dts_host.run_until_idle(30)
    assert raise_plain(dts_host, "dts-event", "Go", "x" * big).status_code == 500
    assert raise_plain(dts_host, "dts-event", "Go", "small").status_code == 202


def test_rule10_backend_option_on_the_cli() -> None:
    assert parse_args(["--backend", "dts"]).backend == "dts"
    assert parse_args([]).backend == "azure-storage"
