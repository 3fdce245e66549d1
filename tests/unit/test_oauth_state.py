"""OAuth state values: signed, bound to tenant and admin, expiring."""

from __future__ import annotations

import pytest

from qbosync.store.oauth_states import StateInvalid
from qbosync.sync.oauth_state import OAuthStateSigner, browser_hash, same_browser

KEY = b"k" * 32


def test_given_a_signed_state_when_verified_for_the_same_tenant_and_admin_then_it_passes() -> None:
    signer = OAuthStateSigner(KEY)
    state = signer.sign("nonce-1", 1_000, "acme", "admin-1", browser_hash="b")
    parsed = signer.parse(state)
    signer.verify(parsed, "acme", "admin-1", now=999, browser_hash="b")
    assert parsed.nonce == "nonce-1"


@pytest.mark.parametrize(("tenant", "admin"), [("globex", "admin-1"), ("acme", "admin-2")])
def test_given_a_state_when_verified_for_another_tenant_or_admin_then_it_is_refused(
    tenant: str, admin: str
) -> None:
    signer = OAuthStateSigner(KEY)
    parsed = signer.parse(signer.sign("nonce-1", 1_000, "acme", "admin-1", browser_hash="b"))
    with pytest.raises(StateInvalid, match="not issued"):
        signer.verify(parsed, tenant, admin, now=0, browser_hash="b")


def test_given_an_expired_state_when_verified_then_it_is_refused() -> None:
    signer = OAuthStateSigner(KEY)
    parsed = signer.parse(signer.sign("nonce-1", 1_000, "acme", "admin-1", browser_hash="b"))
    with pytest.raises(StateInvalid, match="expired"):
        signer.verify(parsed, "acme", "admin-1", now=1_000, browser_hash="b")


def test_given_a_state_signed_with_another_key_then_it_is_refused() -> None:
    forged = OAuthStateSigner(b"x" * 32).sign("nonce-1", 1_000, "acme", "admin-1", browser_hash="b")
    signer = OAuthStateSigner(KEY)
    with pytest.raises(StateInvalid):
        signer.verify(signer.parse(forged), "acme", "admin-1", now=0, browser_hash="b")


@pytest.mark.parametrize("value", ["", "v1", "v2.n.1.s", "v1.n.notanumber.s", "v1..1.s", "v1.n.1."])
def test_given_a_malformed_state_when_parsed_then_it_is_refused(value: str) -> None:
    with pytest.raises(StateInvalid, match="malformed"):
        OAuthStateSigner.parse(value)


def test_given_a_short_key_then_the_signer_refuses_it() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        OAuthStateSigner(b"short")


def test_given_a_state_when_verified_for_another_browser_then_it_is_refused() -> None:
    signer = OAuthStateSigner(KEY)
    parsed = signer.parse(signer.sign("nonce-1", 1_000, "acme", "admin-1", browser_hash=browser_hash("mine")))

    with pytest.raises(StateInvalid, match="not issued"):
        signer.verify(parsed, "acme", "admin-1", now=0, browser_hash=browser_hash("theirs"))


@pytest.mark.parametrize(("cookie", "same"), [("mine", True), ("theirs", False), (None, False), ("", False)])
def test_given_a_callback_cookie_when_compared_with_the_bound_hash_then_only_the_starting_browser_matches(
    cookie: str | None, same: bool
) -> None:
    assert same_browser(cookie, browser_hash("mine")) is same
