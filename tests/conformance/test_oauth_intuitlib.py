"""Intuit OAuth 2.0 through `intuitlib` (intuit-oauth), unmodified, against the sandbox."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException
from quickbooks.objects.company_info import CompanyInfo

from tests.conformance.harness import (
    SandboxProcess,
    authorize,
    connect,
    new_auth_client,
    quickbooks_client,
)


def _oauth_error(err: AuthClientError) -> str:
    try:
        return str(json.loads(err.content).get("error"))
    except ValueError:
        return f"<not JSON: {err.content[:200]!r}>"


def test_given_a_discovery_url_environment_when_intuitlib_starts_then_all_its_endpoints_are_the_sandbox(
    sandbox: SandboxProcess,
) -> None:
    auth_client = new_auth_client(sandbox)

    endpoints = {
        "auth_endpoint": auth_client.auth_endpoint,
        "token_endpoint": auth_client.token_endpoint,
        "revoke_endpoint": auth_client.revoke_endpoint,
        "jwks_uri": auth_client.jwks_uri,
        "user_info_url": auth_client.user_info_url,
    }
    elsewhere = {name: url for name, url in endpoints.items() if not url.startswith(sandbox.base_url + "/")}
    assert not elsewhere, (
        f"the discovery document must point intuitlib at the sandbox itself; these leave it: {elsewhere}"
    )


def test_given_auto_consent_when_the_authorization_url_is_followed_then_the_callback_has_code_state_realm(
    sandbox: SandboxProcess, realm_a: str
) -> None:
    auth_client = new_auth_client(sandbox)

    callback = authorize(sandbox, auth_client)

    assert callback.get("code"), f"QBO's callback carries a code; the sandbox sent {callback}"
    assert callback.get("state") == auth_client.state_token, (
        f"QBO echoes the state intuitlib generated ({auth_client.state_token}); the sandbox sent {callback}"
    )
    assert callback.get("realmId") == realm_a, (
        f"QBO names the company in realmId; the sandbox sent {callback}"
    )


def test_given_a_fresh_code_when_get_bearer_token_is_called_then_the_client_holds_tokens_for_the_realm(
    sandbox: SandboxProcess, realm_a: str
) -> None:
    auth_client = new_auth_client(sandbox)
    callback = authorize(sandbox, auth_client)

    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    assert auth_client.access_token, "intuitlib should hold an access_token after the code exchange"
    assert auth_client.refresh_token, "intuitlib should hold a refresh_token after the code exchange"
    assert auth_client.expires_in == 3600, (
        f"QBO's access tokens last 3600 s; sandbox said {auth_client.expires_in}"
    )
    assert (
        isinstance(auth_client.x_refresh_token_expires_in, int) and auth_client.x_refresh_token_expires_in > 0
    )
    assert auth_client.realm_id == realm_a


def test_given_a_code_already_exchanged_when_it_is_exchanged_again_then_invalid_grant(
    sandbox: SandboxProcess,
) -> None:
    auth_client = new_auth_client(sandbox)
    callback = authorize(sandbox, auth_client)
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    with pytest.raises(AuthClientError) as raised:
        new_auth_client(sandbox).get_bearer_token(callback["code"], realm_id=callback["realmId"])

    assert raised.value.status_code == 400, (
        f"QBO answers a reused code with 400; got {raised.value.status_code}"
    )
    assert _oauth_error(raised.value) == "invalid_grant"


def test_given_a_wrong_client_secret_when_a_code_is_exchanged_then_invalid_client(
    sandbox: SandboxProcess,
) -> None:
    callback = authorize(sandbox, new_auth_client(sandbox))
    impostor = new_auth_client(sandbox, client_secret="not-the-secret")

    with pytest.raises(AuthClientError) as raised:
        impostor.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    assert raised.value.status_code == 401, (
        f"QBO answers bad client credentials with 401 invalid_client; got {raised.value.status_code}"
    )
    assert _oauth_error(raised.value) == "invalid_client"


def test_given_a_stored_refresh_token_when_every_test_refreshes_from_it_then_each_gets_the_same_value(
    sandbox: SandboxProcess,
) -> None:
    """Intuit changes a refresh token's value about once every 24 h; a refresh inside that window returns
    the same value with a new access token (Intuit staff in intuit/oauth-jsclient issue #74; Intuit's
    Prompt-Library oauth-setup prompt). So a suite that refreshes from one stored token keeps working."""
    stored = connect(sandbox)
    stored_refresh, access_tokens = stored.refresh_token, {stored.access_token}

    for _ in range(3):
        stored.refresh(refresh_token=stored_refresh)
        access_tokens.add(stored.access_token)
        assert stored.refresh_token == stored_refresh, "a refresh inside the 24 h window keeps the value"

    assert len(access_tokens) == 4, "every refresh issues a new access token"


def test_given_a_refresh_token_a_day_old_when_refreshed_then_the_value_rotates_and_the_old_one_has_a_day(
    one_at_a_time_sandbox: SandboxProcess,
) -> None:
    """After ~24 h a refresh returns a new value (oauth-jsclient issue #74); "previous refresh tokens expire
    24 hours after you receive a new one" (oauth-jsclient README). The Intuit help article quoted in
    QuickBooks-V3-PHP-SDK issue #324 reads it as "at once": that reading is `--strict-refresh-rotation`."""
    auth_client = connect(one_at_a_time_sandbox)
    old_refresh = auth_client.refresh_token
    _advance(one_at_a_time_sandbox, 86_400)

    auth_client.refresh()
    rotated = auth_client.refresh_token
    _advance(one_at_a_time_sandbox, 86_000)
    auth_client.refresh(refresh_token=old_refresh)
    within_grace = auth_client.refresh_token
    _advance(one_at_a_time_sandbox, 400)
    with pytest.raises(AuthClientError) as raised:
        auth_client.refresh(refresh_token=old_refresh)

    assert rotated and rotated != old_refresh
    assert within_grace == rotated, "inside the grace the old token gets the grant's current value"
    assert raised.value.status_code == 400
    assert _oauth_error(raised.value) == "invalid_grant"


def test_given_a_revoked_refresh_token_when_refresh_is_called_then_invalid_grant(
    sandbox: SandboxProcess,
) -> None:
    auth_client = connect(sandbox)

    revoked = auth_client.revoke(token=auth_client.refresh_token)

    assert revoked is True
    with pytest.raises(AuthClientError) as raised:
        auth_client.refresh()
    assert _oauth_error(raised.value) == "invalid_grant"


def test_given_a_refreshed_connection_when_python_quickbooks_reads_then_the_new_access_token_works(
    sandbox: SandboxProcess,
) -> None:
    auth_client = connect(sandbox)
    auth_client.refresh()

    client = quickbooks_client(sandbox, auth_client)

    info = CompanyInfo.get(auth_client.realm_id, qb=client)

    assert info.CompanyName == sandbox.info["companies"][auth_client.realm_id], (
        f"CompanyInfo of the connected realm should name its company; got {info.CompanyName!r}"
    )


def test_given_an_auth_client_without_an_access_token_when_python_quickbooks_starts_then_it_refreshes_first(
    sandbox: SandboxProcess,
) -> None:
    connected = connect(sandbox)
    cold = AuthClient(
        sandbox.client_id,
        sandbox.client_secret,
        sandbox.redirect_uri,
        environment=sandbox.discovery_url,
        realm_id=connected.realm_id,
    )

    client = quickbooks_client(sandbox, _with_refresh_token(cold, connected.refresh_token))

    assert cold.access_token, "python-quickbooks refreshes an AuthClient that has no access token"
    assert client.refresh_token == cold.refresh_token == connected.refresh_token, "same value inside 24 h"


def _with_refresh_token(auth_client: AuthClient, refresh_token: str) -> AuthClient:
    auth_client.refresh_token = refresh_token
    return auth_client


def test_given_openid_scopes_when_exchanged_then_intuitlib_accepts_the_id_token_and_reads_userinfo(
    sandbox: SandboxProcess,
) -> None:
    auth_client = new_auth_client(sandbox)
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL])
    callback = _follow(sandbox, url)

    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])

    assert auth_client.id_token, (
        "intuitlib keeps id_token only if it validates it "
        "(RS256 via jwks_uri, iss = issuer, aud = client_id); "
        "the sandbox's id_token did not validate"
    )
    info = auth_client.get_user_info().json()
    assert info.get("email"), f"userinfo with the email scope carries email; sandbox sent {info}"


