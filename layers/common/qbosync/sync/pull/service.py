"""Applying one QBO change to the source, per the tenant's settings, without echoing qbosync's writes.

Rules (why each is so):
- **Re-read, then act.** A notification says only that something changed; the worker reads the entity
  now (or takes the row CDC returned), so late or repeated notifications act on current data.
- **No echo.** A linked record whose QBO ``SyncToken`` equals the link's is exactly what qbosync last
  wrote (or already saw): nothing is applied back. A document the push deleted (its link's
  ``content_hash`` is ``state:deleted``) is qbosync's own deletion, whatever QBO later says of it; a
  zero payment the push made to apply a credit memo is linked under ``CreditApplication``.
- **Echo without reading.** A webhook (not a CDC row) is not read back from QBO when the link already
  says it is qbosync's own write: the link records the very operation announced (``Delete`` and a
  ``state:deleted`` link, ``Void`` and a ``state:voided`` link, ``Create`` of a record linked since, or
  ``Update`` of a record qbosync itself last updated, its link written at or after the notification's
  ``lastUpdated``). Anything else is read. ``lastUpdated`` has whole seconds, so a change by someone
  else within the second after qbosync's own update is only seen by the scheduled CDC reconciliation,
  which always passes the row (with its SyncToken) and so is never cut short.
- **Field ownership** (fixed for now; the settings have no ownership switch yet): the system a record
  started in owns its fields. Customers and items that started in the source are never changed from
  QBO edits; customers that started in QBO are created in the source with the default bill profile.
  The source contract has no update, deactivate, merge or payment route, so such QBO changes are
  recorded as failed events with an ``unsupported:`` reason, for an admin to act on: never dropped.
- **Drift.** Documents qbosync pushed (invoices, credit memos, payments) belong to the source; a QBO
  deletion, or a total that no longer matches the source's (an edit or a void in QBO), is recorded as
  a failed event with a ``drift:`` reason. A new SyncToken alone is not drift: settling a payment
  changes an invoice's balance and SyncToken without anyone editing it. A deletion is not drift when
  the source has removed (voided or deleted) the document too: the push's own removal may reach QBO
  before its link records it (an answer lost on the way back, then retried).

Every change is recorded as a sync event (``qbo.<entity>``), done or failed with its reason, so the
events API shows it and the retry schedule can replay it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from qbosync.clock import utc_now
from qbosync.errors import QbosyncError, UpstreamUnavailable
from qbosync.observability import logger
from qbosync.qbo.client import QboClient, request_id_for
from qbosync.qbo.faults import QboFault, QboNotFound
from qbosync.source.errors import SourceNotFound
from qbosync.source.port import SourcePort
from qbosync.store.events import EventRepository, QboFaultInfo, SyncEvent
from qbosync.store.links import Link, LinkRepository
from qbosync.store.table import StoreUnavailable
from qbosync.sync.bulk.common import new_link
from qbosync.sync.bulk.qbo_to_source import (
    ITEM_TYPES_FOR_PRODUCTS,
    new_source_customer,
    unmatched_item_source_key,
)
from qbosync.sync.configuration import TenantSettings
from qbosync.sync.pull.messages import PullMessage
from qbosync.sync.pull.notifications import EntityChange

OutcomeStatus = Literal["applied", "unchanged", "skipped", "unsupported", "drift", "failed"]
FAILED_STATUSES = frozenset({"unsupported", "drift", "failed"})
NOT_RETRYABLE_PREFIXES = ("unsupported:", "drift:")
"""Failed pull events whose reason starts so are reports for an admin; replaying them changes nothing."""

CUSTOMER = "Customer"
ITEM = "Item"
PAYMENT = "Payment"
CREDIT_APPLICATION = "CreditApplication"
"""Link entity of the zero QBO Payment the push writes to apply a credit memo to invoices."""
DOCUMENTS = frozenset({"Invoice", "CreditMemo"})
DELETED = "state:deleted"
VOIDED = "state:voided"
"""The ``content_hash`` the push records once it deleted or voided a document in QBO."""
CREATED_SYNC_TOKEN = "0"  # noqa: S105 - a SyncToken, not a secret
"""QBO's SyncToken of a record never updated since its creation."""


