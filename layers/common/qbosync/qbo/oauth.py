"""Intuit OAuth 2.0: discovery, the authorize URL, code exchange, refresh and revoke.

Token values travel as ``SecretStr`` so a stray ``repr``, log line or error body shows ``**********``;
the token vault calls ``.get_secret_value()`` when it stores them. Errors are typed by the RFC 6749
``error`` code, never by description text, and never carry a token value.

Token and revoke calls are bounded: every httpx phase (pool, connect, write, read) has
``TokenRefreshBudget.intuit_timeout_seconds``, so the token vault's refresh lock provably outlasts the call.
The app's client credentials can come from a provider (a cache with a max age over Secrets Manager): a
warm container then picks up a rotated client secret by itself, and an ``invalid_client`` answer is retried
once with credentials read fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, computed_field

from qbosync.errors import QbosyncError
from qbosync.observability import logger
from qbosync.qbo.http import shared_http_client
from qbosync.settings import get_token_refresh_budget

if TYPE_CHECKING:
    import httpx

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
_HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


class OAuthError(QbosyncError):
    """Intuit's token endpoint refused a request; ``error`` is the RFC 6749 code."""

    status = 502
    code = "oauth_error"

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        http_status: int | None = None,
        intuit_tid: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.http_status = http_status
        self.intuit_tid = intuit_tid


class InvalidGrant(OAuthError):
    """The code or refresh token is expired, used or revoked: the admin must connect again."""

    status = 400
    code = "invalid_grant"


class InvalidClient(OAuthError):
    """Intuit does not accept the app's client id or secret: a deployment problem, not the tenant's."""

    code = "invalid_client"


class OAuthUnavailable(OAuthError):
    """Intuit could not be reached or failed (network error, 5xx); retry later."""

    code = "oauth_unavailable"


class ClientCredentials(Protocol):
    """The app's client id and secret; ``fresh`` bypasses any cache (after Intuit said ``invalid_client``)."""

    def __call__(self, *, fresh: bool = False) -> tuple[str, SecretStr]: ...


class TokenGrant(BaseModel):
    """Tokens Intuit issued, with the moment they were obtained so expiries are absolute."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: SecretStr
    refresh_token: SecretStr
    token_type: str = "bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_in: int
    x_refresh_token_expires_in: int
    x_refresh_token_hard_expires_in: int | None = None
    id_token: SecretStr | None = None
    obtained_at: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def access_expires_at(self) -> float:
        """Epoch seconds when the access token lapses."""
        return self.obtained_at + self.expires_in

    @computed_field  # type: ignore[prop-decorator]
    @property
    def refresh_expires_at(self) -> float:
        """Epoch seconds when the refresh token lapses: the rolling expiry, capped by the hard one."""
        rolling = self.obtained_at + self.x_refresh_token_expires_in
        if self.x_refresh_token_hard_expires_in is None:
            return rolling
        return min(rolling, self.obtained_at + self.x_refresh_token_hard_expires_in)


class DiscoveryDocument(BaseModel):
    """The parts of Intuit's OpenID discovery document qbosync uses."""

    model_config = ConfigDict(extra="ignore")

    issuer: str | None = None
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None


