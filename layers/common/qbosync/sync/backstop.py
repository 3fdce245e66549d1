"""When a tenant's reconciliation reads: webhooks are the primary channel, CDC a budgeted backstop.

The QBO direction (one CDC read per run) is due when
- it never ran (``first_run``);
- an admin asked for it after the last run (``on_demand``);
- a gap was detected after the last run (``gap``: a missed webhook is suspected), so it runs at the next
  scheduled tick, at most one schedule interval (15 min) after detection. A gap a webhook raised (the last
  two below: anyone can post a bad signature, and Intuit's catch-up after an outage makes every POST late)
  waits until ``gap_min_interval`` (default 1 h) has passed since the previous run (``gap_waiting`` until
  then): a flood of them costs at most one CDC read per tenant per that interval, and, kept in their own
  signal (``webhook_gap_at``), never delays a gap of qbosync's own. Gaps (``GapReason``):
  - ``pull_dead_letter``: a pull message failed on its last receive (the pull worker records it);
  - ``webhooks_quiet``: qbosync wrote to QBO (a push event done) more than ``QUIET_GRACE`` ago, after the
    last backstop, and no QBO change has been pulled since, although every write of qbosync's comes back as
    a webhook (its echo). Checked here, from the tenant's newest events (one index query, no Intuit read);
  - ``unverified_webhook``: a QBO webhook whose signature does not verify names a realm a tenant owns. It is
    still refused (401); only the realm ids are read from its body, nothing else of it is trusted;
  - ``late_webhook``: a verified webhook announces a change made more than ``QBOSYNC_WEBHOOK_LATE_SECONDS``
    (default 15 min) before it arrived. Intuit aggregates for up to 5 minutes and retries a failed delivery
    at 10, 20 and 30 s and 5 min, so a change this late means deliveries were failing; Intuit drops some
    after its retries, so other changes of that outage may never come.
  The receiver (``sync/pull/receiver.py``) detects the last two and puts a ``GapNotice`` on the pull queue;
  the pull worker records it;
- the backstop interval passed since the last run (``interval``, default 24 h), times the low-budget
  factor while the app's read budget is low.
A due run is held back (``budget_stopped``) while the read budget refuses reconciliation reads; its
checkpoint stays put, so the run that finally goes reads everything since (CDC, or paged queries past
29 days): nothing is lost, only later.

The source direction costs the vendor's API, not Intuit's: it lists changes since its checkpoint on every
tick while changes keep coming, and backs off (doubling, up to a maximum) after runs that found nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from qbosync.metrics import count_gap
from qbosync.observability import logger
from qbosync.qbo.read_budget import BudgetLevel, ReadBudget, ReadPurpose
from qbosync.store.events import EventStatus, SyncEvent
from qbosync.store.reconcile_signals import GapReason, ReconcileSignals
from qbosync.store.table import Page

SCHEDULE_INTERVAL = timedelta(minutes=15)
# Intuit batches webhooks for a few minutes; a write's echo later than this is taken as missing.
QUIET_GRACE = timedelta(minutes=10)
# How many of a tenant's newest finished events the quiet-webhook check looks at.
QUIET_SAMPLE = 25
PULLED_KIND_PREFIX = "qbo."


class DueReason(StrEnum):
    FIRST_RUN = "first_run"
    ON_DEMAND = "on_demand"
    GAP = "gap"
    GAP_WAITING = "gap_waiting"
    INTERVAL = "interval"
    NOT_DUE = "not_due"
    BUDGET_STOPPED = "budget_stopped"
    CHANGES_FLOWING = "changes_flowing"
    BACKING_OFF = "backing_off"


class Due(BaseModel):
    """Whether a direction runs now, why, and when it is due otherwise."""

    due: bool
    reason: DueReason
    next_due_at: datetime | None = None


class SignalStore(Protocol):
    """The tenant's signals (``qbosync.store.reconcile_signals.ReconcileSignalRepository``)."""

    def get(self, tenant_id: str) -> ReconcileSignals: ...

    def source_ran(self, tenant_id: str, idle_runs: int, next_at: datetime | None) -> None: ...

    def deferred(self, tenant_id: str, at: datetime | None, reason: str | None) -> None: ...

    def mark_gap(self, tenant_id: str, reason: GapReason, at: datetime) -> None: ...


class RecentEvents(Protocol):
    """A tenant's events, newest first (``qbosync.store.events.EventRepository``)."""

    def list(
        self, tenant_id: str, status: EventStatus, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SyncEvent]: ...


def webhooks_quiet(events: list[SyncEvent], last_run: datetime | None, now: datetime) -> bool:
    """Whether qbosync wrote to QBO after ``last_run`` and at least ``QUIET_GRACE`` ago, and no QBO
    change was pulled after that write: its webhook (the echo every write gets) never came."""
    pulled = [event.received_at for event in events if event.kind.startswith(PULLED_KIND_PREFIX)]
    last_pulled = max(pulled, default=None)
    return any(
        not event.kind.startswith(PULLED_KIND_PREFIX)
        and (last_run is None or event.received_at > last_run)
        and (last_pulled is None or event.received_at > last_pulled)
        and now - event.received_at >= QUIET_GRACE
        for event in events
    )


