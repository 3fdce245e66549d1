"""Reports for an accountant: ``GET /tenants/{tenant_id}/reports/reconciliation?from=&to=`` (JSON, or
CSV with ``Accept: text/csv`` or ``format=csv``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.errors import ValidationFailed
from qbosync.sync import wiring
from qbosync.sync.reports import MAX_REPORT_DAYS, ReconciliationReporter

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
CSV = "text/csv"


def reports_router(
    deps: ApiDependencies, reporter: Callable[[str], ReconciliationReporter] | None = None
) -> APIGatewayHttpRouter:
    """The report routes; ``reporter`` builds one tenant's reporter (its QBO, source and links)."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    reporter_for = reporter or wiring.reconciliation_reporter

    @router.get(
        "/tenants/<tenant_id>/reports/reconciliation",
        summary="Reconcile the source and QBO for a period",
        description=(
            "Documents (invoices, credit notes, payments) dated from `from` to `to` (at most"
            f" {MAX_REPORT_DAYS} days) on each side, totals per kind and currency, and each document that"
            " differs with why: missing_in_qbo, missing_in_source, voided_in_qbo, voided_in_source, drift"
            " or variance. JSON, or CSV (one line per document) with `Accept: text/csv` or `format=csv`."
        ),
        responses={200: {"description": "The report"}, **error_responses(401, 403, 404, 409, 422, 502)},
        tags=["reports"],
    )
    def get_reconciliation(
        tenant_id: TenantId,
        period_from: Annotated[date, Query(alias="from")],
        period_to: Annotated[date, Query(alias="to")],
        output: Annotated[Literal["json", "csv"] | None, Query(alias="format")] = None,
    ) -> Response[Any]:
        require_tenant(router, tenant_id, deps.tenants)
        if period_to < period_from:
            raise ValidationFailed(
                "the period ends before it starts",
                details=[{"loc": ["query", "to"], "msg": "to must be on or after from"}],
            )
        if (period_to - period_from).days >= MAX_REPORT_DAYS:
            raise ValidationFailed(
                f"a report covers at most {MAX_REPORT_DAYS} days",
                details=[{"loc": ["query", "to"], "msg": f"at most {MAX_REPORT_DAYS} days after from"}],
            )
        report = reporter_for(tenant_id).report(period_from, period_to)
        accept = (router.current_event.headers or {}).get("accept", "")
        if output == "csv" or (output is None and CSV in accept):
            return Response(status_code=200, content_type=f"{CSV}; charset=utf-8", body=report.to_csv())
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=report.model_dump(mode="json", by_alias=True),
        )

    return router
