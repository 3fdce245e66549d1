"""Sync events: every source webhook (or pull change) and what became of it, so failures can be replayed.

A document (kind and source id) is listed as failed once: its latest failed push event. A later
failure of the same document supersedes the earlier one, and a later done event supersedes it too
(status ``superseded``, ``superseded_by`` naming the later event), so a webhook's event and the
reconciliation's ``reconcile-…`` event for the same invoice are never both listed. An item
``FAILEDDOC#{kind}#{source id}`` names the document's listed failure.

Index layout on ``gsi1`` (chosen so both listings are single queries):
- listing by status: ``gsi1pk = TENANT#{t}#EVENTS#{status}``, ``gsi1sk = {received_at}#{event_id}``;
- parked events use ``gsi1sk = {parked_on}#{received_at}#{event_id}`` in the ``parked`` partition, so
  ``parked_on(tenant, "invoice:123")`` is a prefix query that releases the payments waiting for an invoice,
  oldest first.

Retention: a ``done`` event carries ``expires_at`` (DynamoDB TTL), ``QBOSYNC_EVENT_RETENTION_DAYS`` after it
became done; ``received``, ``failed`` and ``parked`` events never expire, because someone or something
still has to act on them (a later transition to ``done`` starts their clock). Nothing in sync reads a done
event again: a webhook resent after its event expired is stopped by the link's source version.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qbosync.errors import NotFound
from qbosync.settings import get_retention
from qbosync.store.schema import upgraded
from qbosync.store.table import (
    Condition,
    ConditionFailed,
    MainTable,
    Page,
    event_sk,
    events_gsi1pk,
    tenant_pk,
)

EventStatus = Literal["received", "done", "done_with_variance", "parked", "failed", "superseded"]
EventOutcome = Literal[
    "received", "done", "done_with_warnings", "done_with_variance", "parked", "failed", "superseded"
]
"""The status as an admin filters it: a done event with warnings is "synced with warnings"."""
_ITEM_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "item_type", "expires_at")


class ReasonCode(StrEnum):
    """Why an event is failed or parked, for machines (the retry schedule, the mapping release, alarms);
    the event's ``reason`` says it to a person."""

    MISSING_MAPPING = "missing_mapping"
    """A source code has no QBO target yet (``mapping`` names it); released when an admin maps it."""
    WAITING_FOR_INVOICE = "waiting_for_invoice"
    """Parked until the invoice it applies to reaches QBO (``parked_on``)."""
    RETRYING = "retrying"
    """A transient failure the queue is retrying by itself; the schedule waits for it to go quiet."""
    QBO_CLOSED_PERIOD = "qbo_closed_period"
    QBO_DEPOSITED_TRANSACTION = "qbo_deposited_transaction"
    QBO_DUPLICATE_DOC_NUMBER = "qbo_duplicate_doc_number"
    QBO_REFERENCE_NOT_FOUND = "qbo_reference_not_found"
    QBO_NOT_AUTHORIZED = "qbo_not_authorized"
    QBO_REJECTED = "qbo_rejected"
    QBO_NOT_CONNECTED = "qbo_not_connected"
    SOURCE_OBJECT_NOT_FOUND = "source_object_not_found"
    SOURCE_REJECTED = "source_rejected"
    APPLIED_INVOICE_REMOVED = "applied_invoice_removed"
    """A payment or credit note applies to an invoice qbosync voided or deleted in QBO."""
    DRIFT_NOT_HEALABLE = "drift_not_healable"
    """A heal QBO cannot take (the record was voided in QBO)."""
    DRIFT = "drift"
    """A document qbosync pushed no longer matches the source in QBO (report only)."""
    UNSUPPORTED = "unsupported"
    """A change qbosync cannot apply by itself; an admin acts in QBO or the source."""
    NOT_APPLIED = "not_applied"
    """A QBO change the pull could not apply (a missing setting or link); fix it, then replay."""
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    """QBO, the source or the store failed for a while; the queue and the schedule try again."""
    CONNECTION_EXPIRING = "connection_expiring"
    """The QuickBooks grant runs out soon; connect again."""
    STUCK = "stuck"
    """Left received longer than its worker may run: the worker died; the schedule runs it again."""
    GO_LIVE_NOT_SET = "go_live_not_set"
    """The tenant's ``onboarding.go_live_date`` is not set; no document is pushed until it is."""
    PRE_GO_LIVE_NO_MATCH = "pre_go_live_no_match"
    """A document dated before go-live has no QBO document to link to (it is never created)."""
    PRE_GO_LIVE_AMBIGUOUS = "pre_go_live_ambiguous"
    """A document dated before go-live matches several QBO documents; link one by import."""
    TENANT_PAUSED = "tenant_paused"
    """Held while the tenant's sync is paused (parked on ``PAUSED_KEY``); released when it resumes."""

    PAUSED_FOR_VARIANCE = "paused_for_variance"
    """Parked: a variance waits for an admin (``money.variance_policy: pause``); released when accepted."""
    CURRENCY_NOT_ENABLED = "currency_not_enabled"
    """A document in a foreign currency while QBO's multi-currency is off; switch it on in QBO, then retry."""
    CURRENCY_MISMATCH = "currency_mismatch"
    """The document's currency is not its QBO customer's (QBO keeps one currency per customer)."""
    EXCHANGE_RATE_UNKNOWN = "exchange_rate_unknown"
    """A foreign document without a rate from the source, and QBO has none for its date."""


