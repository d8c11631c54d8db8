"""The Durable HTTP API, driven by the SDK's real DurableOrchestrationClient and by plain HTTP."""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func
import pytest
import requests
from devhost_helpers import start

from devhost import Host


def test_client_start_and_status_codes(host: Host) -> None:
    client = host.durable_client()
    instance_id = host.run_coroutine(client.start_new("hello_sequence", "c1", ["X"]))
    assert instance_id == "c1"
    host.run_until_idle(30)
    status = host.run_coroutine(client.get_status("c1", show_history=True, show_history_output=True))
    assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed
    assert status.output == ["Hello X!"]
    assert status.created_time is not None and status.last_updated_time is not None
    assert next(e["EventType"] for e in status.historyEvents) == "ExecutionStarted"
    missing = host.run_coroutine(client.get_status("nope"))
    assert not missing  # falsy when the instance does not exist (404)
    rpc = f"{host.url}/durabletask/instances/"
    assert requests.get(rpc + "c1", timeout=10).status_code == 200
    assert requests.get(rpc + "nope", timeout=10).status_code == 404


def test_status_codes_for_running_and_failed(host: Host) -> None:
    start(host, "wait_for_events", "running")
    start(host, "failing_orchestrator", "failed", "x")
    host.run_until_idle(30)
    rpc = f"{host.url}/durabletask/instances/"
    running = requests.get(rpc + "running", timeout=10)
    assert running.status_code == 202 and running.json()["runtimeStatus"] == "Running"
    failed = requests.get(rpc + "failed", timeout=10)
    assert failed.status_code == 400 and failed.json()["runtimeStatus"] == "Failed"


def test_start_new_on_running_instance_is_refused(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("wait_for_events", "single"))
    host.run_until_idle(30)
    with pytest.raises(Exception, match="already exists"):
        host.run_coroutine(client.start_new("wait_for_events", "single"))
    response = requests.post(f"{host.url}/durabletask/orchestrators/wait_for_events/single", timeout=10)
    assert response.status_code == 500
    assert response.json()["ExceptionMessage"] == "An Orchestration instance with the status Running already exists."
    # Once finished, the same id may be started again (a new instance replaces it).
    host.run_coroutine(client.terminate("single", "done"))
    assert host.run_coroutine(client.start_new("hello_sequence", "single", ["again"])) == "single"
    host.run_until_idle(30)
    assert host.get_instance("single")["output"] == ["Hello again!"]


def test_start_unknown_orchestrator_is_400(host: Host) -> None:
    client = host.durable_client()
    with pytest.raises(Exception, match="doesn't exist"):
        host.run_coroutine(client.start_new("no_such_orchestrator"))


def test_raise_event_terminate_and_purge(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("wait_for_events", "t1"))
    host.run_until_idle(30)
    with pytest.raises(Exception, match="No instance"):
        host.run_coroutine(client.raise_event("missing", "First", 1))
    host.run_coroutine(client.terminate("t1", "because"))
    status = host.get_instance("t1")
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "because"
    with pytest.raises(Exception, match="gone"):
        host.run_coroutine(client.raise_event("t1", "First", 1))
    host.run_coroutine(client.terminate("t1", "again"))  # 410 is not an error for the SDK
    result = host.run_coroutine(client.purge_instance_history("t1"))
    assert result.instances_deleted == 1
    assert host.run_coroutine(client.purge_instance_history("t1")).instances_deleted == 0
    assert not host.run_coroutine(client.get_status("t1"))


def test_get_status_by_filters_and_get_status_all(host: Host) -> None:
    client = host.durable_client()
    for i in range(3):
        host.run_coroutine(client.start_new("hello_sequence", f"done-{i}", ["a"]))
    host.run_coroutine(client.start_new("wait_for_events", "waiting-1"))
    host.run_until_idle(30)
    everything = host.run_coroutine(client.get_status_all())
    assert {s.instance_id for s in everything} == {"done-0", "done-1", "done-2", "waiting-1"}
    running = host.run_coroutine(client.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Running]))
    assert [s.instance_id for s in running] == ["waiting-1"]
    prefixed = host.run_coroutine(client.get_status_by(instance_id_prefix="done-"))
    assert len(prefixed) == 3
    page = requests.get(f"{host.url}/durabletask/instances", params={"top": 2}, timeout=10)
    assert len(page.json()) == 2 and page.headers["x-ms-continuation-token"] == "2"
    rest = requests.get(
        f"{host.url}/durabletask/instances",
        params={"top": 2},
        headers={"x-ms-continuation-token": "2"},
        timeout=10,
    )
    assert len(rest.json()) == 2 and "x-ms-continuation-token" not in rest.headers


def test_check_status_response_urls_work_when_fetched(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("wait_for_events", "urls"))
    host.run_until_idle(30)
    request = func.HttpRequest("POST", f"{host.url}/api/anything", body=b"")
    response = client.create_check_status_response(request, "urls")
    assert response.status_code == 202
    links = json.loads(response.get_body())
    assert response.headers["Location"] == links["statusQueryGetUri"]
    status = requests.get(links["statusQueryGetUri"], timeout=10)
    assert status.status_code == 202 and status.json()["customStatus"] == {"stage": "waiting"}
    for name, value in (("First", 1), ("Second", 2)):
        raised = requests.post(links["sendEventPostUri"].replace("{eventName}", name), json=value, timeout=10)
        assert raised.status_code == 202
    host.run_until_idle(30)
    assert requests.get(links["statusQueryGetUri"], timeout=10).json()["output"] == [1, 2]
    assert requests.delete(links["purgeHistoryDeleteUri"], timeout=10).json() == {"instancesDeleted": 1}
    without_key = links["statusQueryGetUri"].split("&code=")[0]
    assert requests.get(without_key, timeout=10).status_code == 401


def test_terminate_via_management_url(host: Host) -> None:
    start(host, "wait_for_events", "term")
    host.run_until_idle(30)
    links = host.management_payload("term")
    response = requests.post(links["terminatePostUri"].replace("{text}", "stop"), timeout=10)
    assert response.status_code == 202
    assert host.get_instance("term")["runtimeStatus"] == "Terminated"
    assert requests.post(links["terminatePostUri"].replace("{text}", "x"), timeout=10).status_code == 410


def test_suspend_holds_messages_until_resume(host: Host) -> None:
    client = host.durable_client()
    host.run_coroutine(client.start_new("wait_for_events", "sus"))
    host.run_until_idle(30)
    host.run_coroutine(client.suspend("sus", "maintenance"))
    assert host.get_instance("sus")["runtimeStatus"] == "Suspended"
    host.run_coroutine(client.raise_event("sus", "First", 1))
    host.run_coroutine(client.raise_event("sus", "Second", 2))
    host.run_until_idle(30)  # held messages do not count as pending work
    assert host.get_instance("sus")["customStatus"] == {"stage": "waiting"}
    with pytest.raises(Exception, match="already exists"):
        host.run_coroutine(client.start_new("wait_for_events", "sus"))
    host.run_coroutine(client.resume("sus", "done"))
    host.run_until_idle(30)
    assert host.get_instance("sus")["output"] == ["1", "2"]  # the Python client double-encodes events (rule 6)
    host.run_coroutine(client.suspend("sus", "late"))  # 410 for a finished instance: not an error for the SDK
    with pytest.raises(Exception, match="No instance"):
        host.run_coroutine(client.suspend("nope", "x"))
