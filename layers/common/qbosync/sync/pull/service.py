"""Applying one QBO change to the source, per the tenant's settings, without echoing qbosync's writes.

Rules (why each is so):
- **Re-read, then act.** A notification says only that something changed; the worker reads the entity
  now (or takes the row CDC returned), so late or repeated notifications act on current data.
- **No echo.** A linked record whose QBO ``SyncToken`` equals the link's is exactly what qbosync last
  wrote (or already saw): nothing is applied back. A document the push deleted (its link's
  ``state`` is ``deleted``) is qbosync's own deletion, whatever QBO later says of it; a
  zero payment the push made to apply a credit memo is linked under ``CreditApplication``.
- **Echo without reading.** A webhook (not a CDC row) is not read back from QBO when the link already
  says it is qbosync's own write: the link records the very operation announced (``Delete`` and a
  ``deleted`` link, ``Void`` and a ``voided`` link, ``Create`` of a record linked since, or
  ``Update`` no later than QBO's time of qbosync's own last write, ``qbo_written_at``). Anything else
  is read. ``lastUpdated`` has whole seconds, so a change by someone else within the same second as
  qbosync's own write is only seen by the scheduled CDC reconciliation, which always passes the row
  (with its SyncToken) and so is never cut short.
- **Field ownership** (``settings.field_ownership.customers``): each group of a linked customer's
  fields (name, contact, billing address, active) belongs to one side, by default the side the
  customer started in. QBO edits of groups QBO owns are patched into the source (deactivating,
  deleting and merging away included); edits of groups the source owns are left alone. New QBO
  customers are created in the source with the default bill profile. Products belong to the source.
- **Payments entered in QBO** against invoices qbosync pushed are recorded in the source when
  ``sync.qbo_to_source_payments`` is on (customer and invoices through their links, the method
  through the payment-method mapping or ``source_defaults.qbo_payment_method_code``) and linked, so
  the source's own webhook for the new payment is recognised by the push. QBO owns them afterwards:
  a void or deletion in QBO voids the source payment; an edit replaces it (void, then record anew).
- **Drift.** Documents qbosync pushed (invoices, credit memos, payments) belong to the source; a QBO
  deletion, or a total that no longer matches the source's (an edit or a void in QBO), is drift. Per
  ``settings.drift_policy`` it is recorded as a failed event with reason code ``drift`` (``report``)
  or answered by queueing a forced re-push of the source's version (``heal``; the push records its
  own event, which fails with reason code ``drift_not_healable`` for what QBO cannot take back, e.g.
  a void). A new SyncToken alone is not drift: settling a payment changes an invoice's balance and SyncToken
  without anyone editing it. A deletion is not drift when the source has removed (voided or deleted)
  the document too: the push's own removal may reach QBO before its link records it (an answer lost
  on the way back, then retried).

Every change is recorded as a sync event (``qbo.<entity>``), done or failed with its reason, so the
events API shows it and the retry schedule can replay it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from qbosync.clock import utc_now
from qbosync.errors import QbosyncError, UpstreamUnavailable
from qbosync.observability import logger
from qbosync.qbo.client import QboClient, request_id_for
from qbosync.qbo.faults import QboFault, QboNotFound
from qbosync.source.errors import SourceNotFound
from qbosync.source.models import NewAppliedAmount, NewSourcePayment, SourceCustomer, SourceCustomerUpdate
from qbosync.source.port import SourcePort
from qbosync.store.events import EventFailure, EventRepository, QboFaultInfo, ReasonCode, SyncEvent
from qbosync.store.links import Link, LinkRepository, LinkState, StaleSourceVersion
from qbosync.store.table import StoreUnavailable
from qbosync.sync.configuration import MappingRow, TenantSettings
from qbosync.sync.records.customers import new_source_customer, source_update_from_qbo
from qbosync.sync.records.events import fault_code
from qbosync.sync.records.items import ITEM_TYPES_FOR_PRODUCTS, unmatched_item_source_key
from qbosync.sync.records.links import CREDIT_APPLICATION, new_link
from qbosync.sync.records.messages import (
    HEAL_KIND_OF_LINK_ENTITY,
    EntityChange,
    MessageQueue,
    PullMessage,
    PushMessage,
)

OutcomeStatus = Literal["applied", "unchanged", "skipped", "healing", "unsupported", "drift", "failed"]
FAILED_STATUSES = frozenset({"unsupported", "drift", "failed"})

CUSTOMER = "Customer"
ITEM = "Item"
PAYMENT = "Payment"
DOCUMENTS = frozenset({"Invoice", "CreditMemo"})


@dataclass(frozen=True)
class PullOutcome:
    status: OutcomeStatus
    reason: str

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


def _failure_of(exc: Exception) -> EventFailure:
    """The event's failure for an exception the pull met (transient ones are retried too)."""
    if isinstance(exc, QboFault):
        info = QboFaultInfo(code=exc.code or "", message=exc.message)
        code = ReasonCode.UPSTREAM_UNAVAILABLE if exc.retryable else fault_code(exc)
        return EventFailure.of(code, f"{type(exc).__name__}: {exc}", qbo_fault=info)
    if isinstance(exc, QbosyncError) and not _transient(exc):
        return EventFailure.of(ReasonCode.NOT_APPLIED, exc.message)
    message = exc.message if isinstance(exc, QbosyncError) else f"{type(exc).__name__}: {exc}"
    return EventFailure.of(ReasonCode.UPSTREAM_UNAVAILABLE, message)


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


