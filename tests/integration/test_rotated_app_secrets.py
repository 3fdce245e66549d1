"""Warm containers pick up a rotated Intuit client secret or state-signing key (a max-age cache)."""

from __future__ import annotations

import boto3
import pytest

from qbosync.settings import get_settings
from qbosync.store.app_secrets import AppSecrets, SecretBox
from qbosync.store.oauth_states import StateInvalid
from qbosync.sync.oauth_state import OAuthStateSigner

MAX_AGE = 300.0


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secrets(aws: None) -> tuple[AppSecrets, Ticks]:
    ticks = Ticks()
    app = AppSecrets(SecretBox(max_age_seconds=MAX_AGE, clock=ticks))
    app.put_intuit_app("client-1", "secret-before", "verifier")
    app.put_state_signing_key("k" * 48)
    return app, ticks


def _rotate(name: str, value: str) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)


def test_given_a_rotated_client_secret_when_the_max_age_passes_then_a_warm_container_uses_it(
    secrets: tuple[AppSecrets, Ticks],
) -> None:
    app, ticks = secrets
    assert app.intuit_client_credentials()[1].get_secret_value() == "secret-before"
    _rotate(
        get_settings().intuit_app_secret_name,
        '{"client_id": "client-1", "client_secret": "secret-after", "verifier_token": "verifier"}',
    )

    still_cached = app.intuit_client_credentials()[1].get_secret_value()
    ticks.now += MAX_AGE + 1

    assert still_cached == "secret-before"
    assert app.intuit_client_credentials()[1].get_secret_value() == "secret-after"


def test_given_a_rotated_client_secret_when_read_fresh_then_it_is_used_at_once(
    secrets: tuple[AppSecrets, Ticks],
) -> None:
    app, _ = secrets
    app.intuit_client_credentials()
    _rotate(
        get_settings().intuit_app_secret_name,
        '{"client_id": "client-1", "client_secret": "secret-after", "verifier_token": "verifier"}',
    )

    assert app.intuit_client_credentials(fresh=True)[1].get_secret_value() == "secret-after"


def test_given_a_rotated_state_key_when_the_max_age_passes_then_the_signer_uses_it(
    secrets: tuple[AppSecrets, Ticks],
) -> None:
    app, ticks = secrets
    signer = OAuthStateSigner(lambda: app.state_signing_key().get_secret_value().encode())
    before = OAuthStateSigner.parse(signer.sign("nonce-1", 2_000_000_000, "t1", "admin", browser_hash="b"))
    _rotate(get_settings().state_signing_secret_name, '{"key": "' + "n" * 48 + '"}')
    ticks.now += MAX_AGE + 1

    after = OAuthStateSigner.parse(signer.sign("nonce-1", 2_000_000_000, "t1", "admin", browser_hash="b"))

    assert after.signature != before.signature
    signer.verify(after, "t1", "admin", now=0, browser_hash="b")
    with pytest.raises(StateInvalid):
        signer.verify(before, "t1", "admin", now=0, browser_hash="b")


def test_given_a_key_provider_serving_a_short_key_when_signing_then_it_is_refused() -> None:
    signer = OAuthStateSigner(lambda: b"short")

    with pytest.raises(ValueError, match="32 bytes"):
        signer.sign("nonce", 1, "t1", "admin", browser_hash="b")
