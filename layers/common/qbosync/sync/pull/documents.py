"""Documents qbosync pushed (invoices, credit memos, payments) changed in QBO: drift only when QBO no
longer matches the source; reported, or healed by queueing the source's version again.

Every field the source owns is compared (``document_differences``): dates (issue, due), the customer,
the currency, the lines (count, amounts, quantities), the total before tax, and the tax where the source
sent it (without Automated Sales Tax; with it, QBO's tax is a variance the push reported, not drift).
A payment settling an invoice changes neither, so it is not drift."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from qbosync.source.errors import SourceNotFound
from qbosync.source.models import SourceCreditNote, SourceInvoice, SourcePayment
from qbosync.store.links import Link, LinkState
from qbosync.sync.pull.context import PullContext, PullOutcome, money
from qbosync.sync.pull.echo import is_deleted, is_echo
from qbosync.sync.records.links import CREDIT_APPLICATION, CUSTOMER
from qbosync.sync.records.messages import HEAL_KIND_OF_LINK_ENTITY, EntityChange, PushMessage


class DocumentPull(PullContext):
    """Applies changes of pushed documents (drift checks)."""

    def _document(self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None) -> PullOutcome:
        link = self.links.get_by_qbo_id(tenant_id, change.entity, change.entity_id)
        if link is None:
            return PullOutcome("skipped", f"not a {change.entity} qbosync synced")
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        return self._pushed_document_changed(tenant_id, change.entity, link, change, row)

    def _pushed_document_changed(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, entity: str, link: Link, change: EntityChange, row: Mapping[str, Any] | None
    ) -> PullOutcome:
        """A document qbosync pushed changed in QBO: drift only if QBO no longer matches the source.

        Settling a payment changes an invoice's balance (and SyncToken) without anyone editing it,
        so a new SyncToken alone is not drift; the amount is what must agree.
        """
        if is_echo(link, row):
            return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
        subject = _subject(entity, change.entity_id, link.source_id)
        if is_deleted(change, row) or row is None:
            if link.state is LinkState.DELETED:
                return PullOutcome("unchanged", "qbosync deleted this record in QBO (echo)")
            if self._removed_in_source(tenant_id, entity, link.source_id):
                return PullOutcome("unchanged", "the source removed the document too")
            return self._drift(
                tenant_id, link, change, f"{subject} was deleted in QBO; the source still has it"
            )
        document = self._source_document(tenant_id, entity, link.source_id)
        if document is None:
            return PullOutcome("drift", f"{subject}: the source no longer has the document")
        customer = self.links.get(tenant_id, CUSTOMER, document.customer_id)
        differences = document_differences(row, document, customer.qbo_id if customer else None)
        if not differences:
            return PullOutcome("unchanged", "QBO's change keeps every field the source owns")
        return self._drift(
            tenant_id,
            link,
            change,
            f"{subject} differs from the source: {'; '.join(differences)}"
            " (edited or voided in QBO; the source owns it)",
        )

    def _drift(self, tenant_id: str, link: Link, change: EntityChange, reason: str) -> PullOutcome:
        """Report the drift, or (``drift_policy: heal``) queue the source's version to be pushed again."""
        if self.settings_for(tenant_id).drift_policy != "heal":
            return PullOutcome("drift", reason)
        heal = PushMessage.heal_of(
            tenant_id=tenant_id,
            kind=HEAL_KIND_OF_LINK_ENTITY[link.entity],
            source_id=link.source_id,
            source_version=link.source_version,
            cause=change.event_id,
            now=self.clock(),
        )
        self.push_queue.send(
            heal.model_dump_json(), group_id=heal.group_id, deduplication_id=heal.deduplication_id
        )
        return PullOutcome(
            "healing", f"{reason}; the source's version is queued to be pushed again ({heal.event_id})"
        )

    def _removed_in_source(self, tenant_id: str, entity: str, source_id: str) -> bool:
        """The source voided or deleted the document (or, for a credit application, no longer applies
        the credit note), so QBO losing it is what the push does too."""
        source = self.source_for(tenant_id)
        try:
            if entity == "Invoice":
                return source.get_invoice(source_id).status in {"void", "deleted"}
            if entity in {"CreditMemo", CREDIT_APPLICATION}:
                note = source.get_credit_note(source_id)
                return note.status in {"void", "deleted"} or (
                    entity == CREDIT_APPLICATION and not note.applied_to
                )
            return source.get_payment(source_id).status in {"void", "deleted"}
        except SourceNotFound:
            return True

    def _source_document(self, tenant_id: str, entity: str, source_id: str) -> SourceDocument | None:
        """The source document a QBO record stands for (None: the source no longer has it)."""
        source = self.source_for(tenant_id)
        try:
            if entity == "Invoice":
                return source.get_invoice(source_id)
            if entity in {"CreditMemo", CREDIT_APPLICATION}:
                note = source.get_credit_note(source_id)
                return _CreditApplication(note) if entity == CREDIT_APPLICATION else note
            return source.get_payment(source_id)
        except SourceNotFound:
            return None


