"""The reconciliation report: for a period, a tenant's documents and totals on each side (the source and
QBO), and every document that differs, with why.

A document is in the period by its own date (invoice issue date, credit note and payment date) on
either side. Why a document differs (``DifferenceKind``):

- ``missing_in_qbo``: the source has it and QBO has no record of it (never pushed, or deleted in QBO);
- ``missing_in_source``: QBO has a document in the period qbosync has no link for;
- ``voided_in_qbo`` / ``voided_in_source``: one side voided (or deleted) it, the other still counts it;
- ``drift``: a field the source owns differs (``records.documents.document_differences``);
- ``variance``: only the total differs (QBO computed the tax, or rounded a discount, differently).

Totals are per document kind and currency, each side in the document's own currency (QBO's
``TotalAmt``, not its home amount), so both sides add up the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from qbosync.qbo.faults import QboNotFound
from qbosync.source.models import Page, SourceCreditNote, SourceInvoice, SourcePayment
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.records.document_fields import TOTAL_FIELDS, document_differences, money
from qbosync.sync.records.links import CREDIT_APPLICATION, CREDIT_MEMO, CUSTOMER, INVOICE, PAYMENT

DocumentKind = Literal["invoice", "credit_note", "payment"]
SourceDocument = SourceInvoice | SourceCreditNote | SourcePayment
MAX_REPORT_DAYS = 366


class DifferenceKind(StrEnum):
    MISSING_IN_QBO = "missing_in_qbo"
    MISSING_IN_SOURCE = "missing_in_source"
    VOIDED_IN_QBO = "voided_in_qbo"
    VOIDED_IN_SOURCE = "voided_in_source"
    DRIFT = "drift"
    VARIANCE = "variance"


class ReportRow(BaseModel):
    """One document, as each side has it."""

    kind: DocumentKind
    source_id: str | None = None
    number: str | None = None
    date: date
    currency: str
    source_total: Decimal | None = None
    qbo_id: str | None = None
    qbo_total: Decimal | None = None
    difference: DifferenceKind | None = None
    why: str | None = None


class SideTotals(BaseModel):
    """How many documents of one kind and currency a side has in the period, and their sum."""

    kind: DocumentKind
    currency: str
    documents: int
    total: Decimal


class ReconciliationReport(BaseModel):
    tenant_id: str
    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    source: list[SideTotals]
    qbo: list[SideTotals]
    differences: list[ReportRow]
    documents: list[ReportRow]

    def to_csv(self) -> str:
        """One line per document: what each side has and, where they differ, why."""
        out = io.StringIO()
        columns = list(ReportRow.model_fields)
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.documents:
            dumped = row.model_dump(mode="json")
            writer.writerow({column: "" if dumped[column] is None else dumped[column] for column in columns})
        return out.getvalue()


class ReportQbo(Protocol):
    def query_all(
        self, entity: str, where: str = "", order_by: str = "Id", page_size: int = ...
    ) -> list[dict[str, Any]]: ...

    def read(self, entity: str, entity_id: str) -> dict[str, Any]: ...


class ReportSource(Protocol):
    def list_invoices(self, cursor: str | None = None, limit: int = ...) -> Page[SourceInvoice]: ...

    def list_payments(self, cursor: str | None = None, limit: int = ...) -> Page[SourcePayment]: ...

    def list_credit_notes(self, cursor: str | None = None, limit: int = ...) -> Page[SourceCreditNote]: ...


@dataclass(frozen=True)
class _Kind:
    kind: DocumentKind
    entity: str
    list_pages: Callable[[ReportSource, str | None], Page[Any]]


_KINDS = (
    _Kind("invoice", INVOICE, lambda source, cursor: source.list_invoices(cursor=cursor, limit=100)),
    _Kind(
        "credit_note", CREDIT_MEMO, lambda source, cursor: source.list_credit_notes(cursor=cursor, limit=100)
    ),
    _Kind("payment", PAYMENT, lambda source, cursor: source.list_payments(cursor=cursor, limit=100)),
)


def _date_of(document: SourceDocument) -> date:
    return document.issue_date if isinstance(document, SourceInvoice) else document.date


def _total_of(document: SourceDocument) -> Decimal:
    return document.amount if isinstance(document, SourcePayment) else document.total


def _removed(document: SourceDocument) -> bool:
    return document.status in {"void", "deleted"}


class ReconciliationReporter:
    """Builds one tenant's report from its source, its QBO company and the links between them."""

    def __init__(self, tenant_id: str, qbo: ReportQbo, source: ReportSource, links: LinkRepository) -> None:
        self._tenant = tenant_id
        self._qbo = qbo
        self._source = source
        self._links = links

    def report(self, period_from: date, period_to: date) -> ReconciliationReport:
        documents: list[ReportRow] = []
        for kind in _KINDS:
            documents.extend(self._kind_rows(kind, period_from, period_to))
        documents.sort(key=lambda row: (row.date, row.kind, row.number or "", row.qbo_id or ""))
        return ReconciliationReport(
            tenant_id=self._tenant,
            period_from=period_from,
            period_to=period_to,
            source=_totals(documents, side="source"),
            qbo=_totals(documents, side="qbo"),
            differences=[row for row in documents if row.difference is not None],
            documents=documents,
        )

    def _kind_rows(self, kind: _Kind, period_from: date, period_to: date) -> Iterator[ReportRow]:
        where = f"TxnDate >= '{period_from.isoformat()}' AND TxnDate <= '{period_to.isoformat()}'"
        qbo_rows = {str(row["Id"]): row for row in self._qbo.query_all(kind.entity, where)}
        seen: set[str] = set()
        for document in self._source_documents(kind):
            if not period_from <= _date_of(document) <= period_to:
                continue
            link = self._links.get(self._tenant, kind.entity, document.id)
            row = self._qbo_row(kind.entity, link, qbo_rows)
            if link is not None:
                seen.add(link.qbo_id)
            yield self._compared(kind.kind, document, link, row)
        for qbo_id, row in qbo_rows.items():
            if qbo_id in seen or self._is_ours(kind.entity, qbo_id):
                continue
            yield ReportRow(
                kind=kind.kind,
                date=date.fromisoformat(str(row["TxnDate"])),
                number=row.get("DocNumber") or row.get("PaymentRefNum"),
                currency=_currency(row),
                qbo_id=qbo_id,
                qbo_total=money(row.get("TotalAmt")),
                difference=DifferenceKind.MISSING_IN_SOURCE,
                why=f"QBO {kind.entity} {qbo_id} has no document in the source",
            )

    def _source_documents(self, kind: _Kind) -> Iterator[SourceDocument]:
        cursor: str | None = None
        while True:
            page = kind.list_pages(self._source, cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _qbo_row(
        self, entity: str, link: Link | None, in_period: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """QBO's record of a linked document: from the period's rows, else read (its date may differ)."""
        if link is None or not link.is_live:
            return None
        if link.qbo_id in in_period:
            return in_period[link.qbo_id]
        try:
            return self._qbo.read(entity, link.qbo_id)
        except QboNotFound:
            return None

    def _is_ours(self, entity: str, qbo_id: str) -> bool:
        """A QBO record qbosync links to a source document (outside the period in the source), or the
        zero payment applying a credit note."""
        if self._links.get_by_qbo_id(self._tenant, entity, qbo_id) is not None:
            return True
        return (
            entity == PAYMENT
            and self._links.get_by_qbo_id(self._tenant, CREDIT_APPLICATION, qbo_id) is not None
        )

    def _compared(
        self, kind: DocumentKind, document: SourceDocument, link: Link | None, row: dict[str, Any] | None
    ) -> ReportRow:
        source_total = Decimal("0.00") if _removed(document) else _total_of(document)
        base = ReportRow(
            kind=kind,
            source_id=document.id,
            number=document.number,
            date=_date_of(document),
            currency=document.currency,
            source_total=source_total,
            qbo_id=link.qbo_id if link is not None else None,
            qbo_total=money(row.get("TotalAmt")) if row is not None else None,
        )
        difference, why = self._why(document, link, row)
        return base.model_copy(update={"difference": difference, "why": why})

    def _why(  # noqa: PLR0911 - one return per kind of difference
        self, document: SourceDocument, link: Link | None, row: dict[str, Any] | None
    ) -> tuple[DifferenceKind | None, str | None]:
        removed = _removed(document)
        if row is None:
            if removed:
                return None, None
            if link is not None and not link.is_live:
                return DifferenceKind.VOIDED_IN_QBO, f"QBO's record was {link.state.value} by qbosync"
            gone = "was deleted in QBO" if link is not None else "was never written to QBO"
            return DifferenceKind.MISSING_IN_QBO, f"the source has it; QBO's record {gone}"
        qbo_total = money(row.get("TotalAmt"))
        if removed:
            if qbo_total == 0:
                return None, None
            return (
                DifferenceKind.VOIDED_IN_SOURCE,
                f"the source {document.status} it; QBO still counts {qbo_total}",
            )
        if qbo_total == 0 and _total_of(document) != 0:
            return DifferenceKind.VOIDED_IN_QBO, "voided in QBO; the source still counts it"
        customer = self._links.get(self._tenant, CUSTOMER, document.customer_id)
        differences = document_differences(row, document, customer.qbo_id if customer else None)
        if not differences:
            return None, None
        said = "; ".join(str(difference) for difference in differences)
        if all(difference.field in TOTAL_FIELDS for difference in differences):
            return DifferenceKind.VARIANCE, said
        return DifferenceKind.DRIFT, said


def _currency(row: dict[str, Any]) -> str:
    return str((row.get("CurrencyRef") or {}).get("value") or "")


def _totals(rows: list[ReportRow], *, side: Literal["source", "qbo"]) -> list[SideTotals]:
    sums: dict[tuple[DocumentKind, str], tuple[int, Decimal]] = {}
    for row in rows:
        amount = row.source_total if side == "source" else row.qbo_total
        present = (
            row.source_id is not None if side == "source" else row.qbo_id is not None and amount is not None
        )
        if (
            amount is None
            or not present
            or (side == "source" and row.difference is DifferenceKind.MISSING_IN_SOURCE)
        ):
            continue
        currency = row.currency or "?"
        count, total = sums.get((row.kind, currency), (0, Decimal("0.00")))
        sums[(row.kind, currency)] = (count + 1, total + amount)
    return [
        SideTotals(kind=kind, currency=currency, documents=count, total=total)
        for (kind, currency), (count, total) in sorted(sums.items())
    ]
