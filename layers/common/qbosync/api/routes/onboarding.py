"""Onboarding a tenant whose books already exist: link import, match suggestions, dry-run plans (listed
and downloaded) and undoing a run's creations.

``api.resolver`` includes ``onboarding_router(deps)``; the services default to ``sync.wiring``'s and tests
pass their own. The dry run itself starts at ``POST /tenants/{t}/sync/initial`` (``sync_runs``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.store.onboarding import PlanEntry, PlanStatus, PlanSummary, Suggestion
from qbosync.sync import wiring
from qbosync.sync.bulk.plan import InitialSyncPlanner, plan_as_csv
from qbosync.sync.onboarding.link_import import LinkImportReport, LinkImportRequest, LinkImportService
from qbosync.sync.onboarding.suggestions import SuggestionDecision, SuggestionService
from qbosync.sync.onboarding.undo import RunUndo, UndoReport

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
RecordId = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
Entity = Annotated[str, Path(pattern=r"^(Customer|Item)$")]
Cursor = Annotated[str | None, Query(max_length=2000)]
Limit = Annotated[int, Query(ge=1, le=500)]


class SuggestionsPage(BaseModel):
    suggestions: list[Suggestion]
    cursor: str | None


class PlanPage(BaseModel):
    plan: PlanSummary
    entries: list[PlanEntry]
    cursor: str | None


class UndoRequest(BaseModel):
    """An undo is a dry run unless ``dry_run`` is false."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = True