PAUSED_KEY = "tenant:paused"
"""What events taken while their tenant is paused are parked on (``parked_on``), so one prefix query
finds them all when it resumes."""


class WarningCode(StrEnum):
    """Where qbosync had to improvise on a change it applied: the event is done, "synced with warnings"."""

    DEFAULT_ITEM_USED = "default_item_used"
    """A line took the settings' QBO item for unmatched one-time or recurring products."""
    DEFAULT_PRODUCT_USED = "default_product_used"
    """A QBO item was linked to the settings' default source product (the unmatched-item rule)."""
    NAME_SUFFIXED = "name_suffixed"
    """QBO had the name already (a vendor or employee): the record was created under a suffixed name."""
    NAME_TRUNCATED = "name_truncated"
    """A name was longer than QBO holds (or held ``:``, QBO's sub-item separator) and was shortened."""
    DOC_NUMBER_SHORTENED = "doc_number_shortened"
    """The prefixed number was longer than QBO's 21 characters; the full number is in ``PrivateNote``."""
    NAME_INVENTED = "name_invented"
    """The record had no name qbosync could use, so it was given one (e.g. ``QBO customer 58``)."""
    TAX_CODE_NOT_MAPPED = "tax_code_not_mapped"
    """A line's source tax code is missing from the tax-codes mapping (which maps others): the default
    tax code (or none) was used."""
    FIELD_TRUNCATED = "field_truncated"
    """A field was longer than QBO holds (company or person name, phone, description) and was cut."""


class EventWarning(BaseModel):
    """One improvisation on a done event: its code and a sentence naming what was done instead."""

    model_config = ConfigDict(frozen=True)

    code: WarningCode
    message: str

    @classmethod
    def of(cls, code: WarningCode, message: str) -> EventWarning:
        return cls(code=code, message=message[:300])


MAX_WARNINGS = 20
"""Warnings kept on one event (a document with hundreds of defaulted lines says so 20 times at most)."""


def distinct_warnings(warnings: Iterable[EventWarning]) -> list[EventWarning]:
    """Each warning once, in the order first met, at most ``MAX_WARNINGS``."""
    return list(dict.fromkeys(warnings))[:MAX_WARNINGS]


STUCK_AFTER = timedelta(minutes=15)
"""An event still ``received`` this long after a worker took it is stuck: its worker died. The longest
timeout of any function that records events (reconcile, 900 s in template.yaml); the workers' own is
120 s, and the push queue redelivers after 180 s, so the queue's own retry comes first."""

REPORT_CODES = frozenset({ReasonCode.DRIFT, ReasonCode.UNSUPPORTED, ReasonCode.CONNECTION_EXPIRING})
"""Reports for an admin: replaying the event changes nothing."""


class QboFaultInfo(BaseModel):
    """The QBO fault that made an event fail, as QBO reported it (code and message only)."""

    code: str
    message: str


class EventVariance(BaseModel):
    """A push QBO took with a different total than the source's (``done_with_variance``): both amounts,
    in the document's currency."""

    source_total: Decimal
    qbo_total: Decimal
    currency: str


class MissingMappingRef(BaseModel):
    """The mapping row an event waits for: ``kind`` (e.g. ``payment-methods``) and the source key."""

    model_config = ConfigDict(frozen=True)

    kind: str
    source_key: str


