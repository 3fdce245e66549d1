"""Which failures end an event (with a reason and fault) and which the queue retries."""

from __future__ import annotations

import pytest

from qbosync.errors import NotConnected
from qbosync.qbo.faults import (
    QboClosedPeriod,
    QboDepositedTransaction,
    QboDuplicateDocNumber,
    QboInvalidReference,
    QboServerFault,
    QboStaleObject,
    QboThrottled,
    QboUncertainOutcome,
    QboValidationFault,
)
from qbosync.source.errors import SourceNotFound, SourceUnavailable
from qbosync.store.events import MissingMappingRef, ReasonCode
from qbosync.store.table import StoreUnavailable
from qbosync.sync.push.service import permanent_failure
from qbosync.sync.push.transform import MissingMapping


@pytest.mark.parametrize(
    ("failure", "reason", "code"),
    [
        (QboClosedPeriod("Account Period Closed", status=400, code="6210"), "qbo_closed_period", "6210"),
        (QboDepositedTransaction("Deposited", status=400, code="6540"), "qbo_deposited_transaction", "6540"),
        (QboDuplicateDocNumber("Duplicate", status=400, code="6140"), "qbo_duplicate_doc_number", "6140"),
        (
            QboInvalidReference("Invalid Reference Id", status=400, code="2500"),
            "qbo_reference_not_found",
            "2500",
        ),
        (QboValidationFault("Business Validation Error", status=400, code="6000"), "qbo_rejected", "6000"),
    ],
)
def test_given_a_qbo_refusal_when_classified_then_the_event_fails_with_its_reason_and_fault(
    failure: Exception, reason: str, code: str
) -> None:
    found = permanent_failure(failure)

    assert found is not None and found.retryable
    assert found.code == reason
    assert found.qbo_fault is not None and found.qbo_fault.code == code


@pytest.mark.parametrize(
    "failure",
    [
        QboStaleObject("Stale Object Error", status=400, code="5010"),
        QboServerFault("boom", status=503),
        QboThrottled("slow down", status=429),
        QboUncertainOutcome("unknown", request_id="r", entity="Invoice"),
        SourceUnavailable("source down"),
        StoreUnavailable("dynamodb down"),
    ],
)
def test_given_a_transient_failure_when_classified_then_the_queue_retries_it(failure: Exception) -> None:
    assert permanent_failure(failure) is None


def test_given_a_missing_mapping_when_classified_then_the_failure_names_the_kind_and_key() -> None:
    found = permanent_failure(MissingMapping("payment-methods", "ACH", "not mapped"))

    assert found is not None
    assert (found.code, found.message, found.qbo_fault) == (ReasonCode.MISSING_MAPPING, "not mapped", None)
    assert found.mapping == MissingMappingRef(kind="payment-methods", source_key="ACH")


def test_given_no_connection_or_a_vanished_source_object_when_classified_then_the_event_fails() -> None:
    not_connected = permanent_failure(NotConnected("no QBO connection"))
    vanished = permanent_failure(SourceNotFound("gone"))

    assert not_connected is not None and not_connected.code is ReasonCode.QBO_NOT_CONNECTED
    assert vanished is not None and vanished.code is ReasonCode.SOURCE_OBJECT_NOT_FOUND
