"""Source webhook signatures: HMAC-SHA256 over ``{timestamp}.{body}``, with a replay window."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from qbosync.source.errors import SignatureInvalid, TimestampOutOfWindow
from qbosync.source.signing import sign, verify

SECRET = "whsec_test_secret"
BODY = b'{"event_id":"evt_1","type":"invoice.updated"}'
NOW = 1_800_000_000


def test_given_a_body_signed_now_when_verified_then_it_passes() -> None:
    signature = sign(SECRET, NOW, BODY)

    verify(SECRET, str(NOW), signature, BODY, now=NOW)


def test_given_a_body_when_signed_then_the_value_is_v1_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert sign(SECRET, NOW, BODY) == f"v1={expected}"


def test_given_a_tampered_body_when_verified_then_signature_invalid() -> None:
    signature = sign(SECRET, NOW, BODY)

    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, str(NOW), signature, BODY.replace(b"updated", b"deleted"), now=NOW)

    assert caught.value.code == "signature_invalid"
    assert caught.value.status == 401


def test_given_a_signature_made_with_another_secret_when_verified_then_signature_invalid() -> None:
    signature = sign("whsec_someone_else", NOW, BODY)

    with pytest.raises(SignatureInvalid):
        verify(SECRET, str(NOW), signature, BODY, now=NOW)


def test_given_a_timestamp_older_than_the_window_when_verified_then_timestamp_out_of_window() -> None:
    stale = NOW - 301
    signature = sign(SECRET, stale, BODY)

    with pytest.raises(TimestampOutOfWindow) as caught:
        verify(SECRET, str(stale), signature, BODY, now=NOW)

    assert caught.value.code == "timestamp_out_of_window"


def test_given_a_timestamp_too_far_in_the_future_when_verified_then_timestamp_out_of_window() -> None:
    future = NOW + 301
    signature = sign(SECRET, future, BODY)

    with pytest.raises(TimestampOutOfWindow):
        verify(SECRET, str(future), signature, BODY, now=NOW)


def test_given_a_timestamp_at_the_edge_of_the_window_when_verified_then_it_passes() -> None:
    edge = NOW - 300
    verify(SECRET, str(edge), sign(SECRET, edge, BODY), BODY, now=NOW)


def test_given_a_signature_whose_timestamp_was_swapped_when_verified_then_signature_invalid() -> None:
    signature = sign(SECRET, NOW - 10, BODY)

    with pytest.raises(SignatureInvalid):
        verify(SECRET, str(NOW), signature, BODY, now=NOW)


@pytest.mark.parametrize(
    "signature_header",
    ["", "sha256=abc", "v1=nothex", "v1=" + "a" * 63, "v0=" + "a" * 64, "v1=" + "A" * 64 + ",junk"],
)
def test_given_a_malformed_signature_header_when_verified_then_signature_invalid(
    signature_header: str,
) -> None:
    with pytest.raises(SignatureInvalid):
        verify(SECRET, str(NOW), signature_header, BODY, now=NOW)


@pytest.mark.parametrize("timestamp_header", [None, "", "soon", "-5", "1.5e9", "1800000000.5"])
def test_given_a_malformed_timestamp_when_verified_then_signature_invalid(
    timestamp_header: str | None,
) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, timestamp_header, sign(SECRET, NOW, BODY), BODY, now=NOW)

    assert caught.value.code == "timestamp_malformed"


def test_given_old_and_new_secrets_during_rotation_when_verified_with_the_new_then_it_passes() -> None:
    both = f"{sign('whsec_old_secret', NOW, BODY)},{sign(SECRET, NOW, BODY)}"

    verify(SECRET, str(NOW), both, BODY, now=NOW)


def test_given_a_rejected_signature_when_shown_then_neither_secret_nor_signature_appears() -> None:
    signature = sign("whsec_someone_else", NOW, BODY)

    with pytest.raises(SignatureInvalid) as caught:
        verify(SECRET, str(NOW), signature, BODY, now=NOW)

    shown = str(caught.value.to_body())
    assert SECRET not in shown
    assert signature.removeprefix("v1=") not in shown
