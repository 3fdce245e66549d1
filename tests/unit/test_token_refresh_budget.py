"""The token refresh's time bounds: the lock's lease must outlast the longest refresh, or nothing starts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qbosync.settings import TokenRefreshBudget, get_token_refresh_budget


def test_given_the_defaults_when_read_then_the_lease_outlasts_the_longest_refresh() -> None:
    budget = TokenRefreshBudget()

    assert budget.refresh_worst_seconds == 4 * 2.5 + 12.0 + 1.0
    assert budget.lock_lease_seconds > budget.refresh_worst_seconds


def test_given_a_lease_shorter_than_the_refresh_when_configured_then_the_variable_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QBOSYNC_TOKEN_LOCK_LEASE_SECONDS", "20")

    with pytest.raises(ValidationError, match="QBOSYNC_TOKEN_LOCK_LEASE_SECONDS"):
        get_token_refresh_budget()


def test_given_slower_intuit_timeouts_when_the_lease_grows_with_them_then_they_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QBOSYNC_TOKEN_INTUIT_TIMEOUT_SECONDS", "10")
    monkeypatch.setenv("QBOSYNC_TOKEN_LOCK_LEASE_SECONDS", "60")

    assert get_token_refresh_budget().refresh_worst_seconds == 53.0


def test_given_a_store_budget_smaller_than_one_aws_attempt_when_configured_then_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="QBOSYNC_TOKEN_STORE_BUDGET_SECONDS"):
        TokenRefreshBudget(store_budget_seconds=1.0)
