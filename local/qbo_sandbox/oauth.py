"""Intuit OAuth 2.0 / OpenID Connect, emulated: discovery, authorize + consent, token, revoke, JWKS, userinfo.

The paths mirror Intuit's hosts folded onto one origin, and the discovery document points at them, so
`intuitlib.client.AuthClient(..., environment=<discovery url>)` works unchanged.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import secrets
import string
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from local.qbo_sandbox.app import Sandbox

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
OPENID_SCOPES = ("openid", "profile", "email", "phone", "address")
KNOWN_SCOPES = frozenset(
    {
        ACCOUNTING_SCOPE,
        "com.intuit.quickbooks.payment",
        *OPENID_SCOPES,
        "com.intuit.quickbooks.payroll",
        "com.intuit.quickbooks.payroll.timetracking",
        "com.intuit.quickbooks.payroll.benefits",
        "com.intuit.quickbooks.payroll.payslip.read",
        "project-management.project",
        "app-foundations.custom-field-definitions",
        "app-foundations.custom-field-definitions.read",
        "payroll.compensation.read",
        "indirect-tax.tax-calculation.quickbooks",
        "intuit_name",
    }
)

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"  # noqa: S105 (a path, not a secret)
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
JWKS_PATH = "/op/v1/jwks"
USERINFO_PATH = "/v1/openid_connect/userinfo"
ISSUER_PATH = "/op/v1"
DISCOVERY_PATH = "/.well-known/openid_configuration"
SANDBOX_DISCOVERY_PATH = "/.well-known/openid_sandbox_configuration"

# What Intuit's JWE access tokens start with (a protected header {"enc":"A128CBC-HS256","alg":"dir"}).
_JWE_HEADER = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0"
_ALNUM = string.ascii_letters + string.digits
_NO_STORE = {"cache-control": "no-cache, no-store", "pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 error answer from the token or revoke endpoint."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class TokenRejected(Exception):
    """A bearer token that does not authorize anything; `reason` goes into the 401 detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthorizationCode(BaseModel):
    code: str
    client_id: str
    redirect_uri: str
    realm_id: str
    scopes: list[str]
    issued_at: float
    used: bool = False
    grant_id: str | None = None


class Grant(BaseModel):
    """One consent: every refresh and access token descends from it, and revoking it kills them all."""

    grant_id: str
    client_id: str
    realm_id: str
    scopes: list[str]
    user_sub: str
    created_at: float
    hard_expires_at: float
    revoked: bool = False


class RefreshTokenRecord(BaseModel):
    value: str
    grant_id: str
    issued_at: float
    expires_at: float
    superseded_at: float | None = None


class AccessTokenRecord(BaseModel):
    value: str
    grant_id: str
    realm_id: str
    expires_at: float


class IssuedTokens(BaseModel):
    access_token: str
    expires_in: int
    refresh_token: str
    x_refresh_token_expires_in: int
    x_refresh_token_hard_expires_in: int
    grant: Grant