class EventFailure(BaseModel):
    """Why an event failed: its code, a sentence for the admin, and whether replaying it can help."""

    code: ReasonCode
    message: str
    retryable: bool = True
    qbo_fault: QboFaultInfo | None = None
    mapping: MissingMappingRef | None = None

    @classmethod
    def of(cls, code: ReasonCode, message: str, **extra: Any) -> EventFailure:
        """A failure whose retryability follows from its code (reports are not retryable)."""
        return cls(code=code, message=message[:500], retryable=code not in REPORT_CODES, **extra)


class SyncEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str
    tenant_id: str
    kind: str
    source_object_id: str
    source_version: int
    status: EventStatus = "received"
    reason_code: ReasonCode | None = None
    reason: str | None = None
    """For a person: why it failed or is parked, or (done) what was done or why nothing had to be."""
    retryable: bool = True
    mapping: MissingMappingRef | None = None
    qbo_fault: QboFaultInfo | None = None
    variance_totals: EventVariance | None = None
    attempts: int = 0
    received_at: datetime
    updated_at: datetime
    parked_on: str | None = None
    warnings: list[EventWarning] = Field(default_factory=list)
    """Done events: where qbosync improvised ("synced with warnings"); empty otherwise."""
    superseded_by: str | None = None
    """A failed event a later event of the same document replaced (``one_failure_per_document``)."""
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def outcome(self) -> EventOutcome:
        """The status, with ``done_with_warnings`` for a done event that carries warnings."""
        if self.status == "done" and self.warnings:
            return "done_with_warnings"
        return self.status

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        return upgraded(data, {1: _reason_code_of_version_1})


def _reason_code_of_version_1(item: dict[str, Any]) -> dict[str, Any]:
    """Version 1 events stored before reason codes kept the code inside ``reason``: read it out, here."""
    if "reason_code" not in item and item.get("status") in ("failed", "parked"):
        return {**item, **_legacy_reason(str(item.get("reason") or ""), item.get("status"))}
    return item


_LEGACY_EXACT_CODES = {code.value: code for code in ReasonCode}


def _legacy_reason(reason: str, status: object) -> dict[str, Any]:  # noqa: PLR0911 - one per old shape
    """The typed reason of an old item's ``reason`` text (the only place reason text is read)."""
    if status == "parked":
        return {"reason_code": ReasonCode.WAITING_FOR_INVOICE}
    head, _, rest = reason.partition(":")
    if head == "missing_mapping":
        kind, _, key = rest.partition(":")
        return {
            "reason_code": ReasonCode.MISSING_MAPPING,
            "reason": f"no {kind} mapping for {key!r}",
            "mapping": {"kind": kind, "source_key": key},
        }
    if head == "retrying":
        return {"reason_code": ReasonCode.RETRYING, "reason": f"{rest}; the queue delivers it again"}
    if head in ("unsupported", "drift"):
        return {"reason_code": ReasonCode(head), "reason": rest.strip(), "retryable": False}
    if head in ("drift_not_healable", "applied_invoice_removed", "source_rejected"):
        return {"reason_code": ReasonCode(head)}
    if reason in _LEGACY_EXACT_CODES:
        return {"reason_code": _LEGACY_EXACT_CODES[reason]}
    return {"reason_code": ReasonCode.NOT_APPLIED}


VARIANCE_PAUSE_KEY = "variance"
"""What pushes wait for while a tenant's variances wait for an admin (``money.variance_policy: pause``)."""


def parked_key(kind: str, source_id: str) -> str:
    """What a parked event waits for, e.g. ``invoice:inv_000001``."""
    return f"{kind}:{source_id}"


class EventNotFound(NotFound):
    code = "event_not_found"


def _failed_document_sk(kind: str, source_id: str) -> str:
    """The item naming the one listed failure of a document (``kind`` and source id)."""
    return f"FAILEDDOC#{kind}#{source_id}"


def _status_sk(received_at: str, event_id: str, parked_on: str | None = None) -> str:
    base = f"{received_at}#{event_id}"
    return f"{parked_on}#{base}" if parked_on else base


