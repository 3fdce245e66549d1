"""Applying one source change to QBO, exactly once.

This module takes the change (events, outcome, which failures are permanent); ``invoices``,
``payments`` and ``credit_notes`` decide what each document needs in QBO, and ``writer.QboWriter``
writes it (create, update, heal, void, delete) and records the link.

The webhook only names the object: the source is read again and its *current* version is applied
(a late or repeated notification finds the link already at that version and does nothing). Every
write carries ``request_id_for(tenant, entity, source id, version, operation)``, so a retried write is
replayed by QBO, never doubled; the link (QBO id, SyncToken, content hash, source version) is recorded
before the event is acknowledged. Every write is first recorded as an intent in the write ledger
(``store.ledger``) and settled in the transaction that records the link; an intent left open by a lost
answer or a killed worker is resolved (same requestid inside the window, else a lookup by identity and
qbosync's ``PrivateNote`` marker) before the document is written again (``writer.QboWriter``).

- Edits are sparse updates with the link's SyncToken; a stale token (5010) is read again and the
  change re-applied once. Unchanged content (same hash) is not written again.
- A payment or applied credit note whose invoice is not in QBO yet is parked on ``invoice:<id>`` and
  re-queued when that invoice lands.
- Credit notes become CreditMemos (credit or write-off prefix by kind). When the source applies one to
  invoices, it is applied in QBO as QBO does it: a zero payment linking the memo and the invoices; an
  unapplied credit note stays unapplied.
- Void in the source voids in QBO. Delete follows the deletion policy: ``delete`` deletes an invoice
  unless payments are linked to it (then it is voided), ``void`` voids. QBO cannot void a CreditMemo
  through the API, so a removed credit note is deleted (its application payment first).
- QBO refusals (6210 closed period, 6540 deposited, other validation faults) fail the event with the
  reason and fault; a missing mapping fails it with ``missing_mapping:<kind>:<key>`` until mapped; an
  outcome QBO never confirmed is resolved by looking (DocNumber / PaymentRefNum) before writing again.
- Anything transient (5xx, throttling, an unresolved outcome, the store) is raised, so the queue
  delivers the message again.
- A *heal* (``PushMessage.heal``: the pull found QBO drifted from a pushed document) writes the source's
  current version again although the link says QBO has it. The QBO record is read first: deleted there,
  it is created again (requestid operation ``recreate-<old QBO id>``: a retried heal is replayed by QBO,
  while the original create's requestid, which QBO would answer with the deleted record, is not reused)
  and the link moves to the new record; voided there, the event fails with
  reason code ``drift_not_healable`` (QBO cannot change a voided transaction); changed there (its
  SyncToken is not the link's, or the source's content is not the link's), it gets a sparse update with
  the source's full body and the record's current SyncToken (operation ``heal-at-<SyncToken>``);
  unchanged since qbosync wrote it, nothing is written. A credit note heals its CreditMemo and the zero
  payment applying it. A source document that is itself void or deleted, or not linked to a live QBO
  record, is pushed as any change would be.
- Every link records ``qbo_written_at``, QBO's ``LastUpdatedTime`` of qbosync's own last create, update
  or void of the record, so the pull tells qbosync's writes from later edits in QBO by QBO's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from qbosync.errors import NotConnected
from qbosync.metrics import Metric, count, count_failure
from qbosync.observability import logger
from qbosync.qbo.client import QboClient
from qbosync.qbo.faults import (
    QboAuthenticationFault,
    QboAuthorizationFault,
    QboNotFound,
    QboStaleObject,
    QboValidationFault,
)
from qbosync.source.errors import SourceNotFound, SourceRejected
from qbosync.source.port import SourcePort
from qbosync.store.events import EventFailure, EventRepository, ReasonCode, SyncEvent
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import LinkRepository
from qbosync.sync.configuration import ConfigurationService
from qbosync.sync.push.credit_notes import CreditNotePush
from qbosync.sync.push.invoices import InvoicePush
from qbosync.sync.push.payments import PaymentPush
from qbosync.sync.push.references import PushConfiguration, QboReferences
from qbosync.sync.push.transform import MissingMapping
from qbosync.sync.push.writer import Applied, DocumentContext, Parked, ParkedEvents, QboWriter, Refused
from qbosync.sync.records.events import fault_code, fault_info
from qbosync.sync.records.messages import PushMessage

REQUESTID_WINDOW = timedelta(hours=1)

OutcomeStatus = Literal["done", "parked", "failed"]


class PushOutcome(BaseModel):
    """What became of one change; also the cached answer of the worker's idempotency record."""

    event_id: str
    status: OutcomeStatus
    reason_code: ReasonCode | None = None
    reason: str | None = None
    qbo_id: str | None = None


