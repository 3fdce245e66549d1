"""HMAC-SHA256 signatures of source webhooks.

The source signs ``f"{timestamp}.{raw body}"`` with the tenant's webhook secret and sends
``X-Source-Timestamp: <unix seconds>`` and ``X-Source-Signature: v1=<hex>``. Several ``v1=`` values,
comma-separated, are accepted so a source can sign with an old and a new secret while rotating.
Binding the timestamp into the signature is what makes the replay window enforceable.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from qbosync.source.errors import SignatureInvalid, TimestampOutOfWindow

TIMESTAMP_HEADER = "X-Source-Timestamp"
SIGNATURE_HEADER = "X-Source-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_WINDOW_SECONDS = 300

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v1=([0-9a-f]{64})$")


def _digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Source-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"{SIGNATURE_SCHEME}={_digest(secret, timestamp, body)}"


def verify(
    secret: str | bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    *,
    window: int = DEFAULT_WINDOW_SECONDS,
) -> None:
    """Return quietly if ``body`` was signed with ``secret`` within ``window`` seconds of ``now``.

    Raises ``SignatureInvalid`` for a missing, malformed or wrong signature or timestamp, and
    ``TimestampOutOfWindow`` for a well-formed timestamp that is too old or too far ahead.
    Messages never include the signature or the secret.
    """
    if not timestamp_header or not _TIMESTAMP.match(timestamp_header.strip()):
        raise SignatureInvalid(
            f"{TIMESTAMP_HEADER} is missing or not unix seconds", code="timestamp_malformed"
        )
    if not signature_header:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is missing", code="signature_missing")
    candidates: list[str] = []
    for part in signature_header.split(","):
        match = _SIGNATURE.match(part.strip())
        if match is None:
            raise SignatureInvalid(
                f"{SIGNATURE_HEADER} must be one or more 'v1=<64 hex digits>' values",
                code="signature_malformed",
            )
        candidates.append(match.group(1))

    timestamp = int(timestamp_header.strip())
    skew = now - timestamp
    if abs(skew) > window:
        raise TimestampOutOfWindow(
            "the webhook timestamp is outside the accepted window",
            details=[{"window_seconds": window, "skew_seconds": round(skew)}],
        )

    expected = _digest(secret, timestamp, body)
    # Compare against every candidate, without short-circuiting, in constant time each.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise SignatureInvalid("the webhook signature does not match its body")
