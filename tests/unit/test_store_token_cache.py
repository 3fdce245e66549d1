"""TokenCache: the vault's in-process cache, with an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from qbosync.store.tokens import StoredTokens, TokenCache

AT = datetime(2026, 11, 1, tzinfo=UTC)


def tokens(version: int) -> StoredTokens:
    return StoredTokens(
        realm_id="1",
        access_token=SecretStr(f"a{version}"),
        access_token_expires_at=AT,
        refresh_token=SecretStr(f"r{version}"),
        version=version,
        refreshed_at=AT,
    )


def test_given_a_cached_entry_when_its_time_passes_then_it_is_gone() -> None:
    cache = TokenCache()
    cache.put("s", tokens(1), fresh_until=100.0, now=0.0)

    assert cache.get("s", 99.0) == tokens(1)
    assert cache.get("s", 100.0) is None


def test_given_a_fresh_newer_version_when_an_older_one_arrives_then_the_newer_stays() -> None:
    cache = TokenCache()
    cache.put("s", tokens(3), fresh_until=100.0, now=0.0)

    cache.put("s", tokens(2), fresh_until=200.0, now=10.0)

    assert cache.get("s", 20.0) == tokens(3)


def test_given_an_expired_newer_version_when_an_older_one_arrives_then_it_replaces_it() -> None:
    cache = TokenCache()
    cache.put("s", tokens(3), fresh_until=100.0, now=0.0)

    cache.put("s", tokens(1), fresh_until=300.0, now=150.0)

    assert cache.get("s", 160.0) == tokens(1)
