"""Requestids are part of qbosync's contract with QBO: a retry after a deploy must send the same one,
so they are pinned here as golden strings. Changing one is a breaking change for writes in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.store.ledger import WriteIntent
from qbosync.sync.push.writer import Target, marked, private_marker

PAYMENT = Target("Payment", "Payment", "pay_000001", 3)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("target", "operation", "generation", "golden"),
    [
        (PAYMENT, "create", 0, "e09536919a79f0c16505b617bf382467"),
        (PAYMENT, "create", 1, "442803dd2188f1e7fc033e1cc77ca60c"),
        (PAYMENT, "void", 0, "88bd3e5f4ef51161f92c1db7a9e66e82"),
        (Target("Payment", "CreditApplication", "cn_1", 2), "create", 0, "8c0e40dce02919c4b948f468f1bc67f0"),
        (Target("Invoice", "Invoice", "inv_1", 1), "recreate-42", 0, "8f96ddfcc71c1a26e4567ba4a536f628"),
    ],
)
def test_given_a_write_when_its_requestid_is_derived_then_it_matches_the_golden_string(
    target: Target, operation: str, generation: int, golden: str
) -> None:
    assert target.request_id("acme", operation, generation) == golden


@pytest.mark.unit
def test_given_a_body_when_marked_then_the_marker_leads_the_private_note_once() -> None:
    once = marked({"DocNumber": "INV-1", "PrivateNote": "Source number 0001"}, private_marker("inv_1"))
    twice = marked(once, private_marker("inv_1"))

    assert once["PrivateNote"] == "[qbosync:inv_1] Source number 0001"
    assert twice == once
    assert marked({"DocNumber": "INV-1"}, private_marker("inv_1"))["PrivateNote"] == "[qbosync:inv_1]"


@pytest.mark.unit
def test_given_an_intent_when_the_window_passes_then_it_is_no_longer_trusted_to_replay() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    intent = WriteIntent(
        tenant_id="acme",
        link_entity="Payment",
        qbo_entity="Payment",
        source_id="pay_000001",
        version=3,
        operation="create",
        request_id="e09536919a79f0c16505b617bf382467",
        started_at=started,
    )
    window = timedelta(hours=1)

    assert intent.is_create
    assert intent.within(window, started + timedelta(minutes=59))
    assert not intent.within(window, started + window)