class IntuitOAuthClient:
    """Talks to Intuit's OAuth endpoints as the app (HTTP Basic with client id and secret)."""

    def __init__(
        self,
        discovery_url: str,
        client_id: str | None = None,
        client_secret: str | SecretStr | None = None,
        http: httpx.Client | None = None,
        *,
        credentials: ClientCredentials | None = None,
        token_timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if credentials is None and (client_id is None or client_secret is None):
            raise ValueError("pass either client_id and client_secret, or a credentials provider")
        self._discovery_url = discovery_url
        self._client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr | None) else SecretStr(client_secret)
        )
        self._provider = credentials
        self._token_timeout = token_timeout
        self._http = http
        self._clock = clock
        self._discovery: DiscoveryDocument | None = None

    def _credentials(self, *, fresh: bool = False) -> tuple[str, SecretStr]:
        if self._provider is not None:
            return self._provider(fresh=fresh)
        if self._client_id is None or self._client_secret is None:  # the constructor refuses this
            raise ValueError("no client credentials")
        return self._client_id, self._client_secret

    @property
    def token_timeout(self) -> httpx.Timeout:
        """Every phase of a token or revoke call is bounded (see ``TokenRefreshBudget``)."""
        import httpx  # on the first call, not at import: most cold starts never call Intuit

        if self._token_timeout is None:
            self._token_timeout = httpx.Timeout(get_token_refresh_budget().intuit_timeout_seconds)
        return self._token_timeout

    @property
    def http(self) -> httpx.Client:
        return self._http or shared_http_client()

    def discovery(self) -> DiscoveryDocument:
        """The discovery document, fetched once and cached for the life of this client."""
        import httpx  # on the first call, not at import: most cold starts never call Intuit

        if self._discovery is None:
            try:
                response = self.http.get(self._discovery_url, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                raise OAuthUnavailable("Intuit discovery document could not be fetched") from exc
            if response.status_code != 200:
                raise OAuthUnavailable(
                    "Intuit discovery document could not be fetched", http_status=response.status_code
                )
            try:
                self._discovery = DiscoveryDocument.model_validate_json(response.content)
            except ValidationError as exc:
                raise OAuthUnavailable("Intuit discovery document is malformed") from exc
        return self._discovery

    def authorize_url(
        self, redirect_uri: str, state: str, scopes: Sequence[str] = (ACCOUNTING_SCOPE,)
    ) -> str:
        """Where to send the admin's browser to grant access."""
        client_id, _ = self._credentials()
        query = urlencode(
            {
                "client_id": client_id,
                "response_type": "code",
                "scope": " ".join(scopes),
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        endpoint = self.discovery().authorization_endpoint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenGrant:
        """Trade the callback's authorization code for tokens (a code works once)."""
        return self._token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    def refresh(self, refresh_token: str) -> TokenGrant:
        """New tokens for a refresh token; raises ``InvalidGrant`` when it is no longer valid."""
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, token: str) -> None:
        """Revoke a refresh (or access) token, disconnecting the app from the company."""
        import httpx  # on the first call, not at import: most cold starts never call Intuit

        endpoint = self.discovery().revocation_endpoint
        if not endpoint:
            raise OAuthError("Intuit discovery document names no revocation endpoint")

        def send(auth: httpx.BasicAuth) -> httpx.Response:
            return self.http.post(
                endpoint,
                json={"token": token},
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=self.token_timeout,
            )

        try:
            response = self._with_fresh_credentials_on_invalid_client(send, action="revoke")
        except httpx.HTTPError as exc:
            raise OAuthUnavailable("Intuit revoke endpoint could not be reached") from exc
        if response.status_code != 200:
            raise self._error_from(response, action="revoke")
        logger.info("revoked intuit token", extra={"intuit_tid": response.headers.get("intuit_tid")})

    def _with_fresh_credentials_on_invalid_client(
        self, send: Callable[[httpx.BasicAuth], httpx.Response], *, action: str
    ) -> httpx.Response:
        """Send; after ``invalid_client``, send once more if the credentials read fresh are different.

        Intuit checks the client before the grant, so a refused client consumed no code or refresh token.
        """
        import httpx  # on the first call, not at import: most cold starts never call Intuit

        client_id, secret = self._credentials()
        response = send(httpx.BasicAuth(client_id, secret.get_secret_value()))
        if self._provider is None or response.status_code == 200:
            return response
        if not isinstance(self._error_from(response, action=action), InvalidClient):
            return response
        fresh_id, fresh_secret = self._credentials(fresh=True)
        if (fresh_id, fresh_secret.get_secret_value()) == (client_id, secret.get_secret_value()):
            return response
        logger.warning(
            "intuit refused the client; retrying with rotated credentials", extra={"action": action}
        )
        return send(httpx.BasicAuth(fresh_id, fresh_secret.get_secret_value()))

    def _token_request(self, form: dict[str, str]) -> TokenGrant:
        import httpx  # on the first call, not at import: most cold starts never call Intuit

        endpoint = self.discovery().token_endpoint
        grant_type = form["grant_type"]
        obtained_at = self._clock()

        def send(auth: httpx.BasicAuth) -> httpx.Response:
            return self.http.post(
                endpoint,
                data=form,
                auth=auth,
                headers={"Accept": "application/json", _HARD_EXPIRY_HEADER: "true"},
                timeout=self.token_timeout,
            )

        try:
            response = self._with_fresh_credentials_on_invalid_client(send, action=grant_type)
        except httpx.HTTPError as exc:
            # The exception text may quote the request; only its type is kept.
            raise OAuthUnavailable(
                f"Intuit token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        intuit_tid = response.headers.get("intuit_tid")
        logger.info(
            "intuit token request",
            extra={"grant_type": grant_type, "status": response.status_code, "intuit_tid": intuit_tid},
        )
        if response.status_code != 200:
            raise self._error_from(response, action=grant_type)
        try:
            payload: dict[str, Any] = response.json()
            return TokenGrant.model_validate({**payload, "obtained_at": obtained_at})
        except (ValueError, ValidationError):
            raise OAuthUnavailable(
                "Intuit token endpoint answered 200 without a usable token", intuit_tid=intuit_tid
            ) from None

    def _error_from(self, response: httpx.Response, *, action: str) -> OAuthError:
        intuit_tid = response.headers.get("intuit_tid")
        status = response.status_code
        error: str | None = None
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                error = body["error"]
        except ValueError:
            pass
        # The message names the action and the RFC code only: Intuit's description is free text
        # that could quote what was sent.
        message = f"Intuit refused {action}: {error or f'HTTP {status}'}"
        kwargs: dict[str, Any] = {"error": error, "http_status": status, "intuit_tid": intuit_tid}
        if error == "invalid_grant":
            return InvalidGrant(message, **kwargs)
        if error == "invalid_client":
            return InvalidClient(message, **kwargs)
        if status >= 500 or status == 429:
            return OAuthUnavailable(message, **kwargs)
        return OAuthError(message, **kwargs)
