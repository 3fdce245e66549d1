"""The contract's models: tolerant of what a source adds, strict about what we send."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from qbosync.source.models import NewSourceCustomer, SourceInvoice, SourceWebhook

WEBHOOK = {
    "event_id": "evt_1",
    "tenant_id": "acme",
    "type": "credit_note.voided",
    "object": {"kind": "credit_note", "id": "cn_000001", "version": 3},
    "occurred_at": "2026-03-01T10:00:00Z",
}
INVOICE = {
    "id": "inv_1",
    "version": 2,
    "updated_at": "2026-03-01T10:00:00Z",
    "number": "INV-1001",
    "customer_id": "cus_1",
    "issue_date": "2026-03-01",
    "lines": [{"id": "l1", "quantity": "2", "unit_price": "10.10", "amount": "20.20"}],
    "total": "20.20",
    "status": "open",
}


def test_given_a_webhook_when_parsed_then_its_action_is_the_verb_of_its_type() -> None:
    assert SourceWebhook.model_validate(WEBHOOK).action == "voided"


def test_given_a_webhook_whose_type_names_another_kind_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SourceWebhook.model_validate({**WEBHOOK, "type": "invoice.voided"})


def test_given_a_webhook_with_an_unknown_verb_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SourceWebhook.model_validate({**WEBHOOK, "type": "credit_note.archived"})


def test_given_an_invoice_with_fields_we_do_not_know_when_parsed_then_they_are_ignored() -> None:
    invoice = SourceInvoice.model_validate({**INVOICE, "sales_rep": "Bob"})

    assert invoice.total == Decimal("20.20")


def test_given_an_invoice_when_dumped_to_json_then_money_is_a_decimal_string() -> None:
    dumped = SourceInvoice.model_validate(INVOICE).model_dump(mode="json")

    assert dumped["total"] == "20.20"


def test_given_money_with_three_decimals_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        SourceInvoice.model_validate({**INVOICE, "total": "20.205"})


def test_given_a_create_request_with_an_unknown_field_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        NewSourceCustomer.model_validate({"display_name": "X", "displayname": "typo"})