class _CreditApplication:
    """The zero payment applying a credit note: it moves no money, so only its total is compared."""

    def __init__(self, note: SourceCreditNote) -> None:
        self.customer_id = note.customer_id
        self.status = note.status


SourceDocument = SourceInvoice | SourceCreditNote | SourcePayment | _CreditApplication


def document_differences(
    row: Mapping[str, Any], document: SourceDocument, customer_qbo_id: str | None
) -> list[str]:
    """Each field the source owns on which QBO's record ``row`` no longer agrees, said for a person."""
    if isinstance(document, _CreditApplication):
        actual = money(row.get("TotalAmt"))
        return [] if actual == 0 else [f"QBO total {actual} differs from the source's 0.00"]
    removed = document.status in {"void", "deleted"}
    found: list[str] = []

    def compare(what: str, qbo_value: object, source_value: object) -> None:
        if qbo_value != source_value:
            found.append(f"{what} {qbo_value} in QBO, {source_value} in the source")

    if removed:
        compare("total", money(row.get("TotalAmt")), Decimal("0.00"))
        return found
    if isinstance(document, SourcePayment):
        compare("total", money(row.get("TotalAmt")), document.amount)
        compare("date", row.get("TxnDate"), document.date.isoformat())
    else:
        issued = document.issue_date if isinstance(document, SourceInvoice) else document.date
        compare("date", row.get("TxnDate"), issued.isoformat())
        if isinstance(document, SourceInvoice) and document.due_date is not None:
            compare("due date", row.get("DueDate"), document.due_date.isoformat())
        found.extend(_line_differences(row, document))
        tax = money((row.get("TxnTaxDetail") or {}).get("TotalTax"))
        source_tax = document.tax_total or Decimal("0.00")
        compare("total before tax", money(row.get("TotalAmt")) - tax, document.total - source_tax)
        if document.tax_total is not None and not (row.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef"):
            compare("tax", tax, document.tax_total)
    if customer_qbo_id is not None:
        compare("customer", (row.get("CustomerRef") or {}).get("value"), customer_qbo_id)
    currency = (row.get("CurrencyRef") or {}).get("value")
    if currency is not None:
        compare("currency", currency, document.currency)
    return found


def _line_differences(row: Mapping[str, Any], document: SourceInvoice | SourceCreditNote) -> list[str]:
    lines = [line for line in row.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]
    if len(lines) != len(document.lines):
        return [f"{len(lines)} lines in QBO, {len(document.lines)} in the source"]
    found = []
    for number, (qbo_line, source_line) in enumerate(zip(lines, document.lines, strict=True), start=1):
        amount = money(qbo_line.get("Amount"))
        if amount != source_line.amount:
            found.append(f"line {number} amount {amount} in QBO, {source_line.amount} in the source")
        qty = (qbo_line.get("SalesItemLineDetail") or {}).get("Qty")
        if qty is not None and Decimal(str(qty)) != source_line.quantity:
            found.append(f"line {number} quantity {qty} in QBO, {source_line.quantity} in the source")
    return found


def _subject(entity: str, qbo_id: str, source_id: str) -> str:
    if entity == CREDIT_APPLICATION:
        return f"QBO Payment {qbo_id} applying source credit note {source_id}"
    return f"QBO {entity} {qbo_id} of source {source_id}"
