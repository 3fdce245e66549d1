"""Releasing the events parked on a record once it lands in QBO (payments waiting for their invoice)."""

from __future__ import annotations

from dataclasses import dataclass

from qbosync.observability import logger
from qbosync.store.events import EventRepository
from qbosync.sync.retry.requeue import EventRequeue


@dataclass
class ParkedRelease:
    """Re-queues every event parked on a key, oldest first."""

    events: EventRepository
    requeue: EventRequeue

    def release(self, tenant_id: str, key: str) -> int:
        """Re-queue what waits for ``key`` (e.g. ``invoice:inv_000001``); returns how many."""
        released = 0
        for event in self.events.parked_on(tenant_id, key):
            self.requeue.requeue(event)
            logger.info("parked event released", extra={"released_event_id": event.event_id})
            released += 1
        return released