def test_given_a_revoked_access_token_when_refresh_is_called_then_the_whole_grant_is_gone(
    sandbox: SandboxProcess,
) -> None:
    auth_client = connect(sandbox)

    auth_client.revoke(token=auth_client.access_token)

    with pytest.raises(AuthClientError) as raised:
        auth_client.refresh()
    assert _oauth_error(raised.value) == "invalid_grant", "revoking either token disconnects the app (Intuit)"


# ---------------------------------------------------------------- lifetimes (the spare sandbox's clock moves)


def _advance(sandbox: SandboxProcess, seconds: float) -> None:
    answer = httpx.post(sandbox.control("clock"), json={"advance_seconds": seconds}, timeout=10)
    assert answer.status_code == 200, f"/_sandbox/clock refused: {answer.text}"


def test_given_an_access_token_older_than_an_hour_when_python_quickbooks_calls_then_401(
    one_at_a_time_sandbox: SandboxProcess,
) -> None:
    auth_client = connect(one_at_a_time_sandbox)
    client = quickbooks_client(one_at_a_time_sandbox, auth_client)
    _advance(one_at_a_time_sandbox, 3601)

    with pytest.raises(AuthorizationException) as raised:
        CompanyInfo.get(auth_client.realm_id, qb=client)

    assert raised.value.error_code == 401, "QBO access tokens expire after 3600 s with HTTP 401"


