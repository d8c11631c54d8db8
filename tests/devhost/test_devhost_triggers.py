"""HTTP, Event Grid and timer triggers, indexed from the app's own binding metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import requests
from devhost_helpers import SAMPLE_APP

from devhost import Host, VirtualClock
from devhost.ncrontab import Schedule
from devhost.routes import compile_template


def _event(event_id: str, data: dict[str, object]) -> dict[str, object]:
    return {
        "id": event_id,
        "topic": "/subscriptions/s/resourceGroups/rg",
        "subject": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c",
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2025-01-01T00:00:00Z",
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1",
    }


def test_http_starter_requires_function_key(host: Host) -> None:
    url = f"{host.url}/api/orchestrators/hello_sequence/h1"
    assert requests.post(url, json=["a"], timeout=10).status_code == 401
    assert requests.post(url, params={"code": "wrong"}, json=["a"], timeout=10).status_code == 401
    response = requests.post(url, headers={"x-functions-key": host.function_key}, json=["a"], timeout=10)
    assert response.status_code == 202
    body = response.json()
    assert body["id"] == "h1" and response.headers["Location"] == body["statusQueryGetUri"]
    host.run_until_idle(30)
    assert requests.get(body["statusQueryGetUri"], timeout=10).json()["output"] == ["Hello a!"]
    # The starter checks get_status first and answers 409 itself while an instance runs.
    requests.post(f"{host.url}/api/orchestrators/wait_for_events/w1", params={"code": host.master_key}, timeout=10)
    again = requests.post(f"{host.url}/api/orchestrators/wait_for_events/w1", params={"code": host.function_key})
    assert again.status_code == 409


def test_route_parameters_methods_and_unknown_paths(host: Host) -> None:
    key = {"code": host.function_key}
    requests.post(f"{host.url}/api/orchestrators/hello_sequence/r1", params=key, json=["r"], timeout=10)
    host.run_until_idle(30)
    found = requests.get(f"{host.url}/api/replications/r1", params=key, timeout=10)
    assert found.status_code == 200 and found.json()["runtimeStatus"] == "Completed"
    assert requests.get(f"{host.url}/api/replications/zzz", params=key, timeout=10).status_code == 404
    assert requests.delete(f"{host.url}/api/replications/r1", params=key, timeout=10).status_code == 404
    assert requests.get(f"{host.url}/api/no/such/route", timeout=10).status_code == 404


def test_route_values_are_percent_decoded_and_may_hold_any_character(host: Host) -> None:
    key = {"code": host.function_key}
    for raw in ("%0A%F0%AB%B2%8A", "a%2Fb", "sp%20ace"):
        response = requests.get(f"{host.url}/api/replications/{raw}", params=key, timeout=10)
        assert (response.status_code, response.text) == (404, "not found")  # the function answered, not devhost
    echo = requests.get(f"{host.url}/api/anon/echo", params={"q": "line\nbreak"}, timeout=10)
    assert echo.json()["params"] == {"q": "line\nbreak"}


def test_auth_levels_anonymous_and_admin(host: Host) -> None:
    echo = requests.get(f"{host.url}/api/anon/echo", params={"q": "1"}, timeout=10)
    assert echo.status_code == 200 and echo.json() == {"method": "GET", "params": {"q": "1"}}
    admin = f"{host.url}/api/admin-only"
    assert requests.get(admin, params={"code": host.function_key}, timeout=10).status_code == 401
    assert requests.get(admin, params={"code": host.master_key}, timeout=10).text == "admin ok"


def test_function_exception_is_a_bare_500(host: Host) -> None:
    response = requests.get(f"{host.url}/api/explode", timeout=10)
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and "Traceback" not in response.text


def test_event_grid_validation_and_notification(host: Host) -> None:
    url = f"{host.url}/runtime/webhooks/eventgrid"
    params = {"functionName": "on_restore_point", "code": host.function_key}
    handshake = [
        {**_event("v", {"validationCode": "abc-123"}), "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent"}
    ]
    validation = requests.post(url, params=params, json=handshake, headers={"aeg-event-type": "SubscriptionValidation"})
    assert validation.status_code == 200 and validation.json() == {"validationResponse": "abc-123"}
    notify = {"aeg-event-type": "Notification"}
    assert requests.post(url, params={"functionName": "on_restore_point"}, json=[], headers=notify).status_code == 401
    ok = requests.post(url, params=params, json=[_event("e1", {}), _event("e2", {})], headers=notify, timeout=10)
    assert ok.status_code == 200
    host.run_until_idle(30)
    assert host.get_instance("eg-e1")["output"] == [f"Hello {_event('e1', {})['subject']}!"]
    assert host.get_instance("eg-e2")["runtimeStatus"] == "Completed"
    failed = requests.post(url, params=params, json=[_event("e3", {"fail": True})], headers=notify, timeout=10)
    assert failed.status_code == 500  # so Event Grid retries


def test_timer_trigger_fires_on_the_host_clock(tmp_path: Path) -> None:
    clock = VirtualClock(dt.datetime(2025, 3, 1, 0, 0, 1, tzinfo=dt.UTC))
    settings = {"SWEEP_SCHEDULE": "0 */5 * * * *"}
    with Host(SAMPLE_APP, settings=settings, clock=clock, db_path=str(tmp_path / "t.sqlite")) as host:
        host.run_until_idle(30)
        assert host.instances() == []
        clock.advance_to(dt.datetime(2025, 3, 1, 0, 5, 0, tzinfo=dt.UTC))
        host.engine.wake()
        _wait_for_instances(host, 1)
        host.run_until_idle(30)
        assert host.instances()[0]["output"] == ["Hello sweep-0!"]


def test_admin_api_invokes_a_timer_function_now(host: Host) -> None:
    url = f"{host.url}/admin/functions/sweep"
    assert requests.post(url, params={"code": host.function_key}, json={"input": ""}, timeout=10).status_code == 401
    response = requests.post(url, headers={"x-functions-key": host.master_key}, json={"input": ""}, timeout=10)
    assert response.status_code == 202
    _wait_for_instances(host, 1)
    host.run_until_idle(30)
    assert host.instances()[0]["runtimeStatus"] == "Completed"


def _wait_for_instances(host: Host, count: int) -> None:
    import time

    deadline = time.monotonic() + 20
    while len(host.instances()) < count:
        assert time.monotonic() < deadline, "no instance started"
        host.run_until_idle(30)


def test_ncrontab_schedules() -> None:
    at = dt.datetime(2025, 1, 1, 0, 0, 0, tzinfo=dt.UTC)  # a Wednesday
    assert Schedule.parse("0 */5 * * * *").next_after(at) == at.replace(minute=5)
    assert Schedule.parse("30 0 9 * * MON-FRI").next_after(at) == at.replace(hour=9, second=30)
    assert Schedule.parse("0 0 0 * * SUN").next_after(at) == dt.datetime(2025, 1, 5, tzinfo=dt.UTC)
    assert Schedule.parse("0 0 12 1 JAN *").next_after(at) == at.replace(hour=12)
    assert Schedule.parse("*/10 * * * * *").next_after(at) == at.replace(second=10)


def test_route_templates() -> None:
    optional = compile_template("orchestrators/{functionName}/{instanceId?}")
    assert optional.fullmatch("orchestrators/f") and optional.fullmatch("orchestrators/f/i")
    typed = compile_template("items/{id:int}")
    assert typed.fullmatch("items/3").group("id") == "3"
    assert compile_template("files/{*rest}").fullmatch("files/a/b").group("rest") == "a/b"
