"""Source documents → QBO bodies: pure functions, so every rule here is unit-tested without a network.

DocNumber. QBO holds 21 characters (``PaymentRefNum`` too). A prefixed number that is longer is
truncated deterministically: the prefix is kept and the number's *last* characters (the part that
tells documents apart) fill the rest; the full source number goes to ``PrivateNote``. A collision this
could cause is caught by QBO's own DocNumber uniqueness (6140) and reported on the event, never
written twice.

Lines. Each source line becomes a ``SalesItemLineDetail`` line whose item, income account, tax code
and class were resolved before (see ``ResolvedLine``); amounts are sent as the source computed them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qbosync.errors import QbosyncError
from qbosync.source.models import SourceCreditNote, SourceInvoice, SourceLine, SourcePayment
from qbosync.store.events import EventWarning, MissingMappingRef, WarningCode
from qbosync.sync.configuration import QBO_DOC_NUMBER_LENGTH, NumberPrefix, TenantSettings

PRIVATE_NOTE_MAX = 4000
LINE_DESCRIPTION_MAX = 4000


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


def sales_lines(lines: Sequence[ResolvedLine]) -> list[dict[str, Any]]:
    """QBO sales lines for resolved source lines, in source order."""
    wire = []
    for resolved in lines:
        line = resolved.line
        detail: dict[str, Any] = {
            "ItemRef": {"value": resolved.item_id},
            "Qty": Decimal(line.quantity).normalize(),
            "UnitPrice": line.unit_price,
        }
        if resolved.income_account_id:
            detail["ItemAccountRef"] = {"value": resolved.income_account_id}
        if resolved.tax_code_id:
            detail["TaxCodeRef"] = {"value": resolved.tax_code_id}
        if resolved.class_id:
            detail["ClassRef"] = {"value": resolved.class_id}
        entry: dict[str, Any] = {
            "Amount": line.amount,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": detail,
        }
        if line.description:
            entry["Description"] = line.description[:LINE_DESCRIPTION_MAX]
        wire.append(entry)
    return wire


def invoice_body(
    invoice: SourceInvoice, customer_id: str, lines: Sequence[ResolvedLine], settings: TenantSettings
) -> dict[str, Any]:
    """The QBO Invoice (without Id/SyncToken) for a source invoice."""
    number = doc_number(settings.prefixes.invoice, invoice.number)
    body: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": invoice.issue_date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "Line": sales_lines(lines),
    }
    if invoice.due_date is not None:
        body["DueDate"] = invoice.due_date.isoformat()
    note = _note(settings.prefixes.invoice, invoice.number, number)
    if note:
        body["PrivateNote"] = note
    return body


def credit_memo_body(
    note: SourceCreditNote, customer_id: str, lines: Sequence[ResolvedLine], settings: TenantSettings
) -> dict[str, Any]:
    """The QBO CreditMemo for a source credit note; credits and write-offs get their own prefix."""
    prefix = settings.prefixes.write_off if note.kind == "write_off" else settings.prefixes.credit_note
    number = doc_number(prefix, note.number)
    body: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": note.date.isoformat(),
        "CustomerRef": {"value": customer_id},
        "Line": sales_lines(lines),
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
) -> dict[str, Any]:
    """The QBO Payment, applied to the QBO invoices of ``applied_to`` through ``LinkedTxn`` lines."""
    number = doc_number(settings.prefixes.payment, payment.number)
    body: dict[str, Any] = {
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
