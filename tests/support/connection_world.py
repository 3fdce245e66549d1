"""Shared pieces of the connection tests (no tests here): moto, the QBO sandbox in-process, the real
``ConnectionService`` wired to both, and the connection routes behind a resolver, called with the
sample v2 events from ``events/``.

Nothing is faked: OAuth runs against the sandbox's Intuit emulation (auto-consent), tokens go to
Secrets Manager in moto, connections to the main table built from template.yaml.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from local.qbo_sandbox.app import Sandbox, build_app
from local.qbo_sandbox.config import SandboxConfig
from local.source_sandbox.inprocess import in_process_client
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.connection import connection_router
from qbosync.qbo.client import QboClient
from qbosync.qbo.faults import QboAuthenticationFault
from qbosync.qbo.oauth import IntuitOAuthClient, InvalidGrant
from qbosync.settings import get_settings
from qbosync.store.app_secrets import AppSecrets
from qbosync.store.aws import secrets_client
from qbosync.store.connections import ConnectionRepository
from qbosync.store.oauth_states import OAuthStateRepository
from qbosync.store.table import Condition, MainTable
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.store.tokens import TokenCache, TokenVault
from qbosync.sync.connection import ConnectionService
from qbosync.sync.oauth_state import OAuthStateSigner
from qbosync.sync.preflight import connection_prerequisites
from tests.support.lambda_context import LambdaContextStub

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_BASE = "http://qbo-sandbox.test"
DISCOVERY_URL = f"{SANDBOX_BASE}/.well-known/openid_sandbox_configuration"
REDIRECT_URI = "https://qbosync.example.test/oauth/callback"
ADMIN_RETURN_URL = "https://admin.example.test/qbo/connected"
TENANT_A = "acme-law"
TENANT_B = "globex-msp"
ADMIN = "admin-7f3c"


class SettableClock:
    """Epoch seconds that follow the wall clock plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class FreshToken:
    """The access token of a grant just obtained (as ``wiring`` does before any vault holds it)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise QboAuthenticationFault("QuickBooks refused a token it had just issued", status=401)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    set_cookies: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def outcome(self) -> dict[str, str]:
        """The query of a callback redirect, one value per name."""
        return {key: values[0] for key, values in parse_qs(urlsplit(self.location).query).items()}


@dataclass
class ConnectionWorld:
    """Everything a connection test touches, built fresh per test."""

    sandbox: Sandbox
    http: httpx.Client
    oauth: IntuitOAuthClient
    service: ConnectionService
    resolver: APIGatewayHttpResolver
    clock: SettableClock
    client_secret: str
    signing_key: str
    token_cache: TokenCache = field(default_factory=TokenCache)
    responses: list[Reply] = field(default_factory=list)
    browser_cookies: dict[str, str] = field(default_factory=dict)
    """The admin's browser: what the API's replies set, sent back as the callback's cookies."""

    # -- the API, through sample events --

    def call(
        self,
        sample: str,
        *,
        path: str | None = None,
        query: dict[str, str] | None = None,
        tenants: str | None = TENANT_A,
        sub: str = ADMIN,
        cookies: dict[str, str] | None = None,
    ) -> Reply:
        event = sample_event(sample, path=path, query=query, tenants=tenants, sub=sub)
        if cookies:
            event["cookies"] = [f"{name}={value}" for name, value in cookies.items()]
        reply = self.resolver.resolve(event, LambdaContextStub())
        text = reply.get("body") or ""
        if reply.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        headers = {key.lower(): value for key, value in (reply.get("headers") or {}).items()}
        body = json.loads(text) if text and "json" in headers.get("content-type", "") else text
        answer = Reply(reply["statusCode"], headers, body, list(reply.get("cookies") or []))
        for set_cookie in answer.set_cookies:
            name, _, value = set_cookie.split(";", 1)[0].partition("=")
            self.browser_cookies[name] = value
        self.responses.append(answer)
        return answer

    def start(self, tenant_id: str = TENANT_A, sub: str = ADMIN) -> Reply:
        return self.call(
            "api_connect.json", path=f"/tenants/{tenant_id}/qbo/connect", tenants=tenant_id, sub=sub
        )

    def consent(
        self, authorize_url: str, *, realm_id: str | None = None, deny: bool = False
    ) -> dict[str, str]:
        """The admin at Intuit: consents (or cancels) and comes back with the callback's query."""
        if deny:
            query = dict(parse_qs(urlsplit(authorize_url).query))
            form = {key: values[0] for key, values in query.items()} | {"action": "cancel"}
            answer = self.http.post(
                "/connect/oauth2",
                content=urlencode(form),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        else:
            url = authorize_url + (f"&realm_id={realm_id}" if realm_id else "")
            answer = self.http.get(url)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}

    def callback(self, query: dict[str, str], *, cookies: dict[str, str] | None = None) -> Reply:
        """Intuit's redirect back, from the admin's browser unless ``cookies`` says otherwise."""
        sent = self.browser_cookies if cookies is None else cookies
        return self.call("api_oauth_callback.json", query=query, tenants=None, cookies=sent)

    def connect(self, tenant_id: str = TENANT_A, *, realm_id: str | None = None) -> Reply:
        """The whole browser round trip: connect → Intuit consent → callback."""
        started = self.start(tenant_id)
        assert started.status == 302, started.body
        return self.callback(self.consent(started.location, realm_id=realm_id))

    # -- what is stored --

    def stored_tokens(self, tenant_id: str = TENANT_A) -> dict[str, Any] | None:
        name = get_settings().tenant_token_secret_name(tenant_id)
        try:
            value = secrets_client().get_secret_value(SecretId=name)
        except secrets_client().exceptions.ResourceNotFoundException:
            return None
        loaded: dict[str, Any] = json.loads(value["SecretString"])
        return loaded

    def items_of_type(self, item_type: str) -> list[dict[str, Any]]:
        """Every main-table item of one type (a scan: these tables hold a handful of items)."""
        return list(MainTable().scan_all(Condition("item_type = :t", values={":t": item_type})))

    def nothing_stored_for(self, tenant_id: str) -> bool:
        """No connection, no realm claim and no tokens for the tenant."""
        owned = [item for item in self.items_of_type("realm_owner") if item.get("tenant_id") == tenant_id]
        return (
            ConnectionRepository().get(tenant_id) is None
            and not owned
            and self.stored_tokens(tenant_id) is None
        )

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get("/_sandbox/stats").json()
        return stats

    def vault(self, tenant_id: str = TENANT_A) -> TokenVault:
        return TokenVault(
            tenant_id, refresher=self.oauth, invalid_grant_errors=(InvalidGrant,), cache=self.token_cache
        )

    def qbo(self, tenant_id: str, realm_id: str) -> QboClient:
        return QboClient(realm_id, self.vault(tenant_id), None, SANDBOX_BASE, http=self.http)

    @property
    def realms(self) -> list[str]:
        return list(self.sandbox.companies)


