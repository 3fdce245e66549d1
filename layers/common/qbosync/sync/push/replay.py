"""Putting events back on the push queue: parked ones when what they wait for lands, failed ones when
an admin asks (``POST .../retry``) or when the mapping they missed is added.

A re-queued event keeps its event id and gets a new ``redelivery`` number (the count of its status
changes so far), so the worker processes it once more and a repeated retry click is still one retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from qbosync.errors import Conflict
from qbosync.observability import logger
from qbosync.store.events import EventNotFound, EventRepository, SyncEvent
from qbosync.sync.push.messages import PushMessage
from qbosync.sync.push.receiver import MessageQueue
from qbosync.sync.push.transform import missing_mapping_reason

PUSH_KINDS = frozenset({"invoice", "payment", "credit_note", "customer", "product"})


class EventAlreadyDone(Conflict):
    code = "event_already_done"


class EventNotReplayable(Conflict):
    """A report (an expiring connection, drift) rather than a change: there is nothing to re-run."""

    code = "event_not_replayable"


def _default_queue() -> MessageQueue:
    from qbosync.store.queues import PushQueue

    return PushQueue()


@dataclass
class EventReplay:
    """Re-queues sync events for the push worker."""

    events: EventRepository = field(default_factory=EventRepository)
    queue: MessageQueue = field(default_factory=_default_queue)
    requeue_other: Callable[[SyncEvent], object] | None = None
    """Re-queues events of other flows (``qbo.*`` pull events); default: the retry schedule's."""

    def requeue(self, event: SyncEvent) -> PushMessage:
        message = PushMessage.model_validate(event.payload).redelivered(event.attempts)
        self.queue.send(
            message.model_dump_json(), group_id=message.group_id, deduplication_id=message.deduplication_id
        )
        logger.info(
            "sync event re-queued",
            extra={
                "tenant_id": event.tenant_id,
                "event_id": event.event_id,
                "redelivery": message.redelivery,
            },
        )
        return message

    def retry(self, tenant_id: str, event_id: str) -> SyncEvent:
        """Re-queue one event: 404 if unknown, 409 if it is already done or is a report, not a change."""
        event = self.events.get(tenant_id, event_id)
        if event is None:
            raise EventNotFound("no such sync event", details=[{"event_id": event_id}])
        if event.status == "done":
            raise EventAlreadyDone(
                "this event is already applied; nothing to retry", details=[{"event_id": event_id}]
            )
        if not event.payload:
            raise EventNotReplayable("this event reports a condition to fix; there is nothing to re-run")
        try:
            if event.kind in PUSH_KINDS:
                self.requeue(event)
            else:
                (self.requeue_other or self._pull_requeue)(event)
        except ValidationError:
            raise EventNotReplayable(
                "this event's message cannot be read any more; nothing is re-run"
            ) from None
        return event

    def _pull_requeue(self, event: SyncEvent) -> object:
        from qbosync.sync.pull.retry_schedule import EventRetrySchedule

        return EventRetrySchedule(events=self.events, push_replay=self).requeue(event)

    def release_waiting_for_mappings(self, tenant_id: str, kind: str, source_keys: Iterable[str]) -> int:
        """Re-queue every event that failed because one of ``source_keys`` of ``kind`` had no mapping.

        One pass over the failed events, however many rows a mappings change added; returns how many.
        """
        wanted = {missing_mapping_reason(kind, key) for key in source_keys}
        released = 0
        cursor: str | None = None
        while wanted:
            page = self.events.list(tenant_id, "failed", limit=100, cursor=cursor)
            for event in page.items:
                if event.reason in wanted:
                    self.requeue(event)
                    released += 1
            if page.cursor is None:
                break
            cursor = page.cursor
        return released


def release_events_waiting_for_mappings(
    tenant_id: str, kind: str, source_keys: Iterable[str], *, replay: EventReplay | None = None
) -> int:
    """For the mappings PUT: once these ``kind`` keys are mapped, retry the events that waited for them."""
    return (replay or EventReplay()).release_waiting_for_mappings(tenant_id, kind, source_keys)
