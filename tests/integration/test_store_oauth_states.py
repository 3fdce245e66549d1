"""OAuthStateRepository against moto: single use and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.errors import Conflict
from qbosync.store.oauth_states import OAuthStateRepository, StateInvalid

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_given_a_saved_state_when_consumed_in_time_then_its_tenant_and_admin_return(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10), browser_hash="b")

    state = repository.consume("nonce-1", NOW + timedelta(minutes=1))

    assert (state.tenant_id, state.admin_sub, state.expires_at) == (
        "t1",
        "admin-1",
        NOW + timedelta(minutes=10),
    )


def test_given_a_consumed_state_when_consumed_again_then_state_invalid(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10), browser_hash="b")
    repository.consume("nonce-1", NOW)

    with pytest.raises(StateInvalid):
        repository.consume("nonce-1", NOW)


def test_given_an_expired_state_when_consumed_then_state_invalid(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10), browser_hash="b")

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
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10), browser_hash="b")

    with pytest.raises(Conflict):
        repository.save("nonce-1", "t2", "admin-2", NOW + timedelta(minutes=10), browser_hash="b")


def test_given_a_saved_state_when_peeked_then_it_is_bound_to_its_browser_and_still_consumable(
    main_table: str,
) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10), browser_hash="b")

    peeked = repository.peek("nonce-1", NOW)
    consumed = repository.consume("nonce-1", NOW)

    assert (peeked.tenant_id, peeked.browser_hash) == ("t1", "b")
    assert consumed == peeked


def test_given_an_unknown_or_expired_nonce_when_peeked_then_state_invalid(main_table: str) -> None:
    repository = OAuthStateRepository()
    repository.save("nonce-1", "t1", "admin-1", NOW + timedelta(minutes=10), browser_hash="b")

    for nonce, now in (("nonce-2", NOW), ("nonce-1", NOW + timedelta(minutes=10)), ("a#b", NOW)):
        with pytest.raises(StateInvalid):
            repository.peek(nonce, now)
