"""Sample Durable Functions app used only by the devhost tests.

It exercises every pattern the local host must run faithfully: sequences, fan-out/fan-in, timer races,
sub-orchestrations, external events, continue_as_new, custom status, failures, retries, a deliberately
nondeterministic orchestrator, and HTTP / Event Grid / timer triggered starters.
"""

import asyncio
import datetime
import json
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# Activities append a line per execution here when the setting is present, so tests can count runs.
_LOG_SETTING = "SAMPLE_ACTIVITY_LOG"


def _log(line: str) -> None:
    path = os.environ.get(_LOG_SETTING)
    if path:
        with Path(path).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


# ---------------------------------------------------------------- activities


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    _log(f"say_hello {name}")
    return f"Hello {name}!"


@app.activity_trigger(input_name="value")
async def double(value: int) -> int:
    await asyncio.sleep(0)
    _log(f"double {value}")
    return value * 2


@app.activity_trigger(input_name="payload")
def boom(payload: str) -> str:
    raise ValueError(f"boom: {payload}")


@app.activity_trigger(input_name="payload")
def flaky(payload: dict) -> str:
    """Fails until it has been called `fail_times` times (counted in a file)."""
    counter = Path(payload["counter"])
    count = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(count + 1))
    if count < payload["fail_times"]:
        raise RuntimeError(f"flaky attempt {count + 1}")
    return f"ok after {count + 1}"


@app.activity_trigger(input_name="payload")
def slow_step(payload: dict) -> int:
    """Sleeps for real (wall time, not simulated time): used to kill the host mid-activity."""
    _log(f"slow_step start {payload['i']}")
    import time

    time.sleep(payload.get("seconds", 0.0))
    _log(f"slow_step end {payload['i']}")
    return payload["i"]


