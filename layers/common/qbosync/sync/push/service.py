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
- Products (``products.ProductPush``) become QBO Items: created (or matched by name) when first seen,
  sparse-updated on an edit, made inactive when deactivated or deleted in the source; the
  product-types, gl-codes and income-accounts mappings decide, as for a document line's item.
- A document is listed as failed once: a failure supersedes its document's earlier failed event, and
  a done event supersedes it too (``EventRepository.keep_one_failure`` / ``release_failure_entry``),
  so a webhook's event and reconciliation's ``reconcile-…`` event for one invoice are one entry.
- A tenant whose sync is paused (``store.tenants``) has every change it takes parked on ``PAUSED_KEY``
  with reason code ``tenant_paused``, before anything is read or written; the resume re-queues them.
- Every link records ``qbo_written_at``, QBO's ``LastUpdatedTime`` of qbosync's own last create, update
  or void of the record, so the pull tells qbosync's writes from later edits in QBO by QBO's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from qbosync.errors import NotConnected
from qbosync.metrics import Metric, count, count_failure, count_warnings
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
from qbosync.store.events import (
    PAUSED_KEY,
    VARIANCE_PAUSE_KEY,
    EventFailure,
    EventRepository,
    EventVariance,
    EventWarning,
    ReasonCode,
    SyncEvent,
    distinct_warnings,
)
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import LinkRepository
from qbosync.sync.configuration import ConfigurationService
from qbosync.sync.push.credit_notes import CreditNotePush
from qbosync.sync.push.currency import CurrencyRules
from qbosync.sync.push.go_live import go_live_date
from qbosync.sync.push.invoices import InvoicePush
from qbosync.sync.push.payments import PaymentPush
from qbosync.sync.push.products import ProductPush
from qbosync.sync.push.references import PushConfiguration, QboReferences
from qbosync.sync.push.refusals import Refused
from qbosync.sync.push.summaries import written_summary
from qbosync.sync.push.transform import MissingMapping
from qbosync.sync.push.writer import Applied, DocumentContext, Parked, ParkedEvents, QboWriter
from qbosync.sync.records.events import fault_code, fault_info
from qbosync.sync.records.messages import PushMessage

REQUESTID_WINDOW = timedelta(hours=1)
COMPANY_BOOKS_TTL = timedelta(minutes=5)
"""How long a tenant's QBO money preferences (home currency, multi-currency, AST) and rates are kept."""

OutcomeStatus = Literal["done", "done_with_variance", "parked", "failed"]
PAUSED_REASON = "the tenant's sync is paused; it is applied when the sync resumes"


def never_paused(_tenant_id: str) -> bool:
    return False


class PushOutcome(BaseModel):
    """What became of one change; also the cached answer of the worker's idempotency record."""

    event_id: str
    status: OutcomeStatus
    reason_code: ReasonCode | None = None
    reason: str | None = None
    qbo_id: str | None = None
    warnings: list[EventWarning] = Field(default_factory=list)


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
    paused: Callable[[str], bool] = never_paused
    """Whether the tenant's sync is paused (``TenantRepository.is_paused``); read once a batch."""
    company_books_ttl: timedelta = COMPANY_BOOKS_TTL
    """How long a tenant's QBO money preferences, customer currencies and rates are kept."""


