"""The Intuit OAuth client against a MockTransport standing in for Intuit's endpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from qbosync.qbo.oauth import (
    IntuitOAuthClient,
    InvalidClient,
    InvalidGrant,
    OAuthError,
    OAuthUnavailable,
    TokenGrant,
)

DISCOVERY_URL = "https://intuit.test/.well-known/openid_sandbox_configuration"
DISCOVERY = {
    "issuer": "https://oauth.platform.intuit.com/op/v1",
    "authorization_endpoint": "https://appcenter.intuit.test/connect/oauth2",
    "token_endpoint": "https://oauth.intuit.test/oauth2/v1/tokens/bearer",
    "revocation_endpoint": "https://developer.intuit.test/v2/oauth2/tokens/revoke",
}
ACCESS = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..access-value"
REFRESH = "RT1-11-H0-1754353037refresh-value"
NOW = 1_700_000_000.0

Handler = Callable[[httpx.Request], httpx.Response]


def _tokens(**extra: object) -> httpx.Response:
    body = {
        "token_type": "bearer",
        "access_token": ACCESS,
        "expires_in": 3600,
        "refresh_token": REFRESH,
        "x_refresh_token_expires_in": 8726400,
        **extra,
    }
    return httpx.Response(200, json=body, headers={"intuit_tid": "1-tid"})


class FakeIntuit:
    """Serves discovery, and answers token/revoke calls with the given response, recording requests."""

    def __init__(self, token_response: httpx.Response | None = None) -> None:
        self.token_response = token_response or _tokens()
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == DISCOVERY_URL:
            return httpx.Response(200, json=DISCOVERY)
        if str(request.url) == DISCOVERY["revocation_endpoint"]:
            return httpx.Response(200)
        return self.token_response

    @property
    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) == DISCOVERY["token_endpoint"]]


def _client(intuit: Handler) -> IntuitOAuthClient:
    http = httpx.Client(transport=httpx.MockTransport(intuit))
    return IntuitOAuthClient(DISCOVERY_URL, "client-id", "client-secret", http, clock=lambda: NOW)


def test_given_a_code_when_exchanged_then_the_request_is_basic_auth_form_with_hard_expiry_opt_in() -> None:
    intuit = FakeIntuit()
    grant = _client(intuit).exchange_code("auth-code", "https://app.test/callback")

    request = intuit.token_requests[0]
    expected = "Basic " + base64.b64encode(b"client-id:client-secret").decode()
    assert request.headers["Authorization"] == expected
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["x-include-refresh-token-hard-expires-in"] == "true"
    form = parse_qs(request.content.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["auth-code"],
        "redirect_uri": ["https://app.test/callback"],
    }
    assert grant.access_token.get_secret_value() == ACCESS


def test_given_a_refresh_token_when_refreshed_then_expiries_are_absolute() -> None:
    intuit = FakeIntuit(_tokens(x_refresh_token_hard_expires_in=156032154))
    grant = _client(intuit).refresh(REFRESH)

    form = parse_qs(intuit.token_requests[0].content.decode())
    assert form == {"grant_type": ["refresh_token"], "refresh_token": [REFRESH]}
    assert grant.refresh_token.get_secret_value() == REFRESH
    assert grant.access_expires_at == NOW + 3600
    assert grant.refresh_expires_at == NOW + 8726400


def test_given_a_hard_expiry_sooner_than_the_rolling_one_when_read_then_it_caps_the_refresh_expiry() -> None:
    grant = _client(FakeIntuit(_tokens(x_refresh_token_hard_expires_in=100))).refresh(REFRESH)
    assert grant.refresh_expires_at == NOW + 100


def test_given_intuit_says_invalid_grant_when_refreshing_then_invalid_grant_is_raised() -> None:
    response = httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token invalid"})
    with pytest.raises(InvalidGrant) as raised:
        _client(FakeIntuit(response)).refresh(REFRESH)
    assert raised.value.error == "invalid_grant"
    assert REFRESH not in str(raised.value)


def test_given_a_bad_client_secret_when_exchanging_then_invalid_client_is_raised() -> None:
    with pytest.raises(InvalidClient):
        _client(FakeIntuit(httpx.Response(401, json={"error": "invalid_client"}))).exchange_code(
            "c", "https://a.test"
        )


def test_given_another_rfc_error_when_refreshing_then_it_carries_the_rfc_code() -> None:
    with pytest.raises(OAuthError) as raised:
        _client(FakeIntuit(httpx.Response(400, json={"error": "unsupported_grant_type"}))).refresh(REFRESH)
    assert type(raised.value) is OAuthError
    assert raised.value.error == "unsupported_grant_type"


def test_given_the_network_fails_when_refreshing_then_oauth_unavailable_is_raised() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        if str(request.url) == DISCOVERY_URL:
            return httpx.Response(200, json=DISCOVERY)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(OAuthUnavailable):
        _client(unreachable).refresh(REFRESH)


def test_given_several_calls_when_made_then_discovery_is_fetched_once() -> None:
    intuit = FakeIntuit()
    client = _client(intuit)
    client.refresh(REFRESH)
    client.refresh(REFRESH)
    assert [str(r.url) for r in intuit.requests].count(DISCOVERY_URL) == 1


def test_given_a_state_when_the_authorize_url_is_built_then_it_carries_the_oauth_parameters() -> None:
    url = _client(FakeIntuit()).authorize_url("https://app.test/callback", "signed-state")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == DISCOVERY["authorization_endpoint"]
    assert parse_qs(parts.query) == {
        "client_id": ["client-id"],
        "response_type": ["code"],
        "scope": ["com.intuit.quickbooks.accounting"],
        "redirect_uri": ["https://app.test/callback"],
        "state": ["signed-state"],
    }


def test_given_a_token_when_revoked_then_it_is_posted_as_json_with_basic_auth() -> None:
    intuit = FakeIntuit()
    _client(intuit).revoke(REFRESH)
    request = intuit.requests[-1]
    assert str(request.url) == DISCOVERY["revocation_endpoint"]
    assert json.loads(request.content) == {"token": REFRESH}
    assert request.headers["Authorization"].startswith("Basic ")


def test_given_a_grant_when_printed_or_dumped_then_no_token_value_shows() -> None:
    grant = _client(FakeIntuit()).refresh(REFRESH)
    for text in (str(grant), repr(grant), grant.model_dump_json()):
        assert ACCESS not in text
        assert REFRESH not in text


def test_given_a_grant_when_dumped_then_computed_expiries_are_included() -> None:
    grant = TokenGrant(
        access_token=ACCESS,  # type: ignore[arg-type]
        refresh_token=REFRESH,  # type: ignore[arg-type]
        expires_in=10,
        x_refresh_token_expires_in=20,
        obtained_at=5.0,
    )
    assert grant.model_dump()["access_expires_at"] == 15.0


def test_given_a_token_call_when_sent_then_every_httpx_phase_is_bounded_by_the_refresh_budget() -> None:
    intuit = FakeIntuit()

    _client(intuit).refresh(REFRESH)

    bound = 2.5  # TokenRefreshBudget.intuit_timeout_seconds by default
    assert intuit.token_requests[0].extensions["timeout"] == {
        "connect": bound,
        "read": bound,
        "write": bound,
        "pool": bound,
    }


class RotatingCredentials:
    """The app secret as a max-age cache would serve it: the cached value until read fresh."""

    def __init__(self, cached: str, current: str) -> None:
        self.cached = cached
        self.current = current
        self.fresh_reads = 0

    def __call__(self, *, fresh: bool = False) -> tuple[str, SecretStr]:
        if fresh:
            self.fresh_reads += 1
            self.cached = self.current
        return "client-id", SecretStr(self.cached)


class IntuitAcceptingOnly(FakeIntuit):
    """Answers ``invalid_client`` unless the Basic auth carries ``secret``."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.accepted = "Basic " + base64.b64encode(f"client-id:{secret}".encode()).decode()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) != DISCOVERY_URL and request.headers.get("Authorization") != self.accepted:
            self.requests.append(request)
            return httpx.Response(401, json={"error": "invalid_client"})
        return super().__call__(request)