# ---------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for name in names:
        results.append((yield context.call_activity("say_hello", name)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    count = context.get_input() or 5
    tasks = [context.call_activity("double", i) for i in range(count)]
    results = yield context.task_all(tasks)
    return sum(results)


@app.orchestration_trigger(context_name="context")
def timer_race(context: df.DurableOrchestrationContext):
    """Waits for an approval event or a one-hour timeout, whichever comes first."""
    deadline = context.current_utc_datetime + datetime.timedelta(hours=1)
    timeout = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        return {"approved": approval.result}
    return {"approved": None, "timed_out_at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def timers_in_sequence(context: df.DurableOrchestrationContext):
    """Sleeps three times for a simulated day: proves the virtual clock advances by itself."""
    stamps = []
    for _ in range(3):
        yield context.create_timer(context.current_utc_datetime + datetime.timedelta(days=1))
        stamps.append(context.current_utc_datetime.isoformat())
    return stamps


@app.orchestration_trigger(context_name="context")
def long_timer(context: df.DurableOrchestrationContext):
    """A 10-day timer: the SDK splits it into 3-day hops (schema V3, as on Azure Storage)."""
    yield context.create_timer(context.current_utc_datetime + datetime.timedelta(days=10))
    return context.current_utc_datetime.isoformat()


@app.orchestration_trigger(context_name="context")
def parent_orchestrator(context: df.DurableOrchestrationContext):
    children = []
    for i in range(3):
        child_id = f"{context.instance_id}:child:{i}"
        children.append(context.call_sub_orchestrator("hello_sequence", [f"c{i}"], child_id))
    results = yield context.task_all(children)
    try:
        yield context.call_sub_orchestrator("failing_orchestrator", "x", f"{context.instance_id}:bad")
    except Exception as exc:
        return {"children": results, "child_error": str(exc)[:200]}
    return {"children": results, "child_error": None}


@app.orchestration_trigger(context_name="context")
def wait_for_events(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    first = yield context.wait_for_external_event("First")
    context.set_custom_status({"stage": "got-first", "first": first})
    second = yield context.wait_for_external_event("Second")
    context.set_custom_status({"stage": "done"})
    return [first, second]


@app.orchestration_trigger(context_name="context")
def counter_loop(context: df.DurableOrchestrationContext):
    """Runs `total` activities, continuing as new every `batch` to keep history short."""
    state = context.get_input()
    done, total, batch = state["done"], state["total"], state["batch"]
    for _ in range(min(batch, total - done)):
        done = (yield context.call_activity("double", done)) // 2 + 1
    context.set_custom_status({"done": done})
    if done < total:
        context.continue_as_new({"done": done, "total": total, "batch": batch})
        return None
    return done


@app.orchestration_trigger(context_name="context")
def event_loop(context: df.DurableOrchestrationContext):
    """Collects `Add` events across continue_as_new generations until the sum reaches a target."""
    state = context.get_input()
    value = yield context.wait_for_external_event("Add")
    state["sum"] += value
    state["generations"] += 1
    if state["sum"] >= state["target"]:
        return state
    context.continue_as_new(state)
    return None


@app.orchestration_trigger(context_name="context")
def failing_orchestrator(context: df.DurableOrchestrationContext):
    yield context.call_activity("boom", context.get_input())
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def catching_orchestrator(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("boom", "caught")
    except Exception as exc:
        return {"caught": str(exc)[:200]}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def retrying_orchestrator(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", options, context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def nondeterministic_timer(context: df.DurableOrchestrationContext):
    """WRONG on purpose: reads the wall clock, so the timer's fireAt changes on every replay."""
    fire_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    yield context.create_timer(fire_at)
    yield context.call_activity("say_hello", "after")
    return "finished"


@app.orchestration_trigger(context_name="context")
def nondeterministic_input(context: df.DurableOrchestrationContext):
    """WRONG on purpose: passes the wall clock to an activity, so the input differs on replay."""
    first = yield context.call_activity("say_hello", datetime.datetime.now().isoformat())
    second = yield context.call_activity("say_hello", "second")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def nondeterministic_name(context: df.DurableOrchestrationContext):
    """WRONG on purpose: schedules another activity name on replay than on the first run."""
    first = yield context.call_activity("double" if context.is_replaying else "say_hello", 1)
    return first


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    """A counter entity: ``add`` (returns the new value), ``get``, ``fail`` (raises before touching the state),
    ``add_then_fail`` (changes the state, then raises: an out-of-process batch keeps it, there is no rollback)."""
    operation = context.operation_name
    value = context.get_state(lambda: 0)
    if operation == "add":
        context.set_state(value + int(context.get_input()))
        context.set_result(value + int(context.get_input()))
    elif operation == "get":
        context.set_result(value)
    elif operation == "fail":
        raise ValueError(f"refused at {value}")
    elif operation == "add_then_fail":
        context.set_state(value + int(context.get_input()))
        raise ValueError("failed after changing the state")
    else:
        raise ValueError(f"unknown operation {operation}")


@app.orchestration_trigger(context_name="context")
def uses_entity(context: df.DurableOrchestrationContext):
    """One call to the counter: its result comes back into this orchestration."""
    value = yield context.call_entity(df.EntityId("counter", "c1"), "add", 1)
    return value


@app.orchestration_trigger(context_name="context")
def entity_calls(context: df.DurableOrchestrationContext):
    """Input ``{"key", "ops": [[op, input], ...], "signals"?: [[op, input], ...]}``: signals first, then each call
    in turn; returns ``[{"ok": value} | {"error": text}]``."""
    spec = context.get_input()
    entity = df.EntityId("counter", spec["key"])
    for op, value in spec.get("signals") or []:
        context.signal_entity(entity, op, value)
    out = []
    for op, value in spec["ops"]:
        try:
            out.append({"ok": (yield context.call_entity(entity, op, value))})
        except Exception as exc:
            out.append({"error": str(exc)})
    return out


@app.orchestration_trigger(context_name="context")
def calls_missing_entity(context: df.DurableOrchestrationContext):
    yield context.call_entity(df.EntityId("no_such_entity", "k"), "get")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def signals_missing_entity(context: df.DurableOrchestrationContext):
    context.signal_entity(df.EntityId("no_such_entity", "k"), "get")
    yield context.create_timer(context.current_utc_datetime + datetime.timedelta(seconds=1))
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def reuses_own_id(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("hello_sequence", ["x"], context.instance_id)
    except Exception as exc:
        return str(exc)[:200]
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def kill_target(context: df.DurableOrchestrationContext):
    """Used by the kill -9 tests: slow activities, a fan-out and durable timers."""
    n = context.get_input()["n"]
    seconds = context.get_input().get("seconds", 0.0)
    total = 0
    for i in range(n):
        total += yield context.call_activity("slow_step", {"i": i, "seconds": seconds})
        yield context.create_timer(context.current_utc_datetime + datetime.timedelta(minutes=10))
    fan = yield context.task_all([context.call_activity("slow_step", {"i": 100 + i}) for i in range(3)])
    return total + sum(fan)


# ---------------------------------------------------------------- orchestrators for the host-rule tests
# (tests/devhost/test_devhost_rules.py: each proves one rule devhost holds the way the extension/DurableTask do)


@app.activity_trigger(input_name="size")
def big_output(size: int) -> str:
    return "x" * size


@app.orchestration_trigger(context_name="context")
def custom_status_size(context: df.DurableOrchestrationContext):
    """Rule 1: a custom status of `first` characters, and after one activity one of `later` characters."""
    sizes = context.get_input()
    context.set_custom_status("x" * sizes["first"])
    yield context.call_activity("say_hello", "a")
    if sizes.get("later"):
        context.set_custom_status("x" * sizes["later"])
    yield context.call_activity("say_hello", "b")
    return "done"


@app.orchestration_trigger(context_name="context")
def waits_for_go(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("Go")
    return value


@app.orchestration_trigger(context_name="context")
def children_one_fails(context: df.DurableOrchestrationContext):
    """Rule 2: task_all over two sub-orchestrations; one fails at once, the other waits for an event."""
    iid = context.instance_id
    children = [
        context.call_sub_orchestrator("failing_orchestrator", "x", f"{iid}:fails"),
        context.call_sub_orchestrator("waits_for_go", None, f"{iid}:waits"),
    ]
    yield context.task_all(children)
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def numbering_shift(context: df.DurableOrchestrationContext):
    """Rule 2: .NET faults the sub-orchestration call before numbering it, so .NET's task 0 is the SDK's task 1."""
    sub = context.call_sub_orchestrator("hello_sequence", ["x"], context.instance_id)
    activity = context.call_activity("say_hello", "activity")
    winner = yield context.task_any([sub, activity])
    return {"winner": "sub-orchestration" if winner == sub else "activity", "result": winner.result}


@app.orchestration_trigger(context_name="context")
def same_event_twice(context: df.DurableOrchestrationContext):
    """Rule 3 (py#507): after an hour, waits for "Item" twice, then calls an activity."""
    yield context.create_timer(context.current_utc_datetime + datetime.timedelta(hours=1))
    first = yield context.wait_for_external_event("Item")
    second = yield context.wait_for_external_event("Item")
    after = yield context.call_activity("say_hello", "after")
    return [first, second, after]


@app.orchestration_trigger(context_name="context")
def forgets_timer(context: df.DurableOrchestrationContext):
    """Rule 4: an activity wins a race against a one-day timer that is never cancelled."""
    timeout = context.create_timer(context.current_utc_datetime + datetime.timedelta(days=1))
    winner = yield context.task_any([context.call_activity("say_hello", "fast"), timeout])
    return winner.result


@app.orchestration_trigger(context_name="context")
def start_then_add(context: df.DurableOrchestrationContext):
    """Rule 5: waits for "Start", then takes one "Add", then continues as new (twice)."""
    state = context.get_input()
    yield context.wait_for_external_event("Start")
    value = yield context.wait_for_external_event("Add")
    state["seen"].append(value)
    if len(state["seen"]) >= 2:
        return state
    context.continue_as_new(state)
    return None


@app.orchestration_trigger(context_name="context")
def starts_child_on(context: df.DurableOrchestrationContext):
    """Rules 8 and 10: starts hello_sequence as a sub-orchestration on the instance id it is given."""
    result = yield context.call_sub_orchestrator("hello_sequence", ["p"], context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def returns_big_output(context: df.DurableOrchestrationContext):
    """Rule 10: an activity whose output has `size` characters."""
    text = yield context.call_activity("big_output", context.get_input())
    return len(text)


# ---------------------------------------------------------------- client / trigger functions


@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params.get("instanceId")
    body = req.get_body()
    payload = json.loads(body) if body else None
    if instance_id:
        existing = await client.get_status(instance_id)
        if existing and existing.runtime_status in (
            df.OrchestrationRuntimeStatus.Running,
            df.OrchestrationRuntimeStatus.Pending,
        ):
            return func.HttpResponse(f"instance {instance_id} already running", status_code=409)
    instance_id = await client.start_new(req.route_params["functionName"], instance_id, payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="replications/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_replication(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instanceId"])
    if not status:
        return func.HttpResponse("not found", status_code=404)
    return func.HttpResponse(json.dumps(status.to_json(), default=str), mimetype="application/json")


@app.route(route="anon/echo", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def anon_echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"method": req.method, "params": dict(req.params)}))


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="explode", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def explode(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def on_restore_point(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    data = event.get_json()
    if data.get("fail"):
        raise RuntimeError("event handler failed")
    await client.start_new("hello_sequence", f"eg-{event.id}", [event.subject])


@app.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    stamp = len(await client.get_status_all())
    await client.start_new("hello_sequence", None, [f"sweep-{stamp}"])


@app.orchestration_trigger(context_name="context")
def nondeterministic_entity(context: df.DurableOrchestrationContext):
    """WRONG on purpose: calls the entity on the first run, an activity in its place on replay."""
    if context.is_replaying:
        first = yield context.call_activity("double", 1)
    else:
        first = yield context.call_entity(df.EntityId("counter", "nd"), "add", 1)
    return first
