"""Every way the OAuth callback can go wrong gets its own outcome, and none of them stores anything."""

# ruff: noqa: F811  (the world fixture is imported from the support module)

from __future__ import annotations

import secrets

from qbosync.store.connections import ConnectionRepository
from qbosync.sync.connection import BROWSER_COOKIE
from qbosync.sync.oauth_state import OAuthStateSigner
from tests.support.connection_world import (
    ADMIN,
    ADMIN_RETURN_URL,
    TENANT_A,
    TENANT_B,
    ConnectionWorld,
    world,  # noqa: F401 - the fixture, used by name
)


def _code_exchanges(world: ConnectionWorld) -> int:
    calls: dict[str, int] = world.stats()["token_calls_by_grant_type"]
    return calls.get("authorization_code", 0)


def _consented(
    world: ConnectionWorld, tenant_id: str = TENANT_A, realm_id: str | None = None
) -> dict[str, str]:
    started = world.start(tenant_id)
    return world.consent(started.location, realm_id=realm_id)


def test_given_the_admin_cancels_at_intuit_when_the_callback_arrives_then_denied_and_nothing_stored(
    world: ConnectionWorld,
) -> None:
    started = world.start()
    query = world.consent(started.location, deny=True)

    reply = world.callback(query)

    assert reply.status == 302 and reply.location.startswith(ADMIN_RETURN_URL + "?")
    assert reply.outcome()["qbo_connection"] == "denied"
    assert _code_exchanges(world) == 0
    assert world.nothing_stored_for(TENANT_A)


