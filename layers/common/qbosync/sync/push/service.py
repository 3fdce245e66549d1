"""Applying one source change to QBO, exactly once.

The webhook only names the object: the source is read again and its *current* version is applied
(a late or repeated notification finds the link already at that version and does nothing). Every
write carries ``request_id_for(tenant, entity, source id, version, operation)``, so a retried write is
replayed by QBO, never doubled; the link (QBO id, SyncToken, content hash, source version) is recorded
before the event is acknowledged.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from qbosync.errors import NotConnected
from qbosync.observability import logger
from qbosync.qbo.client import QboClient, qbo_literal, request_id_for
from qbosync.qbo.faults import (
    QboAuthenticationFault,
    QboAuthorizationFault,
    QboDuplicateDocNumber,
    QboNotFound,
    QboStaleObject,
    QboUncertainOutcome,
    QboValidationFault,
)
from qbosync.qbo.models import last_updated_time
from qbosync.source.errors import SourceNotFound, SourceRejected
from qbosync.source.models import SourceCreditNote, SourceInvoice, SourcePayment
from qbosync.source.port import SourcePort
from qbosync.store.events import (
    EventFailure,
    EventRepository,
    ReasonCode,
    SyncEvent,
    parked_key,
)
from qbosync.store.links import Link, LinkRepository, LinkState, StaleSourceVersion
from qbosync.sync.configuration import ConfigurationService, MappingKind
from qbosync.sync.push.references import PushConfiguration, QboReferences
from qbosync.sync.push.transform import (
    MissingMapping,
    content_hash,
    credit_application_body,
    credit_memo_body,
    invoice_body,
    payment_body,
)
from qbosync.sync.records.events import fault_code, fault_info
from qbosync.sync.records.links import CREDIT_APPLICATION, CREDIT_MEMO, INVOICE, PAYMENT
from qbosync.sync.records.messages import PushMessage

OutcomeStatus = Literal["done", "parked", "failed"]


class PushOutcome(BaseModel):
    """What became of one change; also the cached answer of the worker's idempotency record."""

    event_id: str
    status: OutcomeStatus
    reason_code: ReasonCode | None = None
    reason: str | None = None
    qbo_id: str | None = None


class Parked(Exception):
    """The change waits for another record to reach QBO first."""

    def __init__(self, on: str, reason: str) -> None:
        super().__init__(reason)
        self.on = on
        self.reason = reason


