"""Failure kinds end to end: the product's ``arm`` functions, its own credential, the real SDK, the emulator.

Each case is produced by the emulator where it can (copy rules of ``emulator/copy_rules.py``, throttling of
``emulator/throttle.py`` and the fault switches, its identity endpoint). What the emulator cannot answer yet is
answered by ``identity_stub`` (the managed identity endpoint only; ARM is always the emulator) or, for ARM's
403 and Compute's throttling format, only in ``tests/unit/test_classify.py``.
"""

from __future__ import annotations

import pytest

from replication import arm
from replication.ids import CollectionRef, target_collection_name
from replication.model import NOTHING_FIXES, PERSON_FIXES, WAIT_FIXES
from tests.domain.emulated import SUB, admin, advance, closed_port, rpc_id
from tests.domain.identity_stub import Answer, identity_stub

SOURCE = rpc_id("web-01-rpc")
REGION = "westus2"


def rp(i: int) -> str:
    return f"{SOURCE}/restorePoints/rp-{i}"


def target() -> str:
    """The lane's target collection, created (or confirmed) through the product."""
    source = arm.read_collection(SOURCE)
    assert source is not None
    ref = CollectionRef(SUB, "rg-dr", target_collection_name(SOURCE, REGION))
    return arm.ensure_target_collection(source, ref, REGION, {})["id"]


def copy_and_finish(emu, tgt: str, i: int) -> None:
    """Copy rp-i, let ten simulated minutes pass (enough for these small disks) and read it as the monitor would."""
    name = f"rp-{i}"
    arm.start_copy(tgt, name, rp(i))
    advance(emu, 600)
    observed = arm.observe_copy(f"{tgt}/restorePoints/{name}")  # the emulator ends Creating on a later read
    assert observed is not None and observed["provisioningState"] == "Succeeded"


def failure_of(fn, *args) -> arm.ArmFailure:
    with pytest.raises(arm.ArmFailure) as info:
        fn(*args)
    body = info.value.to_json()
    assert set(body) <= {"kind", "status", "code", "message", "retryAfterSeconds"}
    assert "\n" not in body["message"] and len(body["message"]) <= arm.MESSAGE_LIMIT
    return info.value


def test_the_product_copies_with_its_own_credential(emu, product):
    observed = arm.start_copy(target(), "rp-0", rp(0))
    assert observed["provisioningState"] in ("Creating", "Succeeded")


# ---- copy rules ---------------------------------------------------------------------------------


def test_out_of_order_copy_is_out_of_order(emu, product):
    tgt = target()
    copy_and_finish(emu, tgt, 1)
    copy_and_finish(emu, tgt, 3)
    failure = failure_of(arm.start_copy, tgt, "rp-2", rp(2))
    assert (failure.kind, failure.status, failure.code) == ("out_of_order", 409, "OperationNotAllowed")
    assert failure.kind in NOTHING_FIXES


def test_fourth_copy_within_the_hour_is_copy_quota_with_minutes_of_retry_after(emu, product):
    tgt = target()
    for i in range(3):
        copy_and_finish(emu, tgt, i)
    failure = failure_of(arm.start_copy, tgt, "rp-3", rp(3))
    assert (failure.kind, failure.status) == ("copy_quota", 429)
    assert failure.retry_after == 30 * 60  # rp-0 was accepted 30 simulated minutes ago
    assert failure.kind in WAIT_FIXES
    advance(emu, failure.retry_after)
    assert arm.start_copy(tgt, "rp-3", rp(3))["sourceRestorePointId"].lower() == rp(3).lower()


def test_a_copy_in_progress_on_the_lane_is_a_conflict(emu, product):
    tgt = target()
    arm.start_copy(tgt, "rp-0", rp(0))
    failure = failure_of(arm.start_copy, tgt, "rp-1", rp(1))
    assert (failure.kind, failure.status) == ("conflict", 409) and "in progress" in str(failure)


def test_a_source_already_copied_under_another_name_is_a_conflict(emu, product):
    tgt = target()
    copy_and_finish(emu, tgt, 0)
    failure = failure_of(arm.start_copy, tgt, "rp-0-again", rp(0))
    assert (failure.kind, failure.status) == ("conflict", 409) and failure.kind in PERSON_FIXES


def test_a_missing_source_restore_point_is_not_found(emu, product):
    failure = failure_of(arm.start_copy, target(), "rp-9", rp(9))
    assert (failure.kind, failure.status) == ("not_found", 404)


# ---- throttling and outages ---------------------------------------------------------------------


