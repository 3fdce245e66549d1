"""An admin's retry of one event (``POST .../retry``), and the release of failed events once the
mapping they missed is added, or once QuickBooks is connected again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from qbosync.errors import Conflict
from qbosync.observability import logger
from qbosync.store.events import EventNotFound, EventRepository, MissingMappingRef, ReasonCode, SyncEvent
from qbosync.sync.retry.requeue import EventRequeue

RELEASE_ON_CONNECT_LIMIT = 500
"""Events the OAuth callback re-queues itself (each is one queue message); the schedule does the rest."""


class EventAlreadyDone(Conflict):
    code = "event_already_done"


class EventNotReplayable(Conflict):
    """A report (an expiring connection, drift) rather than a change: there is nothing to re-run."""

    code = "event_not_replayable"


@dataclass
class EventReplay:
    """Re-queues sync events an admin asks for, or that a mappings change unblocks."""

    events: EventRepository
    requeue: EventRequeue

    def retry(self, tenant_id: str, event_id: str) -> SyncEvent:
        """Re-queue one event: 404 if unknown, 409 if it is already done or is a report, not a change."""
        event = self.events.get(tenant_id, event_id)
        if event is None:
            raise EventNotFound("no such sync event", details=[{"event_id": event_id}])
        if event.status in ("done", "done_with_variance"):  # a variance is accepted, not retried
            raise EventAlreadyDone(
                "this event is already applied; nothing to retry", details=[{"event_id": event_id}]
            )
        if not event.payload:
            raise EventNotReplayable("this event reports a condition to fix; there is nothing to re-run")
        try:
            self.requeue.requeue(event)
        except ValidationError:
            raise EventNotReplayable(
                "this event's message cannot be read any more; nothing is re-run"
            ) from None
        return event

    def release_after_reconnect(self, tenant_id: str, limit: int = RELEASE_ON_CONNECT_LIMIT) -> int:
        """Re-queue the events that failed because QuickBooks was not connected (reason code
        ``qbo_not_connected``), right after the tenant connects again: at most ``limit`` of them, newest
        first, so the OAuth callback stays quick; the retry schedule re-queues the rest. Returns how many."""
        released = 0
        cursor: str | None = None
        while released < limit:
            page = self.events.list(tenant_id, "failed", limit=100, cursor=cursor)
            for event in page.items:
                if released < limit and event.reason_code is ReasonCode.QBO_NOT_CONNECTED and event.payload:
                    self.requeue.requeue(event)
                    released += 1
            if page.cursor is None:
                break
            cursor = page.cursor
        logger.info(
            "released events after reconnecting", extra={"tenant_id": tenant_id, "released": released}
        )
        return released

    def release_waiting_for_mappings(self, tenant_id: str, kind: str, source_keys: Iterable[str]) -> int:
        """Re-queue every event that failed because one of ``source_keys`` of ``kind`` had no mapping.

        One pass over the failed events, however many rows a mappings change added; returns how many.
        """
        wanted = {MissingMappingRef(kind=kind, source_key=key) for key in source_keys}
        released = 0
        cursor: str | None = None
        while wanted:
            page = self.events.list(tenant_id, "failed", limit=100, cursor=cursor)
            for event in page.items:
                if event.reason_code is ReasonCode.MISSING_MAPPING and event.mapping in wanted:
                    self.requeue.requeue(event)
                    released += 1
            if page.cursor is None:
                break
            cursor = page.cursor
        return released