def test_given_a_state_older_than_ten_minutes_when_the_callback_arrives_then_invalid_state_and_no_exchange(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    world.clock.advance(601)

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "invalid_state"
    assert _code_exchanges(world) == 0
    assert world.nothing_stored_for(TENANT_A)


def test_given_a_state_nine_minutes_old_when_the_callback_arrives_then_it_is_still_accepted(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    world.clock.advance(540)

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "connected"


def test_given_a_tampered_state_signature_when_the_callback_arrives_then_invalid_state_and_nothing_stored(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    last = query["state"][-1]
    query["state"] = query["state"][:-1] + ("0" if last != "0" else "1")

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "invalid_state"
    assert _code_exchanges(world) == 0
    assert world.nothing_stored_for(TENANT_A)


def test_given_a_state_signed_with_another_key_when_the_callback_arrives_then_invalid_state(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    _version, nonce, expires_at, _signature = query["state"].split(".")
    forger = OAuthStateSigner(secrets.token_bytes(32))
    query["state"] = forger.sign(nonce, int(expires_at), TENANT_A, ADMIN, browser_hash="")

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "invalid_state"
    assert world.nothing_stored_for(TENANT_A)


def test_given_a_state_never_issued_when_the_callback_arrives_then_invalid_state(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    forger = OAuthStateSigner(world.signing_key.encode())
    query["state"] = forger.sign(
        OAuthStateSigner.new_nonce(), int(world.clock()) + 600, TENANT_A, ADMIN, browser_hash=""
    )

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "invalid_state"
    assert world.nothing_stored_for(TENANT_A)


def test_given_a_used_state_when_the_callback_is_replayed_then_invalid_state_and_no_second_exchange(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    assert world.callback(query).outcome()["qbo_connection"] == "connected"
    tokens_before = world.stored_tokens()

    replay = world.callback(query)

    assert replay.outcome()["qbo_connection"] == "invalid_state"
    assert _code_exchanges(world) == 1
    assert world.stored_tokens() == tokens_before


def test_given_a_used_code_with_a_fresh_state_when_the_callback_arrives_then_code_rejected_and_no_change(
    world: ConnectionWorld,
) -> None:
    first = _consented(world)
    assert world.callback(first).outcome()["qbo_connection"] == "connected"
    tokens_before = world.stored_tokens()
    connection_before = ConnectionRepository().get(TENANT_A)
    fresh = _consented(world)

    reply = world.callback({**fresh, "code": first["code"]})

    assert reply.outcome()["qbo_connection"] == "code_rejected"
    assert world.stats()["token_errors"] == {"invalid_grant": 1}
    assert world.stored_tokens() == tokens_before
    assert ConnectionRepository().get(TENANT_A) == connection_before


def test_given_a_realm_connected_to_another_tenant_when_it_is_connected_again_then_realm_in_use(
    world: ConnectionWorld,
) -> None:
    realm_id = world.realms[0]
    assert world.connect(TENANT_A, realm_id=realm_id).outcome()["qbo_connection"] == "connected"

    reply = world.call("api_connect.json", path=f"/tenants/{TENANT_B}/qbo/connect", tenants=TENANT_B)
    outcome = world.callback(world.consent(reply.location, realm_id=realm_id)).outcome()

    assert (outcome["qbo_connection"], outcome["tenant_id"]) == ("realm_in_use", TENANT_B)
    assert "realm_id" not in outcome
    assert _code_exchanges(world) == 1
    assert world.nothing_stored_for(TENANT_B)
    owner = ConnectionRepository().get_by_realm(realm_id)
    assert owner is not None and owner.tenant_id == TENANT_A


def test_given_a_connected_tenant_when_it_connects_a_different_realm_then_other_realm_connected(
    world: ConnectionWorld,
) -> None:
    first, second = world.realms[:2]
    world.connect(TENANT_A, realm_id=first)
    tokens_before = world.stored_tokens()

    reply = world.connect(TENANT_A, realm_id=second)

    assert reply.outcome()["qbo_connection"] == "other_realm_connected"
    connection = ConnectionRepository().get(TENANT_A)
    assert connection is not None and connection.realm_id == first
    assert world.stored_tokens() == tokens_before
    assert ConnectionRepository().get_by_realm(second) is None


def test_given_a_valid_state_without_a_code_when_the_callback_arrives_then_invalid_request(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    del query["code"]

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "invalid_request"
    assert world.nothing_stored_for(TENANT_A)


def test_given_no_parameters_when_the_callback_is_called_then_invalid_state(world: ConnectionWorld) -> None:
    reply = world.callback({})

    assert (reply.status, reply.outcome()["qbo_connection"]) == (302, "invalid_state")


def test_given_an_oversized_parameter_when_the_callback_is_called_then_invalid_state_and_no_exchange(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)

    reply = world.callback({**query, "code": "A" * 5000})

    assert reply.outcome()["qbo_connection"] == "invalid_state"
    assert _code_exchanges(world) == 0


def test_given_qbo_refuses_the_fresh_token_when_the_callback_arrives_then_upstream_error_and_grant_revoked(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)
    world.http.post("/_sandbox/faults", json={"force_401_next": 1})

    reply = world.callback(query)

    assert reply.outcome()["qbo_connection"] == "upstream_error"
    assert world.stats()["revocations"] == 1
    assert all(grant.revoked for grant in world.sandbox.tokens.grants.values())
    assert world.nothing_stored_for(TENANT_A)


def test_given_a_forged_state_with_the_genuine_nonce_when_called_back_then_the_genuine_one_still_works(
    world: ConnectionWorld,
) -> None:
    genuine = _consented(world)
    _version, nonce, expires_at, _signature = genuine["state"].split(".")
    forged = {**genuine, "state": f"v1.{nonce}.{expires_at}.{'0' * 64}"}

    refused = world.callback(forged)
    accepted = world.callback(genuine)

    assert refused.outcome()["qbo_connection"] == "invalid_state"
    assert accepted.outcome()["qbo_connection"] == "connected"


def test_given_an_authorize_url_used_from_another_browser_when_the_callback_arrives_then_invalid_state(
    world: ConnectionWorld,
) -> None:
    query = _consented(world)

    without_cookie = world.callback(query, cookies={})
    with_another_key = world.callback(query, cookies={BROWSER_COOKIE: OAuthStateSigner.new_browser_key()})

    assert without_cookie.outcome()["qbo_connection"] == "invalid_state"
    assert with_another_key.outcome()["qbo_connection"] == "invalid_state"
    assert _code_exchanges(world) == 0
    assert world.nothing_stored_for(TENANT_A)
    assert world.callback(query).outcome()["qbo_connection"] == "connected"


def test_given_a_connect_redirect_when_sent_then_the_browser_key_is_an_httponly_cookie_scoped_to_the_callback(
    world: ConnectionWorld,
) -> None:
    started = world.start()

    [cookie] = started.set_cookies
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith(f"{BROWSER_COOKIE}=")
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/oauth/callback" in cookie
    assert BROWSER_COOKIE not in started.location