class PushService:
    """Applies queued source changes to QBO and keeps the event log."""

    def __init__(self, deps: PushDependencies) -> None:
        self._deps = deps
        self._configurations: dict[str, PushConfiguration] = {}
        self._clients: dict[str, tuple[QboClient, SourcePort]] = {}
        self._paused: dict[str, bool] = {}
        self._currencies: dict[str, tuple[CurrencyRules, datetime]] = {}

    def start_batch(self) -> None:
        """Forget per-batch state: settings, mappings and clients are read afresh for the next batch,
        so an admin's change (or a reconnection) applies from the next batch on."""
        self._configurations.clear()
        self._clients.clear()
        self._paused.clear()

    def _is_paused(self, tenant_id: str) -> bool:
        if tenant_id not in self._paused:
            self._paused[tenant_id] = self._deps.paused(tenant_id)
        return self._paused[tenant_id]

    def _currency_rules(self, tenant_id: str, qbo: QboClient) -> CurrencyRules:
        """One tenant's currency rules: QBO's Preferences, rates and the currencies of customers linked
        before links kept theirs, read once and kept for ``COMPANY_BOOKS_TTL`` across batches (a
        customer's currency never changes; a switch to multi-currency or AST applies within that time)."""
        now = self._deps.clock()
        kept = self._currencies.get(tenant_id)
        if kept is None or now - kept[1] >= self._deps.company_books_ttl:
            kept = (CurrencyRules(qbo), now)
            self._currencies[tenant_id] = kept
        kept[0].use(qbo)
        return kept[0]

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
        if self._is_paused(message.tenant_id):
            return self._held_while_paused(message)
        try:
            applied = self._apply(message)
        except Parked as parked:
            deps.events.mark_parked(
                message.tenant_id,
                message.event_id,
                parked.on,
                deps.clock(),
                parked.reason,
                code=parked.code,
            )
            logger.info("push parked", extra={"parked_on": parked.on})
            count(Metric.PARKED)
            return PushOutcome(
                event_id=message.event_id,
                status="parked",
                reason_code=parked.code,
                reason=parked.reason,
            )
        except Exception as exc:
            failure = permanent_failure(exc)
            if failure is None:
                self._note_retry(message, type(exc).__name__)
                raise
            return self._failed(message, failure)
        return self._done(message, applied)

    def _done(self, message: PushMessage, applied: Applied) -> PushOutcome:
        """Done (with its warnings, where qbosync improvised), or done with a variance (QBO's total is not
        the source's): listed and counted."""
        deps = self._deps
        reason = applied.reason or written_summary(message, applied.qbo_id)
        count(Metric.PUSHED)
        codes = [warning.code for warning in applied.warnings]
        if codes:
            count_warnings("push", codes)
        warnings = list(distinct_warnings(applied.warnings))
        variance = applied.variance
        if variance is None:
            done = deps.events.mark_done(
                message.tenant_id, message.event_id, deps.clock(), note=reason, warnings=applied.warnings
            )
            deps.events.release_failure_entry(done, deps.clock())
            logger.info(
                "push done", extra={"qbo_id": applied.qbo_id, "push_reason": reason, "warnings": codes}
            )
            return PushOutcome(
                event_id=message.event_id,
                status="done",
                reason=reason,
                qbo_id=applied.qbo_id,
                warnings=warnings,
            )
        said = variance.describe(f"{message.kind} {message.source_id}")
        note = f"{said}; {reason}"
        done = deps.events.mark_done_with_variance(
            message.tenant_id,
            message.event_id,
            EventVariance(
                source_total=variance.source_total, qbo_total=variance.qbo_total, currency=variance.currency
            ),
            deps.clock(),
            note,
        )
        deps.events.release_failure_entry(done, deps.clock())
        count(Metric.VARIANCE_FOUND)
        logger.warning("push done with variance", extra={"qbo_id": applied.qbo_id})
        return PushOutcome(
            event_id=message.event_id,
            status="done_with_variance",
            reason=note,
            qbo_id=applied.qbo_id,
            warnings=warnings,
        )

    def _held_while_paused(self, message: PushMessage) -> PushOutcome:
        deps = self._deps
        deps.events.mark_parked(
            message.tenant_id,
            message.event_id,
            PAUSED_KEY,
            deps.clock(),
            PAUSED_REASON,
            code=ReasonCode.TENANT_PAUSED,
        )
        logger.info("push held: tenant paused")
        count(Metric.PARKED)
        return PushOutcome(
            event_id=message.event_id,
            status="parked",
            reason_code=ReasonCode.TENANT_PAUSED,
            reason=PAUSED_REASON,
        )

    def _failed(self, message: PushMessage, failure: EventFailure) -> PushOutcome:
        events, clock = self._deps.events, self._deps.clock
        events.keep_one_failure(
            events.mark_failed(message.tenant_id, message.event_id, failure, clock()), clock()
        )
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
            events, clock = self._deps.events, self._deps.clock
            failed = events.mark_failed(message.tenant_id, message.event_id, retrying, clock())
            events.keep_one_failure(failed, clock())
        except Exception:  # the original failure matters more than its bookkeeping
            logger.exception("could not record a retry")
        count_failure("push", ReasonCode.RETRYING)
        logger.warning("push will be retried", extra={"error_type": what})

    def _has_open_variance(self, tenant_id: str) -> bool:
        """A ``done_with_variance`` event no admin has accepted yet."""
        return bool(self._deps.events.list(tenant_id, "done_with_variance", limit=1).items)

    def _apply(self, message: PushMessage) -> Applied:
        deps = self._deps
        if message.kind == "customer":
            return Applied(reason="customers sync through the initial sync and reconciliation")
        config = self._configuration(message.tenant_id)
        settings = config.settings
        enabled = {
            "product": settings.sync.products,
            "invoice": settings.sync.invoices,
            "payment": settings.sync.payments,
            "credit_note": settings.sync.credit_notes,
        }[message.kind]
        if not enabled:
            return Applied(reason=f"{message.kind} sync is turned off")
        if settings.money.variance_policy == "pause" and self._has_open_variance(message.tenant_id):
            raise Parked(
                VARIANCE_PAUSE_KEY,
                "pushes are paused: a pushed document's QBO total differs from the source's; accept the"
                " variance (POST …/sync/events/{id}/accept-variance) to resume",
                ReasonCode.PAUSED_FOR_VARIANCE,
            )
        if message.kind != "product":
            go_live_date(settings)  # no document is written before the tenant has a go-live date
        qbo, source = self._clients_for(message.tenant_id)
        tenant_id = message.tenant_id
        references = QboReferences(
            tenant_id, qbo, source, links=deps.links, config=config, clock=deps.clock, ledger=deps.ledger
        )
        context = DocumentContext(
            tenant_id=tenant_id,
            qbo=qbo,
            source=source,
            links=deps.links,
            config=config,
            references=references,
            writer=QboWriter(
                tenant_id,
                qbo,
                deps.links,
                deps.clock,
                ledger=deps.ledger,
                requestid_window=deps.requestid_window,
            ),
            parked=deps.parked,
            currency=self._currency_rules(tenant_id, qbo),
        )
        invoices = InvoicePush(context)
        if message.kind == "product":
            applied = ProductPush(context).product(message.source_id)
        elif message.kind == "invoice":
            applied = invoices.invoice(message.source_id, heal=message.heal)
        elif message.kind == "payment":
            applied = PaymentPush(context, invoices).payment(message.source_id, heal=message.heal)
        else:
            applied = CreditNotePush(context, invoices).credit_note(message.source_id, heal=message.heal)
        return replace(applied, warnings=(*applied.warnings, *references.warnings))
