"""The admin API resolver: routers, error mapping and the OpenAPI description in one place."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from qbosync.api.body_checks import BodyRules, CheckedBodyResolver
from qbosync.api.errors import register_error_handlers

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import PathItem
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

    from qbosync.api.dependencies import ApiDependencies

API_TITLE = "qbosync admin API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Configure a tenant's QuickBooks Online sync: settings, mappings, QBO reference data and preflight "
    "checks. Every route under /tenants/{tenant_id} needs a bearer JWT whose qbosync_tenants claim names "
    'the tenant. Errors are {"error": {"code", "message", "details"}}. Changes need If-Match with the '
    "ETag of the last read."
)
BEARER = "bearerAuth"


class RouterModule(NamedTuple):
    """One concern's routes: the module that builds its router, and the paths (as its routes declare
    them) it serves, so a request imports only the modules of the routers its path can reach."""

    module: str
    factory: str
    paths: tuple[str, ...]


# Every admin API router, each built around the same dependencies. Add a concern's router here, with its
# paths (``tests/unit/test_api_router_modules.py`` checks them against the routes the router declares).
ROUTERS: tuple[RouterModule, ...] = (
    RouterModule(
        "qbosync.api.routes.connection",
        "connection_router",
        (
            "/oauth/callback",
            "/qbo/disconnected",
            "/qbo/reconnect",
            "/tenants/<tenant_id>/qbo/connect",
            "/tenants/<tenant_id>/qbo/connection",
        ),
    ),
    RouterModule(
        "qbosync.api.routes.configuration",
        "configuration_router",
        (
            "/tenants/<tenant_id>/audit",
            "/tenants/<tenant_id>/mappings/<kind>",
            "/tenants/<tenant_id>/mappings/<kind>/<source_key>",
            "/tenants/<tenant_id>/settings",
        ),
    ),
    RouterModule(
        "qbosync.api.routes.readiness",
        "readiness_router",
        ("/tenants/<tenant_id>/preflight", "/tenants/<tenant_id>/qbo/reference/<kind>"),
    ),
    RouterModule(
        "qbosync.api.routes.sync_runs",
        "sync_runs_router",
        (
            "/tenants/<tenant_id>/sync/initial",
            "/tenants/<tenant_id>/sync/runs/<run_id>",
            "/tenants/<tenant_id>/sync/runs/<run_id>/resume",
        ),
    ),
    RouterModule(
        "qbosync.api.routes.events",
        "events_router",
        (
            "/tenants/<tenant_id>/sync/events",
            "/tenants/<tenant_id>/sync/events/<event_id>/accept-variance",
            "/tenants/<tenant_id>/sync/events/<event_id>/retry",
        ),
    ),
    RouterModule("qbosync.api.routes.console", "console_router", ("/console", "/console/<asset>")),
    RouterModule(
        "qbosync.api.routes.budget",
        "budget_router",
        ("/budget", "/tenants/<tenant_id>/read-budget", "/tenants/<tenant_id>/reconcile"),
    ),
    RouterModule(
        "qbosync.api.routes.source_reference",
        "source_reference_router",
        ("/tenants/<tenant_id>/source/reference/<kind>",),
    ),
    RouterModule(
        "qbosync.api.routes.onboarding",
        "onboarding_router",
        (
            "/tenants/<tenant_id>/links/import",
            "/tenants/<tenant_id>/suggestions",
            "/tenants/<tenant_id>/suggestions/<entity>/<source_id>/decision",
            "/tenants/<tenant_id>/sync/plans/<plan_id>",
            "/tenants/<tenant_id>/sync/plans/<plan_id>/download",
            "/tenants/<tenant_id>/sync/runs/<run_id>/undo",
        ),
    ),
    RouterModule(
        "qbosync.api.routes.pause",
        "pause_router",
        ("/tenants/<tenant_id>/sync/pause", "/tenants/<tenant_id>/sync/resume"),
    ),
    RouterModule(
        "qbosync.api.routes.reports", "reports_router", ("/tenants/<tenant_id>/reports/reconciliation",)
    ),
)


@cache
def _route_pattern(path: str) -> re.Pattern[str]:
    """A declared path as a pattern; a parameter matches any one segment, as Powertools' does (or more)."""
    return re.compile(re.sub(r"<[^>]+>", "[^/]+", re.escape(path)))


