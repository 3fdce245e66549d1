"""Signed, single-use, expiring OAuth ``state`` values bound to a tenant, an admin and a browser.

The value sent to Intuit is ``v1.<nonce>.<expires_at>.<signature>``. The nonce and what it is bound to
(tenant, admin, and the SHA-256 of a random browser key set as a cookie on the connect redirect) are
also stored server-side. The callback reads that record, checks the signature against it and the
browser's cookie against its hash, and only then consumes it (single use): a forged state cannot burn
the genuine one, and an authorize URL used from another browser (without the cookie) connects nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from qbosync.store.oauth_states import StateInvalid

STATE_LIFETIME_SECONDS = 600
_VERSION = "v1"


@dataclass(frozen=True)
class ParsedState:
    nonce: str
    expires_at: int
    signature: str


class OAuthStateSigner:
    """Issues and checks ``state`` values with an HMAC-SHA256 key held in Secrets Manager."""

    def __init__(self, key: bytes | Callable[[], bytes]):
        """``key`` or a provider of it (read through a max-age cache, so a rotated key is picked up)."""
        self._key = key
        if isinstance(key, bytes):
            self._checked(key)

    @staticmethod
    def _checked(key: bytes) -> bytes:
        if len(key) < 32:
            raise ValueError("the state-signing key must be at least 32 bytes")
        return key

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def new_browser_key() -> str:
        """A secret for the admin's browser (a cookie); only its hash goes into the state and the store."""
        return secrets.token_urlsafe(32)

    def sign(self, nonce: str, expires_at: int, tenant_id: str, admin_sub: str, *, browser_hash: str) -> str:
        """The state value for a nonce bound to this tenant, admin and browser until ``expires_at``."""
        signature = self._signature(nonce, expires_at, tenant_id, admin_sub, browser_hash)
        return f"{_VERSION}.{nonce}.{expires_at}.{signature}"

    @staticmethod
    def parse(state: str) -> ParsedState:
        """Split a state value; anything not of our shape is ``StateInvalid``."""
        parts = state.split(".")
        if len(parts) != 4 or parts[0] != _VERSION or not parts[2].isdigit() or not parts[1] or not parts[3]:
            raise StateInvalid("The OAuth state is malformed.")
        return ParsedState(nonce=parts[1], expires_at=int(parts[2]), signature=parts[3])

    def verify(
        self, parsed: ParsedState, tenant_id: str, admin_sub: str, now: float, *, browser_hash: str
    ) -> None:
        """Check the signature against what the nonce was bound to, and the expiry."""
        expected = self._signature(parsed.nonce, parsed.expires_at, tenant_id, admin_sub, browser_hash)
        if not hmac.compare_digest(expected, parsed.signature):
            raise StateInvalid("The OAuth state was not issued by qbosync for this tenant.")
        if now >= parsed.expires_at:
            raise StateInvalid("The OAuth state has expired; start the connection again.")

    def _signature(
        self, nonce: str, expires_at: int, tenant_id: str, admin_sub: str, browser_hash: str
    ) -> str:
        message = "\n".join((_VERSION, nonce, str(expires_at), tenant_id, admin_sub, browser_hash)).encode()
        key = self._key if isinstance(self._key, bytes) else self._checked(self._key())
        return hmac.new(key, message, hashlib.sha256).hexdigest()


def browser_hash(browser_key: str) -> str:
    """What the state and the store keep of a browser key: its SHA-256, hex."""
    return hashlib.sha256(browser_key.encode()).hexdigest()


def same_browser(browser_key: str | None, expected_hash: str) -> bool:
    """True when the callback's cookie is the key whose hash the state was bound to (constant time)."""
    if not browser_key or not expected_hash:
        return False
    return hmac.compare_digest(browser_hash(browser_key), expected_hash)