@dataclass
class ReconcileCadence:
    """Decides, per tenant and direction, whether this scheduled tick reads."""

    signals: SignalStore
    budget: ReadBudget
    backstop_interval: timedelta
    low_budget_factor: int
    source_max_backoff: timedelta
    source_base_interval: timedelta = SCHEDULE_INTERVAL
    events: RecentEvents | None = None
    gap_min_interval: timedelta = timedelta(hours=1)

    def detect_gaps(
        self, tenant_id: str, last_run: datetime | None, now: datetime, signals: ReconcileSignals
    ) -> ReconcileSignals:
        """Record a gap when webhooks went quiet on an active tenant; the signals as they are now."""
        if self.events is None or last_run is None:
            return signals
        if signals.gap_at is not None and signals.gap_at > last_run:
            return signals  # a gap is already pending
        recent = self.events.list(tenant_id, "done", limit=QUIET_SAMPLE).items
        if not webhooks_quiet(recent, last_run, now):
            return signals
        self.signals.mark_gap(tenant_id, GapReason.WEBHOOKS_QUIET, now)
        count_gap(GapReason.WEBHOOKS_QUIET.value)
        logger.info("reconcile gap signalled", extra={"tenant_id": tenant_id, "reason": "webhooks_quiet"})
        return signals.with_gap(GapReason.WEBHOOKS_QUIET, now)

    def backstop(self) -> timedelta:
        """The backstop interval at the budget's current level."""
        slowed = self.budget.level() is not BudgetLevel.NORMAL
        return self.backstop_interval * (self.low_budget_factor if slowed else 1)

    def qbo_due(
        self,
        tenant_id: str,
        last_run: datetime | None,
        now: datetime,
        signals: ReconcileSignals | None = None,
    ) -> Due:
        signals = signals or self.signals.get(tenant_id)
        interval = self.backstop()
        if last_run is None:
            reason = DueReason.FIRST_RUN
        elif signals.requested_at is not None and signals.requested_at > last_run:
            reason = DueReason.ON_DEMAND
        elif signals.gap_at is not None and signals.gap_at > last_run:
            reason = DueReason.GAP
        elif signals.webhook_gap_at is not None and signals.webhook_gap_at > last_run:
            if now - last_run < self.gap_min_interval:
                # A run is due, but one ran too recently: the bound on a flood of webhook-borne gaps.
                return Due(
                    due=False, reason=DueReason.GAP_WAITING, next_due_at=last_run + self.gap_min_interval
                )
            reason = DueReason.GAP
        elif now - last_run >= interval:
            reason = DueReason.INTERVAL
        else:
            return Due(due=False, reason=DueReason.NOT_DUE, next_due_at=last_run + interval)
        if not self.budget.allows(tenant_id, ReadPurpose.RECONCILE):
            return Due(due=False, reason=DueReason.BUDGET_STOPPED)
        return Due(due=True, reason=reason)

    def record_qbo_outcome(self, tenant_id: str, due: Due, now: datetime, signals: ReconcileSignals) -> None:
        """Remember a held-back backstop (for the API), and forget it once one ran."""
        if due.reason is DueReason.BUDGET_STOPPED:
            self.signals.deferred(tenant_id, now, DueReason.BUDGET_STOPPED.value)
        elif due.due and signals.deferred_at is not None:
            self.signals.deferred(tenant_id, None, None)

    def source_due(
        self,
        tenant_id: str,
        last_run: datetime | None,
        now: datetime,
        signals: ReconcileSignals | None = None,
    ) -> Due:
        signals = signals or self.signals.get(tenant_id)
        if last_run is None:
            return Due(due=True, reason=DueReason.FIRST_RUN)
        if signals.requested_at is not None and signals.requested_at > last_run:
            return Due(due=True, reason=DueReason.ON_DEMAND)
        if signals.source_next_at is None:
            return Due(due=True, reason=DueReason.CHANGES_FLOWING)
        if now >= signals.source_next_at:
            return Due(due=True, reason=DueReason.INTERVAL)
        return Due(due=False, reason=DueReason.BACKING_OFF, next_due_at=signals.source_next_at)

    def source_ran(self, tenant_id: str, now: datetime, changes: int, signals: ReconcileSignals) -> None:
        """After a source listing: every tick while changes come, else the wait doubles up to the max."""
        if changes > 0:
            if signals.source_idle_runs or signals.source_next_at is not None:
                self.signals.source_ran(tenant_id, 0, None)
            return
        idle = signals.source_idle_runs + 1
        wait = min(self.source_base_interval * (2**idle), self.source_max_backoff)
        self.signals.source_ran(tenant_id, idle, now + wait)