def _random_alnum(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenStore:
    """Codes, grants, refresh and access tokens, judged against the sandbox clock."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        access_ttl: int,
        refresh_ttl: int,
        refresh_hard_ttl: int,
        refresh_grace: int,
        code_ttl: int,
        rotate_every_refresh: bool = False,
        rotation_seconds: int = 86_400,
    ) -> None:
        self._now = clock
        self.rotate_every_refresh = rotate_every_refresh
        self.rotation_seconds = rotation_seconds
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.refresh_hard_ttl = refresh_hard_ttl
        self.refresh_grace = refresh_grace
        self.code_ttl = code_ttl
        self.codes: dict[str, AuthorizationCode] = {}
        self.grants: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, RefreshTokenRecord] = {}
        self.access_tokens: dict[str, AccessTokenRecord] = {}

    def issue_code(self, client_id: str, redirect_uri: str, realm_id: str, scopes: list[str]) -> str:
        code = f"AB11{int(self._now())}{_random_alnum(40)}"
        self.codes[code] = AuthorizationCode(
            code=code,
            client_id=client_id,
            redirect_uri=redirect_uri,
            realm_id=realm_id,
            scopes=scopes,
            issued_at=self._now(),
        )
        return code

    def exchange_code(self, client_id: str, code: str, redirect_uri: str, user_sub: str) -> IssuedTokens:
        record = self.codes.get(code)
        if record is None or record.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Token invalid")
        if record.used:
            # A replayed code may be stolen: revoke whatever it already produced.
            if record.grant_id is not None:
                self.revoke_grant(record.grant_id)
            raise OAuthError(400, "invalid_grant", "Token invalid")
        if self._now() - record.issued_at > self.code_ttl:
            raise OAuthError(400, "invalid_grant", "Token invalid")
        if record.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "Redirect URI does not match the authorization request")
        record.used = True
        now = self._now()
        grant = Grant(
            grant_id=uuid.uuid4().hex,
            client_id=client_id,
            realm_id=record.realm_id,
            scopes=record.scopes,
            user_sub=user_sub,
            created_at=now,
            hard_expires_at=now + self.refresh_hard_ttl,
        )
        self.grants[grant.grant_id] = grant
        record.grant_id = grant.grant_id
        return self._issue(grant)

    def refresh(self, client_id: str, refresh_token: str) -> IssuedTokens:
        record = self.refresh_tokens.get(refresh_token)
        now = self._now()
        invalid = OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")
        if record is None:
            raise invalid
        grant = self.grants.get(record.grant_id)
        if grant is None or grant.revoked or grant.client_id != client_id:
            raise invalid
        if now >= record.expires_at or now >= grant.hard_expires_at:
            raise invalid
        if record.superseded_at is not None and now - record.superseded_at >= self.refresh_grace:
            raise invalid
        live = [
            t
            for t in self.refresh_tokens.values()
            if t.grant_id == grant.grant_id and t.superseded_at is None
        ]
        # Intuit hands the same value out again until it is about a day old (oauth-jsclient issue #74);
        # a refresh from a superseded token inside its grace gets the grant's current value too.
        if not self.rotate_every_refresh and live and now - live[0].issued_at < self.rotation_seconds:
            return self._issue(grant, reuse=live[0])
        for other in live:
            other.superseded_at = now
        return self._issue(grant)

    def revoke(self, client_id: str, token: str) -> None:
        """Revoke the grant behind a refresh or access token; an unknown token is not an error (RFC 7009)."""
        grant_id: str | None = None
        if token in self.refresh_tokens:
            grant_id = self.refresh_tokens[token].grant_id
        elif token in self.access_tokens:
            grant_id = self.access_tokens[token].grant_id
        if grant_id is not None and self.grants[grant_id].client_id == client_id:
            self.revoke_grant(grant_id)

    def revoke_grant(self, grant_id: str) -> None:
        grant = self.grants.get(grant_id)
        if grant is not None:
            grant.revoked = True

    def authenticate(self, access_token: str) -> AccessTokenRecord:
        """The record behind a bearer token that is live right now, or TokenRejected saying why not."""
        record = self.access_tokens.get(access_token)
        if record is None:
            raise TokenRejected("Token invalid")
        grant = self.grants.get(record.grant_id)
        if grant is None or grant.revoked:
            raise TokenRejected("Token revoked")
        if self._now() >= record.expires_at:
            raise TokenRejected("Token expired")
        return record

    def grant_of(self, record: AccessTokenRecord) -> Grant:
        return self.grants[record.grant_id]

    def _issue(self, grant: Grant, reuse: RefreshTokenRecord | None = None) -> IssuedTokens:
        """A new access token, and a new refresh token unless `reuse` names the one to hand out again."""
        now = self._now()
        access = ".".join(
            [
                _JWE_HEADER,
                "",
                _b64url(secrets.token_bytes(16)),
                _b64url(secrets.token_bytes(96)),
                _b64url(secrets.token_bytes(16)),
            ]
        )
        self.access_tokens[access] = AccessTokenRecord(
            value=access, grant_id=grant.grant_id, realm_id=grant.realm_id, expires_at=now + self.access_ttl
        )
        hard_left = max(0, int(grant.hard_expires_at - now))
        refresh_life = min(self.refresh_ttl, hard_left)
        if reuse is not None:
            refresh = reuse.value
            reuse.expires_at = now + refresh_life  # the rolling ~100-day expiry restarts on every refresh
        else:
            refresh = f"RT1-{secrets.randbelow(90) + 10}-H0-{int(now)}{_random_alnum(20).lower()}"
            self.refresh_tokens[refresh] = RefreshTokenRecord(
                value=refresh, grant_id=grant.grant_id, issued_at=now, expires_at=now + refresh_life
            )
        return IssuedTokens(
            access_token=access,
            expires_in=self.access_ttl,
            refresh_token=refresh,
            x_refresh_token_expires_in=refresh_life,
            x_refresh_token_hard_expires_in=hard_left,
            grant=grant,
        )

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "codes": [c.model_dump() for c in self.codes.values()],
            "grants": [g.model_dump() for g in self.grants.values()],
            "refresh_tokens": [r.model_dump() for r in self.refresh_tokens.values()],
            "access_tokens": [a.model_dump() for a in self.access_tokens.values()],
        }

    def load_snapshot(self, data: dict[str, Any]) -> None:
        self.codes = {c["code"]: AuthorizationCode.model_validate(c) for c in data.get("codes", [])}
        self.grants = {g["grant_id"]: Grant.model_validate(g) for g in data.get("grants", [])}
        self.refresh_tokens = {
            r["value"]: RefreshTokenRecord.model_validate(r) for r in data.get("refresh_tokens", [])
        }
        self.access_tokens = {
            a["value"]: AccessTokenRecord.model_validate(a) for a in data.get("access_tokens", [])
        }


class IdTokenSigner:
    """The sandbox's RS256 key: signs id_tokens and is published at the JWKS endpoint."""

    def __init__(self, private_key_pem: str | None = None) -> None:
        if private_key_pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            loaded = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError("the id_token signing key must be RSA")
            key = loaded
        self._key = key
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.b32encode(public_der[-10:]).decode("ascii").lower().rstrip("=")

    def private_key_pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


# ---------------------------------------------------------------- HTTP handlers


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def base_url_of(request: Request) -> str:
    configured = _sandbox(request).config.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def discovery_document(base_url: str) -> dict[str, Any]:
    return {
        "issuer": base_url + ISSUER_PATH,
        "authorization_endpoint": base_url + AUTHORIZE_PATH,
        "token_endpoint": base_url + TOKEN_PATH,
        "userinfo_endpoint": base_url + USERINFO_PATH,
        "revocation_endpoint": base_url + REVOKE_PATH,
        "jwks_uri": base_url + JWKS_PATH,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(OPENID_SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


async def discovery(request: Request) -> Response:
    return JSONResponse(discovery_document(base_url_of(request)))


async def jwks(request: Request) -> Response:
    return JSONResponse(_sandbox(request).signer.jwks())


def _error_page(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><title>Intuit sandbox: error</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)


async def _params_of(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
    return params


def _redirect_with_state(redirect_uri: str, state: str | None, answer: dict[str, str]) -> RedirectResponse:
    if state is not None:
        answer = {**answer, "state": state}
    return _redirect(redirect_uri, answer)


def _chosen_realm(sandbox: Sandbox, params: dict[str, str]) -> str:
    return params.get("realm_id") or params.get("realm_hint") or next(iter(sandbox.companies))


def _refuse_authorization(sandbox: Sandbox, params: dict[str, str]) -> Response | None:
    """Why this authorize request cannot go on, or None when it can."""
    config = sandbox.config
    redirect_uri = params.get("redirect_uri", "")
    state = params.get("state")
    # Errors about the client or the redirect URI must not redirect (RFC 6749 §4.1.2.1).
    if params.get("client_id", "") != config.client_id:
        return _error_page(400, "invalid_client", "This app is not known to the sandbox (client_id).")
    if redirect_uri not in config.redirect_uris:
        return _error_page(400, "invalid_request", "The redirect_uri is not registered for this app.")
    if params.get("response_type") != "code":
        return _redirect_with_state(
            redirect_uri,
            state,
            {"error": "unsupported_response_type", "error_description": "response_type must be code"},
        )
    scopes = params.get("scope", "").split()
    if not scopes or any(s not in KNOWN_SCOPES for s in scopes) or ACCOUNTING_SCOPE not in scopes:
        return _redirect_with_state(
            redirect_uri,
            state,
            {"error": "invalid_scope", "error_description": "Invalid permissions requested"},
        )
    if _chosen_realm(sandbox, params) not in sandbox.companies:
        return _redirect_with_state(
            redirect_uri, state, {"error": "invalid_request", "error_description": "Unknown company"}
        )
    return None


async def authorize(request: Request) -> Response:
    """GET shows the consent page (or consents at once); POST is the consent form's answer."""
    sandbox = _sandbox(request)
    params = await _params_of(request)
    refusal = _refuse_authorization(sandbox, params)
    if refusal is not None:
        return refusal
    redirect_uri, state = params["redirect_uri"], params.get("state")
    scopes = params["scope"].split()
    if request.method == "POST" and params.get("action") != "connect":
        return _redirect_with_state(
            redirect_uri, state, {"error": "access_denied", "error_description": "The user denied access"}
        )
    if request.method == "GET" and not sandbox.config.auto_consent:
        return _consent_page(sandbox, params, scopes)
    realm_id = _chosen_realm(sandbox, params)
    code = sandbox.tokens.issue_code(params["client_id"], redirect_uri, realm_id, scopes)
    return _redirect_with_state(redirect_uri, state, {"code": code, "realmId": realm_id})


def _consent_page(sandbox: Sandbox, params: dict[str, str], scopes: list[str]) -> HTMLResponse:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(params.get(name, ""))}">'
        for name in ("client_id", "response_type", "scope", "redirect_uri", "state")
        if name in params
    )
    choices = "".join(
        f'<li><label><input type="radio" name="realm_id" value="{html.escape(realm)}"'
        f"{' checked' if index == 0 else ''}> {html.escape(company.company_name)}"
        f" <small>(realm {html.escape(realm)})</small></label></li>"
        for index, (realm, company) in enumerate(sandbox.companies.items())
    )
    body = (
        "<!doctype html><html><head><title>Intuit sandbox: connect</title></head><body>"
        "<h1>Connect your QuickBooks company</h1>"
        f"<p>The app asks for: {html.escape(' '.join(scopes))}</p>"
        f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}<ul>{choices}</ul>'
        '<button type="submit" name="action" value="connect">Connect</button> '
        '<button type="submit" name="action" value="cancel">Cancel</button>'
        "</form></body></html>"
    )
    return HTMLResponse(body)


def _token_error(err: OAuthError, tid: str) -> JSONResponse:
    body = {"error": err.error}
    if err.description:
        body["error_description"] = err.description
    headers = {"intuit_tid": tid, **_NO_STORE}
    if err.status == 401:
        headers["www-authenticate"] = 'Basic realm="intuit"'
    return JSONResponse(body, status_code=err.status, headers=headers)


def _client_of(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """The client's credentials from HTTP Basic, else from the form (client_secret_post)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError(401, "invalid_client") from exc
        client_id, sep, client_secret = decoded.partition(":")
        if not sep:
            raise OAuthError(401, "invalid_client")
        return client_id, client_secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _authenticate_client(request: Request, form: dict[str, str]) -> str:
    config = _sandbox(request).config
    client_id, client_secret = _client_of(request, form)
    if not secrets.compare_digest(
        client_id.encode(), config.client_id.encode()
    ) or not secrets.compare_digest(client_secret.encode(), config.client_secret.encode()):
        raise OAuthError(401, "invalid_client")
    return client_id


async def token(request: Request) -> Response:
    sandbox = _sandbox(request)
    tid = sandbox.new_tid()
    grant_type = "unknown"
    try:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        grant_type = form.get("grant_type", "missing") or "missing"
        client_id = _authenticate_client(request, form)
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        if grant_type == "authorization_code":
            if not form.get("code") or not form.get("redirect_uri"):
                raise OAuthError(400, "invalid_request", "code and redirect_uri are required")
            issued = sandbox.tokens.exchange_code(
                client_id, form["code"], form["redirect_uri"], sandbox.user_sub
            )
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise OAuthError(400, "invalid_request", "refresh_token is required")
            issued = sandbox.tokens.refresh(client_id, form["refresh_token"])
        elif grant_type == "missing":
            raise OAuthError(400, "invalid_request", "grant_type is required")
        else:
            raise OAuthError(400, "unsupported_grant_type")
    except OAuthError as err:
        sandbox.stats.record_token_call(grant_type, err.error)
        return _token_error(err, tid)
    sandbox.stats.record_token_call(grant_type, None)
    answer: dict[str, Any] = {
        "token_type": "bearer",
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "x_refresh_token_expires_in": issued.x_refresh_token_expires_in,
    }
    if request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true":
        answer["x_refresh_token_hard_expires_in"] = issued.x_refresh_token_hard_expires_in
    if "openid" in issued.grant.scopes:
        answer["id_token"] = _id_token(request, issued.grant)
    return JSONResponse(answer, headers={"intuit_tid": tid, **_NO_STORE})


def _id_token(request: Request, grant: Grant) -> str:
    sandbox = _sandbox(request)
    now = int(sandbox.clock.now())
    return sandbox.signer.sign(
        {
            "iss": base_url_of(request) + ISSUER_PATH,
            "aud": [grant.client_id],
            "sub": grant.user_sub,
            "realmid": grant.realm_id,
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
        }
    )


async def revoke(request: Request) -> Response:
    sandbox = _sandbox(request)
    tid = sandbox.new_tid()
    try:
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(raw.decode("utf-8", errors="replace")))
        client_id = _authenticate_client(request, form)
        token_value = form.get("token")
        if content_type == "application/json":
            try:
                parsed = json.loads(raw or b"null")
            except ValueError as exc:
                raise OAuthError(400, "invalid_request", "body is not JSON") from exc
            token_value = parsed.get("token") if isinstance(parsed, dict) else None
        if not isinstance(token_value, str) or not token_value:
            raise OAuthError(400, "invalid_request", "token is required")
    except OAuthError as err:
        return _token_error(err, tid)
    sandbox.tokens.revoke(client_id, token_value)
    sandbox.stats.record_revoke()
    return Response(status_code=200, headers={"intuit_tid": tid, **_NO_STORE})


async def userinfo(request: Request) -> Response:
    sandbox = _sandbox(request)
    header = request.headers.get("authorization", "")
    try:
        if not header.lower().startswith("bearer "):
            raise TokenRejected("Token missing")
        record = sandbox.tokens.authenticate(header[7:].strip())
    except TokenRejected:
        return JSONResponse(
            {"error": "invalid_token"},
            status_code=401,
            headers={"intuit_tid": sandbox.new_tid(), "www-authenticate": 'Bearer error="invalid_token"'},
        )
    grant = sandbox.tokens.grant_of(record)
    if "openid" not in grant.scopes:
        return JSONResponse({"error": "insufficient_scope"}, status_code=403)
    info: dict[str, Any] = {"sub": grant.user_sub}
    if "email" in grant.scopes:
        info.update({"email": "sandbox.admin@example.com", "emailVerified": True})
    if "profile" in grant.scopes:
        info.update({"givenName": "Sandbox", "familyName": "Admin"})
    if "phone" in grant.scopes:
        info.update({"phoneNumber": "+1 (555) 010-0100", "phoneNumberVerified": False})
    return JSONResponse(info, headers={"intuit_tid": sandbox.new_tid()})


def oauth_routes() -> list[Route]:
    return [
        Route(DISCOVERY_PATH, discovery, methods=["GET"]),
        Route(DISCOVERY_PATH + "/", discovery, methods=["GET"]),
        Route(SANDBOX_DISCOVERY_PATH, discovery, methods=["GET"]),
        Route(SANDBOX_DISCOVERY_PATH + "/", discovery, methods=["GET"]),
        Route(AUTHORIZE_PATH, authorize, methods=["GET", "POST"]),
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(REVOKE_PATH, revoke, methods=["POST"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
        Route(USERINFO_PATH, userinfo, methods=["GET"]),
    ]
