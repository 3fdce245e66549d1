"""Initial bulk sync routes: start a run, follow it, resume it after its execution stopped.

``api.resolver`` includes ``sync_runs_router(deps)``; ``service`` lets tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.api.routes.readiness import tenant_preflight
from qbosync.errors import ValidationFailed
from qbosync.sync import wiring
from qbosync.sync.bulk.plan import InitialSyncPlanner
from qbosync.sync.bulk.service import InitialSyncService, RunView
from qbosync.sync.preflight import PreflightReport

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
RunId = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]


def preflight_for(deps: ApiDependencies) -> Callable[[str], PreflightReport]:
    """The same preflight ``GET /preflight`` runs, as a function of the tenant."""
    return lambda tenant_id: tenant_preflight(deps, tenant_id)


def _accepted(body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=body)


class InitialSyncRequest(BaseModel):
    """Optional: ``dry_run`` plans instead of running; ``plan_id`` runs after re-checking that plan."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    plan_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")] | None
    ) = None


def sync_runs_router(
    deps: ApiDependencies,
    service: InitialSyncService | None = None,
    planner: Callable[[], InitialSyncPlanner] | None = None,
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    runs = wiring.cached_factory(
        lambda: service or wiring.initial_sync_service(deps.connections, preflight_for(deps), deps.clock)
    )
    plans = wiring.cached_factory(planner or wiring.initial_sync_planner)

    @router.post(
        "/tenants/<tenant_id>/sync/initial",
        summary="Start the initial bulk sync of customers and products, or plan it (dry run)",
        description=(
            "202 with the run id and where to follow it. One run at a time per tenant (409 run_active); "
            "a tenant without a QBO connection gets 409 not_connected, "
            'failing preflight 422 preflight_failed. With `{"dry_run": true}`: 202 with a plan id and '
            "its status URL; a Step Functions execution plans page by page what the run will do with "
            "each record (and the QBO reads it will cost), writing nothing to QBO or the source; the "
            'plan is `running`, then `ready` or `failed` with the reason. With `{"plan_id": ...}`: 409 '
            "plan_not_ready for a plan still running or failed; else 202, and the run plans again, "
            "page by page, before it writes anything: when a record would now be handled otherwise (or "
            "is no longer in the source), it ends FAILED with a `plan_stale` reason naming the first ten "
            "records (make a new dry run). The plan's `qbo_reads` is what the run reads, re-check included."
        ),
        responses={
            202: {"description": "The run started, or the dry run started (plan id and status URL)"},
            **error_responses(401, 403, 404, 409, 422, 502),
        },
        tags=["sync"],
    )
    def start_initial_sync(
        tenant_id: TenantId, request: Annotated[InitialSyncRequest | None, Body()] = None
    ) -> Response[Any]:
        principal = require_tenant(router, tenant_id, deps.tenants)
        asked = request or InitialSyncRequest()
        if asked.dry_run and asked.plan_id is not None:
            raise ValidationFailed(
                "a dry run makes a new plan; send plan_id alone to run an existing one",
                code="invalid_request",
            )
        if asked.dry_run:
            return _accepted(plans().start(tenant_id, principal.sub).model_dump(mode="json"))
        if asked.plan_id is not None:
            # 404 / 409 plan_not_ready here; the run re-checks every record before it writes anything.
            plans().ready(tenant_id, asked.plan_id)
        started = runs().start(tenant_id, principal.sub, asked.plan_id)
        return _accepted(started.model_dump())

    @router.get(
        "/tenants/<tenant_id>/sync/runs/<run_id>",
        summary="Follow an initial sync run",
        description=(
            "Phase, status (RUNNING, SUCCEEDED, SUCCEEDED_WITH_WARNINGS, SUCCEEDED_WITH_ERRORS, FAILED, "
            "ABORTED), counts per entity (matched, created, skipped, failed), percentage, failed pages, and "
            "`skips`: per entity and reason code, the count, what the code means, whether it warns, and up "
            "to five skipped records (source id and message); `warnings`: the same per entity and warning "
            "code (`name_suffixed`, `name_truncated`, `field_truncated`) for records created under "
            "another name than the source's or with a field cut, which end the run SUCCEEDED_WITH_WARNINGS."
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
