"""Who is calling: the admin's identity and tenants, from the JWT claims API Gateway already verified."""

from __future__ import annotations

from typing import Any, Protocol

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from pydantic import BaseModel, ConfigDict

from qbosync.errors import Forbidden, Unauthorized
from qbosync.observability import logger

TENANTS_CLAIM = "qbosync_tenants"


class TenantLookup(Protocol):
    """Finds a tenant; raises a ``NotFound`` (code ``unknown_tenant``) for one that does not exist."""

    def get(self, tenant_id: str) -> object: ...


class AdminPrincipal(BaseModel):
    """An authenticated admin: ``sub`` and the tenants the token lets it act for."""

    model_config = ConfigDict(frozen=True)

    sub: str
    tenants: frozenset[str]


def parse_tenants_claim(value: Any) -> frozenset[str]:
    """``"a b"``, API Gateway's flattened ``"[a b]"``, or a JSON list, as a set of tenant ids."""
    if isinstance(value, list):
        return frozenset(str(item) for item in value if str(item))
    if not isinstance(value, str):
        return frozenset()
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return frozenset(part.strip("\"',") for part in text.replace(",", " ").split() if part.strip("\"',"))


def admin_principal(claims: dict[str, Any]) -> AdminPrincipal:
    """The principal named by verified JWT claims; ``Unauthorized`` when there is none."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("a bearer token naming the admin is required")
    return AdminPrincipal(sub=sub, tenants=parse_tenants_claim(claims.get(TENANTS_CLAIM)))


def jwt_claims(event: dict[str, Any]) -> dict[str, Any]:
    """``requestContext.authorizer.jwt.claims`` of an HTTP API v2 event, or {} when absent."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    claims = jwt.get("claims") or {}
    return claims if isinstance(claims, dict) else {}


def require_tenant(app: BaseRouter, tenant_id: str, tenants: TenantLookup) -> AdminPrincipal:
    """The calling admin, if its token grants ``tenant_id`` and the tenant exists (401, 403, 404)."""
    principal = admin_principal(jwt_claims(app.current_event.raw_event))
    if tenant_id not in principal.tenants:
        logger.warning("tenant not granted by token", extra={"tenant_id": tenant_id, "admin": principal.sub})
        raise Forbidden("this token does not grant access to the tenant", code="tenant_forbidden")
    tenants.get(tenant_id)
    logger.append_keys(tenant_id=tenant_id, admin=principal.sub)
    return principal
