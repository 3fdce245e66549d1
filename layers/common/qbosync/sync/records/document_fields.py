"""What the source owns on a pushed document, compared with QBO's record of it: the pull reports each
difference as drift, the reconciliation report lists it. Shared by both, so they agree on what differs.

Compared: dates (issue or payment date, due date), the customer, the currency, the lines (count, amounts,
quantities), the total before tax, and the tax where the source sent it (without Automated Sales Tax;
with it QBO computes the tax, and a different total is a variance, not drift)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from qbosync.source.models import SourceCreditNote, SourceInvoice, SourcePayment


class DocumentField(StrEnum):
    """A field of a document the source owns."""

    DATE = "date"
    DUE_DATE = "due date"
    CUSTOMER = "customer"
    CURRENCY = "currency"
    LINES = "lines"
    LINE_AMOUNT = "line amount"
    LINE_QUANTITY = "line quantity"
    TOTAL = "total"
    TOTAL_BEFORE_TAX = "total before tax"
    TAX = "tax"


TOTAL_FIELDS = frozenset({DocumentField.TOTAL, DocumentField.TOTAL_BEFORE_TAX, DocumentField.TAX})
"""Fields whose difference alone, with every other field equal, is a variance rather than drift."""


def is_variance_only(differences: list[FieldDifference]) -> bool:
    """Only the total QBO computed differs (Automated Sales Tax): reported by the push as a variance."""
    return bool(differences) and all(d.field is DocumentField.TOTAL for d in differences)


@dataclass(frozen=True)
class FieldDifference:
    field: DocumentField
    qbo: str
    source: str
    line: int | None = None

    def __str__(self) -> str:
        what = f"line {self.line} {self.field.value.removeprefix('line ')}" if self.line else self.field.value
        return f"{what} {self.qbo} in QBO, {self.source} in the source"


def money(value: Any) -> Decimal:
    """A QBO amount as a Decimal to the cent (NaN when it is not a number)."""
    try:
        return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return Decimal("NaN")


class CreditApplication:
    """The zero payment applying a credit note: it moves no money, so only its total is compared."""

    def __init__(self, note: SourceCreditNote) -> None:
        self.customer_id = note.customer_id
        self.status = note.status
        self.currency = note.currency


SourceDocument = SourceInvoice | SourceCreditNote | SourcePayment | CreditApplication


def document_differences(
    row: Mapping[str, Any], document: SourceDocument, customer_qbo_id: str | None
) -> list[FieldDifference]:
    """Each field the source owns on which QBO's record ``row`` no longer agrees, said for a person."""
    if isinstance(document, CreditApplication):
        actual = money(row.get("TotalAmt"))
        return [] if actual == 0 else [FieldDifference(DocumentField.TOTAL, str(actual), "0.00")]
    removed = document.status in {"void", "deleted"}
    found: list[FieldDifference] = []

    def compare(what: DocumentField, qbo_value: object, source_value: object) -> None:
        if qbo_value != source_value:
            found.append(FieldDifference(what, str(qbo_value), str(source_value)))

    if removed:
        compare(DocumentField.TOTAL, money(row.get("TotalAmt")), Decimal("0.00"))
        return found
    if isinstance(document, SourcePayment):
        compare(DocumentField.TOTAL, money(row.get("TotalAmt")), document.amount)
        compare(DocumentField.DATE, row.get("TxnDate"), document.date.isoformat())
    else:
        issued = document.issue_date if isinstance(document, SourceInvoice) else document.date
        compare(DocumentField.DATE, row.get("TxnDate"), issued.isoformat())
        if isinstance(document, SourceInvoice) and document.due_date is not None:
            compare(DocumentField.DUE_DATE, row.get("DueDate"), document.due_date.isoformat())
        found.extend(_line_differences(row, document))
        tax = money((row.get("TxnTaxDetail") or {}).get("TotalTax"))
        source_tax = document.tax_total or Decimal("0.00")
        compare(DocumentField.TOTAL_BEFORE_TAX, money(row.get("TotalAmt")) - tax, document.total - source_tax)
        if (row.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef"):
            # Automated Sales Tax: the tax is QBO's, so its total differing is a variance, not drift.
            compare(DocumentField.TOTAL, money(row.get("TotalAmt")), document.total)
        elif document.tax_total is not None:
            compare(DocumentField.TAX, tax, document.tax_total)
    if customer_qbo_id is not None:
        compare(DocumentField.CUSTOMER, (row.get("CustomerRef") or {}).get("value"), customer_qbo_id)
    currency = (row.get("CurrencyRef") or {}).get("value")
    if currency is not None:
        compare(DocumentField.CURRENCY, currency, document.currency)
    return found


def _line_differences(
    row: Mapping[str, Any], document: SourceInvoice | SourceCreditNote
) -> list[FieldDifference]:
    lines = [line for line in row.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]
    if len(lines) != len(document.lines):
        return [FieldDifference(DocumentField.LINES, str(len(lines)), str(len(document.lines)))]
    found = []
    for number, (qbo_line, source_line) in enumerate(zip(lines, document.lines, strict=True), start=1):
        amount = money(qbo_line.get("Amount"))
        if amount != source_line.amount:
            found.append(
                FieldDifference(DocumentField.LINE_AMOUNT, str(amount), str(source_line.amount), number)
            )
        qty = (qbo_line.get("SalesItemLineDetail") or {}).get("Qty")
        if qty is not None and Decimal(str(qty)) != source_line.quantity:
            found.append(
                FieldDifference(DocumentField.LINE_QUANTITY, str(qty), str(source_line.quantity), number)
            )
    return found