def permanent_failure(exc: Exception) -> EventFailure | None:  # noqa: PLR0911 (one per family)
    """Why retrying ``exc`` unchanged cannot succeed (code, message, QBO fault); None when it may."""
    if isinstance(exc, MissingMapping):
        return EventFailure.of(ReasonCode.MISSING_MAPPING, exc.message, mapping=exc.mapping)
    if isinstance(exc, Refused):
        return EventFailure.of(exc.code, exc.message)
    if isinstance(exc, QboStaleObject):
        return None  # someone else keeps changing the record: the next delivery reads it again
    if isinstance(exc, QboValidationFault | QboNotFound | QboAuthorizationFault):
        return EventFailure.of(fault_code(exc), str(exc), qbo_fault=fault_info(exc))
    if isinstance(exc, QboAuthenticationFault | NotConnected):
        return EventFailure.of(ReasonCode.QBO_NOT_CONNECTED, "QuickBooks is not connected; connect it again")
    if isinstance(exc, SourceNotFound):
        return EventFailure.of(ReasonCode.SOURCE_OBJECT_NOT_FOUND, "the source no longer has this object")
    if isinstance(exc, SourceRejected):
        return EventFailure.of(
            ReasonCode.SOURCE_REJECTED, f"the source refused the read (HTTP {exc.source_status})"
        )
    return None


@dataclass
class PushDependencies:
    """Everything the push service calls; ``qbosync.sync.wiring`` builds the deployed ones."""

    events: EventRepository
    links: LinkRepository
    configuration: ConfigurationService
    qbo_for: Callable[[str], QboClient]
    source_for: Callable[[str], SourcePort]
    parked: ParkedEvents
    clock: Callable[[], datetime]
    ledger: WriteLedger
    requestid_window: timedelta = REQUESTID_WINDOW
    """How long QBO is trusted to replay a requestid (Intuit does not document it)."""


