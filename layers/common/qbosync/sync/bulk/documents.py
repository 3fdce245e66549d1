"""Document matching in the initial sync (``onboarding.match_documents_from``): the source's invoices,
payments and credit notes dated from then that are already in QBO are linked to their QBO documents
(``records.documents``: number with or without the prefix, customer, date, then amount), so later edits
in the source update them instead of creating copies. Nothing is written to QBO; a document without a
single match is counted as skipped with its reason (the push's go-live floor reports it again if it
changes). Each document costs one QBO query, counted in the tally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from qbosync.source.models import Page
from qbosync.store.onboarding import PlanAction, PlanEntry
from qbosync.sync.bulk.common import Tally
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.configuration import NumberPrefix
from qbosync.sync.records.documents import DocumentMatchOutcome, DocumentQuery, find_existing_document
from qbosync.sync.records.links import CREDIT_MEMO, CUSTOMER, INVOICE, PAYMENT, new_link

LIST_LIMIT = 100
DOCUMENT_VERSION = 0
"""Document links made by matching carry version 0: the next change in the source is newer."""


@dataclass(frozen=True)
class CustomerInQbo:
    """The QBO customer a document's customer is when the documents are matched: ``qbo_id``, or None
    when the run creates it (QBO then holds no document of it yet)."""

    qbo_id: str | None


CustomerLookup = Callable[[str], CustomerInQbo | None]
"""A source customer's QBO twin at document matching time; None when it has none (not linked)."""


@dataclass(frozen=True)
class DocumentDecision:
    """What document matching does with one source document, and why (the dry run's plan entry)."""

    entity: str
    source_id: str
    action: PlanAction
    code: str
    reason: str
    match: dict[str, Any] | None = None

    def entry(self) -> PlanEntry:
        return PlanEntry(
            entity=self.entity,
            source_id=self.source_id,
            source_version=DOCUMENT_VERSION,
            action=self.action,
            reason_code=self.code,
            reason=self.reason,
            qbo_id=str(self.match["Id"]) if self.match is not None else None,
        )


def linked_customers(context: PageContext) -> CustomerLookup:
    """The real run's lookup: the customer pages have linked every customer they matched or created."""

    def lookup(source_customer_id: str) -> CustomerInQbo | None:
        link = context.links.get(context.tenant_id, CUSTOMER, source_customer_id)
        return CustomerInQbo(link.qbo_id) if link is not None else None

    return lookup


def match_documents(context: PageContext) -> Tally | None:
    """Link the tenant's existing documents; None when the setting is off."""
    tally = Tally()
    decisions = decide_documents(context, tally, linked_customers(context))
    if decisions is None:
        return None
    for decision in decisions:
        if context.departs_from_plan(decision.entry()):
            tally.skip(decision.source_id, SkipReason.PLAN_CHANGED, "changed since the plan this run follows")
        elif decision.action is PlanAction.MATCH and decision.match is not None:
            context.links.put(
                new_link(
                    context.tenant_id,
                    decision.entity,
                    decision.source_id,
                    DOCUMENT_VERSION,
                    decision.match,
                    "matched",
                    context.clock(),
                )
            )
            tally.matched += 1
        else:
            tally.skip(decision.source_id, SkipReason(decision.code), decision.reason)
    return tally


def decide_documents(
    context: PageContext, tally: Tally, customers: CustomerLookup
) -> list[DocumentDecision] | None:
    """Match or skip each source document dated from ``match_documents_from``: what the real run does and
    what a dry run plans (one QBO query a document, counted in ``tally``; nothing written). None when
    the setting is off."""
    settings = context.config.settings
    since = settings.onboarding.match_documents_from
    if since is None:
        return None
    matcher = _Matcher(context, tally, customers)
    prefixes = settings.prefixes
    source = context.source
    for invoice in _all(source.list_invoices):
        if invoice.issue_date >= since:
            matcher.decide(INVOICE, "DocNumber", invoice, prefixes.invoice, invoice.total, invoice.issue_date)
    for payment in _all(source.list_payments):
        if payment.date >= since:
            matcher.decide(PAYMENT, "PaymentRefNum", payment, prefixes.payment, payment.amount, payment.date)
    for note in _all(source.list_credit_notes):
        if note.date >= since:
            prefix = prefixes.write_off if note.kind == "write_off" else prefixes.credit_note
            matcher.decide(CREDIT_MEMO, "DocNumber", note, prefix, note.total, note.date)
    return matcher.decisions


def _all(list_page: Callable[[str | None, int], Page[Any]]) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    while True:
        page = list_page(cursor, LIST_LIMIT)
        found += page.items
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return found


class _Matcher:
    """Decides documents one by one; a QBO document one decision takes is no candidate for the next,
    as the real run's link would make it."""

    def __init__(self, context: PageContext, tally: Tally, customers: CustomerLookup) -> None:
        self._context = context
        self._tally = tally
        self._customers = customers
        self._taken: dict[str, set[str]] = {}
        self.decisions: list[DocumentDecision] = []

    def _skip(self, entity: str, document: Any, code: SkipReason, reason: str) -> None:
        self.decisions.append(DocumentDecision(entity, document.id, PlanAction.SKIP, code.value, reason))

    def decide(  # noqa: PLR0917 - one document's identity, field by field
        self,
        entity: str,
        number_field: str,
        document: Any,
        prefix: NumberPrefix,
        amount: Any,
        dated: date,
    ) -> None:
        context = self._context
        if getattr(document, "status", None) in ("void", "deleted"):
            self._skip(entity, document, SkipReason.INACTIVE_IN_SOURCE, "void or deleted in the source")
            return
        if context.links.get(context.tenant_id, entity, document.id) is not None:
            self._skip(entity, document, SkipReason.ALREADY_LINKED, "already linked")
            return
        customer = self._customers(document.customer_id)
        if customer is None:
            self._skip(entity, document, SkipReason.NO_DOCUMENT_MATCH, "its customer is not linked to QBO")
            return
        if customer.qbo_id is None:
            # The run creates the customer before it matches documents: its query finds none.
            self._tally.count_read()
            self._skip(
                entity,
                document,
                SkipReason.NO_DOCUMENT_MATCH,
                "its customer is created by the run, so QBO has no document of it",
            )
            return
        taken = self._taken.setdefault(entity, set())

        def linked_elsewhere(qbo_id: str) -> object | None:
            if qbo_id in taken:
                return qbo_id  # another source document of this step takes it
            return context.links.get_by_qbo_id(context.tenant_id, entity, qbo_id)

        match = find_existing_document(
            context.qbo,
            DocumentQuery(entity, number_field, document.number, prefix, customer.qbo_id, amount, dated),
            linked_elsewhere,
            self._tally.count_read,
        )
        if match.outcome is DocumentMatchOutcome.MATCHED and match.record is not None:
            taken.add(str(match.record["Id"]))
            self.decisions.append(
                DocumentDecision(
                    entity, document.id, PlanAction.MATCH, "matched", match.message, match.record
                )
            )
            return
        code = (
            SkipReason.AMBIGUOUS_MATCH
            if match.outcome is DocumentMatchOutcome.AMBIGUOUS
            else SkipReason.NO_DOCUMENT_MATCH
        )
        self._skip(entity, document, code, match.message)