def routers_for(path: str) -> tuple[str, ...]:
    """The modules of the routers that declare a route matching ``path``; every router's when none does
    (the OpenAPI document, the docs and a 404 need them all)."""
    reached = tuple(
        router.module
        for router in ROUTERS
        if any(_route_pattern(route).fullmatch(path) for route in router.paths)
    )
    return reached or tuple(router.module for router in ROUTERS)


def _router_factory(module: str) -> Callable[[ApiDependencies], APIGatewayHttpRouter]:
    declared = next(router for router in ROUTERS if router.module == module)
    factory: Callable[[ApiDependencies], APIGatewayHttpRouter] = getattr(
        importlib.import_module(declared.module), declared.factory
    )
    return factory


def _openapi_settings() -> dict[str, Any]:
    # Powertools' OpenAPI models (about 40% of boto3's import) are loaded for the document only: request
    # validation does not need them.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

    return {
        "title": API_TITLE,
        "version": API_VERSION,
        "description": API_DESCRIPTION,
        "servers": [Server(url="/")],
        "security_schemes": {BEARER: HTTPBearer(bearerFormat="JWT", description="admin JWT")},
        "security": [{BEARER: []}],
    }


class RouteMethods:
    """Which methods each documented path accepts, read once from the OpenAPI description."""

    def __init__(self, app: APIGatewayHttpResolver) -> None:
        self._app = app
        self._routes: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def __call__(self, path: str) -> frozenset[str]:
        if self._routes is None:
            self._routes = [
                (_path_pattern(template), frozenset(_methods(item)))
                # The settings passed again: a resolver of some routers was never configured with them.
                for template, item in (
                    self._app.get_openapi_schema(**_openapi_settings()).paths or {}
                ).items()
            ]
        return next((methods for pattern, methods in self._routes if pattern.fullmatch(path)), frozenset())


def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)))


def _methods(item: PathItem) -> list[str]:
    names = ("get", "put", "post", "delete", "patch", "head", "options")
    return [name.upper() for name in names if getattr(item, name, None) is not None]


ADMIN_BODY_RULES = BodyRules(
    max_bytes=4 * 1024 * 1024, json_suffixes=True, assumed_media_type="application/json"
)
"""A 2,000-row mapping of escaped 4-byte characters is about 1.6 MB; API Gateway itself stops at 10 MB."""


def build_resolver(
    deps: ApiDependencies | None = None, routers: Iterable[str] | None = None
) -> APIGatewayHttpResolver:
    """A resolver for the admin API; ``deps`` defaults to the deployed collaborators (created lazily).
    ``routers`` (module names, as ``routers_for`` gives them) limits it to those routers, in ``ROUTERS``'s
    order; all of them when not given. Only a resolver of every router serves the OpenAPI document and the
    docs (``routers_for`` sends their paths to one)."""
    from qbosync.api.dependencies import ApiDependencies

    dependencies = deps or ApiDependencies()
    wanted = set(routers) if routers is not None else {router.module for router in ROUTERS}
    app = CheckedBodyResolver(ADMIN_BODY_RULES, enable_validation=True)
    register_error_handlers(app, RouteMethods(app))
    for router in ROUTERS:
        if router.module in wanted:
            app.include_router(_router_factory(router.module)(dependencies))
    if wanted != {router.module for router in ROUTERS}:
        return app
    openapi = _openapi_settings()
    app.configure_openapi(**openapi)
    app.enable_swagger(path="/docs", **openapi)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json() -> Response[str]:
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(**openapi),
        )

    return app