@dataclass(frozen=True)
class PullOutcome:
    status: OutcomeStatus
    reason: str

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def event_reason(self) -> str:
        return f"{self.status}: {self.reason}" if self.status in {"unsupported", "drift"} else self.reason


def _default_qbo(tenant_id: str) -> QboClient:
    from qbosync.sync.wiring import qbo_client_for_tenant

    return qbo_client_for_tenant(tenant_id)


def _default_source(tenant_id: str) -> SourcePort:
    from qbosync.sync.wiring import source_for_tenant

    return source_for_tenant(tenant_id)


def read_tenant_settings(tenant_id: str) -> TenantSettings:
    """The tenant's stored settings (defaults before the first save)."""
    from qbosync.store.config import SettingsRepository

    stored = SettingsRepository().get(tenant_id)
    return TenantSettings() if stored is None else TenantSettings.model_validate(stored.document)


def _transient(exc: Exception) -> bool:
    """Failures a later attempt of the same message may not meet: SQS redelivers those."""
    if isinstance(exc, QboFault):
        return exc.retryable
    return isinstance(exc, UpstreamUnavailable | StoreUnavailable)


def _sync_token(row: Mapping[str, Any]) -> str | None:
    token = row.get("SyncToken")
    return str(token) if token is not None else None


def _is_deleted(change: EntityChange, row: Mapping[str, Any] | None) -> bool:
    return change.operation == "Delete" or row is None or str(row.get("status", "")).lower() == "deleted"


def _echo(link: Link, row: Mapping[str, Any] | None) -> bool:
    """True when QBO holds exactly what qbosync last wrote or saw for this link."""
    return row is not None and link.sync_token is not None and link.sync_token == _sync_token(row)


def _link_is_newer(link: Link, change: EntityChange) -> bool:
    """The link was written at or after the change QBO announced (False when either time is unknown)."""
    stamp = change.last_updated
    if stamp is None or stamp.tzinfo is None or link.updated_at.tzinfo is None:
        return False
    return link.updated_at >= stamp


def own_write_without_reading(link: Link, change: EntityChange) -> str | None:
    """Why a notified change is plainly qbosync's own write, per its link alone; None when in doubt.

    Only the operation qbosync last performed on the record, as its link records it, qualifies:
    - the push deleted it (``state:deleted``): QBO never reuses an id, so nothing of it is left to read;
    - ``Void`` of a record the push voided (``state:voided``);
    - ``Create`` of a record linked at or after its creation (later edits come as their own changes);
    - ``Update`` of a record qbosync created or updated itself (origin ``qbosync``) whose link holds
      the SyncToken of an update (not of the creation, which no ``Update`` can echo), written at or
      after the notification's ``lastUpdated``.
    """
    if link.content_hash == DELETED:
        return "qbosync deleted this record in QBO"
    if change.operation == "Void":
        return "qbosync voided this record in QBO" if link.content_hash == VOIDED else None
    if not _link_is_newer(link, change):
        return None
    if change.operation == "Create":
        return "qbosync linked this record after its creation"
    if (
        change.operation == "Update"
        and link.origin == "qbosync"
        and link.content_hash != VOIDED
        and link.sync_token not in (None, CREATED_SYNC_TOKEN)
    ):
        return "qbosync updated this record at or after the change"
    return None


def _version_of(change: EntityChange) -> int:
    return int(change.last_updated.timestamp() * 1000) if change.last_updated else 0