class PushService:
    """Applies queued source changes to QBO and keeps the event log."""

    def __init__(self, deps: PushDependencies) -> None:
        self._deps = deps
        self._configurations: dict[str, PushConfiguration] = {}
        self._clients: dict[str, tuple[QboClient, SourcePort]] = {}

    def start_batch(self) -> None:
        """Forget per-batch state: settings, mappings and clients are read afresh for the next batch,
        so an admin's change (or a reconnection) applies from the next batch on."""
        self._configurations.clear()
        self._clients.clear()

    def _clients_for(self, tenant_id: str) -> tuple[QboClient, SourcePort]:
        if tenant_id not in self._clients:
            self._clients[tenant_id] = (self._deps.qbo_for(tenant_id), self._deps.source_for(tenant_id))
        return self._clients[tenant_id]

    def _configuration(self, tenant_id: str) -> PushConfiguration:
        if tenant_id not in self._configurations:
            configuration = self._deps.configuration
            settings, _version = configuration.read_settings(tenant_id)
            self._configurations[tenant_id] = PushConfiguration.of(
                settings, configuration.all_mappings(tenant_id)
            )
        return self._configurations[tenant_id]

    def apply(self, message: PushMessage) -> PushOutcome:
        """Apply one change; raises only for transient failures (the queue will deliver it again)."""
        deps = self._deps
        logger.append_keys(tenant_id=message.tenant_id, event_id=message.event_id)
        deps.events.record_received(
            SyncEvent(
                event_id=message.event_id,
                tenant_id=message.tenant_id,
                kind=message.kind,
                source_object_id=message.source_id,
                source_version=message.source_version,
                received_at=message.received_at,
                updated_at=deps.clock(),
                payload=message.model_dump(mode="json"),
            )
        )
        try:
            applied = self._apply(message)
        except Parked as parked:
            deps.events.mark_parked(
                message.tenant_id, message.event_id, parked.on, deps.clock(), parked.reason
            )
            logger.info("push parked", extra={"parked_on": parked.on})
            count(Metric.PARKED)
            return PushOutcome(
                event_id=message.event_id,
                status="parked",
                reason_code=ReasonCode.WAITING_FOR_INVOICE,
                reason=parked.reason,
            )
        except Exception as exc:
            failure = permanent_failure(exc)
            if failure is None:
                self._note_retry(message, type(exc).__name__)
                raise
            return self._failed(message, failure)
        deps.events.mark_done(message.tenant_id, message.event_id, deps.clock(), note=applied.reason)
        count(Metric.PUSHED)
        logger.info("push done", extra={"qbo_id": applied.qbo_id, "push_reason": applied.reason})
        return PushOutcome(
            event_id=message.event_id, status="done", reason=applied.reason, qbo_id=applied.qbo_id
        )

    def _failed(self, message: PushMessage, failure: EventFailure) -> PushOutcome:
        self._deps.events.mark_failed(message.tenant_id, message.event_id, failure, self._deps.clock())
        count_failure("push", failure.code)
        fault = failure.qbo_fault
        logger.warning(
            "push failed",
            extra={"reason_code": failure.code, "fault_code": fault.code if fault else None},
        )
        return PushOutcome(
            event_id=message.event_id, status="failed", reason_code=failure.code, reason=failure.message
        )

    def _note_retry(self, message: PushMessage, what: str) -> None:
        """Make a transient failure visible while the queue retries (and if it ends in the DLQ)."""
        try:
            retrying = EventFailure.of(ReasonCode.RETRYING, f"{what}; the queue delivers it again")
            self._deps.events.mark_failed(message.tenant_id, message.event_id, retrying, self._deps.clock())
        except Exception:  # the original failure matters more than its bookkeeping
            logger.exception("could not record a retry")
        count_failure("push", ReasonCode.RETRYING)
        logger.warning("push will be retried", extra={"error_type": what})

    def _apply(self, message: PushMessage) -> Applied:
        deps = self._deps
        if message.kind not in ("invoice", "payment", "credit_note"):
            return Applied(reason="customers and products sync through the bulk sync and reconciliation")
        config = self._configuration(message.tenant_id)
        settings = config.settings
        enabled = {
            "invoice": settings.sync.invoices,
            "payment": settings.sync.payments,
            "credit_note": settings.sync.credit_notes,
        }[message.kind]
        if not enabled:
            return Applied(reason=f"{message.kind} sync is turned off")
        qbo, source = self._clients_for(message.tenant_id)
        tenant_id = message.tenant_id
        context = DocumentContext(
            tenant_id=tenant_id,
            qbo=qbo,
            source=source,
            links=deps.links,
            config=config,
            references=QboReferences(
                tenant_id, qbo, source, links=deps.links, config=config, clock=deps.clock, ledger=deps.ledger
            ),
            writer=QboWriter(
                tenant_id,
                qbo,
                deps.links,
                deps.clock,
                ledger=deps.ledger,
                requestid_window=deps.requestid_window,
            ),
            parked=deps.parked,
        )
        invoices = InvoicePush(context)
        if message.kind == "invoice":
            return invoices.invoice(message.source_id, heal=message.heal)
        if message.kind == "payment":
            return PaymentPush(context, invoices).payment(message.source_id, heal=message.heal)
        return CreditNotePush(context, invoices).credit_note(message.source_id, heal=message.heal)
