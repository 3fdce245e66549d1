"""When reconciliation reads: the backstop CDC (daily, sooner after a gap or a request, slowed then stopped
by the read budget) and the source listing's backoff, decided on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.qbo.read_budget import InMemoryReadBudgetStore, ReadBudget, ReadBudgetPolicy, month_of
from qbosync.store.events import EventStatus, SyncEvent
from qbosync.store.reconcile_signals import GapReason, ReconcileSignals
from qbosync.store.table import Page
from qbosync.sync.backstop import DueReason, ReconcileCadence, webhooks_quiet

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TENANT = "acme"


class FakeSignals:
    """The signal store in memory, as ``ReconcileSignalRepository`` keeps it."""

    def __init__(self) -> None:
        self.by_tenant: dict[str, ReconcileSignals] = {}

    def get(self, tenant_id: str) -> ReconcileSignals:
        return self.by_tenant.get(tenant_id, ReconcileSignals())

    def _update(self, tenant_id: str, **values: object) -> None:
        self.by_tenant[tenant_id] = self.get(tenant_id).model_copy(update=values)

    def request(self, tenant_id: str, at: datetime) -> None:
        self._update(tenant_id, requested_at=at)

    def mark_gap(self, tenant_id: str, reason: GapReason, at: datetime) -> None:
        self.by_tenant[tenant_id] = self.get(tenant_id).with_gap(reason, at)

    def source_ran(self, tenant_id: str, idle_runs: int, next_at: datetime | None) -> None:
        self._update(tenant_id, source_idle_runs=idle_runs, source_next_at=next_at)

    def deferred(self, tenant_id: str, at: datetime | None, reason: str | None) -> None:
        self._update(tenant_id, deferred_at=at, deferred_reason=reason)


class World:
    def __init__(self) -> None:
        self.now = T0
        self.signals = FakeSignals()
        self.store = InMemoryReadBudgetStore()
        budget = ReadBudget(ReadBudgetPolicy(1_000, 100), self.store, clock=self.epoch)
        self.cadence = ReconcileCadence(
            signals=self.signals,
            budget=budget,
            backstop_interval=timedelta(hours=24),
            low_budget_factor=4,
            source_max_backoff=timedelta(hours=4),
        )

    def epoch(self) -> float:
        return self.now.timestamp()

    def others_read(self, reads: int) -> None:
        self.store.record(month_of(self.now.timestamp()), "others", {"pull": reads}, 0)

    def qbo_due(self, last_run: datetime | None) -> tuple[bool, DueReason]:
        due = self.cadence.qbo_due(TENANT, last_run, self.now)
        return due.due, due.reason


@pytest.fixture(name="world")
def world_fixture() -> World:
    return World()


def test_given_no_run_yet_when_asked_then_the_backstop_is_due(world: World) -> None:
    assert world.qbo_due(None) == (True, DueReason.FIRST_RUN)


def test_given_webhooks_flowing_when_less_than_a_day_passed_then_the_backstop_waits_until_the_day_is_over(
    world: World,
) -> None:
    world.now = T0 + timedelta(hours=23, minutes=45)
    due = world.cadence.qbo_due(TENANT, T0, world.now)

    assert (due.due, due.reason, due.next_due_at) == (False, DueReason.NOT_DUE, T0 + timedelta(hours=24))

    world.now = T0 + timedelta(hours=24)
    assert world.qbo_due(T0) == (True, DueReason.INTERVAL)


def test_given_a_gap_detected_after_the_last_run_when_the_next_tick_comes_then_the_backstop_runs(
    world: World,
) -> None:
    world.signals.mark_gap(TENANT, GapReason.PULL_DEAD_LETTER, T0 + timedelta(hours=2))
    world.now = T0 + timedelta(hours=2, minutes=15)  # the next 15-minute tick

    assert world.qbo_due(T0) == (True, DueReason.GAP)
    assert world.qbo_due(T0 + timedelta(hours=2, minutes=1)) == (False, DueReason.NOT_DUE)  # consumed


def test_given_an_admins_request_when_the_next_tick_comes_then_both_directions_run(world: World) -> None:
    world.cadence.source_ran(TENANT, T0, 0, world.signals.get(TENANT))
    world.signals.request(TENANT, T0 + timedelta(minutes=5))
    world.now = T0 + timedelta(minutes=15)

    assert world.qbo_due(T0) == (True, DueReason.ON_DEMAND)
    assert world.cadence.source_due(TENANT, T0, world.now).reason is DueReason.ON_DEMAND


def test_given_a_low_budget_when_a_day_passed_then_the_backstop_is_slowed_by_its_factor(world: World) -> None:
    world.others_read(850)
    world.now = T0 + timedelta(hours=24)

    assert world.qbo_due(T0) == (False, DueReason.NOT_DUE)
    assert world.cadence.qbo_due(TENANT, T0, world.now).next_due_at == T0 + timedelta(hours=96)

    world.now = T0 + timedelta(hours=96)
    assert world.qbo_due(T0) == (True, DueReason.INTERVAL)


def test_given_an_exhausted_budget_when_a_gap_or_request_makes_it_due_then_it_is_held_back(
    world: World,
) -> None:
    world.others_read(950)
    world.signals.mark_gap(TENANT, GapReason.PULL_DEAD_LETTER, T0 + timedelta(hours=1))
    world.signals.request(TENANT, T0 + timedelta(hours=1))
    world.now = T0 + timedelta(days=5)

    assert world.qbo_due(T0) == (False, DueReason.BUDGET_STOPPED)
    assert world.qbo_due(None) == (False, DueReason.BUDGET_STOPPED)


def test_given_source_runs_finding_nothing_when_repeated_then_the_wait_doubles_up_to_the_maximum(
    world: World,
) -> None:
    waits = []
    for _ in range(5):
        world.cadence.source_ran(TENANT, world.now, 0, world.signals.get(TENANT))
        next_at = world.signals.get(TENANT).source_next_at
        assert next_at is not None
        waits.append(next_at - world.now)
        world.now = next_at

    assert waits == [timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), *[timedelta(hours=4)] * 2]
    assert world.cadence.source_due(TENANT, T0, world.now).reason is DueReason.INTERVAL
    assert world.cadence.source_due(TENANT, T0, world.now - timedelta(minutes=1)).due is False


def test_given_a_source_run_finding_changes_when_backing_off_then_it_lists_every_tick_again(
    world: World,
) -> None:
    world.cadence.source_ran(TENANT, world.now, 0, world.signals.get(TENANT))
    world.cadence.source_ran(TENANT, world.now, 3, world.signals.get(TENANT))

    signals = world.signals.get(TENANT)
    assert (signals.source_idle_runs, signals.source_next_at) == (0, None)
    assert world.cadence.source_due(TENANT, T0, world.now).reason is DueReason.CHANGES_FLOWING


def _event(kind: str, at: datetime) -> SyncEvent:
    return SyncEvent(
        event_id=f"{kind}-{at.isoformat()}",
        tenant_id=TENANT,
        kind=kind,
        source_object_id="x",
        source_version=1,
        status="done",
        received_at=at,
        updated_at=at,
    )


class Events:
    """The tenant's finished events, newest first, as the events index lists them."""

    def __init__(self, *events: SyncEvent) -> None:
        self.events = sorted(events, key=lambda event: event.received_at, reverse=True)

    def list(
        self, tenant_id: str, status: EventStatus, *, limit: int = 50, cursor: str | None = None
    ) -> Page[SyncEvent]:
        return Page(items=self.events[:limit])


