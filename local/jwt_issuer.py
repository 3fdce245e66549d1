"""A local identity provider for admin tokens, and the checks API Gateway's JWT authorizer makes.

In AWS the source system's identity provider issues admin JWTs and the HTTP API JWT authorizer checks
them before any handler runs. Locally this module plays both parts with one RS256 key pair: it is
generated at start, or kept in ``<persist_dir>/jwt-signing-key.pem`` so tokens survive a restart.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LOCAL_ISSUER = "https://auth.qbosync.local/"
TENANTS_CLAIM = "qbosync_tenants"
_KEY_FILE = "jwt-signing-key.pem"


class Unauthorized(Exception):
    """The token would be refused by API Gateway's JWT authorizer (answer 401)."""


@dataclass(frozen=True)
class JwtAuthorizerSettings:
    issuer: str
    audiences: tuple[str, ...]


class JwtIssuer:
    """Issues admin tokens and verifies them as the HTTP API JWT authorizer would."""

    def __init__(self, issuer: str, audience: str, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.issuer = issuer
        self.audience = audience
        self._private_key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = uuid.uuid5(uuid.NAMESPACE_URL, self.public_key_pem()).hex[:16]

    @classmethod
    def persisted(cls, issuer: str, audience: str, directory: Path) -> JwtIssuer:
        """An issuer whose key lives in ``directory`` (created on first use)."""
        key_file = directory / _KEY_FILE
        if key_file.exists():
            loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{key_file} does not hold an RSA private key")
            return cls(issuer, audience, loaded)
        issuer_instance = cls(issuer, audience)
        directory.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(
            issuer_instance._private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_file.chmod(0o600)
        return issuer_instance

    def public_key_pem(self) -> str:
        return (
            self._private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def issue_admin_token(self, sub: str, tenants: list[str], ttl: float = 3600, **extra_claims: Any) -> str:
        """A signed admin token for ``sub`` that may act for ``tenants``."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + int(ttl),
            TENANTS_CLAIM: " ".join(tenants),
            **extra_claims,
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id})

    def verify(self, token: str, audiences: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The token's claims if API Gateway would accept it (signature, iss, aud, exp, nbf)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._private_key.public_key(),
                algorithms=["RS256"],
                audience=list(audiences or (self.audience,)),
                issuer=self.issuer,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(str(error)) from error
        return claims


def bearer_token(authorization_header: str | None) -> str:
    """The token from an ``Authorization`` header; API Gateway accepts it with or without ``Bearer``."""
    if not authorization_header:
        raise Unauthorized("no Authorization header")
    value = authorization_header.strip()
    if value.lower().startswith("bearer "):
        value = value[7:].strip()
    if not value:
        raise Unauthorized("empty bearer token")
    return value


def claims_as_api_gateway_passes_them(claims: dict[str, Any]) -> dict[str, str]:
    """API Gateway hands claims to the Lambda as strings; arrays are flattened to ``[a b]``."""
    flattened: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            flattened[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, bool):
            flattened[name] = "true" if value else "false"
        else:
            flattened[name] = str(value)
    return flattened


def scopes_of(claims: dict[str, Any]) -> list[str] | None:
    """Scopes from ``scope`` (space separated) or ``scp``, as the authorizer reports them."""
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return None
    if isinstance(raw, list):
        return [str(item) for item in raw]
    return str(raw).split()
