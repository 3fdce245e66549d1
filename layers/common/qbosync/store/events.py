"""Sync events: every source webhook (or pull change) and what became of it, so failures can be replayed.

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
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qbosync.errors import NotFound
from qbosync.settings import get_retention
from qbosync.store.table import (
    Condition,
    ConditionFailed,
    MainTable,
    Page,
    event_sk,
    events_gsi1pk,
    tenant_pk,
)

EventStatus = Literal["received", "done", "parked", "failed"]
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
    attempts: int = 0
    received_at: datetime
    updated_at: datetime
    parked_on: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _migrate_reason_text(cls, data: Any) -> Any:
        """Items stored before reason codes kept the code inside ``reason``: read it out once, here."""
        if (
            isinstance(data, dict)
            and "reason_code" not in data
            and data.get("status") in ("failed", "parked")
        ):
            return {**data, **_legacy_reason(str(data.get("reason") or ""), data.get("status"))}
        return data


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


def parked_key(kind: str, source_id: str) -> str:
    """What a parked event waits for, e.g. ``invoice:inv_000001``."""
    return f"{kind}:{source_id}"


class EventNotFound(NotFound):
    code = "event_not_found"


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

    def mark_done(self, tenant_id: str, event_id: str, at: datetime, note: str | None = None) -> SyncEvent:
        """Done; ``note`` (kept as its ``reason``) says what was done or why nothing had to be, e.g.
        "the source owns every field of source customer cus_000001"; an earlier failure's is dropped."""
        removes: tuple[str, ...] = ("reason_code", "mapping", "qbo_fault", "parked_on")
        sets: dict[str, Any] = {"retryable": True}
        if note is None:
            removes += ("reason",)
        else:
            sets["reason"] = note[:500]
        return self._transition(tenant_id, event_id, "done", at, sets=sets, removes=removes)

    def mark_parked(
        self, tenant_id: str, event_id: str, on: str, at: datetime, reason: str | None = None
    ) -> SyncEvent:
        """Hold the event until ``on`` (e.g. ``"invoice:123"``) lands in QBO."""
        sets: dict[str, Any] = {
            "parked_on": on,
            "reason_code": ReasonCode.WAITING_FOR_INVOICE.value,
            "retryable": True,
        }
        removes: tuple[str, ...] = ("qbo_fault", "mapping")
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
        removes: tuple[str, ...] = ("parked_on",)
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

    def list(
        self, tenant_id: str, status: EventStatus, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SyncEvent]:
        """One page of a tenant's events in ``status``, newest first (parked: grouped by what they await)."""
        page = self._table.query_gsi1(
            events_gsi1pk(tenant_id, status), limit=limit, cursor=cursor, newest_first=status != "parked"
        )
        return Page(items=[self._to_event(item) for item in page.items], cursor=page.cursor)

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
