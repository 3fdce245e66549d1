"""Scheduled reconciliation: catch what webhooks missed, in both directions, from a checkpoint.

- **QBO → source.** Changes since the ``qbo`` checkpoint come from CDC while the checkpoint is within
  ``cdc_max_lookback`` (QBO keeps 30 days; 29 leaves a margin), else from paged queries on
  ``MetaData.LastUpdatedTime``. Each changed row goes through the pull service exactly as a webhook's
  change would (same sync event id, so a change a webhook already brought is not applied twice).
- **Source → QBO.** Source objects updated since the ``source`` checkpoint whose version is newer than
  their link's (or that have no link): products and documents (invoices, payments, credit notes) are
  queued for the push worker as if their webhook had arrived (a product becomes a QBO item created,
  updated or made inactive); customers, which the push worker leaves to reconciliation, go to the
  push's ``CustomerPush`` (matched or created when unlinked, else the groups of fields the source owns).
- Reconciliation is a flow of its own: it reaches the pull and the push through the two protocols
  below (``QboChangeApplier``, ``SourceCustomerWriter``), which ``qbosync.sync.wiring`` fills in.
- Each checkpoint moves to the run's start (minus ``overlap``, for clock skew) only after its
  direction succeeded, so a failed run is simply done again next time.
- **When it reads** is the ``ReconcileCadence``'s call (``qbosync.sync.backstop``): the QBO direction is a
  backstop to webhooks (due daily, sooner after a gap or an admin's request, slowed then stopped when the
  app's read budget runs low); the source direction backs off while it finds nothing. Without a cadence
  (tests of the reconciliation itself) every call runs both directions.
- ``overlap`` and ``cdc_max_lookback`` default to the deployment settings
  ``QBOSYNC_RECONCILE_OVERLAP_SECONDS`` (300) and ``QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS`` (29, at
  most 30), read when the reconciler is constructed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from qbosync.clock import utc_now
from qbosync.errors import NotConnected
from qbosync.observability import logger
from qbosync.qbo.client import QboClient, qbo_literal
from qbosync.qbo.faults import QboValidationFault
from qbosync.qbo.metadata import last_updated_time
from qbosync.qbo.read_budget import ReadBudgetExhausted
from qbosync.settings import get_sync_tuning
from qbosync.source.models import ChangeAction, ObjectKind, SourceCustomer, SourceObject
from qbosync.source.port import SourcePort
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.links import Link, LinkRepository
from qbosync.sync.backstop import Due, DueReason, ReconcileCadence
from qbosync.sync.configuration import TenantSettings
from qbosync.sync.records.messages import EntityChange, MessageQueue, PullMessage, PushMessage

QBO_CHECKPOINT = "qbo"
SOURCE_CHECKPOINT = "source"
# Pulled in the order the source depends on them: customers before the documents that name them.
PULLED_ENTITIES = ("Customer", "Item", "Invoice", "CreditMemo", "Payment")
SOURCE_PAGE_LIMIT = 200

# Source kind → the link entity its QBO twin is recorded under (bulk and push use QBO's names).
LINK_ENTITY_BY_KIND: dict[ObjectKind, str] = {
    "customer": "Customer",
    "product": "Item",
    "invoice": "Invoice",
    "payment": "Payment",
    "credit_note": "CreditMemo",
}


class QboChangeApplier(Protocol):
    """Applies one QBO change to the source (``qbosync.sync.pull.service.PullService``)."""

    def apply(self, message: PullMessage, row: Mapping[str, Any] | None = None) -> AppliedChange: ...


class AppliedChange(Protocol):
    @property
    def status(self) -> str: ...


class SourceCustomerWriter(Protocol):
    """Brings a source customer's change to QBO (``qbosync.sync.push.customers.CustomerPush``)."""

    def to_qbo(
        self, tenant_id: str, settings: TenantSettings, customer: SourceCustomer, link: Link | None
    ) -> None: ...


class ReconcileReport(BaseModel):
    """What one tenant's reconciliation did (counts only)."""

    tenant_id: str
    qbo_mode: str = "cdc"
    qbo_since: datetime | None = None
    source_since: datetime | None = None
    qbo_changes: int = 0
    outcomes: dict[str, int] = {}
    pushes_queued: int = 0
    customers_synced: int = 0
    customers_failed: int = 0
    qbo_due: DueReason | None = None
    qbo_next_due_at: datetime | None = None
    source_due: DueReason | None = None
    source_next_due_at: datetime | None = None
    source_calls: int = 0
    paused: bool = False
    """The tenant's sync is paused: nothing was read or written, and the checkpoints stay where they were."""