def sample_event(
    name: str,
    *,
    path: str | None = None,
    query: dict[str, str] | None = None,
    tenants: str | None = TENANT_A,
    sub: str = ADMIN,
) -> dict[str, Any]:
    """A sample event from ``events/``, with its path, query string and JWT claims replaced."""
    event: dict[str, Any] = copy.deepcopy(json.loads((ROOT / "events" / name).read_text()))
    if path is not None:
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    if query is not None:
        event["rawQueryString"] = urlencode(query)
        event["queryStringParameters"] = dict(query)
        if not query:
            event.pop("queryStringParameters", None)
    context = event["requestContext"]
    if tenants is None:
        context.pop("authorizer", None)
    else:
        context["authorizer"] = {"jwt": {"claims": {"sub": sub, "qbosync_tenants": tenants}, "scopes": None}}
    return event


def build_world(
    config: SandboxConfig, sandbox: Sandbox, http: httpx.Client, clock: SettableClock
) -> ConnectionWorld:
    """Secrets provisioned, tenants registered, and the service and routes wired to the sandbox."""
    app_secrets = AppSecrets()
    app_secrets.put_intuit_app(config.client_id, config.client_secret, config.verifier_token)
    signing_key = secrets.token_urlsafe(48)
    app_secrets.put_state_signing_key(signing_key)
    tenants = TenantRepository()
    tenants.register(Tenant(tenant_id=TENANT_A, name="Acme Law"))
    tenants.register(Tenant(tenant_id=TENANT_B, name="Globex MSP"))
    oauth = IntuitOAuthClient(DISCOVERY_URL, config.client_id, config.client_secret, http=http)
    cache = TokenCache()

    def vault_for(tenant_id: str) -> TokenVault:
        return TokenVault(tenant_id, refresher=oauth, invalid_grant_errors=(InvalidGrant,), cache=cache)

    def company_reader_for(realm_id: str, access_token: str) -> QboClient:
        return QboClient(realm_id, FreshToken(access_token), None, SANDBOX_BASE, http=http)

    def prerequisites(tenant_id: str, realm_id: str) -> list[dict[str, Any]]:
        reader = QboClient(realm_id, vault_for(tenant_id), None, SANDBOX_BASE, http=http)
        return connection_prerequisites(tenant_id, realm_id, reader=reader)

    service = ConnectionService(
        states=OAuthStateRepository(),
        connections=ConnectionRepository(),
        signer=OAuthStateSigner(app_secrets.state_signing_key().get_secret_value().encode()),
        oauth=oauth,
        vault_for=vault_for,
        company_reader_for=company_reader_for,
        prerequisites=prerequisites,
        redirect_uri=REDIRECT_URI,
        admin_return_url=ADMIN_RETURN_URL,
        clock=clock,
    )

    def qbo_reader_for(tenant_id: str) -> QboClient:
        connection = ConnectionRepository().get(tenant_id)
        assert connection is not None
        return QboClient(connection.realm_id, vault_for(tenant_id), None, SANDBOX_BASE, http=http)

    deps = ApiDependencies(
        tenants=tenants, connections=ConnectionRepository(), qbo_reader_for=qbo_reader_for, epoch_clock=clock
    )
    resolver = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(resolver)
    resolver.include_router(connection_router(deps, flows=lambda: service))
    return ConnectionWorld(
        sandbox=sandbox,
        http=http,
        oauth=oauth,
        service=service,
        resolver=resolver,
        clock=clock,
        client_secret=config.client_secret,
        signing_key=signing_key,
        token_cache=cache,
    )


def sandbox_config(**overrides: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "client_id": "ABqbosyncTestClient" + secrets.token_hex(8),
        "client_secret": "cs-" + secrets.token_hex(20),
        "redirect_uris": [REDIRECT_URI],
        "auto_consent": True,
        **overrides,
    }
    return SandboxConfig(**values)


@pytest.fixture
def world(main_table: str) -> Iterator[ConnectionWorld]:
    """A fresh sandbox (auto-consent) and moto for one test."""
    config = sandbox_config()
    app = build_app(config)
    with in_process_client(app, base_url=SANDBOX_BASE) as http:
        yield build_world(config, app.state.sandbox, http, SettableClock())
