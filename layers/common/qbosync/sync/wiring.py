"""The composition root: how production collaborators are built from settings and secrets.

Services take their collaborators as arguments; these factories are their lazy defaults. Each builds on
first use and caches per container what is safe to share (the OAuth client, the governor), never at
import time. Tests pass their own collaborators instead of calling these.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from qbosync.errors import NotConnected
from qbosync.qbo.client import QboClient
from qbosync.qbo.governor import RealmGovernor
from qbosync.qbo.oauth import IntuitOAuthClient
from qbosync.settings import get_qbo_limits, get_settings
from qbosync.source.http import HttpSourceAdapter
from qbosync.store.app_secrets import AppSecrets, SecretBox, TenantSecrets
from qbosync.store.connections import ConnectionRepository
from qbosync.store.governor import DynamoGovernorStore
from qbosync.store.tokens import TokenVault
from qbosync.sync.connection import ConnectionService
from qbosync.sync.oauth_state import OAuthStateSigner


@lru_cache(maxsize=1)
def app_secrets() -> AppSecrets:
    """The app's secrets behind one max-age cache per container (a rotated secret is picked up)."""
    return AppSecrets(SecretBox())


@lru_cache(maxsize=1)
def oauth_client() -> IntuitOAuthClient:
    """The Intuit app's OAuth client; its client credentials are read through ``app_secrets()``."""
    return IntuitOAuthClient(
        str(get_settings().intuit_discovery_url), credentials=app_secrets().intuit_client_credentials
    )


@lru_cache(maxsize=1)
def realm_governor() -> RealmGovernor:
    """The per-realm rate governor, shared through DynamoDB by every container."""
    limits = get_qbo_limits()
    return RealmGovernor(DynamoGovernorStore(window_seconds=limits.window_seconds), limits)


def token_vault(tenant_id: str) -> TokenVault:
    """A tenant's token vault, refreshing through the Intuit app."""
    from qbosync.qbo.oauth import InvalidGrant

    return TokenVault(tenant_id, refresher=oauth_client(), invalid_grant_errors=(InvalidGrant,))


def qbo_client_for_tenant(tenant_id: str) -> QboClient:
    """A QBO client for the tenant's connected company, governed and refreshing its own tokens."""
    connection = ConnectionRepository().get(tenant_id)
    if connection is None or connection.status == "disconnected":
        raise NotConnected(f"Tenant '{tenant_id}' has no QuickBooks connection.")
    return QboClient.for_realm(connection.realm_id, token_vault(tenant_id), realm_governor())


class _FreshTokenProvider:
    """Serves the access token of a grant just obtained, before any vault holds it."""

    def __init__(self, access_token: str):
        self._token = access_token

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        from qbosync.qbo.faults import QboAuthenticationFault

        raise QboAuthenticationFault("QuickBooks refused a token it had just issued", status=401)


def company_reader(realm_id: str, access_token: str) -> QboClient:
    """A client for a company being connected, using the token from the code exchange."""
    return QboClient.for_realm(realm_id, _FreshTokenProvider(access_token), realm_governor())


def source_for_tenant(tenant_id: str) -> HttpSourceAdapter:
    """The tenant's source system, through the HTTP adapter of the source contract."""
    credentials = TenantSecrets().source_credentials(tenant_id)
    return HttpSourceAdapter(
        get_settings().source_base_url, tenant_id, credentials.api_key.get_secret_value()
    )


def connection_service(prerequisites: Any = None) -> ConnectionService:
    """The connect / callback / disconnect flows with production collaborators."""
    from qbosync.store.oauth_states import OAuthStateRepository
    from qbosync.sync.preflight import connection_prerequisites

    settings = get_settings()
    return ConnectionService(
        states=OAuthStateRepository(),
        connections=ConnectionRepository(),
        signer=OAuthStateSigner(lambda: app_secrets().state_signing_key().get_secret_value().encode()),
        oauth=oauth_client(),
        vault_for=token_vault,
        company_reader_for=company_reader,
        prerequisites=prerequisites or connection_prerequisites,
        redirect_uri=settings.oauth_redirect_uri,
        admin_return_url=settings.admin_return_url,
    )


def reset_wiring() -> None:
    """Forget cached collaborators (tests switching environments use this)."""
    app_secrets.cache_clear()
    oauth_client.cache_clear()
    realm_governor.cache_clear()
