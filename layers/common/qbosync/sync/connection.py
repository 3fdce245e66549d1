"""Connecting a tenant to its QuickBooks company: start, OAuth callback, status and disconnect.

The callback is a browser redirect, so every outcome (connected, denied, forged state, reused code, a
company already connected elsewhere) is a redirect to the admin return URL with ``qbo_connection=<outcome>``;
only a successful one stores anything. Order matters: the realm's owner is checked before tokens are
stored, and the realm is claimed in the same transaction that records the connection, so two tenants
racing for one company cannot both win; the loser's fresh tokens are revoked at Intuit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel

from qbosync.errors import Conflict, NotConnected, UpstreamUnavailable
from qbosync.observability import logger
from qbosync.qbo.faults import QboAuthenticationFault
from qbosync.qbo.oauth import InvalidGrant, OAuthError, TokenGrant
from qbosync.store.connections import Connection, ConnectionRepository, RealmClaimedByAnotherTenant
from qbosync.store.ledger import WriteIntent, WriteLedger
from qbosync.store.oauth_states import OAuthStateRepository, StateInvalid
from qbosync.sync.oauth_state import STATE_LIFETIME_SECONDS, OAuthStateSigner, browser_hash, same_browser


class CallbackOutcome(StrEnum):
    """What the admin is told after Intuit sends them back."""

    CONNECTED = "connected"
    DENIED = "denied"
    INVALID_STATE = "invalid_state"
    INVALID_REQUEST = "invalid_request"
    CODE_REJECTED = "code_rejected"
    REALM_IN_USE = "realm_in_use"
    OTHER_REALM_CONNECTED = "other_realm_connected"
    UPSTREAM_ERROR = "upstream_error"


class IntuitDisconnectOutcome(StrEnum):
    """What Intuit's Disconnect URL found when a user disconnected the app inside QuickBooks."""

    DISCONNECTED = (
        "disconnected_in_quickbooks"  # Intuit refuses the grant: tokens deleted, record disconnected
    )
    STILL_CONNECTED = "still_connected"  # the grant still works: a forged or stale visit changes nothing
    NOT_CONNECTED = "not_connected"  # no active connection holds that company


INTUIT_DISCONNECTED_BY = "intuit"
"""Who disconnected, in the connection record, when the user did it from QuickBooks."""


class OAuthApp(Protocol):
    """The parts of ``qbosync.qbo.oauth.IntuitOAuthClient`` the connection flow uses."""

    def authorize_url(self, redirect_uri: str, state: str) -> str: ...
    def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant: ...
    def revoke(self, token: str) -> None: ...


class CompanyReader(Protocol):
    """What the flow reads from the newly connected company (a ``QboClient`` satisfies it)."""

    def company_info(self) -> dict[str, Any]: ...


class TokenStore(Protocol):
    """A tenant's token vault (``qbosync.store.tokens.TokenVault``)."""

    def store_initial(self, realm_id: str, grant: TokenGrant) -> None: ...
    def current_refresh_token(self) -> str | None: ...
    def delete(self) -> None: ...
    def access_token(self) -> str: ...
    def refresh_after_unauthorized(self, rejected: str) -> str: ...


PrerequisiteCheck = Callable[[str, str], list[dict[str, Any]]]
"""(tenant_id, realm_id) → checks, each ``{"id", "status", "reason", "fix"}``, run once tokens are stored."""


class CallbackParams(BaseModel):
    """The query string Intuit sends back; every field is optional because anyone can call the URL."""

    code: str | None = None
    state: str | None = None
    realmId: str | None = None  # noqa: N815 - Intuit's parameter name
    error: str | None = None
    error_description: str | None = None


BROWSER_COOKIE = "qbosync_oauth_browser"


@dataclass(frozen=True)
class ConnectStart:
    """Where to send the admin, and the browser key to set as a cookie for the callback to check."""

    authorize_url: str
    browser_key: str
    cookie_path: str
    cookie_secure: bool
    max_age_seconds: int = STATE_LIFETIME_SECONDS


@dataclass(frozen=True)
class CallbackResult:
    outcome: CallbackOutcome
    redirect_url: str
    tenant_id: str | None = None
    realm_id: str | None = None


class OpenWrites(Protocol):
    """The QBO writes of a tenant whose outcome qbosync has not recorded (``WriteLedger``)."""

    def ambiguous(self, tenant_id: str) -> Iterable[WriteIntent]: ...


