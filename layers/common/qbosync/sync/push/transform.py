"""Source documents → QBO bodies: pure functions, so every rule here is unit-tested without a network.

DocNumber. QBO holds 21 characters (``PaymentRefNum`` too). A prefixed number that is longer is
truncated deterministically: the prefix is kept and the number's *last* characters (the part that
tells documents apart) fill the rest; the full source number goes to ``PrivateNote``. A collision this
could cause is caught by QBO's own DocNumber uniqueness (6140) and reported on the event, never
written twice.

Lines. Each source line becomes a ``SalesItemLineDetail`` line whose item, income account, tax code
and class were resolved before (see ``ResolvedLine``); amounts are sent as the source computed them.

Discounts. QBO has no discount on a line: a discounted source line is sent at its net amount (its unit
price is the net amount per unit, and the description says what the discount was). A discount on the
whole document is one ``DiscountLineDetail`` line: ``DiscountPercent`` alone for a percent (never with an
amount, which QBO refuses), ``Amount`` alone for an amount (never with ``DiscountPercent: 0``, which QBO
reads as no discount).

Tax. Without Automated Sales Tax the sales-tax map gives each line its QBO tax code and the source's
``tax_total`` is sent as ``TxnTaxDetail.TotalTax``, so QBO's total is the source's. With Automated Sales
Tax (AST) QBO computes the tax: lines carry only ``TAX`` or ``NON`` (a mapped ``TAX``/``NON``, else TAX
for a line with a source tax code and NON for one without) and no tax amount is sent; a total that then
differs from the source's is a variance (``done_with_variance``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qbosync.errors import QbosyncError
from qbosync.source.models import Discount, SourceCreditNote, SourceInvoice, SourceLine, SourcePayment
from qbosync.store.events import EventWarning, MissingMappingRef, WarningCode
from qbosync.sync.configuration import QBO_DOC_NUMBER_LENGTH, NumberPrefix, TenantSettings

PRIVATE_NOTE_MAX = 4000
LINE_DESCRIPTION_MAX = 4000
AST_TAX_CODES = frozenset({"TAX", "NON"})
"""The only line tax codes an Automated Sales Tax company takes."""
UNIT_PRICE_PLACES = Decimal("0.0000001")
CENT = Decimal("0.01")


class MissingMapping(QbosyncError):
    """A source code has no QBO target yet; the event waits until an admin maps it."""

    status = 422
    code = "missing_mapping"

    def __init__(self, kind: str, source_key: str, message: str) -> None:
        super().__init__(message, details=[{"kind": kind, "source_key": source_key}])
        self.kind = kind
        self.source_key = source_key

    @property
    def mapping(self) -> MissingMappingRef:
        """The mapping row the event waits for, which is how the mapping release finds it again."""
        return MissingMappingRef(kind=self.kind, source_key=self.source_key)


@dataclass(frozen=True)
class ResolvedLine:
    """A source line with every QBO reference it needs already found."""

    line: SourceLine
    item_id: str
    income_account_id: str | None = None
    tax_code_id: str | None = None
    class_id: str | None = None


def _prefixed(prefix: NumberPrefix, number: str) -> tuple[str, str]:
    """The prefix to write and the rest of the number: a number that already starts with the prefix
    (``INV-1020`` under ``INV-``, in any letter case) keeps its own, so the prefix is never doubled."""
    if not prefix.enabled:
        return "", number
    if number.casefold().startswith(prefix.value.casefold()):
        return number[: len(prefix.value)], number[len(prefix.value) :]
    return prefix.value, number


def doc_number(prefix: NumberPrefix, number: str) -> str:
    """The QBO DocNumber (or PaymentRefNum) for a source number: prefixed, at most 21 characters."""
    head, rest = _prefixed(prefix, number)
    if len(head) + len(rest) <= QBO_DOC_NUMBER_LENGTH:
        return head + rest
    room = QBO_DOC_NUMBER_LENGTH - len(head)
    return head + rest[-room:]


def shortened_number_warning(prefix: NumberPrefix, number: str, written: str) -> EventWarning | None:
    """The warning for a number QBO could not hold whole (None when it is written as it is)."""
    if written == "".join(_prefixed(prefix, number)):
        return None
    return EventWarning.of(
        WarningCode.DOC_NUMBER_SHORTENED,
        f"number {number!r} is {written!r} in QBO (QBO holds {QBO_DOC_NUMBER_LENGTH} characters);"
        " the full number is in its private note",
    )


def content_hash(body: Mapping[str, Any]) -> str:
    """A digest of what was sent, so an unchanged document is not written again."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _note(prefix: NumberPrefix, number: str, written: str, extra: str | None = None) -> str | None:
    """``PrivateNote``: the full source number when it had to be shortened, and ``extra``."""
    parts = []
    if written != "".join(_prefixed(prefix, number)):
        parts.append(f"Source number {number}")
    if extra:
        parts.append(extra)
    return "; ".join(parts)[:PRIVATE_NOTE_MAX] or None


