"""Sync events: every source webhook (or pull change) and what became of it, so failures can be replayed.

Index layout on ``gsi1`` (chosen so both listings are single queries):
- listing by status: ``gsi1pk = TENANT#{t}#EVENTS#{status}``, ``gsi1sk = {received_at}#{event_id}``;
- parked events use ``gsi1sk = {parked_on}#{received_at}#{event_id}`` in the ``parked`` partition, so
  ``parked_on(tenant, "invoice:123")`` is a prefix query that releases the payments waiting for an invoice,
  oldest first.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qbosync.errors import NotFound
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
_ITEM_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "item_type")


class QboFaultInfo(BaseModel):
    """The QBO fault that made an event fail, as QBO reported it (code and message only)."""

    code: str
    message: str


class SyncEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str
    tenant_id: str
    kind: str
    source_object_id: str
    source_version: int
    status: EventStatus = "received"
    reason: str | None = None
    qbo_fault: QboFaultInfo | None = None
    attempts: int = 0
    received_at: datetime
    updated_at: datetime
    parked_on: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


def parked_key(kind: str, source_id: str) -> str:
    """What a parked event waits for, e.g. ``invoice:inv_000001``."""
    return f"{kind}:{source_id}"


class EventNotFound(NotFound):
    code = "event_not_found"


def _status_sk(received_at: str, event_id: str, parked_on: str | None = None) -> str:
    base = f"{received_at}#{event_id}"
    return f"{parked_on}#{base}" if parked_on else base


class EventRepository:
    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

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
        if note is None:
            return self._transition(
                tenant_id, event_id, "done", at, sets={}, removes=("reason", "qbo_fault", "parked_on")
            )
        return self._transition(
            tenant_id, event_id, "done", at, sets={"reason": note[:500]}, removes=("qbo_fault", "parked_on")
        )

    def mark_parked(
        self, tenant_id: str, event_id: str, on: str, at: datetime, reason: str | None = None
    ) -> SyncEvent:
        """Hold the event until ``on`` (e.g. ``"invoice:123"``) lands in QBO."""
        sets: dict[str, Any] = {"parked_on": on}
        removes: tuple[str, ...] = ("qbo_fault",)
        if reason is not None:
            sets["reason"] = reason
        else:
            removes += ("reason",)
        return self._transition(tenant_id, event_id, "parked", at, sets=sets, removes=removes)

    def mark_failed(
        self, tenant_id: str, event_id: str, reason: str, fault: QboFaultInfo | None, at: datetime
    ) -> SyncEvent:
        sets: dict[str, Any] = {"reason": reason}
        removes: tuple[str, ...] = ("parked_on",)
        if fault is not None:
            sets["qbo_fault"] = fault.model_dump(mode="json")
        else:
            removes += ("qbo_fault",)
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