@pytest.mark.parametrize(
    ("events", "quiet"),
    [
        ([_event("invoice", T0 + timedelta(minutes=5))], True),  # written, no echo for 10+ minutes
        ([_event("invoice", T0 + timedelta(minutes=14))], False),  # still within the grace
        (
            [_event("invoice", T0 + timedelta(minutes=5)), _event("qbo.invoice", T0 + timedelta(minutes=6))],
            False,
        ),
        ([_event("invoice", T0 - timedelta(minutes=5))], False),  # before the last backstop: it covered it
        ([_event("qbo.customer", T0 + timedelta(minutes=1))], False),  # nothing written
    ],
)
def test_given_recent_events_when_checked_then_webhooks_are_quiet_only_after_an_unanswered_write(
    events: list[SyncEvent], quiet: bool
) -> None:
    assert webhooks_quiet(events, T0, T0 + timedelta(minutes=15)) is quiet


def test_given_a_write_whose_echo_never_came_when_the_next_tick_checks_then_a_gap_makes_the_backstop_due(
    world: World,
) -> None:
    world.cadence.events = Events(_event("payment", T0 + timedelta(hours=3)))
    world.now = T0 + timedelta(hours=3, minutes=15)

    signals = world.cadence.detect_gaps(TENANT, T0, world.now, world.signals.get(TENANT))
    due = world.cadence.qbo_due(TENANT, T0, world.now, signals)

    assert (due.due, due.reason) == (True, DueReason.GAP)
    assert world.signals.get(TENANT).gap_reason is GapReason.WEBHOOKS_QUIET


