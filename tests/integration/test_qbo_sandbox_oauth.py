"""The QBO sandbox's Intuit OAuth 2.0: raw HTTP in-process, and intuitlib against a loopback server."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import requests
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from local.qbo_sandbox.app import Sandbox, build_app
from local.qbo_sandbox.config import SandboxConfig

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
REDIRECT_URI = "https://app.example.test/oauth/callback"
ACCOUNTING = "com.intuit.quickbooks.accounting"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
BASE = "http://sandbox.test"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _echo_company(request: Request) -> JSONResponse:
    """Stands in for the accounting API: shows which company the guard handed over."""
    company = request.scope["qbo.company"]
    return JSONResponse({"realm_id": company.realm_id, "company_name": company.company_name})


def _config(**overrides: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "auto_consent": True,
        **overrides,
    }
    return SandboxConfig(**values)


def _app(**overrides: Any) -> Starlette:
    echo = Starlette(routes=[Route("/{path:path}", _echo_company, methods=["GET", "POST"])])
    return build_app(_config(**overrides), accounting_app=echo)


@pytest.fixture
def app() -> Starlette:
    return _app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def _sandbox(app: Starlette) -> Sandbox:
    sandbox: Sandbox = app.state.sandbox
    return sandbox


def _basic(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def _authorize(
    http: httpx.AsyncClient, scope: str = ACCOUNTING, realm_hint: str | None = None
) -> dict[str, list[str]]:
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": scope,
        "redirect_uri": REDIRECT_URI,
        "state": "state-123",
    }
    if realm_hint:
        params["realm_hint"] = realm_hint
    answer = await http.get("/connect/oauth2", params=params)
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)


async def _exchange(http: httpx.AsyncClient, code: str, **headers: str) -> httpx.Response:
    return await http.post(
        TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={**_basic(), "Accept": "application/json", **headers},
    )


async def _connect(http: httpx.AsyncClient, realm_hint: str | None = None) -> tuple[str, dict[str, Any]]:
    callback = await _authorize(http, realm_hint=realm_hint)
    answer = await _exchange(http, callback["code"][0])
    assert answer.status_code == 200
    return callback["realmId"][0], answer.json()


async def _refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await http.post(
        TOKEN_PATH, data={"grant_type": "refresh_token", "refresh_token": refresh_token}, headers=_basic()
    )


async def _company_info(http: httpx.AsyncClient, realm: str, access_token: str) -> httpx.Response:
    return await http.get(
        f"/v3/company/{realm}/companyinfo/{realm}", headers={"Authorization": f"Bearer {access_token}"}
    )


async def test_given_auto_consent_when_authorizing_then_redirects_with_code_state_and_first_realm(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    callback = await _authorize(client)

    assert callback["state"] == ["state-123"]
    assert callback["realmId"] == [next(iter(_sandbox(app).companies))]
    assert callback["code"][0]


async def test_given_a_code_when_exchanged_then_tokens_have_intuit_shape_and_headers(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)

    answer = await _exchange(client, callback["code"][0])

    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8_726_400
    assert body["refresh_token"].startswith("RT1-")
    assert body["access_token"].startswith("eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..")
    assert "id_token" not in body
    assert "x_refresh_token_hard_expires_in" not in body
    assert "no-store" in answer.headers["cache-control"]
    assert answer.headers["intuit_tid"].startswith("1-")


async def test_given_the_hard_expiry_header_when_exchanging_then_hard_expiry_is_returned(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)

    answer = await _exchange(
        client, callback["code"][0], **{"x-include-refresh-token-hard-expires-in": "true"}
    )

    assert answer.json()["x_refresh_token_hard_expires_in"] > 8_726_400


async def test_given_an_access_token_when_calling_the_api_then_the_guard_hands_over_its_company(
    client: httpx.AsyncClient,
) -> None:
    realm, tokens = await _connect(client)

    answer = await _company_info(client, realm, tokens["access_token"])

    assert answer.status_code == 200
    assert answer.json()["realm_id"] == realm


async def test_given_a_refresh_token_under_a_day_old_when_refreshed_then_same_value_and_new_access_token(
    client: httpx.AsyncClient,
) -> None:
    realm, tokens = await _connect(client)

    answer = await _refresh(client, tokens["refresh_token"])

    fresh = answer.json()
    assert answer.status_code == 200
    assert fresh["refresh_token"] == tokens["refresh_token"], "Intuit rotates the value about once a day"
    assert fresh["access_token"] != tokens["access_token"]
    assert (await _company_info(client, realm, fresh["access_token"])).status_code == 200


async def test_given_a_refresh_token_a_day_old_when_refreshed_then_a_new_value_and_the_old_works_for_a_day(
    client: httpx.AsyncClient,
) -> None:
    _, tokens = await _connect(client)
    await client.post("/_sandbox/clock", json={"advance_seconds": 86_400})

    rotated = (await _refresh(client, tokens["refresh_token"])).json()
    await client.post("/_sandbox/clock", json={"advance_seconds": 86_399})
    within_grace = await _refresh(client, tokens["refresh_token"])
    await client.post("/_sandbox/clock", json={"advance_seconds": 1})
    after_grace = await _refresh(client, tokens["refresh_token"])

    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert within_grace.status_code == 200
    assert within_grace.json()["refresh_token"] == rotated["refresh_token"], "the grant's current value"
    assert after_grace.json()["error"] == "invalid_grant"


async def test_given_strict_rotation_when_refreshed_then_a_new_pair_is_returned_that_works() -> None:
    app = _app(strict_refresh_rotation=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        realm, tokens = await _connect(http)

        answer = await _refresh(http, tokens["refresh_token"])

        fresh = answer.json()
        assert answer.status_code == 200
        assert fresh["refresh_token"] != tokens["refresh_token"]
        assert (await _company_info(http, realm, fresh["access_token"])).status_code == 200


async def test_given_strict_rotation_when_the_superseded_refresh_token_is_used_then_invalid_grant() -> None:
    app = _app(strict_refresh_rotation=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        _, tokens = await _connect(http)
        await _refresh(http, tokens["refresh_token"])

        answer = await _refresh(http, tokens["refresh_token"])

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect or invalid refresh token",
    }
    assert _sandbox(app).stats.to_dict()["invalid_grant_total"] == 1


async def test_given_a_grace_period_when_the_superseded_refresh_token_is_used_within_it_then_it_works() -> (
    None
):
    app = _app(strict_refresh_rotation=True, refresh_token_grace_seconds=86_400)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        _, tokens = await _connect(http)
        await _refresh(http, tokens["refresh_token"])

        answer = await _refresh(http, tokens["refresh_token"])

    assert answer.status_code == 200


async def test_given_a_grace_period_when_it_has_passed_then_the_superseded_refresh_token_fails() -> None:
    app = _app(strict_refresh_rotation=True, refresh_token_grace_seconds=60)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        _, tokens = await _connect(http)
        await _refresh(http, tokens["refresh_token"])
        await http.post("/_sandbox/clock", json={"advance_seconds": 61})

        answer = await _refresh(http, tokens["refresh_token"])

    assert answer.json()["error"] == "invalid_grant"


async def test_given_a_revoked_refresh_token_when_calling_the_api_then_401_with_qbo_auth_body(
    client: httpx.AsyncClient,
) -> None:
    realm, tokens = await _connect(client)
    revoked = await client.post(
        "/v2/oauth2/tokens/revoke", json={"token": tokens["refresh_token"]}, headers=_basic()
    )

    answer = await _company_info(client, realm, tokens["access_token"])

    assert revoked.status_code == 200
    assert answer.status_code == 401
    error = answer.json()["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert answer.json()["fault"]["type"] == "AUTHENTICATION"
    assert answer.headers["intuit_tid"]


async def test_given_a_revoked_grant_when_refreshing_then_invalid_grant(client: httpx.AsyncClient) -> None:
    _, tokens = await _connect(client)
    await client.post("/v2/oauth2/tokens/revoke", json={"token": tokens["access_token"]}, headers=_basic())

    answer = await _refresh(client, tokens["refresh_token"])

    assert answer.json()["error"] == "invalid_grant"


async def test_given_a_used_code_when_exchanged_again_then_invalid_grant_and_its_tokens_are_revoked(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)
    first = (await _exchange(client, callback["code"][0])).json()

    again = await _exchange(client, callback["code"][0])

    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    realm = callback["realmId"][0]
    assert (await _company_info(client, realm, first["access_token"])).status_code == 401


async def test_given_a_code_older_than_five_minutes_when_exchanged_then_invalid_grant(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)
    await client.post("/_sandbox/clock", json={"advance_seconds": 301})

    answer = await _exchange(client, callback["code"][0])

    assert answer.json()["error"] == "invalid_grant"


async def test_given_another_redirect_uri_when_exchanging_the_code_then_invalid_grant(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)

    answer = await client.post(
        TOKEN_PATH,
        data={
            "grant_type": "authorization_code",
            "code": callback["code"][0],
            "redirect_uri": BASE + "/other",
        },
        headers=_basic(),
    )

    assert answer.json()["error"] == "invalid_grant"


async def test_given_a_wrong_client_secret_when_exchanging_then_401_invalid_client(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)

    answer = await client.post(
        TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": REDIRECT_URI},
        headers=_basic(secret="wrong"),
    )

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_client"}


async def test_given_a_garbled_basic_header_when_exchanging_then_401_invalid_client(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        TOKEN_PATH,
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": "Basic %%%"},
    )

    assert answer.status_code == 401


async def test_given_client_secret_post_when_exchanging_then_tokens_are_issued(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client)

    answer = await client.post(
        TOKEN_PATH,
        data={
            "grant_type": "authorization_code",
            "code": callback["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )

    assert answer.status_code == 200


async def test_given_an_unknown_grant_type_when_posting_then_unsupported_grant_type(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(TOKEN_PATH, data={"grant_type": "password"}, headers=_basic())

    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


async def test_given_a_json_body_when_posting_to_the_token_endpoint_then_invalid_request(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(TOKEN_PATH, json={"grant_type": "refresh_token"}, headers=_basic())

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_given_an_expired_access_token_when_calling_the_api_then_401(client: httpx.AsyncClient) -> None:
    realm, tokens = await _connect(client)
    await client.post("/_sandbox/clock", json={"advance_seconds": 3600})

    answer = await _company_info(client, realm, tokens["access_token"])

    assert answer.status_code == 401
    assert answer.json()["fault"]["error"][0]["detail"].startswith("Token expired")


async def test_given_no_bearer_token_when_calling_the_api_then_401(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    realm = next(iter(_sandbox(app).companies))

    answer = await client.get(f"/v3/company/{realm}/companyinfo/{realm}")

    assert answer.status_code == 401


async def test_given_a_token_for_realm_a_when_calling_realm_b_then_403_application_authorization_failed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    realm_a, realm_b = list(_sandbox(app).companies)[:2]
    _, tokens = await _connect(client, realm_hint=realm_a)

    answer = await _company_info(client, realm_b, tokens["access_token"])

    assert answer.status_code == 403
    error = answer.json()["Fault"]["Error"][0]
    assert error["code"] == "3100"
    assert error["Message"] == "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"


async def test_given_an_unknown_scope_when_authorizing_then_redirects_with_invalid_scope(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client, scope=f"{ACCOUNTING} com.example.unknown")

    assert callback["error"] == ["invalid_scope"]
    assert callback["state"] == ["state-123"]


async def test_given_an_unregistered_redirect_uri_when_authorizing_then_400_without_redirect(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(
        "/connect/oauth2",
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": ACCOUNTING,
            "redirect_uri": "https://evil.example.test/cb",
        },
    )

    assert answer.status_code == 400
    assert "location" not in answer.headers


async def test_given_no_auto_consent_when_authorizing_then_a_consent_page_lists_the_companies() -> None:
    app = _app(auto_consent=False)
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": ACCOUNTING,
        "redirect_uri": REDIRECT_URI,
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        answer = await http.get("/connect/oauth2", params=params)

    assert answer.status_code == 200
    for company in _sandbox(app).companies.values():
        assert company.company_name in answer.text
    assert 'value="cancel"' in answer.text


async def test_given_the_consent_page_when_cancel_is_pressed_then_redirects_with_access_denied() -> None:
    app = _app(auto_consent=False)
    form = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": ACCOUNTING,
        "redirect_uri": REDIRECT_URI,
        "state": "s1",
        "action": "cancel",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        answer = await http.post("/connect/oauth2", data=form)

    callback = parse_qs(urlsplit(answer.headers["location"]).query)
    assert callback["error"] == ["access_denied"]
    assert callback["state"] == ["s1"]


async def test_given_the_consent_page_when_connect_is_pressed_for_company_b_then_realm_b_is_returned() -> (
    None
):
    app = _app(auto_consent=False)
    realm_b = list(_sandbox(app).companies)[1]
    form = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": ACCOUNTING,
        "redirect_uri": REDIRECT_URI,
        "realm_id": realm_b,
        "action": "connect",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        answer = await http.post("/connect/oauth2", data=form)

    assert parse_qs(urlsplit(answer.headers["location"]).query)["realmId"] == [realm_b]


async def test_given_the_openid_scope_when_exchanging_then_an_id_token_verifies_against_the_jwks(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client, scope=f"{ACCOUNTING} openid email")
    tokens = (await _exchange(client, callback["code"][0])).json()
    keys = (await client.get("/op/v1/jwks")).json()

    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    key = jwt.PyJWKSet.from_dict(keys)[kid].key
    claims = jwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience=CLIENT_ID)

    assert claims["realmid"] == callback["realmId"][0]
    assert claims["iss"] == BASE + "/op/v1"


async def test_given_an_openid_grant_when_asking_userinfo_then_the_user_is_described(
    client: httpx.AsyncClient,
) -> None:
    callback = await _authorize(client, scope=f"{ACCOUNTING} openid email")
    tokens = (await _exchange(client, callback["code"][0])).json()

    answer = await client.get(
        "/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert answer.status_code == 200
    assert answer.json()["email"]


# ---------------------------------------------------------------- intuitlib against a loopback server


@pytest.fixture
def served_sandbox() -> Iterator[str]:
    """The sandbox on uvicorn in a thread, on a free loopback port; yields its base URL."""
    app = _app(redirect_uris=[REDIRECT_URI])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.01):
        if server.started:
            started.set()
        assert thread.is_alive(), "the sandbox server did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_given_intuitlib_with_the_discovery_url_when_running_the_code_flow_then_tokens_are_set(
    served_sandbox: str,
) -> None:
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes

    auth = AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        environment=served_sandbox + "/.well-known/openid_configuration",
    )
    consent = requests.get(
        auth.get_authorization_url([Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL]),
        allow_redirects=False,
        timeout=10,
    )
    callback = parse_qs(urlsplit(consent.headers["location"]).query)

    auth.get_bearer_token(callback["code"][0], realm_id=callback["realmId"][0])

    assert auth.access_token
    assert auth.refresh_token.startswith("RT1-")
    assert auth.id_token  # intuitlib kept it only after verifying it against the sandbox's JWKS
    assert callback["state"] == [auth.state_token]


def test_given_intuitlib_tokens_when_refreshing_and_revoking_then_the_sandbox_accepts_both(
    served_sandbox: str,
) -> None:
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes
    from intuitlib.exceptions import AuthClientError

    auth = AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        environment=served_sandbox + "/.well-known/openid_configuration",
    )
    consent = requests.get(auth.get_authorization_url([Scopes.ACCOUNTING]), allow_redirects=False, timeout=10)
    auth.get_bearer_token(parse_qs(urlsplit(consent.headers["location"]).query)["code"][0])
    first_refresh_token = auth.refresh_token

    auth.refresh()
    revoked = auth.revoke()

    assert auth.refresh_token == first_refresh_token, "the same value inside Intuit's ~24 h rotation window"
    assert revoked is True
    with pytest.raises(AuthClientError) as refused:
        auth.refresh()
    assert refused.value.status_code == 400


async def test_given_the_real_accounting_api_when_reading_companyinfo_with_a_fresh_token_then_200() -> None:
    app = build_app(_config())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        realm, tokens = await _connect(http)

        answer = await _company_info(http, realm, tokens["access_token"])

    assert answer.status_code == 200
    assert answer.json()["CompanyInfo"]["CompanyName"] == _sandbox(app).companies[realm].company_name
