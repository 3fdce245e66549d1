"""DynamoReadBudgetStore and ReconcileSignalRepository against moto."""

from __future__ import annotations

from datetime import UTC, datetime

from qbosync.store.read_budget import DynamoReadBudgetStore
from qbosync.store.reconcile_signals import GapReason, ReconcileSignalRepository

MONTH = "2026-12"


def test_given_two_flushes_of_a_tenant_when_recorded_then_counts_add_up_and_the_tenant_counts_once(
    main_table: str,
) -> None:
    store = DynamoReadBudgetStore()

    store.record(MONTH, "t1", {"pull": 3, "reconcile": 1}, 0)
    app, tenant = store.record(MONTH, "t1", {"pull": 2}, 5)
    store.record(MONTH, "t2", {"admin": 4}, 0)

    assert (app.used, app.tenants, app.by_purpose) == (6, 1, {"pull": 5, "reconcile": 1})
    assert (tenant.used, tenant.source_calls, tenant.discretionary) == (6, 5, 1)
    everyone = store.app_usage(MONTH)
    assert (everyone.used, everyone.tenants, everyone.by_purpose["admin"]) == (10, 2, 4)
    assert store.tenant_usage(MONTH, "t2").by_purpose == {"admin": 4}


def test_given_another_month_when_read_then_it_starts_from_zero(main_table: str) -> None:
    store = DynamoReadBudgetStore()
    store.record(MONTH, "t1", {"pull": 3}, 0)

    assert store.app_usage("2027-01").used == 0
    assert store.tenant_usage("2027-01", "t1").used == 0


def test_given_signals_raised_when_read_back_then_each_is_kept(main_table: str) -> None:
    signals = ReconcileSignalRepository()
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    signals.request("t1", at)
    signals.mark_gap("t1", GapReason.PULL_DEAD_LETTER, at)
    signals.mark_gap("t1", GapReason.LATE_WEBHOOK, at)
    signals.source_ran("t1", 2, at)
    signals.deferred("t1", at, "budget_stopped")
    seen = signals.get("t1")
    signals.deferred("t1", None, None)

    assert (seen.requested_at, seen.gap_at, seen.gap_reason) == (at, at, GapReason.PULL_DEAD_LETTER)
    assert (seen.webhook_gap_at, seen.webhook_gap_reason) == (at, GapReason.LATE_WEBHOOK)  # kept apart
    assert (seen.source_idle_runs, seen.source_next_at, seen.deferred_reason) == (2, at, "budget_stopped")
    assert signals.get("t1").deferred_at is None
    assert signals.get("t2").requested_at is None