def test_given_a_gap_soon_after_the_last_run_when_the_next_tick_comes_then_it_waits_for_the_gap_interval(
    world: World,
) -> None:
    world.signals.mark_gap(TENANT, GapReason.UNVERIFIED_WEBHOOK, T0 + timedelta(minutes=10))
    world.now = T0 + timedelta(minutes=15)

    due = world.cadence.qbo_due(TENANT, T0, world.now)

    assert (due.due, due.reason, due.next_due_at) == (False, DueReason.GAP_WAITING, T0 + timedelta(hours=1))
    world.now = T0 + timedelta(hours=1)
    assert world.qbo_due(T0) == (True, DueReason.GAP)


def test_given_a_flood_of_gap_signals_for_a_day_when_every_tick_checks_then_one_early_cdc_an_hour_runs(
    world: World,
) -> None:
    last_run, runs = T0, 0
    for tick in range(1, 97):  # a day of 15-minute ticks, a gap signalled before each one
        world.now = T0 + tick * timedelta(minutes=15)
        world.signals.mark_gap(TENANT, GapReason.UNVERIFIED_WEBHOOK, world.now - timedelta(minutes=1))
        due = world.cadence.qbo_due(TENANT, last_run, world.now)
        if due.due:
            runs, last_run = runs + 1, world.now

    assert runs == 24  # not 96: the flood costs at most 24 CDC reads a day, one per gap_min_interval


def test_given_a_dead_lettered_pull_soon_after_the_last_run_when_the_next_tick_comes_then_it_is_not_spaced(
    world: World,
) -> None:
    world.signals.mark_gap(TENANT, GapReason.PULL_DEAD_LETTER, T0 + timedelta(minutes=10))
    world.now = T0 + timedelta(minutes=15)

    assert world.qbo_due(T0) == (True, DueReason.GAP)  # qbosync's own signal: no flood to bound


def test_given_a_dead_lettered_pull_and_a_flood_of_refused_webhooks_when_the_next_tick_comes_then_it_runs(
    world: World,
) -> None:
    world.signals.mark_gap(TENANT, GapReason.PULL_DEAD_LETTER, T0 + timedelta(minutes=5))
    world.signals.mark_gap(TENANT, GapReason.UNVERIFIED_WEBHOOK, T0 + timedelta(minutes=10))
    world.now = T0 + timedelta(minutes=15)

    assert world.qbo_due(T0) == (True, DueReason.GAP)  # the flood does not delay qbosync's own gap
    assert world.signals.get(TENANT).latest_gap() == (
        T0 + timedelta(minutes=10),
        GapReason.UNVERIFIED_WEBHOOK,
    )
