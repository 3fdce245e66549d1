"""The app-wide Intuit read budget: every QBO read, query, CDC and report draws from one monthly pool.

Intuit meters "CorePlus" calls (data out: reads, queries, CDC, reports) per *workspace*, i.e. for all of
an app's companies together, per calendar month; writes are free. Past the allowance reads are refused
with 429 until the next month and QBO shows the app as Offline to every customer at once. So qbosync
counts every read it makes and degrades, in a fixed order, before Intuit has to stop it:

=================  =====================================================================================
purpose            stops when the month's remaining reads fall to
=================  =====================================================================================
``reconcile``      ``2 x reserve``: the backstop CDC is slowed (its interval times the low-budget factor);
                   ``reserve``: stopped (what it skipped is caught up once the budget recovers)
``admin``          ``reserve / 2`` (reference lists, preflight: the cached copies still answer)
``onboarding``     ``reserve / 2`` (initial sync matching, connect checks)
``pull``           never by qbosync (a webhook's change is read; Intuit itself refuses past the allowance)
``push_lookup``    never (reads a push needs: a SyncToken, a lookup after an ambiguous write)
=================  =====================================================================================

Fair shares: a tenant's *discretionary* reads (reconcile, admin, onboarding) in a month stop at its share,
``(allowance - reserve) / tenants that read this month``, once the budget is no longer ``normal``; while
it is normal, a tenant may use what others leave unused.

Accounting is batched: each process counts reads in memory and adds them to the shared counters
(``ReadBudgetStore.record``: one DynamoDB update for the app and one per tenant) once ``flush_every``
reads are pending or the oldest is ``flush_seconds`` old, and when a caller flushes at the end of its
work. Decisions use the app total the last flush returned plus what is pending here, so a process never
needs a DynamoDB read per QBO read. A container recycled with reads pending loses at most
``flush_every - 1`` of them from the count (never a write or a change).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from qbosync.errors import QbosyncError
from qbosync.observability import logger


class ReadPurpose(StrEnum):
    """Why a read is made; the degradation order ranks them."""

    PUSH_LOOKUP = "push_lookup"
    PULL = "pull"
    ONBOARDING = "onboarding"
    ADMIN = "admin"
    RECONCILE = "reconcile"


class ReadKind(StrEnum):
    """What kind of metered call a read is (Intuit meters them alike; the count shows the mix)."""

    READ = "read"
    QUERY = "query"
    CDC = "cdc"
    REPORT = "report"


class BudgetLevel(StrEnum):
    NORMAL = "normal"
    LOW = "low"
    """Within two reserves of the allowance: reconciliation slowed, fair shares enforced."""
    EXHAUSTED = "exhausted"
    """Within one reserve: only pushes, pulls and (down to half the reserve) admin reads go on."""


DISCRETIONARY = frozenset({ReadPurpose.RECONCILE, ReadPurpose.ADMIN, ReadPurpose.ONBOARDING})


class ReadBudgetExhausted(QbosyncError):
    """A discretionary read refused because the app's monthly read budget is too low for it."""

    status = 429
    code = "read_budget_exhausted"


def month_of(epoch_seconds: float) -> str:
    """The budget month (``YYYY-MM``, UTC) an instant falls in."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class ReadBudgetPolicy:
    """The monthly allowance, the reserve kept for pushes and pulls, and what each level permits."""

    monthly_allowance: int
    reserve: int

    def level(self, used: int) -> BudgetLevel:
        remaining = self.monthly_allowance - used
        if remaining <= self.reserve:
            return BudgetLevel.EXHAUSTED
        if remaining <= 2 * self.reserve:
            return BudgetLevel.LOW
        return BudgetLevel.NORMAL

    def floor(self, purpose: ReadPurpose) -> int | None:
        """The remaining reads at which ``purpose`` stops (None: qbosync never stops it)."""
        if purpose is ReadPurpose.RECONCILE:
            return self.reserve
        if purpose in (ReadPurpose.ADMIN, ReadPurpose.ONBOARDING):
            return self.reserve // 2
        return None

    def tenant_share(self, tenants: int) -> int:
        """A tenant's fair share of the month's discretionary reads."""
        return max(self.monthly_allowance - self.reserve, 0) // max(tenants, 1)

    def allows(self, purpose: ReadPurpose, used: int, tenant_discretionary: int, tenants: int) -> bool:
        """Whether a read for ``purpose`` may go out with ``used`` reads counted app-wide this month."""
        floor = self.floor(purpose)
        if floor is None:
            return True
        if self.monthly_allowance - used <= floor:
            return False
        over_share = tenant_discretionary >= self.tenant_share(tenants)
        return not (over_share and self.level(used) is not BudgetLevel.NORMAL)


class AppUsage(BaseModel):
    """The app's reads in one month, as the shared counter holds them."""

    month: str
    used: int = 0
    by_purpose: dict[str, int] = {}
    tenants: int = 0


