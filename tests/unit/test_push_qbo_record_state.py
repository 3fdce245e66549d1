"""What the push reads off a QBO record: when QBO last wrote it, and whether it was voided there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from qbosync.qbo.metadata import last_updated_time
from qbosync.sync.push.writer import voided_in_qbo

PACIFIC = timezone(timedelta(hours=-8))


def test_given_a_record_as_qbo_returns_it_when_read_then_its_last_updated_time_keeps_qbos_offset() -> None:
    stamp = last_updated_time({"MetaData": {"LastUpdatedTime": "2026-03-01T10:15:30-08:00"}})

    assert stamp == datetime(2026, 3, 1, 10, 15, 30, tzinfo=PACIFIC)
    assert stamp == datetime(2026, 3, 1, 18, 15, 30, tzinfo=UTC)


def test_given_a_utc_stamp_with_z_when_read_then_it_is_utc() -> None:
    assert last_updated_time({"MetaData": {"LastUpdatedTime": "2026-03-01T18:15:30Z"}}) == datetime(
        2026, 3, 1, 18, 15, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"MetaData": None},
        {"MetaData": {"CreateTime": "2026-03-01T10:15:30-08:00"}},
        {"MetaData": {"LastUpdatedTime": 1772388930}},
        {"MetaData": {"LastUpdatedTime": "yesterday"}},
        {"MetaData": {"LastUpdatedTime": "2026-03-01T10:15:30"}},
    ],
    ids=["no-metadata", "null-metadata", "no-stamp", "not-text", "not-a-time", "no-offset"],
)
def test_given_a_record_without_a_usable_stamp_when_read_then_there_is_none(
    record: dict[str, object],
) -> None:
    assert last_updated_time(record) is None


INVOICE_BODY = {"Line": [{"Amount": 100.0, "DetailType": "SalesItemLineDetail"}, {"Amount": 20.5}]}
PAYMENT_BODY = {"TotalAmt": 120.5, "Line": [{"Amount": 120.5}]}
APPLICATION_BODY = {"TotalAmt": 0, "Line": [{"Amount": 50.0}, {"Amount": -50.0}]}


@pytest.mark.parametrize(
    ("record", "body"),
    [
        ({"TotalAmt": 0.0, "Balance": 0, "Line": [{"Amount": 0}, {"Amount": 0}]}, INVOICE_BODY),
        ({"TotalAmt": 0, "Line": []}, PAYMENT_BODY),
        ({"TotalAmt": 120, "status": "Voided"}, INVOICE_BODY),  # a CDC row says so itself
    ],
    ids=["zeroed-invoice", "zeroed-payment", "cdc-status"],
)
def test_given_a_transaction_voided_in_qbo_when_checked_then_it_is_voided(
    record: dict[str, object], body: dict[str, object]
) -> None:
    assert voided_in_qbo(record, body)


@pytest.mark.parametrize(
    ("record", "body"),
    [
        ({"TotalAmt": 120.5, "PrivateNote": "Source number 0001", "Line": [{"Amount": 120.5}]}, INVOICE_BODY),
        ({"TotalAmt": 0, "Line": [{"Amount": 50.0}, {"Amount": -50.0}]}, APPLICATION_BODY),
        ({"TotalAmt": 120.5, "PrivateNote": "Voided by mistake? ask Ann"}, INVOICE_BODY),
        ({"TotalAmt": 0, "Line": []}, {"TotalAmt": 0, "Line": []}),
    ],
    ids=["live", "zero-application", "note-is-not-read", "zero-in-both"],
)
def test_given_a_live_transaction_when_checked_then_it_is_not_voided(
    record: dict[str, object], body: dict[str, object]
) -> None:
    assert not voided_in_qbo(record, body)