def test_arm_request_buckets_exhausted_on_a_copy_are_throttled_not_copy_quota(emu, product):
    tgt = target()
    admin(emu, "POST", "faults", {"throttleStormRate": 1.0, "throttleStormRetryAfter": 30})
    failure = failure_of(arm.start_copy, tgt, "rp-0", rp(0))
    assert (failure.kind, failure.status, failure.retry_after) == ("throttled", 429, 30.0)


@pytest.fixture
def small_write_bucket(scenario):
    scenario["throttling"] = {"limits": {"writes": [1, 0.01]}}
    return scenario


def test_writes_over_arm_bucket_are_throttled_with_its_retry_after(small_write_bucket, emu, product):
    tgt = target()  # the one write the bucket holds
    failure = failure_of(arm.start_copy, tgt, "rp-0", rp(0))
    assert (failure.kind, failure.status) == ("throttled", 429)
    assert failure.retry_after == 100.0  # one token at 0.01/s
    assert str(failure).startswith("ARM throttled")


def test_arm_5xx_is_transient(emu, product):
    admin(emu, "POST", "faults", {"serverErrorRate": 1.0, "serverErrorStatuses": [503]})
    failure = failure_of(arm.read_collection, SOURCE)
    assert (failure.kind, failure.status, failure.code) == ("transient", 503, "ServiceUnavailable")


def test_arm_unreachable_is_transient(emu, product):
    product(ARM_ENDPOINT=f"https://127.0.0.1:{closed_port()}")
    failure = failure_of(arm.read_collection, SOURCE)
    assert failure.kind == "transient" and "could not reach ARM" in str(failure)


# ---- the managed identity endpoint --------------------------------------------------------------


def test_identity_endpoint_unreachable_is_transient(emu, product):
    product(IDENTITY_ENDPOINT=f"http://127.0.0.1:{closed_port()}/msi/token")
    failure = failure_of(arm.read_collection, SOURCE)
    assert failure.kind == "transient" and "managed identity endpoint is unreachable" in str(failure)
    assert failure.status is None


def test_wrong_identity_header_is_forbidden(emu, product):
    product(IDENTITY_HEADER="not-the-header")  # the emulator's identity endpoint answers 401
    failure = failure_of(arm.read_collection, SOURCE)
    assert failure.kind == "forbidden" and "HTTP 401" in str(failure)


@pytest.mark.parametrize("status", [500, 503])
def test_identity_endpoint_5xx_is_transient_never_forbidden(emu, product, status):
    with identity_stub() as stub:
        stub.answer = Answer(status, {"statusCode": status, "message": "Service Unavailable"})
        product(IDENTITY_ENDPOINT=stub.url)
        failure = failure_of(arm.read_collection, SOURCE)
        assert failure.kind == "transient" and f"HTTP {status}" in str(failure)
        assert len(stub.requests) == 1 + arm.IDENTITY_OPTIONS["retry_total"]  # azure-identity retried it first


def test_identity_endpoint_gateway_page_is_transient(emu, product):
    with identity_stub() as stub:
        stub.answer = Answer(502, "<html><body>502 Bad Gateway</body></html>", "text/html")
        product(IDENTITY_ENDPOINT=stub.url)
        failure = failure_of(arm.read_collection, SOURCE)
        assert failure.kind == "transient" and "managed identity endpoint" in str(failure)


def test_identity_endpoint_hanging_is_transient(emu, product, monkeypatch):
    monkeypatch.setitem(arm.IDENTITY_OPTIONS, "read_timeout", 0.3)
    monkeypatch.setitem(arm.IDENTITY_OPTIONS, "retry_total", 0)
    monkeypatch.setitem(arm.ARM_RETRY, "retry_total", 0)
    with identity_stub() as stub:
        stub.answer = Answer(delay=1.0)
        product(IDENTITY_ENDPOINT=stub.url)
        failure = failure_of(arm.read_collection, SOURCE)
        assert failure.kind == "transient" and "did not answer" in str(failure)


def test_unknown_client_id_is_forbidden_and_names_the_setting(emu, product):
    with identity_stub() as stub:
        body = {"statusCode": 400, "message": "Unable to load the proper Managed Identity.", "correlationId": "c"}
        stub.answer = Answer(400, body)
        product(IDENTITY_ENDPOINT=stub.url)
        failure = failure_of(arm.read_collection, SOURCE)
        assert failure.kind == "forbidden" and "AZURE_CLIENT_ID" in str(failure)
        assert "client_id=00000000-0000-0000-0000-00000000c1d0" in stub.requests[0]


def test_a_token_arm_does_not_accept_is_forbidden_401(emu, product):
    with identity_stub() as stub:  # answers a well-formed token the emulator never issued
        product(IDENTITY_ENDPOINT=stub.url)
        failure = failure_of(arm.read_collection, SOURCE)
        assert (failure.kind, failure.status, failure.code) == ("forbidden", 401, "InvalidAuthenticationToken")
