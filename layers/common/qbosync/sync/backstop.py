"""When a tenant's reconciliation reads: webhooks are the primary channel, CDC a budgeted backstop.

The QBO direction (one CDC read per run) is due when
- it never ran (``first_run``);
- an admin asked for it after the last run (``on_demand``);
- a gap was detected after the last run (``gap``: a missed webhook is suspected), so it runs at the next
  scheduled tick, at most one schedule interval (15 min) after detection;
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

from qbosync.qbo.read_budget import BudgetLevel, ReadBudget, ReadPurpose
from qbosync.store.reconcile_signals import ReconcileSignals

SCHEDULE_INTERVAL = timedelta(minutes=15)


class DueReason(StrEnum):
    FIRST_RUN = "first_run"
    ON_DEMAND = "on_demand"
    GAP = "gap"
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


@dataclass
class ReconcileCadence:
    """Decides, per tenant and direction, whether this scheduled tick reads."""

    signals: SignalStore
    budget: ReadBudget
    backstop_interval: timedelta
    low_budget_factor: int
    source_max_backoff: timedelta
    source_base_interval: timedelta = SCHEDULE_INTERVAL

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
