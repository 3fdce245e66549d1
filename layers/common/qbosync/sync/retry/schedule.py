"""The retry schedule: failed and parked sync events re-queued with exponential backoff.

An event is due when ``base_delay * 2**(attempts - 1)`` (at most ``max_delay``) has passed since it
last changed, and it has had fewer than ``max_attempts`` attempts. Pull events (``qbo.*``) go back on
the pull queue, push events on the push queue (``EventRequeue``: same event id, next redelivery
number, so the worker processes each retry once). Not retried: reports that no
replay can change (events marked not ``retryable``: drift and other reports), and push events the push
queue is still retrying itself (reason code ``retrying``) until they have been quiet for
``dead_letter_after``.

Stuck events: an event still ``received`` ``stuck_after`` after a worker took it (the worker was
killed by its timeout or memory) is marked failed with reason code ``stuck`` and re-queued at once;
the events API lists such events under ``?status=stuck`` with their age before the schedule runs.
``stuck_after`` is ``store.events.STUCK_AFTER`` (15 min). Events held for a paused tenant (reason code
``tenant_paused``) wait while it stays paused; the resume re-queues them, and this schedule re-queues any
a worker parked just after the resume ran (it read the pause a moment before). The four knobs
default to the deployment settings ``QBOSYNC_RETRY_BASE_DELAY_SECONDS`` (5 min),
``QBOSYNC_RETRY_MAX_DELAY_SECONDS`` (6 h), ``QBOSYNC_RETRY_MAX_ATTEMPTS`` (8) and
``QBOSYNC_RETRY_DEAD_LETTER_AFTER_SECONDS`` (1 h), read when the schedule is constructed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError

from qbosync.clock import utc_now
from qbosync.metrics import Metric, count
from qbosync.observability import logger
from qbosync.settings import get_sync_tuning
from qbosync.store.connections import ConnectionRepository
from qbosync.store.events import (
    STUCK_AFTER,
    EventFailure,
    EventRepository,
    EventStatus,
    ReasonCode,
    SyncEvent,
)
from qbosync.sync.retry.requeue import EventRequeue

RETRY_STATUSES: tuple[EventStatus, ...] = ("failed", "parked")
EVENT_PAGE = 100


class RetryReport(BaseModel):
    requeued_pull: int = 0
    requeued_push: int = 0
    waiting: int = 0
    given_up: int = 0
    not_retryable: int = 0
    stuck: int = 0
    """Events left received by a worker that died, marked failed (``stuck``) and re-queued."""


@dataclass
class EventRetrySchedule:
    """One pass over every connected tenant's failed, parked and stuck events."""

    events: EventRepository
    connections: ConnectionRepository
    requeue: EventRequeue
    clock: Callable[[], datetime] = utc_now
    base_delay: timedelta = field(default_factory=lambda: get_sync_tuning().retry_base_delay)
    max_delay: timedelta = field(default_factory=lambda: get_sync_tuning().retry_max_delay)
    max_attempts: int = field(default_factory=lambda: get_sync_tuning().retry_max_attempts)
    dead_letter_after: timedelta = field(default_factory=lambda: get_sync_tuning().retry_dead_letter_after)
    stuck_after: timedelta = STUCK_AFTER
    # Whether the tenant's sync is paused (``TenantRepository.is_paused``); never, unless wired.
    paused: Callable[[str], bool] = lambda _tenant_id: False

    def run(self) -> RetryReport:
        report = RetryReport()
        for connection in self.connections.list_connected():
            self._retry_tenant(connection.tenant_id, report)
        logger.info("retry schedule ran", extra=report.model_dump())
        return report

    def run_tenant(self, tenant_id: str) -> RetryReport:
        """One tenant's pass (the scheduled worker's unit of work)."""
        report = RetryReport()
        self._retry_tenant(tenant_id, report)
        logger.info("retry schedule ran", extra={"tenant_id": tenant_id, **report.model_dump()})
        return report

    def _retry_tenant(self, tenant_id: str, report: RetryReport) -> None:
        self._unstick(tenant_id, report)
        for status in RETRY_STATUSES:
            for event in self._all(tenant_id, status):
                self._consider(event, report)

    def _unstick(self, tenant_id: str, report: RetryReport) -> None:
        """Fail every stuck event (visible, with its age) and re-queue it at once: its worker died, so
        no queue holds it any more (or the queue's own retries ran out)."""
        now = self.clock()
        cursor: str | None = None
        stuck: list[SyncEvent] = []
        while True:
            page = self.events.list_stuck(tenant_id, now - self.stuck_after, limit=EVENT_PAGE, cursor=cursor)
            stuck += page.items
            cursor = page.cursor
            if cursor is None:
                break
        for event in stuck:
            age = int((now - event.updated_at).total_seconds())
            failure = EventFailure.of(
                ReasonCode.STUCK, f"left in flight for {age} s: its worker stopped; queued again"
            )
            failed = self.events.mark_failed(tenant_id, event.event_id, failure, now)
            report.stuck += 1
            count(Metric.STUCK_RETRIED)
            if failed.payload:
                self._requeue(failed, report)

    def _all(self, tenant_id: str, status: EventStatus) -> list[SyncEvent]:
        found: list[SyncEvent] = []
        cursor: str | None = None
        while True:
            page = self.events.list(tenant_id, status, limit=EVENT_PAGE, cursor=cursor)
            found += page.items
            cursor = page.cursor
            if cursor is None:
                return found

    def due_in(self, event: SyncEvent) -> timedelta:
        """How long until ``event`` may be retried (zero or less: now)."""
        quiet = self.clock() - event.updated_at
        if event.reason_code is ReasonCode.RETRYING:
            return self.dead_letter_after - quiet
        delay: timedelta = min(self.base_delay * (2 ** max(event.attempts - 1, 0)), self.max_delay)
        return delay - quiet

    def _consider(self, event: SyncEvent, report: RetryReport) -> None:
        if event.reason_code is ReasonCode.TENANT_PAUSED and self.paused(event.tenant_id):
            report.waiting += 1  # released by the resume; retrying now would only park it again
            return
        if not event.retryable or not event.payload:
            report.not_retryable += 1
            return
        if event.attempts >= self.max_attempts:
            report.given_up += 1
            return
        if self.due_in(event) > timedelta(0):
            report.waiting += 1
            return
        self._requeue(event, report)

    def _requeue(self, event: SyncEvent, report: RetryReport) -> None:
        try:
            queue = self.requeue.requeue(event)
        except ValidationError:
            report.not_retryable += 1
            return
        if queue == "pull":
            report.requeued_pull += 1
        else:
            report.requeued_push += 1
        logger.info(
            "sync event retried",
            extra={"tenant_id": event.tenant_id, "event_id": event.event_id, "attempts": event.attempts},
        )
