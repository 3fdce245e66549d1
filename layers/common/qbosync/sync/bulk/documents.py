"""Document matching in the initial sync (``onboarding.match_documents_from``): the source's invoices,
payments and credit notes dated from then that are already in QBO are linked to their QBO documents
(``records.documents``: number with or without the prefix, customer, date, then amount), so later edits
in the source update them instead of creating copies. Nothing is written to QBO; a document without a
single match is counted as skipped with its reason (the push's go-live floor reports it again if it
changes). Each document costs one QBO query, counted in the tally.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from qbosync.source.models import Page
from qbosync.sync.bulk.common import Tally
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.configuration import NumberPrefix
from qbosync.sync.records.documents import DocumentMatchOutcome, DocumentQuery, find_existing_document
from qbosync.sync.records.links import CREDIT_MEMO, CUSTOMER, INVOICE, PAYMENT, new_link

LIST_LIMIT = 100


def match_documents(context: PageContext) -> Tally | None:
    """Link the tenant's existing documents; None when the setting is off."""
    settings = context.config.settings
    since = settings.onboarding.match_documents_from
    if since is None:
        return None
    tally = Tally()
    prefixes = settings.prefixes
    source = context.source
    for invoice in _all(source.list_invoices):
        if invoice.issue_date >= since:
            _match_one(
                context,
                tally,
                INVOICE,
                "DocNumber",
                invoice,
                prefixes.invoice,
                invoice.total,
                invoice.issue_date,
            )
    for payment in _all(source.list_payments):
        if payment.date >= since:
            _match_one(
                context,
                tally,
                PAYMENT,
                "PaymentRefNum",
                payment,
                prefixes.payment,
                payment.amount,
                payment.date,
            )
    for note in _all(source.list_credit_notes):
        if note.date >= since:
            prefix = prefixes.write_off if note.kind == "write_off" else prefixes.credit_note
            _match_one(context, tally, CREDIT_MEMO, "DocNumber", note, prefix, note.total, note.date)
    return tally


def _all(list_page: Callable[[str | None, int], Page[Any]]) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    while True:
        page = list_page(cursor, LIST_LIMIT)
        found += page.items
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return found


def _match_one(  # noqa: PLR0917 - one document's identity, field by field
    context: PageContext,
    tally: Tally,
    entity: str,
    number_field: str,
    document: Any,
    prefix: NumberPrefix,
    amount: Any,
    dated: date,
) -> None:
    if getattr(document, "status", None) in ("void", "deleted"):
        tally.skip(document.id, SkipReason.INACTIVE_IN_SOURCE, "void or deleted in the source")
        return
    if context.links.get(context.tenant_id, entity, document.id) is not None:
        tally.skip(document.id, SkipReason.ALREADY_LINKED, "already linked")
        return
    customer = context.links.get(context.tenant_id, CUSTOMER, document.customer_id)
    if customer is None:
        tally.skip(document.id, SkipReason.NO_DOCUMENT_MATCH, "its customer is not linked to QBO")
        return

    match = find_existing_document(
        context.qbo,
        DocumentQuery(entity, number_field, document.number, prefix, customer.qbo_id, amount, dated),
        lambda qbo_id: context.links.get_by_qbo_id(context.tenant_id, entity, qbo_id),
        tally.count_read,
    )
    if match.outcome is DocumentMatchOutcome.MATCHED and match.record is not None:
        context.links.put(
            new_link(context.tenant_id, entity, document.id, 0, match.record, "matched", context.clock())
        )
        tally.matched += 1
        return
    code = (
        SkipReason.AMBIGUOUS_MATCH
        if match.outcome is DocumentMatchOutcome.AMBIGUOUS
        else SkipReason.NO_DOCUMENT_MATCH
    )
    tally.skip(document.id, code, match.message)