def change_of_row(realm_id: str, entity: str, row: Mapping[str, Any]) -> EntityChange:
    """The change a CDC or query row stands for (deleted rows carry ``status: "Deleted"``)."""
    deleted = str(row.get("status", "")).lower() == "deleted"
    last_updated = last_updated_time(row)
    stamp = last_updated.isoformat() if last_updated else ""
    return EntityChange(
        realm_id=realm_id,
        entity=entity,
        entity_id=str(row["Id"]),
        operation="Delete" if deleted else "Update",
        last_updated=last_updated,
        dedupe_key=f"reconcile|{realm_id}|{entity}|{row['Id']}|{stamp}",
    )


def _action_of(item: SourceObject, linked: bool) -> ChangeAction:
    status = getattr(item, "status", None)
    if getattr(item, "deleted", False) or status == "deleted":
        return "deleted"
    if status == "void":
        return "voided"
    return "updated" if linked else "created"


@dataclass
class Reconciler:
    """Reconciles one tenant at a time; ``qbosync.sync.wiring`` builds the deployed one."""

    pull: QboChangeApplier
    customers: SourceCustomerWriter
    qbo_for: Callable[[str], QboClient]
    source_for: Callable[[str], SourcePort]
    settings_for: Callable[[str], TenantSettings]
    connections: ConnectionRepository
    checkpoints: CheckpointRepository
    links: LinkRepository
    push_queue: MessageQueue
    clock: Callable[[], datetime] = utc_now
    overlap: timedelta = field(default_factory=lambda: get_sync_tuning().reconcile_overlap)
    cdc_max_lookback: timedelta = field(default_factory=lambda: get_sync_tuning().reconcile_cdc_max_lookback)
    cadence: ReconcileCadence | None = None
    # Whether the tenant's sync is paused (``TenantRepository.is_paused``); never, unless wired.
    paused: Callable[[str], bool] = lambda _tenant_id: False

    def reconcile_all(self) -> list[ReconcileReport]:
        """Every connected tenant; one tenant's failure is logged and does not stop the others."""
        reports = []
        for connection in self.connections.list_connected():
            try:
                reports.append(self.reconcile_tenant(connection.tenant_id))
            except Exception:
                logger.exception("reconciliation failed", extra={"tenant_id": connection.tenant_id})
        return reports

    def reconcile_tenant(self, tenant_id: str) -> ReconcileReport:
        connection = self.connections.get(tenant_id)
        if connection is None or connection.status != "connected":
            raise NotConnected(f"Tenant '{tenant_id}' has no working QuickBooks connection.")
        if self.paused(tenant_id):
            # Checkpoints stay: the first reconciliation after the resume covers the paused time.
            logger.info("reconciliation skipped: tenant paused", extra={"tenant_id": tenant_id})
            return ReconcileReport(tenant_id=tenant_id, paused=True)
        report = ReconcileReport(tenant_id=tenant_id)
        started = self.clock()
        if self.cadence is None:
            self._qbo_to_source(connection, started, report)
            self._source_to_qbo(connection, started, report)
        else:
            try:
                self._as_due(self.cadence, connection, started, report)
            finally:
                self.cadence.budget.count_source_calls(tenant_id, report.source_calls)
                self.cadence.budget.flush()
        logger.info("reconciled", extra=report.model_dump(mode="json"))
        return report

    def _as_due(
        self, cadence: ReconcileCadence, connection: Connection, started: datetime, report: ReconcileReport
    ) -> None:
        tenant_id = connection.tenant_id
        last_backstop = self.checkpoints.get(tenant_id, QBO_CHECKPOINT)
        signals = cadence.detect_gaps(tenant_id, last_backstop, started, cadence.signals.get(tenant_id))
        due = cadence.qbo_due(tenant_id, last_backstop, started, signals)
        if due.due:
            try:
                self._qbo_to_source(connection, started, report)
            except ReadBudgetExhausted:
                # The budget fell while this run read: its checkpoint did not move, the next run catches up.
                due = Due(due=False, reason=DueReason.BUDGET_STOPPED)
        report.qbo_due, report.qbo_next_due_at = due.reason, due.next_due_at
        cadence.record_qbo_outcome(tenant_id, due, started, signals)

        source_due = cadence.source_due(
            tenant_id, self.checkpoints.get(tenant_id, SOURCE_CHECKPOINT), started, signals
        )
        report.source_due, report.source_next_due_at = source_due.reason, source_due.next_due_at
        if source_due.due:
            self._source_to_qbo(connection, started, report)
            changes = report.pushes_queued + report.customers_synced + report.customers_failed
            cadence.source_ran(tenant_id, started, changes, signals)

    def _since(self, connection: Connection, name: str) -> datetime:
        checkpoint = self.checkpoints.get(connection.tenant_id, name)
        return (checkpoint or connection.connected_at) - self.overlap

    # --- QBO → source -----------------------------------------------------------------------------

    def _qbo_to_source(self, connection: Connection, started: datetime, report: ReconcileReport) -> None:
        tenant_id = connection.tenant_id
        since = self._since(connection, QBO_CHECKPOINT)
        report.qbo_since = since
        outcomes: Counter[str] = Counter()
        for entity, row in self._qbo_changes(tenant_id, since, started, report):
            change = change_of_row(connection.realm_id, entity, row)
            message = PullMessage(tenant_id=tenant_id, change=change, received_at=started)
            outcomes[self.pull.apply(message, row=row).status] += 1
            report.qbo_changes += 1
        report.outcomes = dict(outcomes)
        self.checkpoints.put(tenant_id, QBO_CHECKPOINT, started)

    def _qbo_changes(
        self, tenant_id: str, since: datetime, started: datetime, report: ReconcileReport
    ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        qbo = self.qbo_for(tenant_id)
        if started - since <= self.cdc_max_lookback:
            changes = qbo.cdc(list(PULLED_ENTITIES), since)
            for entity in PULLED_ENTITIES:
                for row in changes.get(entity, []):
                    yield entity, row
            return
        report.qbo_mode = "query"
        where = f"MetaData.LastUpdatedTime >= {qbo_literal(since.isoformat())}"
        for entity in PULLED_ENTITIES:
            for row in qbo.iter_query(entity, where):
                yield entity, row

    # --- source → QBO -----------------------------------------------------------------------------

    def _source_to_qbo(self, connection: Connection, started: datetime, report: ReconcileReport) -> None:
        tenant_id = connection.tenant_id
        since = self._since(connection, SOURCE_CHECKPOINT)
        report.source_since = since
        settings = self.settings_for(tenant_id)
        source = self.source_for(tenant_id)
        toggles = settings.sync
        listers: list[tuple[ObjectKind, bool, Callable[..., Any]]] = [
            ("customer", toggles.customers, source.list_customers),
            ("product", toggles.products, source.list_products),
            ("invoice", toggles.invoices, source.list_invoices),
            ("payment", toggles.payments, source.list_payments),
            ("credit_note", toggles.credit_notes, source.list_credit_notes),
        ]
        for kind, enabled, lister in listers:
            if not enabled:
                continue
            cursor: str | None = None
            while True:
                page = lister(cursor, SOURCE_PAGE_LIMIT, updated_since=since)
                report.source_calls += 1
                for item in page.items:
                    link = self.links.get(tenant_id, LINK_ENTITY_BY_KIND[kind], item.id)
                    if link is not None and link.source_version >= item.version:
                        continue
                    if kind == "customer":
                        try:
                            self.customers.to_qbo(tenant_id, settings, item, link)
                        except QboValidationFault as fault:
                            # One customer QBO refuses (a name clash) must not hold the checkpoint back.
                            logger.warning(
                                "customer not reconciled",
                                extra={
                                    "tenant_id": tenant_id,
                                    "source_id": item.id,
                                    "fault_code": fault.code,
                                },
                            )
                            report.customers_failed += 1
                            continue
                        report.customers_synced += 1
                    else:
                        self._queue_push(tenant_id, kind, item, link, started)
                        report.pushes_queued += 1
                cursor = page.next_cursor
                if cursor is None:
                    break
        self.checkpoints.put(tenant_id, SOURCE_CHECKPOINT, started)

    def _queue_push(
        self, tenant_id: str, kind: ObjectKind, item: SourceObject, link: Link | None, started: datetime
    ) -> None:
        message = PushMessage(
            event_id=f"reconcile-{kind}-{item.id}-v{item.version}",
            tenant_id=tenant_id,
            kind=kind,
            action=_action_of(item, linked=link is not None),
            source_id=item.id,
            source_version=item.version,
            occurred_at=item.updated_at,
            received_at=started,
        )
        self.push_queue.send(
            message.model_dump_json(), group_id=message.group_id, deduplication_id=message.deduplication_id
        )