def sales_lines(lines: Sequence[ResolvedLine], *, automated_tax: bool = False) -> list[dict[str, Any]]:
    """QBO sales lines for resolved source lines, in source order."""
    wire = []
    for resolved in lines:
        line = resolved.line
        detail: dict[str, Any] = {
            "ItemRef": {"value": resolved.item_id},
            "Qty": Decimal(line.quantity).normalize(),
        }
        unit_price = _unit_price(line)
        if unit_price is not None:
            detail["UnitPrice"] = unit_price
        if resolved.income_account_id:
            detail["ItemAccountRef"] = {"value": resolved.income_account_id}
        tax_code = _ast_line_code(resolved) if automated_tax else resolved.tax_code_id
        if tax_code:
            detail["TaxCodeRef"] = {"value": tax_code}
        if resolved.class_id:
            detail["ClassRef"] = {"value": resolved.class_id}
        entry: dict[str, Any] = {
            "Amount": line.amount,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": detail,
        }
        description = _line_description(line)
        if description:
            entry["Description"] = description[:LINE_DESCRIPTION_MAX]
        wire.append(entry)
    return wire


def _ast_line_code(resolved: ResolvedLine) -> str:
    """TAX or NON: a mapped TAX/NON wins; else a line the source taxes is TAX, one it does not is NON."""
    if resolved.tax_code_id in AST_TAX_CODES:
        return str(resolved.tax_code_id)
    return "TAX" if resolved.line.tax_code else "NON"


def _unit_price(line: SourceLine) -> Decimal | None:
    """The unit price QBO checks against ``Qty * UnitPrice = Amount``: the source's, or for a discounted
    line its net amount per unit (left out when no price of 7 decimals gives the amount back)."""
    if line.discount is None:
        return line.unit_price
    if line.quantity == 0:
        return None
    net = (line.amount / line.quantity).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
    if (net * line.quantity).quantize(CENT, rounding=ROUND_HALF_UP) != line.amount:
        return None
    return net.normalize()


def _line_description(line: SourceLine) -> str | None:
    if line.discount is None:
        return line.description
    off = f"{_plain(line.discount.percent)}%" if line.discount.percent else f"{line.discount.amount}"
    said = f"discount {off} off {line.unit_price} x {_plain(line.quantity)}"
    return f"{line.description} ({said})" if line.description else said.capitalize()


def _plain(number: Decimal) -> str:
    """A number as people write it: ``10``, ``2.5`` (never ``1E+1``)."""
    return format(number.normalize(), "f")


