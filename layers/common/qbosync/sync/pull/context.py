"""What every entity's pull shares: the collaborators, the outcome of one change, and reading QBO's current
version of a record (or deciding, from the link alone, that a webhook is qbosync's own write)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from qbosync.clock import utc_now
from qbosync.qbo.client import QboClient
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
        try:
            return self.qbo_for(tenant_id).read(change.entity, change.entity_id)
        except QboNotFound:
            return None
