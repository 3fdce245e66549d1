"""Documents qbosync pushed (invoices, credit memos, payments) changed in QBO: drift only when QBO no
longer matches the source; reported, or healed by queueing the source's version again.

Every field the source owns is compared (``document_differences``): dates (issue, due), the customer,
the currency, the lines (count, amounts, quantities), the total before tax, and the tax where the source
sent it (without Automated Sales Tax; with it, QBO's tax is a variance the push reported, not drift).
A payment settling an invoice changes neither, so it is not drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbosync.source.errors import SourceNotFound
from qbosync.store.links import Link, LinkState
from qbosync.sync.pull.context import PullContext, PullOutcome
from qbosync.sync.pull.echo import is_deleted, is_echo
from qbosync.sync.records.document_fields import (
    CreditApplication,
    SourceDocument,
    document_differences,
    is_variance_only,
)
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
        if is_variance_only(differences):
            return PullOutcome("unchanged", "only QBO's computed total differs: a variance the push reported")
        return self._drift(
            tenant_id,
            link,
            change,
            f"{subject} differs from the source: {'; '.join(str(d) for d in differences)}"
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
                return CreditApplication(note) if entity == CREDIT_APPLICATION else note
            return source.get_payment(source_id)
        except SourceNotFound:
            return None


def _subject(entity: str, qbo_id: str, source_id: str) -> str:
    if entity == CREDIT_APPLICATION:
        return f"QBO Payment {qbo_id} applying source credit note {source_id}"
    return f"QBO {entity} {qbo_id} of source {source_id}"