class AmbiguousWrites(Conflict):
    """Disconnecting now would leave QBO writes whose outcome nobody could settle any more."""

    code = "ambiguous_writes"


@dataclass
class ConnectionService:
    """Runs the connect, callback, status and disconnect flows for every tenant."""

    states: OAuthStateRepository
    connections: ConnectionRepository
    signer: OAuthStateSigner
    oauth: OAuthApp
    vault_for: Callable[[str], TokenStore]
    company_reader_for: Callable[[str, str], CompanyReader]
    prerequisites: PrerequisiteCheck
    redirect_uri: str
    admin_return_url: str
    clock: Callable[[], float] = time.time
    writes: OpenWrites = field(default_factory=WriteLedger)
    on_connected: Callable[[str], object] | None = None
    """Called with the tenant once connected: the composition root re-queues the events that failed
    because QuickBooks was not connected (``EventReplay.release_after_reconnect``)."""

    def start(self, tenant_id: str, admin_sub: str) -> ConnectStart:
        """Intuit's authorize URL for this tenant and admin, with a fresh single-use state bound to a
        new browser key (the route sets it as a cookie scoped to the callback)."""
        nonce = self.signer.new_nonce()
        browser_key = self.signer.new_browser_key()
        bound = browser_hash(browser_key)
        expires_at = int(self.clock()) + STATE_LIFETIME_SECONDS
        self.states.save(
            nonce, tenant_id, admin_sub, datetime.fromtimestamp(expires_at, tz=UTC), browser_hash=bound
        )
        state = self.signer.sign(nonce, expires_at, tenant_id, admin_sub, browser_hash=bound)
        logger.info("qbo connect started", extra={"tenant_id": tenant_id, "admin": admin_sub})
        callback = urlsplit(self.redirect_uri)
        return ConnectStart(
            authorize_url=self.oauth.authorize_url(self.redirect_uri, state),
            browser_key=browser_key,
            cookie_path=callback.path or "/",
            cookie_secure=callback.scheme == "https",
        )

    def complete(  # noqa: PLR0911 - one return per outcome
        self, params: CallbackParams, browser_key: str | None = None
    ) -> CallbackResult:
        """Handle Intuit's redirect; stores tokens and the connection only when everything checks out.

        ``browser_key`` is the cookie the connect redirect set. Signature and browser are checked on a
        read of the stored state; only a state that passes both is consumed, so a forged or misdirected
        callback leaves the genuine one usable.
        """
        try:
            parsed = OAuthStateSigner.parse(params.state or "")
            now = self.clock()
            bound = self.states.peek(parsed.nonce, datetime.fromtimestamp(now, tz=UTC))
            self.signer.verify(parsed, bound.tenant_id, bound.admin_sub, now, browser_hash=bound.browser_hash)
            if not same_browser(browser_key, bound.browser_hash):
                raise StateInvalid(
                    "The connection was started in another browser; start it again from this one."
                )
            stored = self.states.consume(parsed.nonce, datetime.fromtimestamp(now, tz=UTC))
        except StateInvalid as exc:
            logger.warning(
                "oauth callback refused", extra={"outcome": "invalid_state", "reason": exc.message}
            )
            return self._result(CallbackOutcome.INVALID_STATE, None, reason=exc.message)
        tenant_id, admin = stored.tenant_id, stored.admin_sub
        if params.error:
            outcome = (
                CallbackOutcome.DENIED if params.error == "access_denied" else CallbackOutcome.INVALID_REQUEST
            )
            return self._result(outcome, tenant_id, reason=params.error)
        if not params.code or not params.realmId:
            return self._result(
                CallbackOutcome.INVALID_REQUEST, tenant_id, reason="code and realmId are required"
            )
        realm_id = params.realmId

        blocked = self._ownership_problem(tenant_id, realm_id)
        if blocked is not None:
            return self._result(blocked, tenant_id, realm_id=realm_id)
        try:
            grant = self.oauth.exchange_code(params.code, self.redirect_uri)
        except InvalidGrant:
            return self._result(
                CallbackOutcome.CODE_REJECTED, tenant_id, reason="the authorization code was refused"
            )
        except OAuthError as exc:
            logger.error(
                "oauth code exchange failed", extra={"tenant_id": tenant_id, "oauth_error": exc.error}
            )
            return self._result(
                CallbackOutcome.UPSTREAM_ERROR, tenant_id, reason="Intuit could not be reached"
            )
        return self._record(tenant_id, admin, realm_id, grant)

    def status(self, tenant_id: str) -> Connection:
        """The tenant's connection, or ``NotConnected`` when it never connected."""
        connection = self.connections.get(tenant_id)
        if connection is None:
            raise NotConnected(f"Tenant '{tenant_id}' has never connected a QuickBooks company.")
        return connection

    def disconnect(self, tenant_id: str, admin_sub: str, *, force: bool = False) -> Connection:
        """Revoke at Intuit, delete the tokens, keep the connection record as history.

        Refused (``AmbiguousWrites``) while a QBO write's outcome is unknown, since only this connection
        can still find out whether QBO committed it; ``force`` disconnects anyway.
        """
        connection = self.status(tenant_id)
        if connection.status == "disconnected":
            return connection
        ambiguous = [] if force else list(self.writes.ambiguous(tenant_id))
        if ambiguous:
            raise AmbiguousWrites(
                f"{len(ambiguous)} QBO write(s) have no recorded outcome yet; retry once the push settles"
                " them, or disconnect with ?force=true and check these documents in QBO by hand",
                details=[
                    {
                        "entity": intent.link_entity,
                        "source_id": intent.source_id,
                        "version": intent.version,
                        "operation": intent.operation,
                        "request_id": intent.request_id,
                        "started_at": intent.started_at.isoformat(),
                    }
                    for intent in ambiguous
                ],
            )
        if force:
            logger.warning("disconnect forced", extra={"tenant_id": tenant_id})
        vault = self.vault_for(tenant_id)
        refresh_token = vault.current_refresh_token()
        if refresh_token is not None:
            try:
                self.oauth.revoke(refresh_token)
            except InvalidGrant:
                logger.info("tokens were already revoked at Intuit", extra={"tenant_id": tenant_id})
            except OAuthError as exc:
                raise UpstreamUnavailable(
                    "Intuit did not confirm the revocation; nothing was changed, try again."
                ) from exc
        vault.delete()
        disconnected = self.connections.mark_disconnected(
            tenant_id, admin_sub, datetime.fromtimestamp(self.clock(), tz=UTC)
        )
        logger.info("qbo disconnected", extra={"tenant_id": tenant_id, "realm_id": connection.realm_id})
        return disconnected

    def disconnected_in_quickbooks(self, realm_id: str) -> IntuitDisconnectOutcome:
        """Intuit's Disconnect URL: a user disconnected the app from inside QuickBooks.

        The URL is public, so the visit alone proves nothing: the grant is tried (CompanyInfo, then a
        refresh through the vault's single-flight refresh). Only when Intuit refuses it are the tokens
        deleted and the connection marked disconnected by ``intuit``. A connection already marked
        ``needs_reauth`` holds a grant Intuit refused before, so it is marked disconnected without a try.
        """
        connection = self.connections.get_by_realm(realm_id)
        if connection is None:
            return IntuitDisconnectOutcome.NOT_CONNECTED
        tenant_id = connection.tenant_id
        if connection.status == "connected" and not self._grant_refused(tenant_id, realm_id):
            logger.warning("disconnect URL visited but the grant still works", extra={"tenant_id": tenant_id})
            return IntuitDisconnectOutcome.STILL_CONNECTED
        self.vault_for(tenant_id).delete()
        self.connections.mark_disconnected(
            tenant_id, INTUIT_DISCONNECTED_BY, datetime.fromtimestamp(self.clock(), tz=UTC)
        )
        logger.info("qbo disconnected in quickbooks", extra={"tenant_id": tenant_id, "realm_id": realm_id})
        return IntuitDisconnectOutcome.DISCONNECTED

    def return_url(self, outcome: str) -> str:
        """The admin return URL with ``qbo_connection=<outcome>``, as after the OAuth callback."""
        separator = "&" if "?" in self.admin_return_url else "?"
        return f"{self.admin_return_url}{separator}{urlencode({'qbo_connection': outcome})}"

    def _grant_refused(self, tenant_id: str, realm_id: str) -> bool:
        """True when Intuit refuses the tenant's stored grant (revoked, or disconnected in QuickBooks)."""
        vault = self.vault_for(tenant_id)
        try:
            token = vault.access_token()
            try:
                self.company_reader_for(realm_id, token).company_info()
            except QboAuthenticationFault:
                vault.refresh_after_unauthorized(token)  # raises ReauthRequired when the grant is gone
        except NotConnected:
            return True
        return False

    def _ownership_problem(self, tenant_id: str, realm_id: str) -> CallbackOutcome | None:
        owner = self.connections.get_by_realm(realm_id)
        if owner is not None and owner.tenant_id != tenant_id and owner.status != "disconnected":
            return CallbackOutcome.REALM_IN_USE
        mine = self.connections.get(tenant_id)
        if mine is not None and mine.status != "disconnected" and mine.realm_id != realm_id:
            return CallbackOutcome.OTHER_REALM_CONNECTED
        return None

    def _record(self, tenant_id: str, admin: str, realm_id: str, grant: TokenGrant) -> CallbackResult:
        access_token = grant.access_token.get_secret_value()
        try:
            info = self.company_reader_for(realm_id, access_token).company_info()
        except Exception:
            self._revoke_quietly(grant)
            logger.exception(
                "reading CompanyInfo failed", extra={"tenant_id": tenant_id, "realm_id": realm_id}
            )
            return self._result(
                CallbackOutcome.UPSTREAM_ERROR, tenant_id, reason="QuickBooks could not be read"
            )
        vault = self.vault_for(tenant_id)
        vault.store_initial(realm_id, grant)
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        connection = Connection(
            tenant_id=tenant_id,
            realm_id=realm_id,
            company_name=str(info.get("CompanyName") or "") or None,
            connected_by=admin,
            connected_at=now,
            last_refreshed_at=now,
            refresh_token_expires_at=datetime.fromtimestamp(grant.refresh_expires_at, tz=UTC),
            hard_expires_at=(
                datetime.fromtimestamp(grant.obtained_at + grant.x_refresh_token_hard_expires_in, tz=UTC)
                if grant.x_refresh_token_hard_expires_in
                else None
            ),
        )
        try:
            self.connections.record_connected(connection)
        except RealmClaimedByAnotherTenant:
            vault.delete()
            self._revoke_quietly(grant)
            return self._result(CallbackOutcome.REALM_IN_USE, tenant_id, realm_id=realm_id)
        self.connections.set_prerequisites(tenant_id, self._checked_prerequisites(tenant_id, realm_id))
        logger.info("qbo connected", extra={"tenant_id": tenant_id, "realm_id": realm_id})
        if self.on_connected is not None:
            try:
                self.on_connected(tenant_id)
            except Exception:  # the retry schedule re-queues them later; the connection stands
                logger.exception("could not release events after connecting", extra={"tenant_id": tenant_id})
        return self._result(CallbackOutcome.CONNECTED, tenant_id, realm_id=realm_id)

    def _checked_prerequisites(self, tenant_id: str, realm_id: str) -> list[dict[str, Any]]:
        """The checks, or one warning saying they could not run: the connection itself is already made."""
        try:
            return self.prerequisites(tenant_id, realm_id)
        except Exception as exc:
            logger.exception(
                "prerequisite checks failed", extra={"tenant_id": tenant_id, "error_type": type(exc).__name__}
            )
            return [
                {
                    "id": "prerequisites",
                    "status": "warn",
                    "reason": f"the prerequisites could not be checked ({type(exc).__name__})",
                    "fix": "run the preflight check once QuickBooks Online answers again",
                }
            ]

    def _revoke_quietly(self, grant: TokenGrant) -> None:
        try:
            self.oauth.revoke(grant.refresh_token.get_secret_value())
        except OAuthError:
            logger.warning("could not revoke tokens of an abandoned connection")

    def _result(
        self,
        outcome: CallbackOutcome,
        tenant_id: str | None,
        *,
        realm_id: str | None = None,
        reason: str | None = None,
    ) -> CallbackResult:
        query = {"qbo_connection": outcome.value}
        if tenant_id:
            query["tenant_id"] = tenant_id
        if realm_id and outcome is CallbackOutcome.CONNECTED:
            query["realm_id"] = realm_id
        if reason:
            query["reason"] = reason
        separator = "&" if "?" in self.admin_return_url else "?"
        return CallbackResult(
            outcome=outcome,
            redirect_url=f"{self.admin_return_url}{separator}{urlencode(query)}",
            tenant_id=tenant_id,
            realm_id=realm_id,
        )
