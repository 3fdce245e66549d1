"""Connecting a tenant to QuickBooks Online: ``/tenants/{tenant_id}/qbo/connect|connection``, the
public ``/oauth/callback``, and the two public URLs registered in Intuit's developer portal:
``/qbo/disconnected`` (the Disconnect URL) and ``/qbo/reconnect`` (the Reconnect URL).

The connect route and the callback answer with redirects because a browser follows them: connect sends
the admin to Intuit, and the callback sends them back to the admin app with ``qbo_connection=<outcome>``
(connected, denied, invalid_state, ...). The callback never answers with an error body, whatever it was
sent, since the admin would only see raw JSON; what went wrong is in the outcome.

A tenant that never connected gets 409 ``not_connected`` on status and disconnect, as every other route
that needs a connection does (404 stays reserved for an unknown tenant or route). Disconnecting twice
is not an error: the second call returns the record as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from pydantic import BaseModel, ConfigDict, ValidationError

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.observability import logger
from qbosync.store.connections import Connection
from qbosync.store.tenants import Tenant
from qbosync.sync import wiring
from qbosync.sync.connection import (
    BROWSER_COOKIE,
    CallbackParams,
    CallbackResult,
    ConnectStart,
    IntuitDisconnectOutcome,
)
from qbosync.sync.qbo_plan import QboPlanDetails, read_plan_details

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]

# Longer than any code, state or realm id Intuit sends; anything bigger is not a real callback.
_MAX_CALLBACK_PARAMETER = 2048
# A realm id is a number of a few dozen digits at most; anything else names no company.
_REALM_ID = re.compile(r"^[0-9]{1,32}$")
# Where Intuit's Reconnect URL lands: the console's connection screen, ready to reconnect.
RECONNECT_LANDING = "/console?screen=connection&reconnect=1"
# The callback's query string carries the code and state: no cache and no referrer may keep it.
_REDIRECT_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class ConnectionFlows(Protocol):
    """The flows the routes call (``qbosync.sync.connection.ConnectionService`` implements them)."""

    def start(self, tenant_id: str, admin_sub: str) -> ConnectStart: ...
    def complete(self, params: CallbackParams, browser_key: str | None = None) -> CallbackResult: ...
    def status(self, tenant_id: str) -> Connection: ...
    def disconnect(self, tenant_id: str, admin_sub: str, *, force: bool = False) -> Connection: ...
    def disconnected_in_quickbooks(self, realm_id: str) -> IntuitDisconnectOutcome: ...
    def return_url(self, outcome: str) -> str: ...


class PrerequisiteView(BaseModel):
    """One check run when the company was connected (admin access, accrual basis, zero-rate tax code)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["pass", "fail", "warn"]
    reason: str
    fix: str = ""


class QboConnectionView(BaseModel):
    """A tenant's QBO connection as the admin sees it; tokens are never part of it."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    realm_id: str
    company_name: str | None
    status: Literal["connected", "needs_reauth", "disconnected"]
    connected_by: str
    connected_at: datetime
    disconnected_by: str | None
    disconnected_at: datetime | None
    needs_reauth_since: datetime | None
    needs_reauth_reason: str | None
    last_refreshed_at: datetime | None
    last_reconciled_at: datetime | None = None  # the last scheduled reconciliation that succeeded
    refresh_token_expires_at: datetime | None
    hard_expires_at: datetime | None
    prerequisites: list[PrerequisiteView]
    plan: QboPlanDetails | None = None
    plan_unavailable_reason: str | None = None
    sync_paused: bool = False
    """An admin or operator paused the tenant's sync: webhooks are accepted, changes wait for the resume."""
    paused_at: datetime | None = None
    paused_by: str | None = None

    @classmethod
    def of(cls, connection: Connection, tenant: object = None) -> QboConnectionView:
        view = cls.model_validate(connection.model_dump())
        if isinstance(tenant, Tenant) and tenant.sync_paused:
            view = view.model_copy(
                update={"sync_paused": True, "paused_at": tenant.paused_at, "paused_by": tenant.paused_by}
            )
        return view


class AuthorizeRedirect(BaseModel):
    authorize_url: str


def _redirect(
    location: str, body: BaseModel | None = None, cookies: list[Cookie] | None = None
) -> Response[Any]:
    return Response(
        status_code=302,
        content_type=content_types.APPLICATION_JSON if body is not None else content_types.TEXT_PLAIN,
        body=body.model_dump_json() if body is not None else "",
        headers={"Location": location, **_REDIRECT_HEADERS},
        cookies=cookies,
    )


