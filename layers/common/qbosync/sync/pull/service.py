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
events API shows it and the retry schedule can replay it. While the tenant's sync is paused, the event is
parked on ``PAUSED_KEY`` (reason code ``tenant_paused``) before anything is read, and the resume re-queues it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from qbosync.errors import NotConnected, QbosyncError, UpstreamUnavailable
from qbosync.metrics import Metric, count, count_failure, count_warnings
from qbosync.observability import logger
from qbosync.qbo.faults import QboAuthenticationFault, QboFault
from qbosync.store.events import PAUSED_KEY, EventFailure, QboFaultInfo, ReasonCode, SyncEvent
from qbosync.store.table import StoreUnavailable
from qbosync.sync.pull.context import BATCH_READS, GroupedReads, PullOutcome
from qbosync.sync.pull.customers import CustomerPull
from qbosync.sync.pull.items import ItemPull
from qbosync.sync.pull.payments import PaymentPull
from qbosync.sync.records.events import fault_code
from qbosync.sync.records.messages import EntityChange, PullMessage

DOCUMENTS = frozenset({"Invoice", "CreditMemo"})


def _failure_of(exc: Exception) -> EventFailure:
    """The event's failure for an exception the pull met (transient ones are retried too)."""
    if isinstance(exc, QboAuthenticationFault | NotConnected):
        # Released as soon as QuickBooks is connected again (``EventReplay.release_after_reconnect``).
        return EventFailure.of(ReasonCode.QBO_NOT_CONNECTED, "QuickBooks is not connected; connect it again")
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


def _version_of(change: EntityChange) -> int:
    return int(change.last_updated.timestamp() * 1000) if change.last_updated else 0


class PullService(CustomerPull, ItemPull, PaymentPull):
    """Applies QBO changes to one deployment's tenants, one entity module each (``customers``, ``items``,
    ``payments``, ``documents``); ``qbosync.sync.wiring`` builds the deployed one."""

    @contextmanager
    def reading_together(self, messages: Iterable[PullMessage]) -> Iterator[GroupedReads]:
        """While one batch is applied: records that several of its changes name are read with one query."""
        grouped = GroupedReads((message.tenant_id, message.change) for message in messages)
        token = BATCH_READS.set(grouped)
        try:
            yield grouped
        finally:
            BATCH_READS.reset(token)

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
        if self.paused(tenant_id):
            reason = "the tenant's sync is paused; it is applied when the sync resumes"
            self.events.mark_parked(
                tenant_id, event_id, PAUSED_KEY, self.clock(), reason, code=ReasonCode.TENANT_PAUSED
            )
            count(Metric.PARKED)
            logger.info("qbo change held: tenant paused", extra={"tenant_id": tenant_id})
            return PullOutcome("held", reason)
        try:
            outcome = self._dispatch(tenant_id, change, row)
        except Exception as exc:
            failure = _failure_of(exc)
            self.events.mark_failed(tenant_id, event_id, failure, self.clock())
            count_failure("pull", failure.code)
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
            count_failure("pull", outcome.failure().code)
        else:
            self.events.mark_done(
                tenant_id,
                event_id,
                self.clock(),
                note=f"{outcome.status}: {outcome.reason}",
                warnings=outcome.warnings,
            )
            if outcome.warnings:
                count_warnings("pull", [warning.code for warning in outcome.warnings])
        count(Metric.PULLED)
        if outcome.status in ("drift", "healing"):
            count(Metric.DRIFT_FOUND)
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

    def _dispatch(self, tenant_id: str, change: EntityChange, row: Mapping[str, Any] | None) -> PullOutcome:
        if change.entity == "Customer":
            return self._customer(tenant_id, change, row)
        if change.entity == "Item":
            return self._item(tenant_id, change, row)
        if change.entity == "Payment":
            return self._payment(tenant_id, change, row)
        if change.entity in DOCUMENTS:
            return self._document(tenant_id, change, row)
        return PullOutcome("skipped", f"{change.entity} changes are not pulled")