class EventRepository:
    def __init__(self, table: MainTable | None = None, retention: timedelta | None = None) -> None:
        self._table = table or MainTable()
        self._retention = retention

    @property
    def retention(self) -> timedelta:
        """How long a done event is kept (``QBOSYNC_EVENT_RETENTION_DAYS`` unless given)."""
        return self._retention or get_retention().event_retention

    @staticmethod
    def _to_event(item: dict[str, Any]) -> SyncEvent:
        return SyncEvent.model_validate({k: v for k, v in item.items() if k not in _ITEM_KEYS})

    def record_received(self, event: SyncEvent) -> bool:
        """Store a newly received event; False (nothing changes) when this event id was seen before."""
        received = event.model_copy(update={"status": "received"})
        stored = received.model_dump(mode="json")
        try:
            self._table.put(
                {
                    "pk": tenant_pk(event.tenant_id),
                    "sk": event_sk(event.event_id),
                    "gsi1pk": events_gsi1pk(event.tenant_id, "received"),
                    "gsi1sk": _status_sk(stored["received_at"], event.event_id),
                    "item_type": "event",
                    **stored,
                },
                condition=Condition("attribute_not_exists(pk)"),
            )
        except ConditionFailed:
            return False
        return True

    def get(self, tenant_id: str, event_id: str) -> SyncEvent | None:
        item = self._table.get(tenant_pk(tenant_id), event_sk(event_id))
        return self._to_event(item) if item else None

    def mark_done(
        self,
        tenant_id: str,
        event_id: str,
        at: datetime,
        note: str | None = None,
        warnings: Iterable[EventWarning] = (),
    ) -> SyncEvent:
        """Done; ``note`` (kept as its ``reason``) says what was done or why nothing had to be, e.g.
        "the source owns every field of source customer cus_000001"; an earlier failure's is dropped.
        ``warnings``: where qbosync improvised (an earlier delivery's are replaced)."""
        removes: tuple[str, ...] = (
            "reason_code",
            "mapping",
            "qbo_fault",
            "parked_on",
            "superseded_by",
            "variance_totals",
        )
        sets: dict[str, Any] = {"retryable": True}
        kept = distinct_warnings(warnings)
        if kept:
            sets["warnings"] = [warning.model_dump(mode="json") for warning in kept]
        else:
            removes += ("warnings",)
        if note is None:
            removes += ("reason",)
        else:
            sets["reason"] = note[:500]
        return self._transition(tenant_id, event_id, "done", at, sets=sets, removes=removes)

    def mark_done_with_variance(
        self, tenant_id: str, event_id: str, variance: EventVariance, at: datetime, note: str
    ) -> SyncEvent:
        """Done, but QBO's total is not the source's: listed under ``done_with_variance`` with both."""
        sets: dict[str, Any] = {
            "retryable": True,
            "reason": note[:500],
            "variance_totals": variance.model_dump(mode="json"),
        }
        removes = ("reason_code", "mapping", "qbo_fault", "parked_on", "warnings", "superseded_by")
        return self._transition(tenant_id, event_id, "done_with_variance", at, sets=sets, removes=removes)

    def mark_parked(
        self,
        tenant_id: str,
        event_id: str,
        on: str,
        at: datetime,
        reason: str | None = None,
        *,
        code: ReasonCode = ReasonCode.WAITING_FOR_INVOICE,
    ) -> SyncEvent:
        """Hold the event until ``on`` (e.g. ``"invoice:123"``) lands in QBO, a setting is made
        (``go_live_not_set``), an admin accepts the tenant's variances (``paused_for_variance``), or
        (``PAUSED_KEY``, code ``tenant_paused``) its tenant's sync resumes."""
        sets: dict[str, Any] = {"parked_on": on, "reason_code": code.value, "retryable": True}
        removes: tuple[str, ...] = ("qbo_fault", "mapping", "warnings")
        if reason is not None:
            sets["reason"] = reason
        else:
            removes += ("reason",)
        return self._transition(tenant_id, event_id, "parked", at, sets=sets, removes=removes)

    def mark_failed(self, tenant_id: str, event_id: str, failure: EventFailure, at: datetime) -> SyncEvent:
        """Failed with ``failure``'s code, message and retryability (and its QBO fault or missing mapping)."""
        sets: dict[str, Any] = {
            "reason_code": failure.code.value,
            "reason": failure.message,
            "retryable": failure.retryable,
        }
        removes: tuple[str, ...] = ("parked_on", "warnings", "superseded_by")
        for name, value in (("qbo_fault", failure.qbo_fault), ("mapping", failure.mapping)):
            if value is None:
                removes += (name,)
            else:
                sets[name] = value.model_dump(mode="json")
        return self._transition(tenant_id, event_id, "failed", at, sets=sets, removes=removes)

    def _transition(
        self,
        tenant_id: str,
        event_id: str,
        status: EventStatus,
        at: datetime,
        *,
        sets: dict[str, Any],
        removes: tuple[str, ...],
    ) -> SyncEvent:
        """Move the event to ``status``, count the attempt and re-index it under its new status."""
        current = self.get(tenant_id, event_id)
        if current is None:
            raise EventNotFound("no such sync event")
        received_at = current.model_dump(mode="json")["received_at"]
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":status": status,
            ":at": at.isoformat(),
            ":g": events_gsi1pk(tenant_id, status),
            ":gs": _status_sk(received_at, event_id, sets.get("parked_on")),
            ":one": 1,
        }
        assignments = ["#status = :status", "updated_at = :at", "gsi1pk = :g", "gsi1sk = :gs"]
        for index, (name, value) in enumerate(sets.items()):
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            assignments.append(f"#s{index} = :s{index}")
        if status == "done":
            values[":expires"] = int((at + self.retention).timestamp())
            assignments.append("expires_at = :expires")
        else:
            removes += ("expires_at",)  # only done events expire: the others still need someone
        expression = f"SET {', '.join(assignments)} ADD attempts :one"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            item = self._table.update(
                tenant_pk(tenant_id),
                event_sk(event_id),
                Condition(expression, names=names, values=values),
                condition=Condition("attribute_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise EventNotFound("no such sync event") from exc
        return self._to_event(item)

    def keep_one_failure(self, event: SyncEvent, at: datetime) -> str | None:
        """``event`` (just failed) is now its document's one failed entry: the document's earlier
        failed event, if any, is superseded by it. Returns the superseded event's id."""
        key = (tenant_pk(event.tenant_id), _failed_document_sk(event.kind, event.source_object_id))
        previous = self._table.get(*key)
        self._table.put(
            {"pk": key[0], "sk": key[1], "item_type": "failed_document", "event_id": event.event_id}
        )
        return self._supersede(event, str(previous["event_id"]) if previous else None, at)

    def release_failure_entry(self, event: SyncEvent, at: datetime) -> str | None:
        """``event`` (just done) ends its document's failures: an earlier failed event of the document
        is superseded by it. Returns the superseded event's id."""
        previous = self._table.delete(
            tenant_pk(event.tenant_id), _failed_document_sk(event.kind, event.source_object_id)
        )
        return self._supersede(event, str(previous["event_id"]) if previous else None, at)

    def _supersede(self, by: SyncEvent, earlier_id: str | None, at: datetime) -> str | None:
        if earlier_id is None or earlier_id == by.event_id:
            return None
        earlier = self.get(by.tenant_id, earlier_id)
        if earlier is None or earlier.status != "failed":
            return None
        self._transition(
            by.tenant_id,
            earlier_id,
            "superseded",
            at,
            sets={"superseded_by": by.event_id},
            removes=("parked_on",),
        )
        return earlier_id

    def list(
        self, tenant_id: str, status: EventStatus, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SyncEvent]:
        """One page of a tenant's events in ``status``, newest first (parked: grouped by what they await)."""
        page = self._table.query_gsi1(
            events_gsi1pk(tenant_id, status), limit=limit, cursor=cursor, newest_first=status != "parked"
        )
        return Page(items=[self._to_event(item) for item in page.items], cursor=page.cursor)

    def list_with_warnings(
        self,
        tenant_id: str,
        *,
        code: WarningCode | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[SyncEvent]:
        """One page of done events that carry warnings (``code``: that one among them), newest first.
        A page of the done events is read and filtered, so it may hold fewer than ``limit``."""
        page = self.list(tenant_id, "done", limit=limit, cursor=cursor)
        kept = [
            event
            for event in page.items
            if event.warnings and (code is None or any(w.code == code for w in event.warnings))
        ]
        return Page(items=kept, cursor=page.cursor)

    def list_stuck(
        self, tenant_id: str, older_than: datetime, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SyncEvent]:
        """One page of events still ``received`` (a worker took them) that last changed before
        ``older_than``: their worker died. Oldest first; a page may hold fewer than ``limit``, since
        events still in flight are left out."""
        page = self._table.query_gsi1(events_gsi1pk(tenant_id, "received"), limit=limit, cursor=cursor)
        events = [self._to_event(item) for item in page.items]
        return Page(items=[event for event in events if event.updated_at < older_than], cursor=page.cursor)

    def parked_on(self, tenant_id: str, key: str) -> builtins.list[SyncEvent]:
        """Every event parked until ``key`` lands (e.g. ``"invoice:123"``), oldest first."""
        events: builtins.list[SyncEvent] = []
        cursor: str | None = None
        while True:
            page = self._table.query_gsi1(events_gsi1pk(tenant_id, "parked"), f"{key}#", cursor=cursor)
            events.extend(self._to_event(item) for item in page.items)
            if page.cursor is None:
                return events
            cursor = page.cursor
