"""Importing the source-id ↔ QBO-id pairs a vendor's earlier integration already knows.

Each row is checked on both sides before it is linked: the QBO record exists and is of the kind's type
(an item usable on invoice lines), no other source record is linked to it; the source record exists and
is not linked to another QBO record. A row already linked exactly so is reported ``already_linked`` and
written again never, so the same import twice gives the same report and nothing doubled. Rows are sent
as JSON objects or as CSV text with the header ``kind,source_id,qbo_id``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from qbosync.errors import ValidationFailed, validation_details
from qbosync.observability import logger
from qbosync.qbo.client import QboClient
from qbosync.qbo.faults import QboNotFound
from qbosync.source.errors import SourceNotFound
from qbosync.source.port import SourcePort
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.configuration import INVOICE_LINE_ITEM_TYPES
from qbosync.sync.records.links import CREDIT_MEMO, CUSTOMER, INVOICE, ITEM, PAYMENT, new_link

MAX_ROWS = 500
LinkKind = Literal["customer", "item", "invoice", "payment", "credit_note"]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]

ENTITY_OF: dict[str, str] = {
    "customer": CUSTOMER,
    "item": ITEM,
    "invoice": INVOICE,
    "payment": PAYMENT,
    "credit_note": CREDIT_MEMO,
}
"""The QBO entity (and link entity) each kind names."""


class LinkImportRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: LinkKind
    source_id: Id
    qbo_id: Id


class LinkImportRequest(BaseModel):
    """``rows`` as JSON objects, or ``csv`` as text with the header ``kind,source_id,qbo_id``."""

    model_config = ConfigDict(extra="forbid")

    rows: list[LinkImportRow] | None = Field(None, max_length=MAX_ROWS)
    csv: str | None = Field(None, max_length=200_000)

    def parsed_rows(self) -> list[LinkImportRow]:
        """The rows, whichever form they came in (checked after the caller is authorised)."""
        if (self.rows is None) == (self.csv is None):
            raise ValidationFailed("send either rows or csv", code="invalid_import")
        return self.rows if self.rows is not None else rows_from_csv(self.csv or "")


def rows_from_csv(text: str) -> list[LinkImportRow]:
    """The rows of CSV text, or ``ValidationFailed`` naming every bad line."""
    reader = csv.DictReader(io.StringIO(text.strip()))
    if reader.fieldnames is None or [name.strip() for name in reader.fieldnames] != [
        "kind",
        "source_id",
        "qbo_id",
    ]:
        raise ValidationFailed("the CSV's header must be kind,source_id,qbo_id", code="invalid_csv")
    rows: list[LinkImportRow] = []
    problems: list[dict[str, Any]] = []
    for line_no, record in enumerate(reader, start=2):
        try:
            rows.append(LinkImportRow.model_validate({k.strip(): v for k, v in record.items() if k}))
        except ValidationError as exc:
            problems += [{**detail, "line": line_no} for detail in validation_details(exc.errors())]
    if problems:
        raise ValidationFailed("some CSV lines are not rows", code="invalid_csv", details=problems[:50])
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"at most {MAX_ROWS} rows an import", code="invalid_csv")
    return rows


class RowStatus(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_LINKED = "already_linked"
    REFUSED = "refused"


class RefusalCode(StrEnum):
    QBO_NOT_FOUND = "qbo_not_found"
    QBO_WRONG_TYPE = "qbo_wrong_type"
    QBO_LINKED_ELSEWHERE = "qbo_linked_elsewhere"
    SOURCE_NOT_FOUND = "source_not_found"
    SOURCE_LINKED_ELSEWHERE = "source_linked_elsewhere"
    DUPLICATE_IN_IMPORT = "duplicate_in_import"


class RowOutcome(BaseModel):
    row: int
    kind: LinkKind
    source_id: str
    qbo_id: str
    status: RowStatus
    reason_code: RefusalCode | None = None
    message: str


class LinkImportReport(BaseModel):
    accepted: int
    already_linked: int
    refused: int
    rows: list[RowOutcome]


class _Refused(Exception):
    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LinkImportService:
    def __init__(
        self,
        links: LinkRepository,
        qbo_for: Callable[[str], QboClient],
        source_for: Callable[[str], SourcePort],
        clock: Callable[[], datetime],
    ) -> None:
        self._links = links
        self._qbo_for = qbo_for
        self._source_for = source_for
        self._clock = clock

    def import_rows(self, tenant_id: str, rows: list[LinkImportRow]) -> LinkImportReport:
        """Check and link each row; the report says what became of every one."""
        qbo = self._qbo_for(tenant_id)
        source = self._source_for(tenant_id)
        seen_source: set[tuple[str, str]] = set()
        seen_qbo: set[tuple[str, str]] = set()
        outcomes = []
        for number, row in enumerate(rows, start=1):
            entity = ENTITY_OF[row.kind]
            try:
                if (entity, row.source_id) in seen_source or (entity, row.qbo_id) in seen_qbo:
                    raise _Refused(
                        RefusalCode.DUPLICATE_IN_IMPORT, "an earlier row of this import names the same record"
                    )
                seen_source.add((entity, row.source_id))
                seen_qbo.add((entity, row.qbo_id))
                status, message = self._import_one(tenant_id, qbo, source, row, entity)
                outcomes.append(RowOutcome(row=number, **row.model_dump(), status=status, message=message))
            except _Refused as refused:
                outcomes.append(
                    RowOutcome(
                        row=number,
                        **row.model_dump(),
                        status=RowStatus.REFUSED,
                        reason_code=refused.code,
                        message=refused.message,
                    )
                )
        report = LinkImportReport(
            accepted=sum(o.status is RowStatus.ACCEPTED for o in outcomes),
            already_linked=sum(o.status is RowStatus.ALREADY_LINKED for o in outcomes),
            refused=sum(o.status is RowStatus.REFUSED for o in outcomes),
            rows=outcomes,
        )
        logger.info(
            "links imported",
            extra={
                "tenant_id": tenant_id,
                "accepted": report.accepted,
                "already_linked": report.already_linked,
                "refused": report.refused,
            },
        )
        return report

    def _import_one(
        self, tenant_id: str, qbo: QboClient, source: SourcePort, row: LinkImportRow, entity: str
    ) -> tuple[RowStatus, str]:
        existing = self._links.get(tenant_id, entity, row.source_id)
        if existing is not None and existing.qbo_id == row.qbo_id:
            return RowStatus.ALREADY_LINKED, "already linked so; nothing written"
        if existing is not None:
            raise _Refused(
                RefusalCode.SOURCE_LINKED_ELSEWHERE,
                f"the source record is linked to QBO {entity} {existing.qbo_id}",
            )
        other = self._links.get_by_qbo_id(tenant_id, entity, row.qbo_id)
        if other is not None and other.source_id != row.source_id:
            raise _Refused(
                RefusalCode.QBO_LINKED_ELSEWHERE,
                f"QBO {entity} {row.qbo_id} is linked to source record {other.source_id}",
            )
        record = _qbo_record(qbo, entity, row.qbo_id)
        version = _source_version(source, row)
        link: Link = new_link(tenant_id, entity, row.source_id, version, record, "matched", self._clock())
        self._links.put(link)
        return RowStatus.ACCEPTED, f"linked to QBO {entity} {row.qbo_id}"


def _qbo_record(qbo: QboClient, entity: str, qbo_id: str) -> dict[str, Any]:
    try:
        record = qbo.read(entity, qbo_id)
    except QboNotFound:
        raise _Refused(RefusalCode.QBO_NOT_FOUND, f"QBO has no {entity} {qbo_id}") from None
    if entity == ITEM and record.get("Type") not in INVOICE_LINE_ITEM_TYPES:
        raise _Refused(
            RefusalCode.QBO_WRONG_TYPE,
            f"QBO item {qbo_id} is of type {record.get('Type')}; products link to Service, "
            "NonInventory or Inventory items",
        )
    if record.get("Active") is False:
        raise _Refused(RefusalCode.QBO_WRONG_TYPE, f"QBO {entity} {qbo_id} is inactive")
    return record


def _source_version(source: SourcePort, row: LinkImportRow) -> int:
    readers: dict[str, Callable[[str], Any]] = {
        "customer": source.get_customer,
        "item": source.get_product,
        "invoice": source.get_invoice,
        "payment": source.get_payment,
        "credit_note": source.get_credit_note,
    }
    try:
        found = readers[row.kind](row.source_id)
    except SourceNotFound:
        raise _Refused(
            RefusalCode.SOURCE_NOT_FOUND, f"the source has no {row.kind} {row.source_id}"
        ) from None
    return int(found.version)
