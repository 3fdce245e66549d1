"""Fault classification: every shape QBO reports errors in becomes the right typed exception."""

from __future__ import annotations

import json

import pytest

from qbosync.qbo.faults import (
    QboAuthenticationFault,
    QboAuthorizationFault,
    QboClosedPeriod,
    QboDepositedTransaction,
    QboDuplicateDocNumber,
    QboDuplicateName,
    QboFault,
    QboInvalidReference,
    QboNotFound,
    QboServerFault,
    QboStaleObject,
    QboThrottled,
    QboValidationFault,
    fault_from_payload,
    fault_from_response,
    retry_after_seconds,
)


def _json_fault(
    code: str, message: str = "Error", detail: str = "", fault_type: str = "ValidationFault"
) -> bytes:
    return json.dumps(
        {
            "Fault": {
                "Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                "type": fault_type,
            },
            "time": "2015-07-24T10:33:39.11-07:00",
        }
    ).encode()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("5010", QboStaleObject),
        ("6240", QboDuplicateName),
        ("6140", QboDuplicateDocNumber),
        ("6210", QboClosedPeriod),
        ("6540", QboDepositedTransaction),
        ("610", QboNotFound),
        ("2500", QboInvalidReference),
        ("2020", QboValidationFault),
    ],
)
def test_given_a_json_fault_with_a_code_when_classified_then_the_code_decides_the_type(
    code: str, expected: type[QboFault]
) -> None:
    fault = fault_from_response(400, _json_fault(code), {"intuit_tid": "1-abc"})
    assert type(fault) is expected
    assert (fault.status, fault.code, fault.intuit_tid) == (400, code, "1-abc")


def test_given_a_stale_object_fault_when_parsed_then_message_and_detail_are_kept() -> None:
    body = _json_fault("5010", "Stale Object Error", "Stale Object Error : You and root were working on this")
    fault = fault_from_response(400, body, {})
    assert isinstance(fault, QboValidationFault)
    assert fault.message == "Stale Object Error"
    assert fault.detail is not None and fault.detail.startswith("Stale Object Error :")
    assert fault.fault_type == "ValidationFault"


def test_given_an_invalid_reference_when_caught_as_not_found_then_it_matches() -> None:
    fault = fault_from_response(400, _json_fault("2500", "Invalid Reference Id"), {})
    assert isinstance(fault, QboNotFound)


def test_given_the_lowercase_401_variant_when_parsed_then_it_is_an_authentication_fault() -> None:
    body = json.dumps(
        {
            "warnings": None,
            "fault": {
                "error": [
                    {
                        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        "detail": "Token expired",
                        "code": "3200",
                        "element": None,
                    }
                ],
                "type": "AUTHENTICATION",
            },
            "batchItemResponse": [],
            "time": 1633520295688,
        }
    ).encode()
    fault = fault_from_response(401, body, {})
    assert isinstance(fault, QboAuthenticationFault)
    assert (fault.code, fault.detail, fault.fault_type) == ("3200", "Token expired", "AUTHENTICATION")


def test_given_the_xml_401_variant_when_parsed_then_it_is_an_authentication_fault() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2019-01-01T00:00:00.000-08:00">'
        b'<Fault type="AuthenticationFault"><Error code="100"><Message>General Authentication Error</Message>'
        b"<Detail>SRV-110-Authentication Failure , statusCode: 401</Detail></Error></Fault></IntuitResponse>"
    )
    fault = fault_from_response(401, body, {"Content-Type": "application/xml"})
    assert isinstance(fault, QboAuthenticationFault)
    assert (fault.code, fault.message) == ("100", "General Authentication Error")


def test_given_the_xml_throttle_body_when_parsed_then_it_is_throttled_with_retry_after() -> None:
    body = (
        b'<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; '
        b"statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail>"
        b"</Error></Fault>"
    )
    fault = fault_from_response(429, body, {"Retry-After": "7"})
    assert isinstance(fault, QboThrottled)
    assert (fault.code, fault.retry_after, fault.retryable) == ("3001", 7.0, True)


def test_given_the_old_throttle_sent_as_403_when_parsed_then_the_code_makes_it_throttled() -> None:
    body = b'<Fault type="SERVICE"><Error code="3001"><Message>ThrottleExceeded</Message></Error></Fault>'
    assert isinstance(fault_from_response(403, body, {}), QboThrottled)


def test_given_a_403_authorization_fault_when_parsed_then_it_is_an_authorization_fault() -> None:
    body = _json_fault("3100", "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403")
    assert isinstance(fault_from_response(403, body, {}), QboAuthorizationFault)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_given_a_5xx_with_an_html_body_when_parsed_then_it_is_a_retryable_server_fault(status: int) -> None:
    fault = fault_from_response(status, b"<html><body>Bad gateway</body></html>", {})
    assert isinstance(fault, QboServerFault)
    assert fault.retryable


def test_given_a_404_without_body_when_parsed_then_it_is_not_found() -> None:
    assert isinstance(fault_from_response(404, b"", {}), QboNotFound)


def test_given_a_fault_inside_an_http_200_body_when_parsed_then_its_type_decides() -> None:
    payload = json.loads(_json_fault("10000", "An application error has occurred", fault_type="SystemFault"))
    assert isinstance(fault_from_payload(payload), QboServerFault)


def test_given_a_batch_item_with_a_fault_when_parsed_then_it_is_typed_by_code() -> None:
    item = {
        "bId": "bid1",
        "Fault": {
            "Error": [{"Message": "Duplicate Name Exists Error", "code": "6240"}],
            "type": "ValidationFault",
        },
    }
    fault = fault_from_payload(item)
    assert isinstance(fault, QboDuplicateName)
    assert fault.status is None


def test_given_a_payload_without_a_fault_when_parsed_then_there_is_none() -> None:
    assert fault_from_payload({"Customer": {"Id": "1"}}) is None


def test_given_a_retry_after_http_date_when_read_then_it_is_seconds_from_now() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0


def test_given_an_echoed_secret_when_redacted_then_message_and_detail_no_longer_hold_it() -> None:
    fault = fault_from_response(401, _json_fault("3200", "bad token s3cr3t", "token s3cr3t expired"), {})
    fault.redact(["s3cr3t"])
    assert "s3cr3t" not in str(fault)
    assert "s3cr3t" not in repr(fault.args)
