"""Source invoices → QBO Invoices: create or sparse-update, heal, and remove per the deletion policy
(delete unless payments are linked, then void); payments parked on an invoice are released once it
lands."""

from __future__ import annotations

from typing import Any

from qbosync.qbo.faults import QboNotFound
from qbosync.source.models import SourceInvoice
from qbosync.store.events import ReasonCode, parked_key
from qbosync.store.links import Link
from qbosync.sync.push.go_live import PreGoLiveAdoption, before_go_live, keep_qbo_number
from qbosync.sync.push.refusals import Refused
from qbosync.sync.push.transform import invoice_body
from qbosync.sync.push.writer import (
    Applied,
    DocumentPush,
    Parked,
    Target,
    deleted,
    identity_of,
    to_heal,
)
from qbosync.sync.records.links import INVOICE, PAYMENT


class InvoicePush(DocumentPush):
    """One tenant's invoice writes."""

    def invoice(self, source_id: str, *, heal: bool = False) -> Applied:
        invoice = self._source.get_invoice(source_id)
        link = self._links.get(self._tenant, INVOICE, source_id)
        if link is None and before_go_live(self._config.settings, invoice.issue_date):
            link = self._adopt(invoice)
        removed = invoice.status in ("void", "deleted")
        healing = to_heal(link, heal=heal and not removed)
        if healing is None and link is not None and link.source_version >= invoice.version:
            self._release_if_landed(link)
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id)
        if removed:
            return self._remove_invoice(invoice, link)
        what = f"source invoice {invoice.number}"
        customer_id, currency = self._document_money(what, invoice, invoice.issue_date)
        lines = [self._references.line(line) for line in invoice.lines]
        settings = self._config.settings
        body = invoice_body(
            invoice,
            customer_id,
            lines,
            settings,
            currency=currency,
            automated_tax=self._currency.company.automated_sales_tax,
        )
        self._note_number(settings.prefixes.invoice, invoice.number, body["DocNumber"])
        target = Target(INVOICE, INVOICE, source_id, invoice.version)
        find = identity_of(target, "DocNumber", body, customer_id)
        body = keep_qbo_number(body, "DocNumber", link)
        if healing is not None:
            written, healed = self._writer.heal(target, healing, body, find)
            self._release_if_landed(written)
            return Applied(reason=healed, qbo_id=written.qbo_id)
        written = self._writer.upsert(target, link, body, find)
        self._release_if_landed(written)
        variance = self._variance(written.qbo_id, invoice.total, invoice.currency)
        return Applied(qbo_id=written.qbo_id, variance=variance)

    def _adopt(self, invoice: SourceInvoice) -> Link:
        """A source invoice from before go-live: link the QBO invoice it already is, or refuse."""
        return PreGoLiveAdoption(self._context).adopt(
            Target(INVOICE, INVOICE, invoice.id, invoice.version),
            number_field="DocNumber",
            number=invoice.number,
            prefix=self._config.settings.prefixes.invoice,
            customer_id=self._references.customer_id(invoice.customer_id),
            amount=invoice.total,
            dated=invoice.issue_date,
        )

    def _remove_invoice(self, invoice: SourceInvoice, link: Link | None) -> Applied:
        target = Target(INVOICE, INVOICE, invoice.id, invoice.version)
        link = self._writer.settle_before_removal(target, link)
        if link is None or not link.is_live:
            return self._writer.record_absent(invoice.version, link)
        try:
            current = self._qbo.read(INVOICE, link.qbo_id)
        except QboNotFound:
            self._writer.record(deleted(link), invoice.version)
            return Applied(reason="already gone from QBO", qbo_id=link.qbo_id)
        has_payments = any(txn.get("TxnType") == PAYMENT for txn in current.get("LinkedTxn", []) or [])
        policy = self._config.settings.deletion_policy
        if invoice.status == "void" or policy == "void" or has_payments:
            self._writer.void_current(target, link, current)
            return Applied(
                reason="voided" + (" (payments are linked)" if has_payments else ""), qbo_id=link.qbo_id
            )
        self._writer.delete(target, link, str(current["SyncToken"]))
        return Applied(reason="deleted", qbo_id=link.qbo_id)

    def _release_if_landed(self, link: Link) -> None:
        """Re-queue what was parked waiting for this invoice."""
        if not link.is_live:
            return
        self._parked.release(self._tenant, parked_key("invoice", link.source_id))

    def _adopt_if_before_go_live(self, invoice_id: str) -> Link | None:
        """The invoice a payment applies to, linked now when it predates go-live (never created)."""
        invoice = self._source.get_invoice(invoice_id)
        if not before_go_live(self._config.settings, invoice.issue_date):
            return None
        return self._adopt(invoice)

    def linked_invoices(self, applied_to: Any) -> dict[str, str]:
        """QBO ids of the invoices a document applies to, each brought up to the source's version.

        An invoice not in QBO yet parks the document; one in QBO at an older version is pushed first
        (its edit may be further back in the queue), so the amounts applied fit its balance.
        """
        invoice_ids: dict[str, str] = {}
        for applied in applied_to:
            invoice_link = self._links.get(self._tenant, INVOICE, applied.invoice_id)
            if invoice_link is None:
                invoice_link = self._adopt_if_before_go_live(applied.invoice_id)
            if invoice_link is None:
                raise Parked(
                    parked_key("invoice", applied.invoice_id),
                    f"waiting for invoice {applied.invoice_id} to reach QBO",
                )
            if invoice_link.is_live:
                self.invoice(applied.invoice_id)
                invoice_link = self._links.get(self._tenant, INVOICE, applied.invoice_id) or invoice_link
            if not invoice_link.is_live:
                raise Refused(
                    ReasonCode.APPLIED_INVOICE_REMOVED,
                    f"invoice {applied.invoice_id} was voided or deleted in QBO; nothing can apply to it",
                )
            invoice_ids[applied.invoice_id] = invoice_link.qbo_id
        return invoice_ids