class Refused(Exception):
    """The change cannot be applied as the source has it; retrying will not help."""

    def __init__(self, code: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Target:
    """The QBO record one source document (at one version) is written to."""

    qbo_entity: str
    link_entity: str
    source_id: str
    version: int

    def request_id(self, tenant_id: str, operation: str) -> str:
        return request_id_for(tenant_id, self.link_entity, self.source_id, str(self.version), operation)


@dataclass(frozen=True)
class Applied:
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


class ParkedEvents(Protocol):
    """Releases the events parked on a key (``qbosync.sync.retry.parked.ParkedRelease``)."""

    def release(self, tenant_id: str, key: str) -> int: ...


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
        logger.info("push done", extra={"qbo_id": applied.qbo_id, "push_reason": applied.reason})
        return PushOutcome(
            event_id=message.event_id, status="done", reason=applied.reason, qbo_id=applied.qbo_id
        )

    def _failed(self, message: PushMessage, failure: EventFailure) -> PushOutcome:
        self._deps.events.mark_failed(message.tenant_id, message.event_id, failure, self._deps.clock())
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
        document = _DocumentPush(message.tenant_id, deps, config, qbo, source)
        if message.kind == "invoice":
            return document.invoice(message.source_id, heal=message.heal)
        if message.kind == "payment":
            return document.payment(message.source_id, heal=message.heal)
        return document.credit_note(message.source_id, heal=message.heal)


class _DocumentPush:
    """One tenant's document writes, with the collaborators built for it."""

    def __init__(
        self,
        tenant_id: str,
        deps: PushDependencies,
        config: PushConfiguration,
        qbo: QboClient,
        source: SourcePort,
    ) -> None:
        self._tenant = tenant_id
        self._deps = deps
        self._links = deps.links
        self._config = config
        self._qbo = qbo
        self._source = source
        self._references = QboReferences(
            tenant_id, self._qbo, self._source, links=deps.links, config=config, clock=deps.clock
        )

    # Invoices

    def invoice(self, source_id: str, *, heal: bool = False) -> Applied:
        invoice = self._source.get_invoice(source_id)
        link = self._links.get(self._tenant, INVOICE, source_id)
        removed = invoice.status in ("void", "deleted")
        healing = _to_heal(link, heal=heal and not removed)
        if healing is None and link is not None and link.source_version >= invoice.version:
            self._release_if_landed(link)
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id)
        if removed:
            return self._remove_invoice(invoice, link)
        customer_id = self._references.customer_id(invoice.customer_id)
        lines = [self._references.line(line) for line in invoice.lines]
        body = invoice_body(invoice, customer_id, lines, self._config.settings)
        target = _Target(INVOICE, INVOICE, source_id, invoice.version)
        find = partial(self._find_by, INVOICE, "DocNumber", body["DocNumber"], customer_id)
        if healing is not None:
            written, healed = self._heal(target, healing, body, find)
            self._release_if_landed(written)
            return Applied(reason=healed, qbo_id=written.qbo_id)
        written = self._upsert(target, link, body, find)
        self._release_if_landed(written)
        return Applied(qbo_id=written.qbo_id)

    def _remove_invoice(self, invoice: SourceInvoice, link: Link | None) -> Applied:
        if link is None or not link.is_live:
            return self._record_absent(invoice.version, link)
        try:
            current = self._qbo.read(INVOICE, link.qbo_id)
        except QboNotFound:
            self._record(_deleted(link), invoice.version)
            return Applied(reason="already gone from QBO", qbo_id=link.qbo_id)
        has_payments = any(txn.get("TxnType") == PAYMENT for txn in current.get("LinkedTxn", []) or [])
        policy = self._config.settings.deletion_policy
        if invoice.status == "void" or policy == "void" or has_payments:
            rid = request_id_for(self._tenant, INVOICE, invoice.id, str(invoice.version), "void")
            voided = self._qbo.void(INVOICE, link.qbo_id, str(current["SyncToken"]), rid)
            self._record(_relinked(link, voided, None, LinkState.VOIDED), invoice.version)
            return Applied(
                reason="voided" + (" (payments are linked)" if has_payments else ""), qbo_id=link.qbo_id
            )
        rid = request_id_for(self._tenant, INVOICE, invoice.id, str(invoice.version), "delete")
        self._qbo.delete(INVOICE, link.qbo_id, str(current["SyncToken"]), rid)
        self._record(_deleted(link), invoice.version)
        return Applied(reason="deleted", qbo_id=link.qbo_id)

    def _release_if_landed(self, link: Link) -> None:
        """Re-queue what was parked waiting for this invoice."""
        if not link.is_live:
            return
        self._deps.parked.release(self._tenant, parked_key("invoice", link.source_id))

    # Payments

    def payment(self, source_id: str, *, heal: bool = False) -> Applied:
        payment = self._source.get_payment(source_id)
        link = self._links.get(self._tenant, PAYMENT, source_id)
        if link is not None and link.origin == "qbo":
            # Entered in QBO and recorded in the source by the pull: QBO owns it, the pull follows it.
            return Applied(reason="entered in QBO; QBO owns this payment", qbo_id=link.qbo_id)
        removed = payment.status in ("void", "deleted")
        healing = _to_heal(link, heal=heal and not removed)
        if healing is None and link is not None and link.source_version >= payment.version:
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id)
        if removed:
            return self._remove_payment(payment, link)
        invoice_ids = self._linked_invoices(payment.applied_to)
        method_id = self._config.mapped(MappingKind.PAYMENT_METHODS, payment.method)
        if method_id is None:
            raise MissingMapping(
                MappingKind.PAYMENT_METHODS.value,
                payment.method,
                f"source payment method {payment.method!r} is not mapped to a QBO payment method",
            )
        customer_id = self._references.customer_id(payment.customer_id)
        body = payment_body(payment, customer_id, method_id, invoice_ids, self._config.settings)
        target = _Target(PAYMENT, PAYMENT, source_id, payment.version)
        find = partial(self._find_by, PAYMENT, "PaymentRefNum", body["PaymentRefNum"], customer_id)
        if healing is not None:
            written, healed = self._heal(target, healing, body, find)
            return Applied(reason=healed, qbo_id=written.qbo_id)
        written = self._upsert(target, link, body, find)
        return Applied(qbo_id=written.qbo_id)

    def _remove_payment(self, payment: SourcePayment, link: Link | None) -> Applied:
        if link is None or not link.is_live:
            return self._record_absent(payment.version, link)
        delete = payment.status == "deleted" and self._config.settings.deletion_policy == "delete"
        target = _Target(PAYMENT, PAYMENT, payment.id, payment.version)
        return self._remove_transaction(target, link, delete=delete)

    def _linked_invoices(self, applied_to: Any) -> dict[str, str]:
        """QBO ids of the invoices a document applies to, each brought up to the source's version.

        An invoice not in QBO yet parks the document; one in QBO at an older version is pushed first
        (its edit may be further back in the queue), so the amounts applied fit its balance.
        """
        invoice_ids: dict[str, str] = {}
        for applied in applied_to:
            invoice_link = self._links.get(self._tenant, INVOICE, applied.invoice_id)
            if invoice_link is None:
                raise Parked(
                    parked_key("invoice", applied.invoice_id),
                    f"waiting for invoice {applied.invoice_id} to reach QBO",
                )
            if invoice_link.is_live:
                self.invoice(applied.invoice_id)
                invoice_link = self._links.get(self._tenant, INVOICE, applied.invoice_id) or invoice_link
            if not invoice_link.is_live:
                raise Refused(
                    ReasonCode.APPLIED_INVOICE_REMOVED,
                    f"invoice {applied.invoice_id} was voided or deleted in QBO; nothing can apply to it",
                )
            invoice_ids[applied.invoice_id] = invoice_link.qbo_id
        return invoice_ids

    # Credit notes

    def credit_note(self, source_id: str, *, heal: bool = False) -> Applied:
        note = self._source.get_credit_note(source_id)
        link = self._links.get(self._tenant, CREDIT_MEMO, source_id)
        application = self._links.get(self._tenant, CREDIT_APPLICATION, source_id)
        removed = note.status in ("void", "deleted")
        heal_memo = _to_heal(link, heal=heal and not removed)
        heal_application = _to_heal(application, heal=heal and not removed and bool(note.applied_to))
        healing = heal_memo is not None or heal_application is not None
        memo_current = link is not None and link.source_version >= note.version
        application_current = (
            application.source_version >= note.version if application is not None else not note.applied_to
        )
        if not healing and memo_current and application_current:
            return Applied(reason="this version is already in QBO", qbo_id=link.qbo_id if link else None)
        if removed:
            return self._remove_credit_note(note, link, application)
        invoice_ids = self._linked_invoices(note.applied_to)
        customer_id = self._references.customer_id(note.customer_id)
        lines = [self._references.line(line) for line in note.lines]
        body = credit_memo_body(note, customer_id, lines, self._config.settings)
        healed: list[str] = []
        memo_target = _Target(CREDIT_MEMO, CREDIT_MEMO, source_id, note.version)
        find_memo = partial(self._find_by, CREDIT_MEMO, "DocNumber", body["DocNumber"], customer_id)
        if heal_memo is not None:
            memo, memo_healed = self._heal(memo_target, heal_memo, body, find_memo)
            healed.append(f"credit memo {memo_healed}")
        else:
            memo = self._upsert(memo_target, link, body, find_memo)
        if note.applied_to:
            applying = credit_application_body(note, customer_id, memo.qbo_id, invoice_ids)
            applying["PaymentRefNum"] = body["DocNumber"]
            application_target = _Target(PAYMENT, CREDIT_APPLICATION, source_id, note.version)
            find_application = partial(
                self._find_by, PAYMENT, "PaymentRefNum", applying["PaymentRefNum"], customer_id
            )
            if heal_application is not None:
                _written, application_healed = self._heal(
                    application_target, heal_application, applying, find_application
                )
                healed.append(f"credit application {application_healed}")
            else:
                self._upsert(application_target, application, applying, find_application)
        elif application is not None and application.is_live:
            target = _Target(PAYMENT, CREDIT_APPLICATION, source_id, note.version)
            self._remove_transaction(target, application, delete=True)
        return Applied(reason="; ".join(healed) or None, qbo_id=memo.qbo_id)

    def _remove_credit_note(
        self, note: SourceCreditNote, link: Link | None, application: Link | None
    ) -> Applied:
        if application is not None and application.is_live:
            target = _Target(PAYMENT, CREDIT_APPLICATION, note.id, note.version)
            self._remove_transaction(target, application, delete=True)
        if link is None or not link.is_live:
            return self._record_absent(note.version, link)
        return self._remove_transaction(
            _Target(CREDIT_MEMO, CREDIT_MEMO, note.id, note.version), link, delete=True
        )

    # Writing

    def _upsert(
        self,
        target: _Target,
        link: Link | None,
        body: dict[str, Any],
        find_existing: Callable[[], dict[str, Any] | None],
    ) -> Link:
        """Create or update one QBO record and record its link at ``version``."""
        digest = content_hash(body)
        if link is not None and link.is_live:
            if link.content_hash == digest:
                return self._record(link, target.version)
            record = self._update(target, link.qbo_id, link.sync_token, body)
            return self._record(_relinked(link, record, digest), target.version)
        record = self._create(target, body, find_existing)
        created = Link(
            tenant_id=self._tenant,
            entity=target.link_entity,
            source_id=target.source_id,
            qbo_id=str(record["Id"]),
            sync_token=str(record.get("SyncToken")),
            content_hash=digest,
            source_version=target.version,
            updated_at=self._deps.clock(),
            qbo_written_at=last_updated_time(record),
        )
        return self._record(created, target.version)

    def _create(
        self,
        target: _Target,
        body: dict[str, Any],
        find_existing: Callable[[], dict[str, Any] | None],
        *,
        replacing: str | None = None,
    ) -> dict[str, Any]:
        """Create the record; ``replacing``: the QBO id of a deleted record this one re-creates (a heal).

        An outcome QBO never confirmed, or a DocNumber QBO says is taken, is resolved by looking for the
        record first: found, it is adopted (and brought to ``body`` when it was the DocNumber).
        """
        operation = "create" if replacing is None else f"recreate-{replacing}"
        try:
            return self._qbo.create(target.qbo_entity, body, target.request_id(self._tenant, operation))
        except (QboUncertainOutcome, QboDuplicateDocNumber) as unsure:
            found = find_existing()
            if found is None:
                raise
            logger.info(
                "adopted a record found after an unconfirmed write", extra={"qbo_id": found.get("Id")}
            )
            if not isinstance(unsure, QboDuplicateDocNumber):
                return found
            # Ours from an earlier version whose link was lost (or, for a heal, entered again by hand):
            # bring it to this version.
            found_id, token = str(found["Id"]), str(found["SyncToken"])
            if replacing is None:
                return self._update(target, found_id, token, body)
            return self._heal_update(target, found_id, token, body)

    def _heal(
        self,
        target: _Target,
        link: Link,
        body: dict[str, Any],
        find_existing: Callable[[], dict[str, Any] | None],
    ) -> tuple[Link, str]:
        """Write ``body`` again to the QBO record of ``link``, which drifted; the link and what was done.

        Deleted in QBO: created again and re-linked. Voided in QBO: ``Refused`` (QBO cannot change it).
        Changed since qbosync wrote it: a sparse update at its current SyncToken. Otherwise nothing.
        """
        digest = content_hash(body)
        try:
            current = self._qbo.read(target.qbo_entity, link.qbo_id)
        except QboNotFound:
            logger.info("healing: re-creating a record deleted in QBO", extra={"qbo_id": link.qbo_id})
            record = self._create(target, body, find_existing, replacing=link.qbo_id)
            relinked = self._record(_relinked(link, record, digest), target.version)
            return relinked, f"re-created in QBO as {relinked.qbo_id} (was {link.qbo_id}, deleted there)"
        if voided_in_qbo(current, body):
            raise Refused(
                ReasonCode.DRIFT_NOT_HEALABLE,
                f"QBO {target.qbo_entity} {link.qbo_id} was voided in QBO, and QBO cannot change a voided"
                " transaction: enter the document again in QBO or void it in the source",
            )
        token = str(current["SyncToken"])
        if token == link.sync_token and digest == link.content_hash:
            return self._record(link, target.version), "QBO already holds the source's version"
        record = self._heal_update(target, link.qbo_id, token, body)
        return self._record(_relinked(link, record, digest), target.version), "updated in QBO"

    def _heal_update(
        self, target: _Target, qbo_id: str, sync_token: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A sparse update at the SyncToken just read; a stale token (5010) is left to the next delivery."""
        rid = target.request_id(self._tenant, f"heal-at-{sync_token}")
        return self._qbo.sparse_update(
            target.qbo_entity, {**body, "Id": qbo_id, "SyncToken": sync_token}, rid
        )

    def _update(
        self, target: _Target, qbo_id: str, sync_token: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A sparse update with the known SyncToken; on 5010, read the current one and re-apply once."""
        entity = target.qbo_entity
        try:
            if sync_token is None:
                raise QboStaleObject("no SyncToken is known for this record")
            rid = target.request_id(self._tenant, "update")
            return self._qbo.sparse_update(entity, {**body, "Id": qbo_id, "SyncToken": sync_token}, rid)
        except QboStaleObject:
            current = self._qbo.read(entity, qbo_id)
            logger.info("stale SyncToken, re-applying", extra={"qbo_id": qbo_id})
            token = str(current["SyncToken"])
            rid = target.request_id(self._tenant, f"update-at-{token}")
            return self._qbo.sparse_update(entity, {**body, "Id": qbo_id, "SyncToken": token}, rid)

    def _remove_transaction(self, target: _Target, link: Link, *, delete: bool) -> Applied:
        version = target.version
        try:
            current = self._qbo.read(target.qbo_entity, link.qbo_id)
        except QboNotFound:
            self._record(_deleted(link), version)
            return Applied(reason="already gone from QBO", qbo_id=link.qbo_id)
        token = str(current["SyncToken"])
        if delete:
            self._qbo.delete(target.qbo_entity, link.qbo_id, token, target.request_id(self._tenant, "delete"))
            self._record(_deleted(link), version)
            return Applied(reason="deleted", qbo_id=link.qbo_id)
        voided = self._qbo.void(
            target.qbo_entity, link.qbo_id, token, target.request_id(self._tenant, "void")
        )
        self._record(_relinked(link, voided, None, LinkState.VOIDED), version)
        return Applied(reason="voided", qbo_id=link.qbo_id)

    def _record_absent(self, version: int, link: Link | None) -> Applied:
        """A removed document that is not (or no longer) in QBO: nothing to write."""
        if link is not None:
            self._record(link, version)
        return Applied(reason="not in QBO, nothing to remove")

    def _record(self, link: Link, version: int) -> Link:
        updated = link.model_copy(update={"source_version": version, "updated_at": self._deps.clock()})
        try:
            return self._links.put(updated)
        except StaleSourceVersion:
            newer = self._links.get(self._tenant, link.entity, link.source_id)
            return newer or updated

    def _find_by(self, entity: str, field_name: str, value: str, customer_id: str) -> dict[str, Any] | None:
        """The record a write may have created: same number, same customer."""
        rows = self._qbo.query(
            f"SELECT * FROM {entity} WHERE {field_name} = {qbo_literal(value)}"  # noqa: S608 - QBO query language
        )
        return next(
            (row for row in rows if str((row.get("CustomerRef") or {}).get("value")) == customer_id), None
        )


def _relinked(
    link: Link, record: Mapping[str, Any], digest: str | None, state: LinkState = LinkState.ACTIVE
) -> Link:
    """``link`` after qbosync wrote ``record`` (as QBO returned it) with content ``digest``."""
    return link.model_copy(
        update={
            "qbo_id": str(record.get("Id", link.qbo_id)),
            "sync_token": str(record.get("SyncToken")),
            "content_hash": digest,
            "state": state,
            "qbo_written_at": last_updated_time(record),
        }
    )


def _deleted(link: Link) -> Link:
    """``link`` once its QBO record is gone (deleted by qbosync, or found missing)."""
    return link.model_copy(update={"state": LinkState.DELETED, "sync_token": None})


def _to_heal(link: Link | None, *, heal: bool) -> Link | None:
    """The link to heal: asked to, and linked to a record qbosync left live in QBO; else None."""
    if not heal or link is None or not link.is_live:
        return None
    return link


def voided_in_qbo(record: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """The QBO record was voided there: a CDC row says so (``status``), or QBO holds it with every amount
    zeroed while the body qbosync writes for it carries money (QBO zeroes amounts only on a void; a
    record edited to zero by hand reads the same, and is left alone too)."""
    if str(record.get("status", "")).lower() == "voided":
        return True
    return _money_in(record) == 0 and _money_in(body) != 0


def _money_in(document: Mapping[str, Any]) -> Decimal:
    """The sum of a document's total and line amounts, as magnitudes (zero only when every one is)."""
    amounts = [document.get("TotalAmt")] + [line.get("Amount") for line in document.get("Line") or []]
    try:
        return sum((abs(Decimal(str(amount))) for amount in amounts if amount is not None), Decimal(0))
    except InvalidOperation:
        return Decimal("NaN")
