"""What every entity's pull shares: the collaborators, the outcome of one change, and reading QBO's current
version of a record (or deciding, from the link alone, that a webhook is qbosync's own write).

Reads together. Intuit meters every read alike, a query of ten records as one read of one. When a batch of
pull messages names several records of one entity for one tenant, the first of them that must be read
reads them all with one query (``GroupedReads``); the others take their row from it. The read still
happens after every change in the batch was announced, so it shows each of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from qbosync.clock import utc_now
from qbosync.qbo.client import QboClient, qbo_literal
from qbosync.qbo.faults import QboNotFound
from qbosync.source.port import SourcePort
from qbosync.store.events import EventFailure, EventRepository, EventWarning, ReasonCode
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.configuration import MappingRow, TenantSettings
from qbosync.sync.pull.echo import own_write_without_reading
from qbosync.sync.records.messages import EntityChange, MessageQueue

OutcomeStatus = Literal[
    "applied", "unchanged", "skipped", "held", "healing", "unsupported", "drift", "failed"
]
FAILED_STATUSES = frozenset({"unsupported", "drift", "failed"})


@dataclass(frozen=True)
class PullOutcome:
    status: OutcomeStatus
    reason: str
    warnings: tuple[EventWarning, ...] = ()
    """Where the pull improvised (the done event is "synced with warnings")."""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def failure(self) -> EventFailure:
        """The event's failure for an outcome that failed (``unsupported`` and ``drift`` are reports)."""
        return EventFailure.of(_OUTCOME_CODES[self.status], self.reason)


_OUTCOME_CODES = {
    "unsupported": ReasonCode.UNSUPPORTED,
    "drift": ReasonCode.DRIFT,
    "failed": ReasonCode.NOT_APPLIED,
}


NAME_LISTS = frozenset({"Customer", "Item"})
"""Entities QBO leaves out of a query when inactive, unless the query asks for both."""
IDS_PER_QUERY = 100
"""QBO's default page of a query: one page holds every record asked for."""


class GroupedReads:
    """The QBO records one batch of pull messages names, read with one query per tenant and entity.

    Only records named by two or more changes still to read are read together; a record read alone, a
    deletion (nothing to read) and a record the batch does not name are read as before, by id.
    """

    def __init__(self, changes: Iterable[tuple[str, EntityChange]]) -> None:
        self._pending: dict[tuple[str, str], set[str]] = {}
        for tenant_id, change in changes:
            if change.operation != "Delete":
                self._pending.setdefault((tenant_id, change.entity), set()).add(change.entity_id)
        self._rows: dict[tuple[str, str, str], Mapping[str, Any] | None] = {}
        self.queries = 0

    def has(self, tenant_id: str, entity: str, entity_id: str) -> bool:
        """Whether the record was read together (or is about to be, with others)."""
        if (tenant_id, entity, entity_id) in self._rows:
            return True
        pending = self._pending.get((tenant_id, entity), set())
        return entity_id in pending and len(pending) > 1

    def current(
        self, qbo: QboClient, tenant_id: str, entity: str, entity_id: str
    ) -> Mapping[str, Any] | None:
        """The record as QBO holds it (None once deleted), reading every pending record of its group first."""
        key = (tenant_id, entity, entity_id)
        if key not in self._rows:
            pending = sorted(self._pending.get((tenant_id, entity), set()))
            rows: dict[str, Mapping[str, Any]] = {}
            for start in range(0, len(pending), IDS_PER_QUERY):
                chunk = pending[start : start + IDS_PER_QUERY]
                rows.update((str(row.get("Id")), row) for row in qbo.query(_by_ids(entity, chunk)))
                self.queries += 1
            for found_id in pending:
                self._rows[(tenant_id, entity, found_id)] = rows.get(found_id)
            self._pending.pop((tenant_id, entity), None)
        return self._rows[key]


BATCH_READS: ContextVar[GroupedReads | None] = ContextVar("pull_batch_reads", default=None)
"""The batch being applied in this thread (``PullService.reading_together``); None outside a batch. A context
variable, not a field: one service may serve several threads (the local runtime), each with its own batch."""


def _by_ids(entity: str, entity_ids: list[str]) -> str:
    ids = ", ".join(qbo_literal(entity_id) for entity_id in entity_ids)
    active = " AND Active IN (true, false)" if entity in NAME_LISTS else ""
    # QBO's query language, not SQL: every value is quoted with qbo_literal().
    return f"SELECT * FROM {entity} WHERE Id IN ({ids}){active} MAXRESULTS {IDS_PER_QUERY}"  # noqa: S608


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return Decimal("NaN")


@dataclass
class PullContext:
    """The collaborators every entity's pull uses; ``PullService`` is built on them."""

    qbo_for: Callable[[str], QboClient]
    source_for: Callable[[str], SourcePort]
    settings_for: Callable[[str], TenantSettings]
    payment_methods_for: Callable[[str], list[MappingRow]]
    links: LinkRepository
    events: EventRepository
    push_queue: MessageQueue
    clock: Callable[[], datetime] = utc_now
    # Whether the tenant's sync is paused (``TenantRepository.is_paused``); never, unless wired.
    paused: Callable[[str], bool] = lambda _tenant_id: False

    @staticmethod
    def _known_echo(
        link: Link | None, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome | None:
        """The outcome of a webhook the link shows to be qbosync's own write, decided without a QBO read."""
        if link is None or given is not None:
            return None
        why = own_write_without_reading(link, change)
        return None if why is None else PullOutcome("unchanged", f"{why}; not read back (echo)")

    def _current(
        self, tenant_id: str, change: EntityChange, row: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """The entity as QBO holds it now (None once deleted)."""
        if row is not None:
            return None if str(row.get("status", "")).lower() == "deleted" else row
        if change.operation == "Delete":
            return None
        grouped = BATCH_READS.get()
        if grouped is not None and grouped.has(tenant_id, change.entity, change.entity_id):
            return grouped.current(self.qbo_for(tenant_id), tenant_id, change.entity, change.entity_id)
        try:
            return self.qbo_for(tenant_id).read(change.entity, change.entity_id)
        except QboNotFound:
            return None