def _browser_cookie(started: ConnectStart) -> Cookie:
    """The browser key, readable only by the callback's path and never by scripts."""
    return Cookie(
        name=BROWSER_COOKIE,
        value=started.browser_key,
        path=started.cookie_path,
        secure=started.cookie_secure,
        http_only=True,
        same_site=SameSite.LAX_MODE,  # sent on Intuit's top-level redirect back, not on cross-site posts
        max_age=started.max_age_seconds,
    )


def browser_key_of(cookies: list[str] | None) -> str | None:
    """The browser key among the request's cookies (HTTP API v2 sends them as ``name=value`` strings)."""
    for cookie in cookies or []:
        name, _, value = cookie.partition("=")
        if name.strip() == BROWSER_COOKIE and value.strip():
            return value.strip()
    return None


def callback_params(query: dict[str, str] | None) -> CallbackParams | None:
    """The callback's query parameters, or None when they cannot be Intuit's (too long, wrong shape)."""
    values = query or {}
    if any(len(value) > _MAX_CALLBACK_PARAMETER for value in values.values()):
        return None
    try:
        return CallbackParams.model_validate(values)
    except ValidationError:
        return None


def connection_router(
    deps: ApiDependencies, flows: Callable[[], ConnectionFlows] | None = None
) -> APIGatewayHttpRouter:
    """Routes that connect, show and disconnect a tenant's QBO company; ``flows`` defaults to production."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    service: Callable[[], ConnectionFlows] = wiring.cached_factory(
        flows or deps.connection_flows or wiring.connection_service
    )

    @router.get(
        "/tenants/<tenant_id>/qbo/connect",
        summary="Start connecting QuickBooks Online",
        description=(
            "Redirects (302) to Intuit's consent page for the accounting scope. The state in the URL is "
            "signed, bound to this tenant, this admin and this browser (an HttpOnly cookie set here, "
            "scoped to the callback), single-use and valid for 10 minutes."
        ),
        responses={
            302: {
                "description": "Location is Intuit's authorize URL (also in the body as authorize_url)",
                "headers": {
                    "Location": {"description": "Intuit's authorize URL", "schema": {"type": "string"}}
                },
            },
            200: {"description": "With redirect=false: the authorize URL as authorize_url"},
            **error_responses(502),
        },
        tags=["connection"],
    )
    def connect(
        tenant_id: TenantId,
        redirect: Annotated[
            bool,
            Query(
                description="false answers 200 with authorize_url instead of a 302, for a browser app "
                "calling with fetch (which cannot read a cross-origin redirect)"
            ),
        ] = True,
    ) -> Response[Any]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        started = service().start(tenant_id, principal.sub)
        body = AuthorizeRedirect(authorize_url=started.authorize_url)
        cookies = [_browser_cookie(started)]
        if not redirect:
            # Same-origin fetch from the console: the cookie binds the flow to this browser all the same.
            return Response(
                status_code=200,
                content_type=content_types.APPLICATION_JSON,
                body=body.model_dump_json(),
                headers={"Cache-Control": "no-store"},
                cookies=cookies,
            )
        return _redirect(started.authorize_url, body, cookies=cookies)

    @router.get(
        "/oauth/callback",
        summary="Intuit's OAuth redirect (public)",
        description=(
            "Exchanges the code, stores the tokens and the connection, then redirects (302) to the admin "
            "app with qbo_connection = connected, denied, invalid_state, code_rejected, realm_in_use, "
            "other_realm_connected, invalid_request or upstream_error. Only connected stores anything."
        ),
        responses={
            302: {
                "description": "Location is the admin app's return URL with the outcome",
                "content": {content_types.TEXT_PLAIN: {"schema": {"type": "string", "maxLength": 0}}},
            }
        },
        tags=["connection"],
        security=[{}],  # public: Intuit redirects the browser here without a bearer token
    )
    def oauth_callback() -> Response[Any]:
        params = callback_params(router.current_event.query_string_parameters)
        if params is None:
            params = CallbackParams()  # refused as invalid_state below: nothing usable was sent
        result = service().complete(params, browser_key_of(router.current_event.cookies))
        logger.info(
            "oauth callback answered",
            extra={
                "outcome": result.outcome.value,
                "tenant_id": result.tenant_id,
                "realm_id": result.realm_id,
            },
        )
        return _redirect(result.redirect_url)

    @router.get(
        "/tenants/<tenant_id>/qbo/connection",
        summary="Read the tenant's QuickBooks Online connection",
        description=(
            "Realm, company name, status (connected, needs_reauth, disconnected), who connected it and "
            "when, the prerequisites checked at connection time, and whether the tenant's sync is paused "
            "(sync_paused, paused_at, paused_by). 409 not_connected if it never connected. A connected "
            "company also shows its plan details (edition, multi-currency and home currency, inventory "
            "tracking, account numbers, Automated Sales Tax), cached for 5 minutes; refresh=true reads "
            "them now."
        ),
        responses={200: {"description": "The connection"}, **error_responses(409)},
        tags=["connection"],
    )
    def get_connection(tenant_id: TenantId, refresh: Annotated[bool, Query()] = False) -> QboConnectionView:
        require_tenant(router, tenant_id, deps.tenants)
        view = QboConnectionView.of(service().status(tenant_id), deps.tenants.get(tenant_id))
        if view.status == "connected":
            try:
                view.plan = read_plan_details(
                    tenant_id,
                    lambda: deps.qbo_reader_for(tenant_id),
                    deps.reference_cache,
                    deps.epoch_clock,
                    refresh=refresh,
                )
            except Exception as error:  # the connection still shows; the plan says why it is missing
                logger.warning("plan details unavailable", extra={"error_type": type(error).__name__})
                view.plan_unavailable_reason = (
                    f"QuickBooks Online's company settings could not be read ({type(error).__name__})"
                )
        return view

    @router.delete(
        "/tenants/<tenant_id>/qbo/connection",
        summary="Disconnect QuickBooks Online",
        description=(
            "Revokes the grant at Intuit and deletes the tokens; the connection record stays, with status "
            "disconnected. Disconnecting again returns the record unchanged. Refused with 409 "
            "`ambiguous_writes` (the writes in `details`) while a QBO write's outcome is not recorded, "
            "unless `force=true`."
        ),
        responses={
            200: {"description": "The connection, now disconnected"},
            **error_responses(409, 502),
        },
        tags=["connection"],
    )
    def delete_connection(tenant_id: TenantId, force: Annotated[bool, Query()] = False) -> QboConnectionView:
        principal = require_tenant(router, tenant_id, deps.tenants)
        return QboConnectionView.of(service().disconnect(tenant_id, principal.sub, force=force))

    @router.get(
        "/qbo/disconnected",
        summary="Intuit's Disconnect URL (public)",
        description=(
            "Intuit opens this page after a user disconnects the app inside QuickBooks, with the "
            "company's realmId. The visit alone proves nothing, so the stored grant is tried: only if "
            "Intuit refuses it are the tokens deleted and the connection marked disconnected (by intuit). "
            "Redirects (302) to the admin app with qbo_connection = disconnected_in_quickbooks, "
            "still_connected or not_connected."
        ),
        responses={
            302: {
                "description": "Location is the admin app's return URL with the outcome",
                "content": {content_types.TEXT_PLAIN: {"schema": {"type": "string", "maxLength": 0}}},
            }
        },
        tags=["connection"],
        security=[{}],  # public: Intuit sends the user's browser here without a bearer token
    )
    def intuit_disconnect_url() -> Response[Any]:
        realm_id = (router.current_event.query_string_parameters or {}).get("realmId", "")
        flows = service()
        if _REALM_ID.match(realm_id) is None:  # a browser landing page: the outcome, never an error body
            outcome = IntuitDisconnectOutcome.NOT_CONNECTED
        else:
            outcome = flows.disconnected_in_quickbooks(realm_id)
        logger.info("intuit disconnect url answered", extra={"outcome": outcome.value})
        return _redirect(flows.return_url(outcome.value))

    @router.get(
        "/qbo/reconnect",
        summary="Intuit's Reconnect URL (public)",
        description=(
            "Intuit sends a user here to reconnect the app (mandatory in Intuit's developer portal since "
            "2026). Redirects (302) to the console's connection screen, ready to reconnect; the admin signs "
            "in there and reconnects with the usual connect flow."
        ),
        responses={
            302: {
                "description": "Location is the console's connection screen",
                "content": {content_types.TEXT_PLAIN: {"schema": {"type": "string", "maxLength": 0}}},
            }
        },
        tags=["connection"],
        security=[{}],  # public: the console asks for the admin's session itself
    )
    def intuit_reconnect_url() -> Response[Any]:
        return _redirect(RECONNECT_LANDING)

    return router
