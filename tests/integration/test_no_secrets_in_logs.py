"""No token, client secret, authorization code, state signature or signing key in any log line or reply.

The connect, refresh and disconnect flows and every callback error path run against the QBO sandbox
and moto while every log record is captured three ways: the Powertools JSON lines (its own formatter,
written to stdout and read back through capsys), every attribute of every record (caplog, so keys
passed in ``extra`` are seen even where a formatter would drop them), and every HTTP reply the routes
gave. The secrets are collected from the sandbox itself: every access token, refresh token and
authorization code it ever issued, so nothing can slip through by not being looked for.
"""

# ruff: noqa: F811  (the world fixture is imported from the support module)

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from qbosync.observability import logger
from qbosync.qbo.client import QboClient
from qbosync.qbo.oauth import InvalidGrant
from qbosync.store.tokens import ReauthRequired, TokenCache, TokenVault
from tests.support.connection_world import (
    SANDBOX_BASE,
    TENANT_A,
    TENANT_B,
    ConnectionWorld,
    Reply,
    world,  # noqa: F401 - the fixture, used by name
)


class _CurrentStdout:
    """Whatever ``sys.stdout`` is at write time: capsys swaps it in only once the test itself runs."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def stdout_json_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """The qbosync logger also writes its JSON lines, formatted as in Lambda, to capsys's stdout."""
    handler = logging.StreamHandler(_CurrentStdout())
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel("DEBUG")
    yield
    logger.removeHandler(handler)
    logger.setLevel(level)


def _secrets(world: ConnectionWorld) -> dict[str, str]:
    """Every secret value this run could have leaked, named for the failure message."""
    tokens = world.sandbox.tokens
    found = {f"access token {i}": value for i, value in enumerate(tokens.access_tokens)}
    found |= {f"refresh token {i}": value for i, value in enumerate(tokens.refresh_tokens)}
    found |= {f"authorization code {i}": value for i, value in enumerate(tokens.codes)}
    found["client secret"] = world.client_secret
    found["state signing key"] = world.signing_key
    found["webhook verifier token"] = world.sandbox.config.verifier_token
    for i, reply in enumerate(r for r in world.responses if "connect/oauth2" in r.location):
        state = parse_qs(urlsplit(reply.location).query)["state"][0]
        found[f"state signature {i}"] = state.split(".")[-1]
    return found


def _everything_written(
    world: ConnectionWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> dict[str, str]:
    """Where secrets must not be: log output and record attributes, and every reply but the one that
    must carry the state to Intuit (the authorize redirect)."""

    def reply_text(reply: Reply) -> str:
        return json.dumps({"status": reply.status, "headers": reply.headers, "body": reply.body}, default=str)

    records = [
        json.dumps({k: repr(v) for k, v in vars(r).items()}) for r in caplog.records if not _by_the_test(r)
    ]
    return {
        "stdout JSON lines": capsys.readouterr().out,
        "log records": "\n".join(records),
        "log messages": "\n".join(r.getMessage() for r in caplog.records if not _by_the_test(r)),
        "replies": "\n".join(reply_text(r) for r in world.responses if "connect/oauth2" not in r.location),
    }


def _by_the_test(record: logging.LogRecord) -> bool:
    """httpx's lines for requests the test makes as the admin's browser (the authorize URL carries the
    state to Intuit) or to the sandbox's control plane; qbosync never makes these requests."""
    message = record.getMessage()
    return record.name == "httpx" and ("/connect/oauth2" in message or "/_sandbox/" in message)


def _leaks(world: ConnectionWorld, written: dict[str, str]) -> list[str]:
    return [
        f"{name} in {where}"
        for name, value in _secrets(world).items()
        for where, text in written.items()
        if value and value in text
    ]


def _advanced_vault(world: ConnectionWorld, seconds: float) -> TokenVault:
    return TokenVault(
        TENANT_A,
        refresher=world.oauth,
        invalid_grant_errors=(InvalidGrant,),
        cache=TokenCache(),
        clock=lambda: datetime.now(UTC) + timedelta(seconds=seconds),
    )


def test_given_connect_refresh_and_disconnect_when_logs_and_replies_are_read_then_no_secret_appears(
    world: ConnectionWorld,
    stdout_json_lines: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    assert world.connect().outcome()["qbo_connection"] == "connected"
    world.call("api_connection_get.json")
    world.http.post("/_sandbox/clock", json={"advance_seconds": 3_700})
    realm_id = world.realms[0]
    QboClient(realm_id, _advanced_vault(world, 3_700), None, SANDBOX_BASE, http=world.http).company_info()
    world.call("api_connection_delete.json")

    written = _everything_written(world, capsys, caplog)

    assert world.stats()["token_calls_by_grant_type"] == {"authorization_code": 1, "refresh_token": 1}
    assert "intuit token request" in written["stdout JSON lines"]  # the capture works
    assert _leaks(world, written) == []


def test_given_every_callback_error_and_a_dead_grant_when_logs_and_replies_are_read_then_no_secret_appears(
    world: ConnectionWorld,
    stdout_json_lines: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    outcomes = []
    denied = world.consent(world.start().location, deny=True)
    outcomes.append(world.callback(denied).outcome()["qbo_connection"])
    forged = world.consent(world.start().location)
    outcomes.append(
        world.callback({**forged, "state": forged["state"][:-4] + "beef"}).outcome()["qbo_connection"]
    )
    expired = world.consent(world.start().location)
    world.clock.advance(601)
    outcomes.append(world.callback(expired).outcome()["qbo_connection"])
    world.http.post("/_sandbox/faults", json={"force_401_next": 1})
    outcomes.append(world.connect().outcome()["qbo_connection"])
    first = world.consent(world.start().location)
    outcomes.append(world.callback(first).outcome()["qbo_connection"])
    outcomes.append(world.callback(first).outcome()["qbo_connection"])
    fresh = world.consent(world.start().location)
    outcomes.append(world.callback({**fresh, "code": first["code"]}).outcome()["qbo_connection"])
    taken = world.call("api_connect.json", path=f"/tenants/{TENANT_B}/qbo/connect", tenants=TENANT_B)
    outcomes.append(
        world.callback(world.consent(taken.location, realm_id=world.realms[0])).outcome()["qbo_connection"]
    )
    world.http.post("/_sandbox/clock", json={"advance_seconds": 3_700})  # the reused code revoked the grant
    with pytest.raises(ReauthRequired):
        QboClient(
            world.realms[0], _advanced_vault(world, 0), None, SANDBOX_BASE, http=world.http
        ).company_info()
    world.call("api_connection_get.json")

    written = _everything_written(world, capsys, caplog)

    assert outcomes == [
        "denied",
        "invalid_state",
        "invalid_state",
        "upstream_error",
        "connected",
        "invalid_state",
        "code_rejected",
        "realm_in_use",
    ]
    assert world.stats()["invalid_grant_total"] == 2
    assert _leaks(world, written) == []