def _linked_after(link: Link, change: EntityChange) -> bool:
    """The link was written at or after the change QBO announced (False when either time is unknown)."""
    stamp = change.last_updated
    if stamp is None or stamp.tzinfo is None or link.updated_at.tzinfo is None:
        return False
    return link.updated_at >= stamp


def _written_by_qbosync_at_or_after(link: Link, change: EntityChange) -> bool:
    """qbosync's own last write of the record (QBO's ``LastUpdatedTime`` of it) is at or after the
    change announced: both times are QBO's clock, so they compare exactly (to the second).

    ``updated_at`` would not do: it also moves when qbosync records a link without writing to QBO
    (a repeated event), which would hide an edit made in QBO between qbosync's write and that record.
    """
    stamp, written = change.last_updated, link.qbo_written_at
    if stamp is None or written is None or stamp.tzinfo is None:
        return False
    return written >= stamp


def own_write_without_reading(link: Link, change: EntityChange) -> str | None:
    """Why a notified change is plainly qbosync's own write, per its link alone; None when in doubt.

    Only the operation qbosync last performed on the record, as its link records it, qualifies:
    - the push deleted it (state ``deleted``): QBO never reuses an id, so nothing of it is left to read;
    - ``Void`` of a record the push voided (state ``voided``);
    - ``Create`` of a record linked at or after its creation (later edits come as their own changes);
    - ``Update`` no later than qbosync's own last write of the record (``qbo_written_at``).
    """
    if link.state is LinkState.DELETED:
        return "qbosync deleted this record in QBO"
    if change.operation == "Void":
        return "qbosync voided this record in QBO" if link.state is LinkState.VOIDED else None
    if change.operation == "Create" and _linked_after(link, change):
        return "qbosync linked this record after its creation"
    if change.operation == "Update" and _written_by_qbosync_at_or_after(link, change):
        return "qbosync updated this record at or after the change"
    return None


def _version_of(change: EntityChange) -> int:
    return int(change.last_updated.timestamp() * 1000) if change.last_updated else 0