@dataclass
class PullService:
    """Applies QBO changes to one deployment's tenants; collaborators are passed in (lazy defaults)."""

    qbo_for: Callable[[str], QboClient] = _default_qbo
    source_for: Callable[[str], SourcePort] = _default_source
    settings_for: Callable[[str], TenantSettings] = read_tenant_settings
    links: LinkRepository = field(default_factory=LinkRepository)
    events: EventRepository = field(default_factory=EventRepository)
    clock: Callable[[], datetime] = utc_now

    def apply(self, message: PullMessage, row: Mapping[str, Any] | None = None) -> PullOutcome:
        """Apply one change and record it as a sync event. ``row``: the entity as CDC returned it.

        Transient failures are recorded and re-raised, so the queue redelivers the message.
        """
        tenant_id, change = message.tenant_id, message.change
        event_id = change.event_id
        # A repeat of a known change is applied again, not skipped: two changes can share a timestamp
        # (and so an event id), and applying is safe to repeat (re-read, links, echo checks).
        self.events.record_received(
            SyncEvent(
                event_id=event_id,
                tenant_id=tenant_id,
                kind=f"qbo.{change.entity.lower()}",
                source_object_id=change.entity_id,
                source_version=_version_of(change),
                received_at=message.received_at,
                updated_at=self.clock(),
                payload=message.model_dump(mode="json"),
            )
        )
        try:
            outcome = self._dispatch(tenant_id, change, row)
        except Exception as exc:
            fault = (
                QboFaultInfo(code=exc.code or "", message=exc.message) if isinstance(exc, QboFault) else None
            )
            reason = (
                f"{type(exc).__name__}: {exc}"[:500] if not isinstance(exc, QbosyncError) else exc.message
            )
            self.events.mark_failed(tenant_id, event_id, reason, fault, self.clock())
            logger.warning(
                "qbo change not applied",
                extra={
                    "tenant_id": tenant_id,
                    "entity": change.entity,
                    "qbo_id": change.entity_id,
                    "error": type(exc).__name__,
                },
            )
            if _transient(exc) or not isinstance(exc, QbosyncError | QboFault):
                raise
            return PullOutcome("failed", reason)
        if outcome.failed:
            self.events.mark_failed(tenant_id, event_id, outcome.event_reason(), None, self.clock())
        else:
            self.events.mark_done(tenant_id, event_id, self.clock())
        logger.info(
            "qbo change handled",
            extra={
                "tenant_id": tenant_id,
                "entity": change.entity,
                "qbo_id": change.entity_id,
                "operation": change.operation,
                "outcome": outcome.status,
                "reason": outcome.reason,
            },
        )
        return outcome

    # --- dispatch ---------------------------------------------------------------------------------

    def _dispatch(self, tenant_id: str, change: EntityChange, row: Mapping[str, Any] | None) -> PullOutcome:
        if change.entity == CUSTOMER:
            return self._customer(tenant_id, change, row)
        if change.entity == ITEM:
            return self._item(tenant_id, change, row)
        if change.entity == PAYMENT:
            return self._payment(tenant_id, change, row)
        if change.entity in DOCUMENTS:
            return self._document(tenant_id, change, row)
        return PullOutcome("skipped", f"{change.entity} changes are not pulled")

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

    # --- customers --------------------------------------------------------------------------------

    def _customer(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome:
        settings = self.settings_for(tenant_id)
        if not settings.sync.customers:
            return PullOutcome("skipped", "customer sync is off")
        if change.operation == "Merge" and change.deleted_id:
            return self._merged_customer(tenant_id, change)
        link = self.links.get_by_qbo_id(tenant_id, CUSTOMER, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None:
            return self._linked_customer_changed(link, change, row)
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO customer was deleted")
        profile = settings.source_defaults.new_customer_bill_profile_id
        if not settings.sync.qbo_to_source_customers:
            return PullOutcome("skipped", "creating source customers from QBO is off")
        if not profile:
            return PullOutcome(
                "failed", "no default bill profile is configured for customers created from QBO"
            )
        if not row.get("Active", True):
            return PullOutcome("skipped", "an inactive QBO customer is not created in the source")
        # The same key as the initial sync's, so the two flows never create one customer twice.
        key = request_id_for(tenant_id, CUSTOMER, change.entity_id, "", "create-in-source")
        created = self.source_for(tenant_id).create_customer(new_source_customer(row, profile), key)
        self.links.put(new_link(tenant_id, CUSTOMER, created.id, created.version, row, "qbo", self.clock()))
        return PullOutcome("applied", f"created source customer {created.id}")

    def _linked_customer_changed(
        self, link: Link, change: EntityChange, row: Mapping[str, Any] | None
    ) -> PullOutcome:
        if _echo(link, row):
            return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
        if row is None:
            return PullOutcome(
                "unsupported",
                f"QBO customer {change.entity_id} was deleted; source customer {link.source_id} stays"
                " (the source contract cannot deactivate customers)",
            )
        if link.origin != "qbo":
            return PullOutcome(
                "skipped", "the source owns this customer's fields; QBO edits are not copied back"
            )
        if not row.get("Active", True):
            return PullOutcome(
                "unsupported",
                f"QBO customer {change.entity_id} was made inactive; deactivate source customer"
                f" {link.source_id} by hand (the source contract cannot deactivate customers)",
            )
        return PullOutcome(
            "unsupported",
            f"QBO customer {change.entity_id} was edited; the source contract has no customer update,"
            f" so source customer {link.source_id} keeps its fields",
        )

    def _merged_customer(self, tenant_id: str, change: EntityChange) -> PullOutcome:
        """QBO merged ``deleted_id`` into ``entity_id``: point the loser's link at the survivor."""
        loser_id = change.deleted_id or ""
        loser = self.links.get_by_qbo_id(tenant_id, CUSTOMER, loser_id)
        if loser is None:
            return PullOutcome("skipped", "the merged-away QBO customer was not linked")
        survivor_row = self._current(tenant_id, change, None)
        survivor = self.links.get_by_qbo_id(tenant_id, CUSTOMER, change.entity_id)
        self.links.put(
            loser.model_copy(
                update={
                    "qbo_id": change.entity_id,
                    "sync_token": _sync_token(survivor_row) if survivor_row else None,
                    "updated_at": self.clock(),
                }
            )
        )
        if survivor is not None and survivor.source_id != loser.source_id:
            return PullOutcome(
                "unsupported",
                f"QBO merged customer {loser_id} into {change.entity_id}; source customers {loser.source_id}"
                f" and {survivor.source_id} now both map to it: merge them in the source by hand",
            )
        return PullOutcome(
            "applied", f"source customer {loser.source_id} now maps to QBO customer {change.entity_id}"
        )

    # --- items ------------------------------------------------------------------------------------

    def _item(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome:
        settings = self.settings_for(tenant_id)
        if not settings.sync.products:
            return PullOutcome("skipped", "product sync is off")
        link = self.links.get_by_qbo_id(tenant_id, ITEM, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None:
            if _echo(link, row):
                return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
            return PullOutcome("skipped", "the source owns products; QBO item edits are not copied back")
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO item was deleted")
        if row.get("Type") not in ITEM_TYPES_FOR_PRODUCTS:
            return PullOutcome("skipped", f"QBO items of type {row.get('Type')} are not synced")
        default_product = settings.source_defaults.unmatched_qbo_item_product_id
        if not default_product:
            return PullOutcome("skipped", "no default source product is configured for unmatched QBO items")
        self.links.put(
            new_link(
                tenant_id,
                ITEM,
                unmatched_item_source_key(default_product, change.entity_id),
                1,
                row,
                "matched",
                self.clock(),
            )
        )
        return PullOutcome("applied", f"linked to the default source product {default_product}")

    # --- payments and documents -------------------------------------------------------------------

    def _payment(self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None) -> PullOutcome:
        settings = self.settings_for(tenant_id)
        if not settings.sync.payments:
            return PullOutcome("skipped", "payment sync is off")
        link = self.links.get_by_qbo_id(tenant_id, PAYMENT, change.entity_id)
        if link is None:
            # The zero payment the push writes to apply a credit memo is linked under its own entity.
            link = self.links.get_by_qbo_id(tenant_id, CREDIT_APPLICATION, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None:
            return self._pushed_document_changed(tenant_id, link.entity, link, change, row)
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO payment was deleted")
        invoices = [
            invoice_link.source_id
            for qbo_invoice_id in _linked_invoice_ids(row)
            if (invoice_link := self.links.get_by_qbo_id(tenant_id, "Invoice", qbo_invoice_id)) is not None
        ]
        if not invoices:
            return PullOutcome("skipped", "the payment is not against an invoice qbosync synced")
        return PullOutcome(
            "unsupported",
            f"QBO payment {change.entity_id} of {row.get('TotalAmt')} on {row.get('TxnDate')} pays source"
            f" invoice(s) {', '.join(invoices)}; the source contract cannot record payments:"
            " enter it there by hand",
        )

    def _document(self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None) -> PullOutcome:
        link = self.links.get_by_qbo_id(tenant_id, change.entity, change.entity_id)
        if link is None:
            return PullOutcome("skipped", f"not a {change.entity} qbosync synced")
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        return self._pushed_document_changed(tenant_id, change.entity, link, change, row)

    def _pushed_document_changed(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, entity: str, link: Link, change: EntityChange, row: Mapping[str, Any] | None
    ) -> PullOutcome:
        """A document qbosync pushed changed in QBO: drift only if QBO no longer matches the source.

        Settling a payment changes an invoice's balance (and SyncToken) without anyone editing it,
        so a new SyncToken alone is not drift; the amount is what must agree.
        """
        if _echo(link, row):
            return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
        subject = _subject(entity, change.entity_id, link.source_id)
        if _is_deleted(change, row) or row is None:
            if link.content_hash == DELETED:
                return PullOutcome("unchanged", "qbosync deleted this record in QBO (echo)")
            if self._removed_in_source(tenant_id, entity, link.source_id):
                return PullOutcome("unchanged", "the source removed the document too")
            return PullOutcome("drift", f"{subject} was deleted in QBO; the source still has it")
        expected = self._source_amount(tenant_id, entity, link.source_id)
        actual = _money(row.get("TotalAmt"))
        if expected is None:
            return PullOutcome("drift", f"{subject}: the source no longer has the document")
        if actual == expected:
            return PullOutcome("unchanged", "QBO's change keeps the amount the source has")
        return PullOutcome(
            "drift",
            f"{subject}: QBO total {actual} differs from the source's {expected}"
            " (edited or voided in QBO; the source owns it)",
        )

    def _removed_in_source(self, tenant_id: str, entity: str, source_id: str) -> bool:
        """The source voided or deleted the document (or, for a credit application, no longer applies
        the credit note), so QBO losing it is what the push does too."""
        source = self.source_for(tenant_id)
        try:
            if entity == "Invoice":
                return source.get_invoice(source_id).status in {"void", "deleted"}
            if entity in {"CreditMemo", CREDIT_APPLICATION}:
                note = source.get_credit_note(source_id)
                return note.status in {"void", "deleted"} or (
                    entity == CREDIT_APPLICATION and not note.applied_to
                )
            return source.get_payment(source_id).status in {"void", "deleted"}
        except SourceNotFound:
            return True

    def _source_amount(self, tenant_id: str, entity: str, source_id: str) -> Decimal | None:
        """What QBO's TotalAmt should be for a source document (zero once void or deleted)."""
        source = self.source_for(tenant_id)
        try:
            if entity == "Invoice":
                invoice = source.get_invoice(source_id)
                return Decimal(0) if invoice.status in {"void", "deleted"} else invoice.total
            if entity == "CreditMemo":
                note = source.get_credit_note(source_id)
                return Decimal(0) if note.status in {"void", "deleted"} else note.total
            if entity == CREDIT_APPLICATION:
                source.get_credit_note(source_id)
                return Decimal(0)  # applying a credit moves no money: a zero payment
            payment = source.get_payment(source_id)
            return Decimal(0) if payment.status in {"void", "deleted"} else payment.amount
        except SourceNotFound:
            return None


def _subject(entity: str, qbo_id: str, source_id: str) -> str:
    if entity == CREDIT_APPLICATION:
        return f"QBO Payment {qbo_id} applying source credit note {source_id}"
    return f"QBO {entity} {qbo_id} of source {source_id}"


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return Decimal("NaN")


def _linked_invoice_ids(row: Mapping[str, Any]) -> list[str]:
    ids = []
    for line in row.get("Line", []) or []:
        for linked in line.get("LinkedTxn", []) or []:
            if linked.get("TxnType") == "Invoice" and linked.get("TxnId"):
                ids.append(str(linked["TxnId"]))
    return ids