def test_given_an_expired_access_token_when_the_client_refreshes_then_calls_work_again(
    one_at_a_time_sandbox: SandboxProcess,
) -> None:
    auth_client = connect(one_at_a_time_sandbox)
    _advance(one_at_a_time_sandbox, 3601)

    auth_client.refresh()

    info = CompanyInfo.get(auth_client.realm_id, qb=quickbooks_client(one_at_a_time_sandbox, auth_client))
    assert info.CompanyName


def test_given_a_refresh_token_past_its_rolling_expiry_when_refresh_is_called_then_invalid_grant(
    one_at_a_time_sandbox: SandboxProcess,
) -> None:
    auth_client = connect(one_at_a_time_sandbox)
    _advance(one_at_a_time_sandbox, int(auth_client.x_refresh_token_expires_in) + 1)

    with pytest.raises(AuthClientError) as raised:
        auth_client.refresh()

    assert _oauth_error(raised.value) == "invalid_grant", "an unused refresh token lapses after ~100 days"


def _follow(sandbox: SandboxProcess, url: str) -> dict[str, str]:
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), f"auto-consent should redirect; got {answer.status_code}"
    return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def test_given_an_unknown_scope_when_authorizing_then_the_app_gets_invalid_scope_on_its_redirect_uri(
    sandbox: SandboxProcess,
) -> None:
    auth_client = new_auth_client(sandbox)
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING]).replace("accounting", "accountingz")

    callback = _follow(sandbox, url)

    assert callback.get("error") == "invalid_scope", (
        f"Intuit: 'Invalid permissions requested'; got {callback}"
    )
    assert callback.get("state") == auth_client.state_token


def test_given_an_unregistered_redirect_uri_when_authorizing_then_no_redirect_happens(
    sandbox: SandboxProcess,
) -> None:
    stranger = AuthClient(
        sandbox.client_id,
        sandbox.client_secret,
        "http://127.0.0.1:9/elsewhere",
        environment=sandbox.discovery_url,
    )

    answer = httpx.get(
        stranger.get_authorization_url([Scopes.ACCOUNTING]), follow_redirects=False, timeout=10
    )

    assert answer.status_code == 400 and "location" not in answer.headers, (
        "the redirect URI must match a registered one exactly; "
        "an unknown one gets an error page, never a redirect"
    )


def test_given_the_discovery_document_when_read_then_it_has_intuits_fields(sandbox: SandboxProcess) -> None:
    document = httpx.get(sandbox.discovery_url, timeout=10).json()

    assert document["response_types_supported"] == ["code"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_post",
        "client_secret_basic",
    }
    assert document["issuer"].endswith("/op/v1")