@dataclass
class PullService:
    """Applies QBO changes to one deployment's tenants; ``qbosync.sync.wiring`` builds the deployed one."""

    qbo_for: Callable[[str], QboClient]
    source_for: Callable[[str], SourcePort]
    settings_for: Callable[[str], TenantSettings]
    payment_methods_for: Callable[[str], list[MappingRow]]
    links: LinkRepository
    events: EventRepository
    push_queue: MessageQueue
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
            failure = _failure_of(exc)
            self.events.mark_failed(tenant_id, event_id, failure, self.clock())
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
            return PullOutcome("failed", failure.message)
        if outcome.failed:
            self.events.mark_failed(tenant_id, event_id, outcome.failure(), self.clock())
        else:
            self.events.mark_done(
                tenant_id, event_id, self.clock(), note=f"{outcome.status}: {outcome.reason}"
            )
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
            return self._merged_customer(tenant_id, settings, change)
        link = self.links.get_by_qbo_id(tenant_id, CUSTOMER, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None:
            return self._linked_customer_changed(tenant_id, settings, link, change, row)
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
        self,
        tenant_id: str,
        settings: TenantSettings,
        link: Link,
        change: EntityChange,
        row: Mapping[str, Any] | None,
    ) -> PullOutcome:
        """Copy the groups of fields QBO owns to the source customer; leave the source's own alone."""
        if _echo(link, row):
            return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
        ownership = settings.field_ownership.customers
        qbo_groups = ownership.groups_owned_by("qbo", started_in_qbo=link.origin == "qbo")
        what = "deleted" if row is None else "made inactive" if not row.get("Active", True) else "edited"
        if row is None and "active" not in qbo_groups:
            return PullOutcome(
                "skipped",
                f"QBO customer {change.entity_id} was deleted; the source owns whether source customer"
                f" {link.source_id} is active (field_ownership.customers.active), so it stays",
            )
        if not qbo_groups:
            return PullOutcome(
                "skipped",
                f"QBO customer {change.entity_id} was {what}; the source owns every field of source"
                f" customer {link.source_id}, so QBO edits are not copied back",
            )
        source = self.source_for(tenant_id)
        current = source.get_customer(link.source_id)
        patch = source_update_from_qbo(row, current, qbo_groups)
        if patch is None or current.deleted:
            self._relink(link, row)
            why = "the source customer is deleted" if current.deleted else "it already has QBO's values"
            return PullOutcome(
                "unchanged", f"source customer {link.source_id} not changed: {why} ({', '.join(qbo_groups)})"
            )
        updated = source.update_customer(link.source_id, patch)
        self._relink(link, row, patched=updated, before=current.version)
        fields = ", ".join(sorted(patch.model_dump(exclude_unset=True)))
        return PullOutcome(
            "applied",
            f"QBO customer {change.entity_id} was {what}: source customer {link.source_id} now has"
            f" QBO's {fields}",
        )

    def _relink(
        self,
        link: Link,
        row: Mapping[str, Any] | None,
        patched: SourceCustomer | None = None,
        before: int = 0,
    ) -> None:
        """Record QBO's SyncToken just seen, and the source version qbosync's own patch made.

        The link's ``source_version`` moves to ``patched.version`` only when the link had seen the
        version the patch was made on (``before``): a source edit not yet sent to QBO stays pending
        for the reconciliation, which sends the fields the source owns.
        """
        version = link.source_version
        if patched is not None and link.source_version >= before:
            version = max(patched.version, link.source_version)
        # A newer source version linked already (StaleSourceVersion) is fine: its change brings the rest.
        with suppress(StaleSourceVersion):
            self.links.put(
                link.model_copy(
                    update={
                        "sync_token": _sync_token(row) if row is not None else link.sync_token,
                        "source_version": version,
                        "updated_at": self.clock(),
                    }
                )
            )

    def _merged_customer(self, tenant_id: str, settings: TenantSettings, change: EntityChange) -> PullOutcome:
        """QBO merged ``deleted_id`` into ``entity_id``: point the loser's link at the survivor, and
        deactivate the loser's source customer when QBO owns whether it is active."""
        loser_id = change.deleted_id or ""
        loser = self.links.get_by_qbo_id(tenant_id, CUSTOMER, loser_id)
        if loser is None:
            return PullOutcome("skipped", "the merged-away QBO customer was not linked")
        survivor_row = self._current(tenant_id, change, None)
        survivor = self.links.get_by_qbo_id(tenant_id, CUSTOMER, change.entity_id)
        repointed = loser.model_copy(
            update={
                "qbo_id": change.entity_id,
                "sync_token": _sync_token(survivor_row) if survivor_row else None,
                "updated_at": self.clock(),
            }
        )
        self.links.put(repointed)
        merged = f"QBO merged customer {loser_id} into {change.entity_id}"
        if survivor is None or survivor.source_id == loser.source_id:
            return PullOutcome("applied", f"{merged}; source customer {loser.source_id} now maps to it")
        ownership = settings.field_ownership.customers
        if ownership.owner("active", started_in_qbo=loser.origin == "qbo") == "source":
            return PullOutcome(
                "unsupported",
                f"{merged}; source customers {loser.source_id} and {survivor.source_id} now both map to"
                " it: merge them in the source by hand (the source owns whether customers are active)",
            )
        source = self.source_for(tenant_id)
        current = source.get_customer(loser.source_id)
        if current.active:
            updated = source.update_customer(loser.source_id, SourceCustomerUpdate(active=False))
            self._relink(repointed, survivor_row, patched=updated, before=current.version)
        return PullOutcome(
            "applied",
            f"{merged}: source customer {loser.source_id} is deactivated; source customer"
            f" {survivor.source_id} carries on",
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

    def _payment(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome:
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
        if link is not None and link.origin == "qbo":
            return self._qbo_payment_changed(tenant_id, settings, link, change, row)
        if link is not None:
            return self._pushed_document_changed(tenant_id, link.entity, link, change, row)
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO payment was deleted")
        applied = self._applied_to_linked_invoices(tenant_id, row)
        if not applied:
            return PullOutcome("skipped", "the payment is not against an invoice qbosync synced")
        if not settings.sync.qbo_to_source_payments:
            return PullOutcome(
                "skipped",
                f"QBO payment {change.entity_id} pays synced invoice(s); recording QBO payments in the"
                " source is off (sync.qbo_to_source_payments)",
            )
        return self._record_qbo_payment(tenant_id, settings, row, applied=applied)

    def _applied_to_linked_invoices(self, tenant_id: str, row: Mapping[str, Any]) -> list[NewAppliedAmount]:
        """What a QBO payment applies to invoices qbosync pushed, by their source ids."""
        applied = []
        for qbo_invoice_id, amount in _linked_invoice_amounts(row):
            invoice_link = self.links.get_by_qbo_id(tenant_id, "Invoice", qbo_invoice_id)
            if invoice_link is None or not invoice_link.is_live or amount <= 0:
                continue
            applied.append(NewAppliedAmount(invoice_id=invoice_link.source_id, amount=amount))
        return applied

    def _record_qbo_payment(
        self,
        tenant_id: str,
        settings: TenantSettings,
        row: Mapping[str, Any],
        *,
        applied: list[NewAppliedAmount],
        replacing: Link | None = None,
    ) -> PullOutcome:
        """Record a QBO payment in the source and link it (origin ``qbo``), so the source's webhook for
        it is the push's "already in QBO" and nothing is written back. ``replacing``: the link of the
        source's earlier copy, voided, which the new link takes the place of."""
        qbo_id = str(row["Id"])
        customer_ref = str((row.get("CustomerRef") or {}).get("value", ""))
        customer = self.links.get_by_qbo_id(tenant_id, CUSTOMER, customer_ref)
        if customer is None:
            return PullOutcome("failed", f"QBO payment {qbo_id}: its customer {customer_ref} is not linked")
        method = self._source_payment_method(tenant_id, settings, row)
        if method is None:
            qbo_method = (row.get("PaymentMethodRef") or {}).get("value")
            return PullOutcome(
                "failed",
                f"QBO payment {qbo_id}: no payment-method mapping names QBO payment method {qbo_method}"
                " and source_defaults.qbo_payment_method_code is not set",
            )
        payment = NewSourcePayment(
            customer_id=customer.source_id,
            date=date.fromisoformat(str(row.get("TxnDate"))),
            amount=_money(row.get("TotalAmt")),
            method=method,
            reference=_reference_of(row, qbo_id),
            applied_to=applied,
        )
        # Keyed on QBO's id and SyncToken: a retry replays, an edit in QBO (new token) records anew.
        key = request_id_for(tenant_id, PAYMENT, qbo_id, _sync_token(row) or "", "record-in-source")
        created = self.source_for(tenant_id).create_payment(payment, key)
        link = new_link(tenant_id, PAYMENT, created.id, created.version, row, "qbo", self.clock())
        if replacing is None:
            self.links.put(link)
        else:
            self.links.replace(replacing, link)
        invoices = ", ".join(amount.invoice_id for amount in applied)
        return PullOutcome("applied", f"recorded as source payment {created.id} against {invoices}")

    def _source_payment_method(
        self, tenant_id: str, settings: TenantSettings, row: Mapping[str, Any]
    ) -> str | None:
        """The source method a payment-method mapping points at QBO's method, else the default."""
        qbo_method = str((row.get("PaymentMethodRef") or {}).get("value", ""))
        if qbo_method:
            for mapped in self.payment_methods_for(tenant_id):
                if mapped.qbo_id == qbo_method:
                    return mapped.source_key
        return settings.source_defaults.qbo_payment_method_code

    def _qbo_payment_changed(
        self,
        tenant_id: str,
        settings: TenantSettings,
        link: Link,
        change: EntityChange,
        row: Mapping[str, Any] | None,
    ) -> PullOutcome:
        """A payment entered in QBO belongs to QBO: its void or deletion voids the source's copy, an
        edit replaces it (the source's payments cannot be edited through the contract)."""
        if _echo(link, row):
            return PullOutcome("unchanged", "the source already has this version of the QBO payment")
        voided = self.source_for(tenant_id).void_payment(link.source_id)
        if row is None or _money(row.get("TotalAmt")) == 0:
            self.links.put(
                link.model_copy(
                    update={
                        "state": LinkState.VOIDED,
                        "source_version": max(voided.version, link.source_version),
                        "sync_token": _sync_token(row) if row is not None else None,
                        "updated_at": self.clock(),
                    }
                )
            )
            return PullOutcome(
                "applied",
                f"QBO payment {change.entity_id} was removed: source payment {link.source_id} voided",
            )
        applied = self._applied_to_linked_invoices(tenant_id, row)
        outcome = self._record_qbo_payment(tenant_id, settings, row, applied=applied, replacing=link)
        if outcome.failed:
            return outcome
        return PullOutcome(
            "applied",
            f"QBO payment {change.entity_id} was edited: source payment {link.source_id} voided and"
            f" {outcome.reason}",
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
            if link.state is LinkState.DELETED:
                return PullOutcome("unchanged", "qbosync deleted this record in QBO (echo)")
            if self._removed_in_source(tenant_id, entity, link.source_id):
                return PullOutcome("unchanged", "the source removed the document too")
            return self._drift(
                tenant_id, link, change, f"{subject} was deleted in QBO; the source still has it"
            )
        expected = self._source_amount(tenant_id, entity, link.source_id)
        actual = _money(row.get("TotalAmt"))
        if expected is None:
            return PullOutcome("drift", f"{subject}: the source no longer has the document")
        if actual == expected:
            return PullOutcome("unchanged", "QBO's change keeps the amount the source has")
        return self._drift(
            tenant_id,
            link,
            change,
            f"{subject}: QBO total {actual} differs from the source's {expected}"
            " (edited or voided in QBO; the source owns it)",
        )

    def _drift(self, tenant_id: str, link: Link, change: EntityChange, reason: str) -> PullOutcome:
        """Report the drift, or (``drift_policy: heal``) queue the source's version to be pushed again."""
        if self.settings_for(tenant_id).drift_policy != "heal":
            return PullOutcome("drift", reason)
        heal = PushMessage.heal_of(
            tenant_id=tenant_id,
            kind=HEAL_KIND_OF_LINK_ENTITY[link.entity],
            source_id=link.source_id,
            source_version=link.source_version,
            cause=change.event_id,
            now=self.clock(),
        )
        self.push_queue.send(
            heal.model_dump_json(), group_id=heal.group_id, deduplication_id=heal.deduplication_id
        )
        return PullOutcome(
            "healing", f"{reason}; the source's version is queued to be pushed again ({heal.event_id})"
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


def _linked_invoice_amounts(row: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """(QBO invoice id, amount) for each payment line that applies to an invoice."""
    amounts = []
    for line in row.get("Line", []) or []:
        for linked in line.get("LinkedTxn", []) or []:
            if linked.get("TxnType") == "Invoice" and linked.get("TxnId"):
                amounts.append((str(linked["TxnId"]), _money(line.get("Amount"))))
    return amounts


def _reference_of(row: Mapping[str, Any], qbo_id: str) -> str:
    """The payment's reference in the source: QBO's reference number, else its id (never empty)."""
    reference = str(row.get("PaymentRefNum") or "").strip()
    return reference or f"QBO payment {qbo_id}"
