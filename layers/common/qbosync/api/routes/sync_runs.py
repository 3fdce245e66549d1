"""Initial bulk sync routes: start a run, follow it, resume it after its execution stopped.

``api.resolver`` includes ``sync_runs_router(deps)``; ``service`` lets tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.api.routes.readiness import tenant_preflight
from qbosync.sync import wiring
from qbosync.sync.bulk.service import InitialSyncService, RunView
from qbosync.sync.preflight import PreflightReport

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
RunId = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]


def preflight_for(deps: ApiDependencies) -> Callable[[str], PreflightReport]:
    """The same preflight ``GET /preflight`` runs, as a function of the tenant."""
    return lambda tenant_id: tenant_preflight(deps, tenant_id)


def _accepted(body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)


def sync_runs_router(
    deps: ApiDependencies, service: InitialSyncService | None = None
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    runs = wiring.cached_factory(
        lambda: service or wiring.initial_sync_service(deps.connections, preflight_for(deps), deps.clock)
    )

    @router.post(
        "/tenants/<tenant_id>/sync/initial",
        summary="Start the initial bulk sync of customers and products",
        description=(
            "202 with the run id and where to follow it. One run at a time per tenant (409 run_active); "
            "a tenant without a QBO connection gets 409 not_connected, "
            "failing preflight 422 preflight_failed."
        ),
        responses={202: {"description": "The run started"}, **error_responses(401, 403, 404, 409, 422, 502)},
        tags=["sync"],
    )
    def start_initial_sync(tenant_id: TenantId) -> Response[Any]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        started = runs().start(tenant_id, principal.sub)
        return _accepted(started.model_dump())

    @router.get(
        "/tenants/<tenant_id>/sync/runs/<run_id>",
        summary="Follow an initial sync run",
        description=(
            "Phase, status (RUNNING, SUCCEEDED, SUCCEEDED_WITH_WARNINGS, SUCCEEDED_WITH_ERRORS, FAILED, "
            "ABORTED), counts per entity (matched, created, skipped, failed), percentage, failed pages, and "
            "`skips`: per entity and reason code, the count, what the code means, whether it warns, and up "
            "to five skipped records (source id and message)."
        ),
        responses={200: {"description": "The run"}, **error_responses(401, 403, 404)},
        tags=["sync"],
    )
    def get_run(tenant_id: TenantId, run_id: RunId) -> RunView:
        require_tenant(router, tenant_id, deps.tenants)
        return runs().view(tenant_id, run_id)

    @router.post(
        "/tenants/<tenant_id>/sync/runs/<run_id>/resume",
        summary="Resume a run whose execution stopped before it finished",
        description="Starts a new execution for the same run; what is done already is not done again.",
        responses={202: {"description": "Resumed"}, **error_responses(401, 403, 404, 409, 502)},
        tags=["sync"],
    )
    def resume_run(tenant_id: TenantId, run_id: RunId) -> Response[Any]:
        require_tenant(router, tenant_id, deps.tenants)
        return _accepted(runs().resume(tenant_id, run_id).model_dump())

    return router
