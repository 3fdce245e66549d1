"""The admin API resolver: routers, error mapping and the OpenAPI description in one place."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, PathItem, Server
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from qbosync.api.body_checks import BodyRules, CheckedBodyResolver
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.budget import budget_router
from qbosync.api.routes.configuration import configuration_router
from qbosync.api.routes.connection import connection_router
from qbosync.api.routes.console import console_router
from qbosync.api.routes.events import events_router
from qbosync.api.routes.onboarding import onboarding_router
from qbosync.api.routes.pause import pause_router
from qbosync.api.routes.readiness import readiness_router
from qbosync.api.routes.reports import reports_router
from qbosync.api.routes.source_reference import source_reference_router
from qbosync.api.routes.sync_runs import sync_runs_router

API_TITLE = "qbosync admin API"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Configure a tenant's QuickBooks Online sync: settings, mappings, QBO reference data and preflight "
    "checks. Every route under /tenants/{tenant_id} needs a bearer JWT whose qbosync_tenants claim names "
    'the tenant. Errors are {"error": {"code", "message", "details"}}. Changes need If-Match with the '
    "ETag of the last read."
)
BEARER = "bearerAuth"

# Every admin API router, each built around the same dependencies. Add a concern's router here.
ROUTERS: tuple[Callable[[ApiDependencies], APIGatewayHttpRouter], ...] = (
    connection_router,
    configuration_router,
    readiness_router,
    sync_runs_router,
    events_router,
    console_router,
    budget_router,
    source_reference_router,
    onboarding_router,
    pause_router,
    reports_router,
)


def _openapi_settings() -> dict[str, Any]:
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
                for template, item in (self._app.get_openapi_schema().paths or {}).items()
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


def build_resolver(deps: ApiDependencies | None = None) -> APIGatewayHttpResolver:
    """A resolver for the admin API; ``deps`` defaults to the deployed collaborators (created lazily)."""
    dependencies = deps or ApiDependencies()
    app = CheckedBodyResolver(ADMIN_BODY_RULES, enable_validation=True)
    register_error_handlers(app, RouteMethods(app))
    for router_for in ROUTERS:
        app.include_router(router_for(dependencies))
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