def discount_line(discount: Discount | None) -> list[dict[str, Any]]:
    """The document discount as QBO's one ``DiscountLineDetail`` line (none without a discount)."""
    if discount is None:
        return []
    if discount.percent is not None:
        detail = {"PercentBased": True, "DiscountPercent": discount.percent.normalize()}
        return [{"DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}]
    return [
        {
            "Amount": discount.amount,
            "DetailType": "DiscountLineDetail",
            "DiscountLineDetail": {"PercentBased": False},
        }
    ]


def _money_fields(
    tax_total: Decimal | None, currency: Mapping[str, Any] | None, *, automated_tax: bool
) -> dict[str, Any]:
    """Currency and tax fields of a sales form: the source's tax is sent unless QBO computes it (AST)."""
    fields: dict[str, Any] = dict(currency or {})
    if tax_total is not None and not automated_tax:
        fields["TxnTaxDetail"] = {"TotalTax": tax_total}
    return fields


def invoice_body(
    invoice: SourceInvoice,
    customer_id: str,
    lines: Sequence[ResolvedLine],
    settings: TenantSettings,
    *,
    currency: Mapping[str, Any] | None = None,
    automated_tax: bool = False,
) -> dict[str, Any]:
    """The QBO Invoice (without Id/SyncToken) for a source invoice; ``currency``: its
    ``CurrencyRef``/``ExchangeRate`` (see ``push.currency``); ``automated_tax``: QBO computes the tax."""
    number = doc_number(settings.prefixes.invoice, invoice.number)
    body: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": invoice.issue_date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "Line": sales_lines(lines, automated_tax=automated_tax) + discount_line(invoice.discount),
        **_money_fields(invoice.tax_total, currency, automated_tax=automated_tax),
    }
    if invoice.due_date is not None:
        body["DueDate"] = invoice.due_date.isoformat()
    note = _note(settings.prefixes.invoice, invoice.number, number)
    if note:
        body["PrivateNote"] = note
    return body


def credit_memo_body(
    note: SourceCreditNote,
    customer_id: str,
    lines: Sequence[ResolvedLine],
    settings: TenantSettings,
    *,
    currency: Mapping[str, Any] | None = None,
    automated_tax: bool = False,
) -> dict[str, Any]:
    """The QBO CreditMemo for a source credit note; credits and write-offs get their own prefix."""
    prefix = settings.prefixes.write_off if note.kind == "write_off" else settings.prefixes.credit_note
    number = doc_number(prefix, note.number)
    body: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": note.date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "Line": sales_lines(lines, automated_tax=automated_tax) + discount_line(note.discount),
        **_money_fields(note.tax_total, currency, automated_tax=automated_tax),
    }
    private = _note(prefix, note.number, number, "Write-off" if note.kind == "write_off" else None)
    if private:
        body["PrivateNote"] = private
    return body


def payment_body(
    payment: SourcePayment,
    customer_id: str,
    method_id: str,
    invoice_ids: Mapping[str, str],
    settings: TenantSettings,
    *,
    currency: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The QBO Payment, applied to the QBO invoices of ``applied_to`` through ``LinkedTxn`` lines."""
    number = doc_number(settings.prefixes.payment, payment.number)
    body: dict[str, Any] = {
        **(currency or {}),
        "TxnDate": payment.date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "TotalAmt": payment.amount,
        "PaymentMethodRef": {"value": method_id},
        "PaymentRefNum": number,
        "Line": [
            {
                "Amount": applied.amount,
                "LinkedTxn": [{"TxnId": invoice_ids[applied.invoice_id], "TxnType": "Invoice"}],
            }
            for applied in payment.applied_to
        ],
    }
    private = _note(
        settings.prefixes.payment,
        payment.number,
        number,
        f"Reference {payment.reference}" if payment.reference else None,
    )
    if private:
        body["PrivateNote"] = private
    return body


def credit_application_body(
    note: SourceCreditNote, customer_id: str, credit_memo_id: str, invoice_ids: Mapping[str, str]
) -> dict[str, Any]:
    """How QBO applies a credit memo to invoices: a zero payment linking the memo and the invoices."""
    applied_total = sum((applied.amount for applied in note.applied_to), Decimal(0))
    lines: list[dict[str, Any]] = [
        {
            "Amount": applied.amount,
            "LinkedTxn": [{"TxnId": invoice_ids[applied.invoice_id], "TxnType": "Invoice"}],
        }
        for applied in note.applied_to
    ]
    lines.append({"Amount": applied_total, "LinkedTxn": [{"TxnId": credit_memo_id, "TxnType": "CreditMemo"}]})
    return {
        "TxnDate": note.date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "TotalAmt": Decimal(0),
        "Line": lines,
        "PrivateNote": f"Applies credit note {note.number}"[:PRIVATE_NOTE_MAX],
    }
