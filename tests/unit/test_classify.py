"""``arm.classify``: every failure kind from the exception the real libraries raise for Azure's real answer.

Exceptions come from ``azure_answers`` (real azure-core / azure-mgmt-compute / azure-identity, only the socket
canned). Each answer cites where Azure's shape comes from:

- identity endpoint (App Service protocol 2019-08-01): a JSON answer without a token becomes azure-identity
  1.27's ``CredentialUnavailableError("... Token request error: (invalid_scope) <statusCode>, <message>")``
  (``_internal/msal_managed_identity_client.py`` ``_request_token``; msal 1.39 ``managed_identity.py``
  ``_obtain_token_on_app_service``), whatever the HTTP status; unknown client id: 400 "Unable to load the proper
  Managed Identity." (Azure/azure-sdk-for-net#43691).
- ARM 401/403 bodies: ``InvalidAuthenticationToken`` / ``AuthorizationFailed`` (Learn: troubleshoot authorization
  failed; the emulator's ``arm_app._authenticate`` for 401).
- ARM throttling: ``SubscriptionRequestsThrottled`` (MicrosoftDocs SupportArticles, "Troubleshoot the
  SubscriptionRequestsThrottled error code (429)").
- Compute throttling: the 429 body of MicrosoftDocs/azure-docs ``troubleshooting-throttling-errors.md``.
- hourly copy limit and out-of-order: Azure's wording is unpublished; these are the emulator's answers
  (``emulator/copy_rules.py``), which follow the documented rules (Learn virtual-machines-restore-points-copy,
  virtual-machines-create-restore-points "3 copies per ... collection per hour, HTTP 429, retry after").
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import get_args

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

from replication import arm
from replication.model import ERROR_KINDS, NOTHING_FIXES, PERSON_FIXES, WAIT_FIXES, ErrorKind
from tests.unit.azure_answers import (
    CLIENT_ID,
    RPC,
    SUB,
    arm_error,
    identity_credential,
    identity_env,
    read_collection,
    read_timeout,
    refused_connection,
    token_error,
)

# ---- the table ---------------------------------------------------------------------------------


def test_every_kind_is_in_the_table_once():
    assert set(ERROR_KINDS) == set(get_args(ErrorKind))
    assert set(ERROR_KINDS) == WAIT_FIXES | PERSON_FIXES | NOTHING_FIXES
    assert not (WAIT_FIXES & PERSON_FIXES or WAIT_FIXES & NOTHING_FIXES or PERSON_FIXES & NOTHING_FIXES)
    assert {"throttled", "copy_quota", "transient"} == WAIT_FIXES
    assert {"forbidden", "conflict", "invalid", "not_found", "unexpected"} == PERSON_FIXES
    assert {"out_of_order"} == NOTHING_FIXES


def envelope_ok(failure: arm.ArmFailure) -> None:
    body = failure.to_json()
    assert set(body) <= {"kind", "status", "code", "message", "retryAfterSeconds"}
    assert {"kind", "status", "code", "message"} <= set(body)
    assert "\n" not in body["message"] and 0 < len(body["message"]) <= arm.MESSAGE_LIMIT
    assert "identity-header-secret" not in json.dumps(body)
    json.dumps(body)  # plain JSON: it crosses the durable boundary


# ---- the managed identity endpoint -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"statusCode": 500, "message": "An unexpected error occured while fetching the AAD Token."}),
        (503, {"statusCode": 503, "message": "Service Unavailable"}),
        (502, {"statusCode": 502, "message": "Bad Gateway"}),
        (429, {"statusCode": 429, "message": "Too many requests"}),
    ],
)
def test_identity_endpoint_5xx_is_transient_never_forbidden(monkeypatch, status, body):
    error = token_error(monkeypatch, (status, body, {}))
    # What azure-identity raises: CredentialUnavailableError (a ClientAuthenticationError) with no response.
    assert type(error) is CredentialUnavailableError and error.response is None
    assert f"Token request error: (invalid_scope) {status}, {body['message']}" in str(error)
    failure = arm.classify(error)
    assert failure.kind == "transient" and failure.kind in WAIT_FIXES
    assert "managed identity endpoint is unavailable" in str(failure) and f"HTTP {status}" in str(failure)
    assert failure.status is None  # no ARM status: ARM was never asked
    envelope_ok(failure)


def test_identity_endpoint_answering_a_non_json_page_is_transient(monkeypatch):
    error = token_error(monkeypatch, (502, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}))
    assert isinstance(error, json.JSONDecodeError)  # msal re-raises it; azure-core lets it out of the ARM call
    failure = arm.classify(error)
    assert failure.kind == "transient" and "managed identity endpoint" in str(failure)
    envelope_ok(failure)


def test_identity_endpoint_answering_garbage_labelled_json_is_transient(monkeypatch):
    error = token_error(monkeypatch, (503, "<html><body>503</body></html>", {}))  # Content-Type: application/json
    assert (
        type(error) is DecodeError and error.status_code == 503
    )  # azure-core's ContentDecodePolicy, in identity's pipeline
    failure = arm.classify(error)
    assert failure.kind == "transient" and "managed identity endpoint is unavailable (HTTP 503" in str(failure)
    assert failure.status is None
    envelope_ok(failure)


def test_a_bare_json_error_not_from_the_credential_is_unexpected():
    assert arm.classify(json.JSONDecodeError("Expecting value", "", 0)).kind == "unexpected"


def test_identity_endpoint_unreachable_is_transient(monkeypatch):
    error = token_error(monkeypatch, refused_connection())
    assert type(error) is ServiceRequestError
    failure = arm.classify(error)
    assert failure.kind == "transient" and "managed identity endpoint is unreachable" in str(failure)
    envelope_ok(failure)


def test_identity_endpoint_timing_out_is_transient(monkeypatch):
    error = token_error(monkeypatch, read_timeout())
    assert isinstance(error, ServiceResponseError)  # ServiceResponseTimeoutError
    failure = arm.classify(error)
    assert failure.kind == "transient" and "managed identity endpoint did not answer" in str(failure)
    envelope_ok(failure)


def test_unknown_client_id_is_a_person_fix_naming_the_identity(monkeypatch):
    body = {"statusCode": 400, "message": "Unable to load the proper Managed Identity.", "correlationId": "c0"}
    error = token_error(monkeypatch, (400, body, {}))
    assert type(error) is CredentialUnavailableError
    failure = arm.classify(error)
    assert failure.kind == "forbidden" and failure.kind in PERSON_FIXES
    assert "AZURE_CLIENT_ID" in str(failure) and "Unable to load the proper Managed Identity" in str(failure)
    envelope_ok(failure)


def test_wrong_identity_header_is_a_person_fix(monkeypatch):
    body = {"statusCode": 401, "message": "Unauthorized: missing or wrong X-IDENTITY-HEADER."}
    failure = arm.classify(token_error(monkeypatch, (401, body, {})))
    assert failure.kind == "forbidden" and "HTTP 401" in str(failure)


def test_credential_errors_raised_outside_the_wrapper_are_read_from_azure_identitys_message(monkeypatch):
    """The same outage seen without the product's mark (e.g. a caller's own credential) is still transient."""
    with identity_env(monkeypatch):
        credential, adapter = identity_credential([(503, {"statusCode": 503, "message": "Service Unavailable"}, {})])
        with pytest.raises(CredentialUnavailableError) as info:
            credential._inner.get_token("https://management.azure.com/.default")
    assert adapter.requests and adapter.requests[0].headers["X-IDENTITY-HEADER"] == "identity-header-secret"
    assert f"client_id={CLIENT_ID}" in adapter.requests[0].url
    assert arm.classify(info.value).kind == "transient"
    refusal = CredentialUnavailableError(
        "App Service managed identity configuration not found in environment. "
        "Token request error: (invalid_scope) 400, Unable to load the proper Managed Identity."
    )
    assert arm.classify(refusal).kind == "forbidden"


def test_a_credential_with_nothing_to_offer_is_a_person_fix():
    # ManagedIdentityCredential when no managed identity can be determined (azure-identity managed_identity.py).
    error = CredentialUnavailableError(message="No managed identity endpoint found. \nThe Target Azure platform ...")
    failure = arm.classify(error)
    assert failure.kind == "forbidden" and "No managed identity endpoint found." in str(failure)


# ---- ARM: authentication and authorization ------------------------------------------------------


def test_arm_401_is_a_person_fix_about_the_identity():
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}
    challenge = 'Bearer authorization_uri="https://login.microsoftonline.com/t", error="invalid_token"'
    error = arm_error((401, body, {"WWW-Authenticate": challenge}))
    assert type(error) is ClientAuthenticationError and error.status_code == 401 and error.response is not None
    failure = arm.classify(error)
    assert (failure.kind, failure.status, failure.code) == ("forbidden", 401, "InvalidAuthenticationToken")
    assert "AZURE_CLIENT_ID" in str(failure)
    envelope_ok(failure)


def test_arm_403_is_a_person_fix_about_the_role_assignment():
    message = (
        "The client 'aaaaaaaa-0000-0000-0000-000000000000' with object id 'aaaaaaaa-0000-0000-0000-000000000000' "
        "does not have authorization to perform action 'Microsoft.Compute/restorePointCollections/restorePoints/write' "
        f"over scope '{RPC}' or the scope is invalid. If access was recently granted, please refresh your credentials."
    )
    error = arm_error((403, {"error": {"code": "AuthorizationFailed", "message": message}}, {}))
    assert type(error) is HttpResponseError and error.status_code == 403
    failure = arm.classify(error)
    assert (failure.kind, failure.status, failure.code) == ("forbidden", 403, "AuthorizationFailed")
    assert "role assignment" in str(failure) and "restorePoints/write" in str(failure)
    envelope_ok(failure)


# ---- ARM: throttling and the hourly copy limit ---------------------------------------------------


def test_arm_request_throttling_is_throttled_with_its_retry_after():
    message = (
        f"Number of 'write' requests for subscription '{SUB}' actor '{CLIENT_ID}' exceeded. "
        "Please try again after '6' seconds after additional tokens are available."
    )
    headers = {"Retry-After": "6", "x-ms-ratelimit-remaining-subscription-writes": "0"}
    error = arm_error((429, {"error": {"code": "SubscriptionRequestsThrottled", "message": message}}, headers))
    failure = arm.classify(error)
    assert (failure.kind, failure.status, failure.retry_after) == ("throttled", 429, 6.0)
    assert str(failure).startswith("ARM throttled")
    envelope_ok(failure)


def test_compute_policy_throttling_is_throttled_even_with_minutes_of_retry_after():
    body = {
        "code": "OperationNotAllowed",
        "message": "The server rejected the request because too many requests have been received for this subscription.",
        "details": [
            {
                "code": "TooManyRequests",
                "target": "HighCostGet30Min",
                "message": '{"operationGroup":"HighCostGet30Min","startTime":"2018-06-29T19:54:21.0914017+00:00",'
                '"endTime":"2018-06-29T20:14:21.0914017+00:00","allowedRequestCount":800,"measuredRequestCount":1238}',
            }
        ],
    }
    headers = {
        "Retry-After": "1200",
        "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/HighCostGet3Min;46,Microsoft.Compute/HighCostGet30Min;0",
    }
    failure = arm.classify(arm_error((429, body, headers)))
    assert (failure.kind, failure.code, failure.retry_after) == ("throttled", "OperationNotAllowed", 1200.0)
    assert "HighCostGet30Min" in str(failure)


HOURLY = (
    f"The number of restore point copies into collection '{RPC}' exceeded the limit of 3 per hour. "
    "Retry after 1800 seconds."
)


def test_hourly_copy_limit_is_copy_quota_with_its_retry_after():
    error = arm_error((429, {"error": {"code": "TooManyRequests", "message": HOURLY}}, {"Retry-After": "1800"}))
    failure = arm.classify(error)
    assert (failure.kind, failure.status, failure.retry_after) == ("copy_quota", 429, 1800.0)
    assert failure.kind in WAIT_FIXES and "3 copies per target collection per hour" in str(failure)
    envelope_ok(failure)


def test_hourly_copy_limit_without_retry_after_header_reads_the_message_or_waits_a_third_of_the_hour():
    failure = arm.classify(arm_error((429, {"error": {"code": "TooManyRequests", "message": HOURLY}}, {})))
    assert (failure.kind, failure.retry_after) == ("copy_quota", 1800.0)
    bare = "The number of restore point copies into this collection exceeded the limit of 3 per hour."
    failure = arm.classify(arm_error((429, {"error": {"code": "TooManyRequests", "message": bare}}, {})))
    assert (failure.kind, failure.retry_after) == ("copy_quota", arm.COPY_QUOTA_WAIT)


def test_an_hour_in_the_message_of_arm_throttling_or_of_a_read_is_still_throttled():
    headers = {"Retry-After": "30", "x-ms-ratelimit-remaining-subscription-writes": "0"}
    assert arm.classify(arm_error((429, {"error": {"code": "TooManyRequests", "message": HOURLY}}, headers))).kind == (
        "throttled"
    )
    error = arm_error((429, {"error": {"code": "TooManyRequests", "message": HOURLY}}, {}), read_collection)
    assert arm.classify(error).kind == "throttled"


def test_retry_after_as_an_http_date():
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    failure = arm.classify(
        arm_error((429, {"error": {"code": "TooManyRequests", "message": HOURLY}}, {"Retry-After": when}))
    )
    assert failure.retry_after is not None and 590 <= failure.retry_after <= 600


# ---- ARM: conflicts ----------------------------------------------------------------------------


def test_out_of_order_copy_is_its_own_kind_that_nothing_fixes():
    message = (
        f"Restore point '{RPC}/restorePoints/rp-2' (created 2026-11-12T00:00:00+00:00) is older than a restore point "
        "already copied to region 'westus2' (created 2026-11-13T00:00:00+00:00); restore points must be copied in "
        "creation order."
    )
    error = arm_error((409, {"error": {"code": "OperationNotAllowed", "message": message}}, {}))
    assert type(error) is ResourceExistsError  # the generated error_map's choice for every 409
    failure = arm.classify(error)
    assert (failure.kind, failure.status, failure.code) == ("out_of_order", 409, "OperationNotAllowed")
    assert failure.kind in NOTHING_FIXES and "never" in str(failure)
    envelope_ok(failure)


@pytest.mark.parametrize(
    "message",
    [
        f"Restore point '{RPC}/restorePoints/rp-2' has already been copied to region 'westus2' as 'x'. "
        "A restore point can be copied only once to a region.",
        f"A copy from '{RPC}' to region 'westus2' is still in progress ('x'). Wait for it to complete before "
        "starting the next one.",
        "Restore point 'x' of this VM is still being created; concurrent restore point creation for one VM is not supported.",
    ],
)
def test_other_409s_are_conflicts(message):
    failure = arm.classify(arm_error((409, {"error": {"code": "OperationNotAllowed", "message": message}}, {})))
    assert (failure.kind, failure.status) == ("conflict", 409)


def test_product_side_conflict_passes_through():
    failure = arm.ArmFailure("conflict", "target collection x already exists with source y, not z")
    assert arm.classify(failure) is failure


# ---- ARM: everything else ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "ResourceNotFound", "not_found"),
        (400, "InvalidParameter", "invalid"),
        (500, "InternalServerError", "transient"),
        (503, "ServiceUnavailable", "transient"),
        (408, "RequestTimeout", "transient"),
    ],
)
def test_other_statuses(status, code, kind):
    failure = arm.classify(arm_error((status, {"error": {"code": code, "message": f"{code} happened."}}, {})))
    assert (failure.kind, failure.status, failure.code) == (kind, status, code)
    envelope_ok(failure)


def test_arm_unreachable_is_transient_and_says_arm():
    error = arm_error(refused_connection(443))
    assert isinstance(error, ServiceRequestError)
    failure = arm.classify(error)
    assert failure.kind == "transient" and "could not reach ARM" in str(failure)


def test_an_html_error_page_from_arm_keeps_its_status():
    error = arm_error((502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"}))
    failure = arm.classify(error)
    assert (failure.kind, failure.status) == ("transient", 502)
    envelope_ok(failure)


def test_long_messages_are_cut_to_one_short_line():
    message = "x" * 2000 + "\nsecond line"
    failure = arm.classify(arm_error((400, {"error": {"code": "InvalidParameter", "message": message}}, {})))
    assert len(str(failure)) <= arm.MESSAGE_LIMIT and "second line" not in str(failure)
    assert re.fullmatch(r"x+\.\.\.", str(failure))
