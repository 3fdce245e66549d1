"""The app-wide Intuit read budget and a tenant's reconciliation cadence.

``GET /budget`` (any admin: app totals only, no tenant's figures), ``GET /tenants/{t}/read-budget`` (the
tenant's share and reads, and when its reconciliation reads next) and ``POST /tenants/{t}/reconcile``
(an on-demand reconciliation, run by the next scheduled tick).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from qbosync.api.auth import admin_principal, jwt_claims, require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.qbo.read_budget import ReadBudgetStatus, TenantReadBudget
from qbosync.store.reconcile_signals import GapReason
from qbosync.sync.backstop import DueReason
from qbosync.sync.reconcile import QBO_CHECKPOINT, SOURCE_CHECKPOINT
from qbosync.sync.reference import require_connected

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class ReconcileCadenceView(BaseModel):
    """When the tenant's reconciliation reads: its last runs, what is due, and what held it back."""

    backstop_interval_seconds: int
    last_qbo_run_at: datetime | None
    last_source_run_at: datetime | None
    qbo_due: DueReason
    qbo_next_due_at: datetime | None
    source_due: DueReason
    source_next_due_at: datetime | None
    requested_at: datetime | None
    gap_at: datetime | None
    gap_reason: GapReason | None
    webhook_gap_at: datetime | None
    webhook_gap_reason: GapReason | None
    deferred_at: datetime | None
    deferred_reason: str | None


class TenantBudgetView(BaseModel):
    tenant_id: str
    read_budget: TenantReadBudget
    reconcile: ReconcileCadenceView


class ReconcileRequested(BaseModel):
    tenant_id: str
    requested_at: datetime
    runs_by: str = "the next scheduled reconciliation (every 15 minutes)"


def budget_router(deps: ApiDependencies) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get(
        "/budget",
        summary="The app-wide QuickBooks read budget",
        description=(
            "Intuit meters reads, queries, CDC and reports for all of the app's companies together, per"
            " month. level is normal, low (reconciliation slowed) or exhausted (reconciliation and admin"
            " reads stopped; pushes and pulls go on). App totals only."
        ),
        responses={200: {"description": "The budget"}, **error_responses()},
        tags=["budget"],
    )
    def get_budget() -> ReadBudgetStatus:
        admin_principal(jwt_claims(router.current_event.raw_event))
        return deps.read_budget().status()

    @router.get(
        "/tenants/<tenant_id>/read-budget",
        summary="The tenant's share of the read budget, and when its reconciliation reads next",
        description=(
            "read_budget: the app's level, used and allowance this month, the tenant's reads per purpose,"
            " its fair share of discretionary reads, and its source calls. reconcile: the backstop's last"
            " runs, why each direction is or is not due, and what held it back."
        ),
        responses={200: {"description": "The tenant's budget"}, **error_responses()},
        tags=["budget"],
    )
    def get_tenant_budget(tenant_id: TenantId) -> TenantBudgetView:
        require_tenant(router, tenant_id, deps.tenants)
        return TenantBudgetView(
            tenant_id=tenant_id,
            read_budget=deps.read_budget().tenant_status(tenant_id),
            reconcile=_cadence_view(deps, tenant_id),
        )

    @router.post(
        "/tenants/<tenant_id>/reconcile",
        summary="Ask for a reconciliation now (both directions)",
        description=(
            "202: the next scheduled reconciliation (within 15 minutes) runs the backstop CDC and the source"
            " listing for this tenant, whatever their intervals, unless the read budget stops"
            " reconciliation (see GET /tenants/{tenant_id}/read-budget). 409 not_connected without a"
            " working connection."
        ),
        responses={202: {"description": "Requested"}, **error_responses(409)},
        tags=["budget"],
    )
    def request_reconcile(tenant_id: TenantId) -> Response[Any]:
        require_tenant(router, tenant_id, deps.tenants)
        require_connected(deps.connections.get(tenant_id))
        at = deps.clock()
        deps.reconcile_signals.request(tenant_id, at)
        body = ReconcileRequested(tenant_id=tenant_id, requested_at=at)
        return Response(
            status_code=202, content_type=content_types.APPLICATION_JSON, body=body.model_dump(mode="json")
        )

    return router


def _cadence_view(deps: ApiDependencies, tenant_id: str) -> ReconcileCadenceView:
    cadence = deps.reconcile_cadence()
    signals = deps.reconcile_signals.get(tenant_id)
    now = deps.clock()
    last_qbo = deps.checkpoints.get(tenant_id, QBO_CHECKPOINT)
    last_source = deps.checkpoints.get(tenant_id, SOURCE_CHECKPOINT)
    qbo = cadence.qbo_due(tenant_id, last_qbo, now, signals)
    source = cadence.source_due(tenant_id, last_source, now, signals)
    return ReconcileCadenceView(
        backstop_interval_seconds=int(cadence.backstop().total_seconds()),
        last_qbo_run_at=last_qbo,
        last_source_run_at=last_source,
        qbo_due=qbo.reason,
        qbo_next_due_at=qbo.next_due_at,
        source_due=source.reason,
        source_next_due_at=source.next_due_at,
        requested_at=signals.requested_at,
        gap_at=signals.gap_at,
        gap_reason=signals.gap_reason,
        webhook_gap_at=signals.webhook_gap_at,
        webhook_gap_reason=signals.webhook_gap_reason,
        deferred_at=signals.deferred_at,
        deferred_reason=signals.deferred_reason,
    )