def onboarding_router(
    deps: ApiDependencies,
    *,
    planner: Callable[[], InitialSyncPlanner] | None = None,
    link_import: Callable[[], LinkImportService] | None = None,
    suggestions: Callable[[], SuggestionService] | None = None,
    undo: Callable[[], RunUndo] | None = None,
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    plans = wiring.cached_factory(planner or wiring.initial_sync_planner)
    importer = wiring.cached_factory(link_import or (lambda: wiring.link_import_service(deps.clock)))
    decisions = wiring.cached_factory(suggestions or (lambda: wiring.suggestion_service(deps.clock)))
    undoing = wiring.cached_factory(undo or wiring.run_undo)

    @router.post(
        "/tenants/<tenant_id>/links/import",
        summary="Import source-id ↔ QBO-id pairs",
        description=(
            "Rows as `rows` (objects with kind, source_id, qbo_id; kind is customer, item, invoice, "
            "payment or credit_note) or as `csv` text with the header `kind,source_id,qbo_id`. Each row is "
            "checked against QBO (exists, right type, not linked elsewhere) and the source (exists, not "
            "linked elsewhere). The report lists every row: accepted, already_linked (nothing written) or "
            "refused with a reason code. The same import twice gives the same report."
        ),
        responses={200: {"description": "The report"}, **error_responses(401, 403, 404, 409, 415, 422, 502)},
        tags=["onboarding"],
    )
    def import_links(tenant_id: TenantId, request: Annotated[LinkImportRequest, Body()]) -> LinkImportReport:
        require_tenant(router, tenant_id, deps.tenants)
        return importer().import_rows(tenant_id, request.parsed_rows())

    @router.get(
        "/tenants/<tenant_id>/suggestions",
        summary="Ambiguous matches waiting for an admin, and the decisions taken",
        description=(
            "Customers (several QBO customers with its e-mail or display name) and items (several QBO "
            "items with its SKU or name). Each suggestion lists its QBO candidates and why each is one, "
            "strongest first: existing_mapping (the income-accounts mapping names the item for the "
            "product's income account), link (the item is linked today only as an unmatched item of the "
            "default product), exact_email, exact_sku, exact_name. Nothing is linked or created for an "
            "open one."
        ),
        responses={200: {"description": "One page of suggestions"}, **error_responses(401, 403, 404)},
        tags=["onboarding"],
    )
    def list_suggestions(tenant_id: TenantId, cursor: Cursor = None, limit: Limit = 100) -> SuggestionsPage:
        require_tenant(router, tenant_id, deps.tenants)
        page = decisions().list(tenant_id, limit=limit, cursor=cursor)
        return SuggestionsPage(suggestions=page.items, cursor=page.cursor)

    @router.post(
        "/tenants/<tenant_id>/suggestions/<entity>/<source_id>/decision",
        summary="Decide an ambiguous match",
        description=(
            "`confirm` one candidate (`qbo_id`), or reject them all: `create` a new QBO record or `skip` "
            "the source record. The next initial sync follows the decision; it is kept across runs."
        ),
        responses={
            200: {"description": "The decided suggestion"},
            **error_responses(401, 403, 404, 409, 422),
        },
        tags=["onboarding"],
    )
    def decide_suggestion(
        tenant_id: TenantId,
        entity: Entity,
        source_id: RecordId,
        decision: Annotated[SuggestionDecision, Body()],
    ) -> Suggestion:
        principal = require_tenant(router, tenant_id, deps.tenants)
        return decisions().decide(tenant_id, entity, source_id, decision, principal.sub)

    @router.get(
        "/tenants/<tenant_id>/sync/plans/<plan_id>",
        summary="A dry run's plan, one page of entries at a time",
        description=(
            "`plan.status` is running (no entries yet), ready, or failed (`plan.failure` says why). "
            "Per record: match, create, skip or suggestion, with its reason code, reason, the QBO record "
            "it matches and the QBO body a creation sends (for the QBO → source step, `source_body`: "
            "what the source is sent). Entities: Customer, Item, the documents matched (Invoice, "
            "Payment, CreditMemo) and the QBO → source step (qbo_customers, qbo_items, keyed by QBO id). "
            "`qbo_reads` is what the real run will read."
        ),
        responses={200: {"description": "The plan"}, **error_responses(401, 403, 404)},
        tags=["sync"],
    )
    def get_plan(
        tenant_id: TenantId, plan_id: RecordId, cursor: Cursor = None, limit: Limit = 100
    ) -> PlanPage:
        require_tenant(router, tenant_id, deps.tenants)
        summary = plans().summary(tenant_id, plan_id)
        if summary.status is not PlanStatus.READY:
            return PlanPage(plan=summary, entries=[], cursor=None)
        page = plans().entries_page(tenant_id, plan_id, limit=limit, cursor=cursor)
        return PlanPage(plan=summary, entries=page.items, cursor=page.cursor)

    @router.get(
        "/tenants/<tenant_id>/sync/plans/<plan_id>/download",
        summary="Download a dry run's plan as JSON or CSV",
        description="409 plan_not_ready while the plan is running, or when its dry run failed.",
        responses={200: {"description": "The whole plan"}, **error_responses(401, 403, 404, 409)},
        tags=["sync"],
    )
    def download_plan(
        tenant_id: TenantId,
        plan_id: RecordId,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response[Any]:
        require_tenant(router, tenant_id, deps.tenants)
        summary = plans().ready(tenant_id, plan_id)
        entries = plans().all_entries(tenant_id, plan_id)
        disposition = {"Content-Disposition": f'attachment; filename="{plan_id}.{format}"'}
        if format == "csv":
            return Response(200, "text/csv", plan_as_csv(entries), headers=disposition)
        body = {
            "plan": summary.model_dump(mode="json"),
            "entries": [e.model_dump(mode="json") for e in entries],
        }
        return Response(200, content_types.APPLICATION_JSON, body, headers=disposition)

    @router.post(
        "/tenants/<tenant_id>/sync/runs/<run_id>/undo",
        summary="Undo what a finished run created",
        description=(
            "Customers and items the run created that no QBO document refers to are made inactive in QBO "
            "(QBO cannot delete them) and unlinked. A dry run unless `dry_run` is false."
        ),
        responses={
            200: {"description": "What the undo does (or did)"},
            **error_responses(401, 403, 404, 409, 502),
        },
        tags=["sync"],
    )
    def undo_run(
        tenant_id: TenantId, run_id: RecordId, request: Annotated[UndoRequest, Body()]
    ) -> UndoReport:
        require_tenant(router, tenant_id, deps.tenants)
        return undoing().undo(tenant_id, run_id, dry_run=request.dry_run)

    return router