def _client_with(intuit: Handler, credentials: RotatingCredentials) -> IntuitOAuthClient:
    http = httpx.Client(transport=httpx.MockTransport(intuit))
    return IntuitOAuthClient(DISCOVERY_URL, http=http, credentials=credentials, clock=lambda: NOW)


def test_given_a_client_secret_rotated_since_cached_when_refreshing_then_it_retries_with_the_new_one() -> (
    None
):
    intuit = IntuitAcceptingOnly("new-secret")
    credentials = RotatingCredentials(cached="old-secret", current="new-secret")

    grant = _client_with(intuit, credentials).refresh(REFRESH)

    assert grant.access_token.get_secret_value() == ACCESS
    assert credentials.fresh_reads == 1
    assert len(intuit.token_requests) == 2


def test_given_a_client_secret_rotated_when_revoking_then_it_retries_with_the_new_one() -> None:
    intuit = IntuitAcceptingOnly("new-secret")
    credentials = RotatingCredentials(cached="old-secret", current="new-secret")

    _client_with(intuit, credentials).revoke(REFRESH)

    assert credentials.fresh_reads == 1


def test_given_invalid_client_with_unchanged_credentials_when_refreshing_then_it_is_raised_at_once() -> None:
    intuit = IntuitAcceptingOnly("the-secret-intuit-knows")
    credentials = RotatingCredentials(cached="wrong-secret", current="wrong-secret")

    with pytest.raises(InvalidClient):
        _client_with(intuit, credentials).refresh(REFRESH)

    assert len(intuit.token_requests) == 1 and credentials.fresh_reads == 1


def test_given_neither_credentials_nor_a_provider_when_constructed_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="credentials"):
        IntuitOAuthClient(DISCOVERY_URL, "client-id")