class TenantUsage(BaseModel):
    """One tenant's reads (and source calls) in one month."""

    month: str
    tenant_id: str
    used: int = 0
    by_purpose: dict[str, int] = {}
    source_calls: int = 0

    @property
    def discretionary(self) -> int:
        return sum(self.by_purpose.get(purpose.value, 0) for purpose in DISCRETIONARY)


class ReadBudgetStore(Protocol):
    """The shared counters (``qbosync.store.read_budget.DynamoReadBudgetStore`` implements it)."""

    def record(
        self, month: str, tenant_id: str, reads: Mapping[str, int], source_calls: int
    ) -> tuple[AppUsage, TenantUsage]:
        """Add a tenant's counts; both totals as they are afterwards."""
        ...

    def app_usage(self, month: str) -> AppUsage: ...

    def tenant_usage(self, month: str, tenant_id: str) -> TenantUsage: ...


class ReadBudgetStatus(BaseModel):
    """The app's budget as the API shows it (``GET /budget``)."""

    month: str
    level: BudgetLevel
    allowance: int
    reserve: int
    used: int
    remaining: int
    tenants: int
    by_purpose: dict[str, int]


class TenantReadBudget(BaseModel):
    """One tenant's view of the budget (``read_budget`` of ``GET /tenants/{t}/read-budget``)."""

    month: str
    level: BudgetLevel
    allowance: int
    used: int
    tenant_used: int
    tenant_discretionary: int
    share: int
    by_purpose: dict[str, int]
    source_calls: int
    reconcile_allowed: bool
    admin_reads_allowed: bool


@dataclass
class _Pending:
    reads: Counter[str] = field(default_factory=Counter)
    source_calls: int = 0


class ReadBudget:
    """This process's meter on the shared budget: decides, counts, and flushes counts in batches."""

    def __init__(
        self,
        policy: ReadBudgetPolicy,
        store: ReadBudgetStore,
        *,
        clock: Callable[[], float] = time.time,
        flush_every: int = 25,
        flush_seconds: float = 60.0,
        on_flush: Callable[[Mapping[str, int]], None] | None = None,
    ) -> None:
        self.policy = policy
        self._store = store
        self._clock = clock
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._on_flush = on_flush
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._pending_since: float | None = None
        self._app: AppUsage | None = None
        self._app_read_at = 0.0
        self._tenants: dict[str, TenantUsage] = {}

    # --- deciding ---------------------------------------------------------------------------------

    def month(self) -> str:
        return month_of(self._clock())

    def allows(self, tenant_id: str, purpose: ReadPurpose) -> bool:
        """Whether ``tenant_id`` may read for ``purpose`` now (pending counts included)."""
        app = self._app_usage()
        tenant = self._tenant_usage(tenant_id)
        pending = self._pending.get(tenant_id)
        pending_discretionary = (
            sum(pending.reads.get(p.value, 0) for p in DISCRETIONARY) if pending is not None else 0
        )
        return self.policy.allows(
            purpose,
            app.used + self._pending_total(),
            tenant.discretionary + pending_discretionary,
            max(app.tenants, 1),
        )

    def level(self) -> BudgetLevel:
        return self.policy.level(self._app_usage().used + self._pending_total())

    # --- counting ---------------------------------------------------------------------------------

    def draw(self, tenant_id: str, purpose: ReadPurpose, kind: ReadKind, *, check: bool = True) -> None:
        """Count one read; ``ReadBudgetExhausted`` (nothing counted) when ``check`` and it is not allowed."""
        if check and not self.allows(tenant_id, purpose):
            raise ReadBudgetExhausted(
                f"the app's QuickBooks read budget for {self.month()} is too low for {purpose.value} reads;"
                " pushes go on, and this is possible again when the budget recovers",
                details=[{"purpose": purpose.value, "kind": kind.value, "level": self.level().value}],
            )
        with self._lock:
            self._pending.setdefault(tenant_id, _Pending()).reads[purpose.value] += 1
            self._pending_since = self._pending_since or self._clock()
        self._flush_if_due()

    def count_source_calls(self, tenant_id: str, calls: int) -> None:
        """Count calls made to the tenant's source (its vendor's API), flushed with the reads."""
        if calls <= 0:
            return
        with self._lock:
            self._pending.setdefault(tenant_id, _Pending()).source_calls += calls
            self._pending_since = self._pending_since or self._clock()
        self._flush_if_due()

    def flush(self) -> None:
        """Add every pending count to the shared counters; what the store refused stays pending."""
        with self._lock:
            pending, self._pending, self._pending_since = self._pending, {}, None
        month = self.month()
        unflushed = list(pending)
        try:
            for tenant_id, counts in pending.items():
                app, tenant = self._store.record(month, tenant_id, dict(counts.reads), counts.source_calls)
                unflushed.remove(tenant_id)
                self._app, self._app_read_at = app, self._clock()
                self._tenants[tenant_id] = tenant
                if self._on_flush is not None and counts.reads:
                    self._on_flush(dict(counts.reads))
        finally:
            if unflushed:
                self._keep_pending({tenant_id: pending[tenant_id] for tenant_id in unflushed})

    def _keep_pending(self, counts: Mapping[str, _Pending]) -> None:
        with self._lock:
            for tenant_id, kept in counts.items():
                mine = self._pending.setdefault(tenant_id, _Pending())
                mine.reads.update(kept.reads)
                mine.source_calls += kept.source_calls
            self._pending_since = self._pending_since or self._clock()

    # --- showing ------------------------------------------------------------------------------------

    def status(self) -> ReadBudgetStatus:
        app = self._fresh_app_usage()
        used = app.used + self._pending_total()
        return ReadBudgetStatus(
            month=app.month,
            level=self.policy.level(used),
            allowance=self.policy.monthly_allowance,
            reserve=self.policy.reserve,
            used=used,
            remaining=max(self.policy.monthly_allowance - used, 0),
            tenants=app.tenants,
            by_purpose=app.by_purpose,
        )

    def tenant_status(self, tenant_id: str) -> TenantReadBudget:
        app = self._fresh_app_usage()
        tenant = self._store.tenant_usage(app.month, tenant_id)
        self._tenants[tenant_id] = tenant
        used = app.used + self._pending_total()
        return TenantReadBudget(
            month=app.month,
            level=self.policy.level(used),
            allowance=self.policy.monthly_allowance,
            used=used,
            tenant_used=tenant.used,
            tenant_discretionary=tenant.discretionary,
            share=self.policy.tenant_share(max(app.tenants, 1)),
            by_purpose=tenant.by_purpose,
            source_calls=tenant.source_calls,
            reconcile_allowed=self.allows(tenant_id, ReadPurpose.RECONCILE),
            admin_reads_allowed=self.allows(tenant_id, ReadPurpose.ADMIN),
        )

    # --- plumbing -----------------------------------------------------------------------------------

    def _pending_total(self) -> int:
        return sum(sum(p.reads.values()) for p in self._pending.values())

    def _flush_if_due(self) -> None:
        pending = self._pending_total()
        since = self._pending_since
        old = since is not None and self._clock() - since >= self._flush_seconds
        if pending >= self._flush_every or old:
            try:
                self.flush()
            except Exception:
                # Counting must never stop a read: the counts stay pending for the next flush.
                logger.exception("the read budget's counts could not be stored; kept for the next flush")

    def _app_usage(self) -> AppUsage:
        """The app total: the last one a flush returned, re-read once it is ``flush_seconds`` old or
        from another month."""
        month = self.month()
        stale = self._clock() - self._app_read_at >= self._flush_seconds
        if self._app is None or self._app.month != month or stale:
            return self._fresh_app_usage()
        return self._app

    def _fresh_app_usage(self) -> AppUsage:
        self._app, self._app_read_at = self._store.app_usage(self.month()), self._clock()
        return self._app

    def _tenant_usage(self, tenant_id: str) -> TenantUsage:
        month = self.month()
        known = self._tenants.get(tenant_id)
        if known is None or known.month != month:
            known = self._tenants[tenant_id] = self._store.tenant_usage(month, tenant_id)
        return known


