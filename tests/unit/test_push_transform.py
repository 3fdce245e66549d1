"""Source documents → QBO bodies: prefixes, the 21-character DocNumber, lines, payments, applications."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

import pytest
from pydantic import ValidationError

from qbosync.source.models import (
    AppliedAmount,
    Discount,
    SourceCreditNote,
    SourceInvoice,
    SourceLine,
    SourcePayment,
)
from qbosync.store.events import WarningCode
from qbosync.sync.configuration import NumberPrefix, TenantSettings
from qbosync.sync.push.transform import (
    ResolvedLine,
    content_hash,
    credit_application_body,
    credit_memo_body,
    doc_number,
    invoice_body,
    payment_body,
    shortened_number_warning,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LINE = SourceLine(
    id="l1",
    product_id="prd_1",
    description="Managed endpoint",
    quantity=Decimal("2"),
    unit_price=Decimal("10.50"),
    amount=Decimal("21.00"),
)


def _invoice(number: str = "INV-1001") -> SourceInvoice:
    return SourceInvoice(
        id="inv_1",
        version=3,
        updated_at=NOW,
        number=number,
        customer_id="cus_1",
        issue_date=date(2026, 2, 1),
        due_date=date(2026, 3, 3),
        lines=[LINE],
        total=Decimal("21.00"),
        status="open",
    )


def _note(kind: Literal["credit", "write_off"]) -> SourceCreditNote:
    return SourceCreditNote(
        id="cn_1",
        version=1,
        updated_at=NOW,
        number="301",
        kind=kind,
        customer_id="cus_1",
        date=date(2026, 2, 2),
        lines=[LINE],
        total=Decimal("21.00"),
        applied_to=[AppliedAmount(invoice_id="inv_1", amount=Decimal("5.00"))],
        status="applied",
    )


def test_given_a_short_number_when_prefixed_then_the_prefix_is_put_before_it() -> None:
    assert doc_number(NumberPrefix(enabled=True, value="INV-"), "1001") == "INV-1001"


def test_given_a_number_already_starting_with_the_prefix_when_prefixed_then_the_prefix_is_not_doubled() -> (
    None
):
    invoice = NumberPrefix(enabled=True, value="INV-")

    assert doc_number(invoice, "INV-1020") == "INV-1020"
    assert doc_number(invoice, "inv-1020") == "inv-1020"
    assert doc_number(invoice, "INVOICE-7") == "INV-INVOICE-7"


def test_given_a_long_number_carrying_the_prefix_when_shortened_then_the_prefix_appears_once() -> None:
    written = doc_number(NumberPrefix(enabled=True, value="INV-"), "INV-2026-0000000012345")

    assert written == "INV-026-0000000012345"
    assert len(written) == 21


def test_given_a_number_too_long_for_qbo_when_prefixed_then_prefix_and_number_tail_fill_21_characters() -> (
    None
):
    written = doc_number(NumberPrefix(enabled=True, value="ACME-INV-"), "2026-000000012345")

    assert written == "ACME-INV-000000012345"
    assert len(written) == 21


def test_given_a_disabled_prefix_and_a_long_number_when_written_then_the_last_21_characters_are_kept() -> (
    None
):
    assert (
        doc_number(NumberPrefix(enabled=False, value="X-"), "A" * 5 + "0123456789" * 2)
        == "A0123456789" + "0123456789"
    )


def test_given_an_invoice_when_transformed_then_lines_carry_item_account_tax_code_and_class() -> None:
    resolved = ResolvedLine(line=LINE, item_id="7", income_account_id="79", tax_code_id="TAX", class_id="5")

    body = invoice_body(_invoice(), "58", [resolved], TenantSettings())

    assert body["DocNumber"] == "INV-1001"
    assert body["CustomerRef"] == {"value": "58"}
    assert (body["TxnDate"], body["DueDate"]) == ("2026-02-01", "2026-03-03")
    (line,) = body["Line"]
    assert line["Amount"] == Decimal("21.00")
    assert line["SalesItemLineDetail"] == {
        "ItemRef": {"value": "7"},
        "Qty": Decimal("2"),
        "UnitPrice": Decimal("10.50"),
        "ItemAccountRef": {"value": "79"},
        "TaxCodeRef": {"value": "TAX"},
        "ClassRef": {"value": "5"},
    }
    assert "PrivateNote" not in body


def test_given_a_truncated_doc_number_when_transformed_then_the_full_source_number_is_kept_in_the_note() -> (
    None
):
    body = invoice_body(
        _invoice("2026-000000012345678"), "58", [ResolvedLine(line=LINE, item_id="7")], TenantSettings()
    )

    assert len(body["DocNumber"]) == 21
    assert body["PrivateNote"] == "Source number 2026-000000012345678"


def test_given_a_credit_and_a_write_off_when_transformed_then_each_gets_its_own_prefix() -> None:
    lines = [ResolvedLine(line=LINE, item_id="7")]

    credit = credit_memo_body(_note("credit"), "58", lines, TenantSettings())
    write_off = credit_memo_body(_note("write_off"), "58", lines, TenantSettings())

    assert (credit["DocNumber"], write_off["DocNumber"]) == ("CN-301", "WO-301")
    assert write_off["PrivateNote"] == "Write-off"


def test_given_a_payment_when_transformed_then_it_is_applied_to_the_qbo_invoices_with_method_and_prefix() -> (
    None
):
    payment = SourcePayment(
        id="pay_1",
        version=1,
        updated_at=NOW,
        number="5001",
        customer_id="cus_1",
        date=date(2026, 2, 5),
        amount=Decimal("21.00"),
        method="ACH",
        reference="REF9",
        applied_to=[AppliedAmount(invoice_id="inv_1", amount=Decimal("21.00"))],
        status="posted",
    )

    body = payment_body(payment, "58", "3", {"inv_1": "130"}, TenantSettings())

    assert body["PaymentRefNum"] == "PMT-5001"
    assert body["PaymentMethodRef"] == {"value": "3"}
    assert body["TotalAmt"] == Decimal("21.00")
    assert body["Line"] == [
        {"Amount": Decimal("21.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}
    ]
    assert body["PrivateNote"] == "Reference REF9"


def test_given_an_applied_credit_note_when_its_application_is_built_then_a_zero_payment_links_both() -> None:
    body = credit_application_body(_note("credit"), "58", "140", {"inv_1": "130"})

    assert body["TotalAmt"] == 0
    assert body["Line"] == [
        {"Amount": Decimal("5.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
        {"Amount": Decimal("5.00"), "LinkedTxn": [{"TxnId": "140", "TxnType": "CreditMemo"}]},
    ]


def test_given_the_same_body_in_another_key_order_when_hashed_then_only_a_content_change_changes_it() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


# Money: currency, tax, discounts, shortened numbers


def test_given_currency_fields_when_an_invoice_body_is_built_then_currency_ref_and_rate_are_sent() -> None:
    currency = {"CurrencyRef": {"value": "EUR"}, "ExchangeRate": Decimal("1.0825")}

    body = invoice_body(_invoice(), "58", [ResolvedLine(LINE, "7")], TenantSettings(), currency=currency)

    assert body["CurrencyRef"] == {"value": "EUR"}
    assert body["ExchangeRate"] == Decimal("1.0825")


def test_given_source_tax_without_ast_when_built_then_total_tax_is_sent_and_codes_are_mapped() -> None:
    invoice = _invoice().model_copy(update={"tax_total": Decimal("1.84"), "total": Decimal("22.84")})

    body = invoice_body(invoice, "58", [ResolvedLine(LINE, "7", tax_code_id="5")], TenantSettings())

    assert body["TxnTaxDetail"] == {"TotalTax": Decimal("1.84")}
    assert body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "5"}


def test_given_ast_when_built_then_lines_are_tax_or_non_and_no_tax_amount_is_sent() -> None:
    taxed = LINE.model_copy(update={"tax_code": "CA"})
    untaxed = LINE.model_copy(update={"id": "l2", "tax_code": None})
    invoice = _invoice().model_copy(update={"lines": [taxed, untaxed], "tax_total": Decimal("1.84")})
    lines = [ResolvedLine(taxed, "7", tax_code_id="5"), ResolvedLine(untaxed, "7")]

    body = invoice_body(invoice, "58", lines, TenantSettings(), automated_tax=True)

    codes = [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in body["Line"]]
    assert codes == ["TAX", "NON"]
    assert "TxnTaxDetail" not in body


def test_given_a_percent_document_discount_when_built_then_only_the_percent_is_sent() -> None:
    invoice = _invoice().model_copy(update={"discount": Discount(percent=Decimal("10"))})

    body = invoice_body(invoice, "58", [ResolvedLine(LINE, "7")], TenantSettings())

    assert body["Line"][-1] == {
        "DetailType": "DiscountLineDetail",
        "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": Decimal("10")},
    }


def test_given_an_amount_document_discount_when_built_then_the_amount_is_sent_without_a_percent() -> None:
    invoice = _invoice().model_copy(update={"discount": Discount(amount=Decimal("2.50"))})

    body = invoice_body(invoice, "58", [ResolvedLine(LINE, "7")], TenantSettings())

    assert body["Line"][-1] == {
        "Amount": Decimal("2.50"),
        "DetailType": "DiscountLineDetail",
        "DiscountLineDetail": {"PercentBased": False},
    }


def test_given_a_discounted_line_when_built_then_it_is_sent_net_and_says_the_discount() -> None:
    line = LINE.model_copy(update={"amount": Decimal("18.90"), "discount": Discount(percent=Decimal("10"))})

    [wire] = invoice_body(_invoice(), "58", [ResolvedLine(line, "7")], TenantSettings())["Line"]

    assert wire["Amount"] == Decimal("18.90")
    assert wire["SalesItemLineDetail"]["UnitPrice"] * wire["SalesItemLineDetail"]["Qty"] == Decimal("18.90")
    assert "discount 10% off 10.50 x 2" in wire["Description"]


def test_given_a_number_too_long_for_qbo_when_checked_then_the_warning_names_both_numbers() -> None:
    prefix = NumberPrefix(enabled=True, value="INV-")
    number = "2026-000000000123456789"
    written = doc_number(prefix, number)

    warning = shortened_number_warning(prefix, number, written)

    assert warning is not None and warning.code is WarningCode.DOC_NUMBER_SHORTENED
    assert written in warning.message and number in warning.message
    assert shortened_number_warning(prefix, "1001", doc_number(prefix, "1001")) is None


def test_given_a_discount_with_both_or_neither_when_read_then_it_is_refused() -> None:
    with pytest.raises(ValidationError):
        Discount(amount=Decimal("1.00"), percent=Decimal("5"))
    with pytest.raises(ValidationError):
        Discount()
