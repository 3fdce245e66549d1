"""OAuthStateRepository against moto: single use and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.errors import Conflict
from qbosync.store.oauth_states import OAuthStateRepository, StateInvalid

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_given_a_saved_state_when_consumed_in_time_then_its_tenant_and_admin_return(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10))

    state = repository.consume("nonce-1", NOW + timedelta(minutes=1))

    assert (state.tenant_id, state.admin_sub, state.expires_at) == (
        "t1",
        "admin-1",
        NOW + timedelta(minutes=10),
    )


def test_given_a_consumed_state_when_consumed_again_then_state_invalid(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10))
    repository.consume("nonce-1", NOW)

    with pytest.raises(StateInvalid):
        repository.consume("nonce-1", NOW)


def test_given_an_expired_state_when_consumed_then_state_invalid(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10))

    with pytest.raises(StateInvalid):
        repository.consume("nonce-1", NOW + timedelta(minutes=10, seconds=1))


def test_given_an_unknown_state_when_consumed_then_state_invalid(main_table: str) -> None:
    with pytest.raises(StateInvalid):
        OAuthStateRepository().consume("never-issued", NOW)


def test_given_a_malformed_state_when_consumed_then_state_invalid(main_table: str) -> None:
    with pytest.raises(StateInvalid):
        OAuthStateRepository().consume("a#b", NOW)


def test_given_a_saved_nonce_when_saved_again_then_conflict(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10))

    with pytest.raises(Conflict):
        repository.save("nonce-1", "t2", "admin-2", NOW + timedelta(minutes=10))