@dataclass(frozen=True)
class TenantReads:
    """The read meter one QBO client draws on: one tenant, one purpose (``QboClient(reads=...)``)."""

    budget: ReadBudget
    tenant_id: str
    purpose: ReadPurpose

    def draw(self, kind: ReadKind, *, retry: bool = False) -> None:
        # A retry of a read already admitted is counted (Intuit meters it) but never refused halfway.
        self.budget.draw(self.tenant_id, self.purpose, kind, check=not retry)


class InMemoryReadBudgetStore:
    """The shared counters in one process (unit tests, benchmarks)."""

    def __init__(self) -> None:
        self.apps: dict[str, AppUsage] = {}
        self.tenant_usages: dict[tuple[str, str], TenantUsage] = {}
        self.records = 0

    def record(
        self, month: str, tenant_id: str, reads: Mapping[str, int], source_calls: int
    ) -> tuple[AppUsage, TenantUsage]:
        self.records += 1
        tenant = self.tenant_usage(month, tenant_id)
        app = self.app_usage(month)
        first = (tenant.used, tenant.source_calls) == (0, 0) and (month, tenant_id) not in self.tenant_usages
        added = sum(reads.values())
        by_purpose = Counter(tenant.by_purpose) + Counter(reads)
        tenant = tenant.model_copy(
            update={
                "used": tenant.used + added,
                "by_purpose": dict(by_purpose),
                "source_calls": tenant.source_calls + source_calls,
            }
        )
        app = app.model_copy(
            update={
                "used": app.used + added,
                "by_purpose": dict(Counter(app.by_purpose) + Counter(reads)),
                "tenants": app.tenants + (1 if first else 0),
            }
        )
        self.tenant_usages[(month, tenant_id)], self.apps[month] = tenant, app
        return app, tenant

    def app_usage(self, month: str) -> AppUsage:
        return self.apps.get(month, AppUsage(month=month))

    def tenant_usage(self, month: str, tenant_id: str) -> TenantUsage:
        return self.tenant_usages.get((month, tenant_id), TenantUsage(month=month, tenant_id=tenant_id))
