"""The dry-run state machine's tasks: an initial sync planned page by page, so a tenant with many
thousands of records never meets a Lambda's or a request's time limit.

PreparePlan freezes settings and mappings and lists the source's pages; each page's entries and QBO
reads are stored with the page (``PlanRepository.save_page``: a page planned again after a retry is
stored the same, counted once); the last step plans document matching and the QBO → source step from
the pages' entries; FinishPlan adds the pages up and makes the plan ready. Any failure after the retries
makes the plan failed, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from qbosync.observability import logger
from qbosync.store.onboarding import PlannedPage, PlanStatus, PlanSummary, count_reasons
from qbosync.sync.bulk.common import page_descriptors
from qbosync.sync.bulk.dependencies import BulkSyncDependencies
from qbosync.sync.bulk.errors import BulkSyncBadEvent, BulkSyncPageRejected
from qbosync.sync.bulk.models import (
    DEFAULT_PAGE_SIZE,
    PageDescriptor,
    RunConfig,
    RunId,
    StepFunctionsError,
    TenantId,
    dump,
)
from qbosync.sync.bulk.plan import (
    InitialSyncPlanner,
    count_actions,
    dry_run_context,
    plan_after_pages,
    plan_source_page,
    real_run_reads,
    reasons_of,
)
from qbosync.sync.records.links import CUSTOMER, ITEM

AFTER_PAGES_STEP = "after_pages"
"""The planned step after the pages (documents, QBO → source), stored like a page."""


class _PlanTaskEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: TenantId
    plan_id: RunId


class PlanPrepareEvent(_PlanTaskEvent):
    task: Literal["plan_prepare"]
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=500)


class PlanPageEvent(_PlanTaskEvent):
    task: Literal["plan_customer_page", "plan_product_page"]
    config: RunConfig
    page: PageDescriptor


class PlanAfterPagesEvent(_PlanTaskEvent):
    task: Literal["plan_after_pages"]
    config: RunConfig


class PlanFinishEvent(_PlanTaskEvent):
    task: Literal["plan_finish"]


class PlanFailEvent(_PlanTaskEvent):
    task: Literal["plan_fail"]
    error: StepFunctionsError


PlanTaskEvent = Annotated[
    PlanPrepareEvent | PlanPageEvent | PlanAfterPagesEvent | PlanFinishEvent | PlanFailEvent,
    Field(discriminator="task"),
]
PLAN_TASKS = frozenset(
    {
        "plan_prepare",
        "plan_customer_page",
        "plan_product_page",
        "plan_after_pages",
        "plan_finish",
        "plan_fail",
    }
)
_PLAN_TASK_EVENT: TypeAdapter[Any] = TypeAdapter(PlanTaskEvent)


class PreparedPlan(BaseModel):
    config: RunConfig
    customers: list[PageDescriptor]
    products: list[PageDescriptor]


def _running(deps: BulkSyncDependencies, tenant_id: str, plan_id: str) -> PlanSummary:
    summary = deps.plans.get(tenant_id, plan_id)
    if summary is None:
        raise BulkSyncPageRejected(f"there is no plan {plan_id} for this tenant")
    if summary.status is not PlanStatus.RUNNING:
        raise BulkSyncPageRejected(f"plan {plan_id} is {summary.status.value} already")
    return summary


def plan_prepare(
    event: PlanPrepareEvent, planner: InitialSyncPlanner, deps: BulkSyncDependencies
) -> PreparedPlan:
    """Freeze settings and mappings, and list the source's pages for the Maps."""
    _running(deps, event.tenant_id, event.plan_id)
    config = planner.config(event.tenant_id).model_copy(update={"page_size": event.page_size})
    source = deps.source_for(event.tenant_id)
    sync = config.settings.sync
    customers = (
        page_descriptors("customers", source.list_customers, event.page_size) if sync.customers else []
    )
    products = page_descriptors("products", source.list_products, event.page_size) if sync.products else []
    logger.info(
        "dry run pages listed",
        extra={"plan_id": event.plan_id, "customer_pages": len(customers), "product_pages": len(products)},
    )
    return PreparedPlan(config=config, customers=customers, products=products)


def plan_page(event: PlanPageEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Plan one page of source customers or products, and store its entries with its counts."""
    summary = _running(deps, event.tenant_id, event.plan_id)
    context = dry_run_context(deps, event.tenant_id, event.config)
    page = event.page
    _entity, entries, reads = plan_source_page(context, page)
    deps.plans.save_page(
        summary,
        PlannedPage(
            entity=page.entity,
            page_no=page.page_no,
            counts=count_actions(entries),
            qbo_reads=reads,
            entries=len(entries),
            reasons=reasons_of(entries),
        ),
        entries,
    )
    return {"entity": page.entity, "page_no": page.page_no, "entries": len(entries)}


def plan_after_pages_step(event: PlanAfterPagesEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Plan document matching and the QBO → source step from the pages' planned customers and items."""
    summary = _running(deps, event.tenant_id, event.plan_id)
    context = dry_run_context(deps, event.tenant_id, event.config)

    def planned(entity: str) -> Mapping[str, Any]:
        return {e.source_id: e for e in deps.plans.all_entries(event.tenant_id, event.plan_id, entity)}

    entries, reads = plan_after_pages(context, planned(CUSTOMER), planned(ITEM))
    deps.plans.save_page(
        summary,
        PlannedPage(
            entity=AFTER_PAGES_STEP,
            page_no=1,
            counts=count_actions(entries),
            qbo_reads=reads,
            entries=len(entries),
            reasons=reasons_of(entries),
        ),
        entries,
    )
    return {"entity": AFTER_PAGES_STEP, "page_no": 1, "entries": len(entries)}


def plan_finish(event: PlanFinishEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Add the planned pages up and make the plan ready (again: the same, when a retry follows a lost
    answer)."""
    found = deps.plans.get(event.tenant_id, event.plan_id)
    if found is not None and found.status is PlanStatus.READY:
        return {"status": found.status.value, "entries": found.entries}
    summary = _running(deps, event.tenant_id, event.plan_id)
    counts: dict[str, dict[str, int]] = {}
    reads = 0
    entries = 0
    pages = deps.plans.pages(event.tenant_id, event.plan_id)
    for page in pages:
        reads += page.qbo_reads
        entries += page.entries
        for entity, actions in page.counts.items():
            totals = counts.setdefault(entity, {})
            for action, count in actions.items():
                totals[action] = totals.get(action, 0) + count
    ready = summary.model_copy(
        update={
            "status": PlanStatus.READY,
            "counts": counts,
            "qbo_reads": real_run_reads(reads),
            "dry_run_reads": reads,
            "reasons": count_reasons([page.reasons for page in pages]),
            "entries": entries,
            "finished_at": deps.clock(),
        }
    )
    deps.plans.put_summary(ready)
    logger.info(
        "dry run ready",
        extra={
            "plan_id": event.plan_id,
            "entries": entries,
            "qbo_reads": ready.qbo_reads,
            "dry_run_reads": reads,
        },
    )
    return {"status": ready.status.value, "entries": entries}


def plan_fail(event: PlanFailEvent, planner: InitialSyncPlanner) -> dict[str, Any]:
    """The dry run stopped after its retries: the plan is failed, with the reason."""
    reason = event.error.reason()
    found = planner.summary(event.tenant_id, event.plan_id)
    if found.status is PlanStatus.READY:  # made whole already: a late error changes nothing
        return {"status": found.status.value, "reason": reason}
    planner.fail(event.tenant_id, event.plan_id, reason)
    logger.warning("dry run failed", extra={"plan_id": event.plan_id, "reason": reason})
    return {"status": PlanStatus.FAILED.value, "reason": reason}


def run_plan_task(event: Any, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Validate a dry-run task event and run its task (inside ``tasks.run_task``'s error mapping)."""
    try:
        parsed = _PLAN_TASK_EVENT.validate_python(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise BulkSyncBadEvent(f"not a dry-run task event: {problems}") from None
    logger.append_keys(tenant_id=parsed.tenant_id, plan_id=parsed.plan_id, task=parsed.task)
    planner = InitialSyncPlanner(deps)
    if isinstance(parsed, PlanPrepareEvent):
        return dump(plan_prepare(parsed, planner, deps))
    if isinstance(parsed, PlanPageEvent):
        return plan_page(parsed, deps)
    if isinstance(parsed, PlanAfterPagesEvent):
        return plan_after_pages_step(parsed, deps)
    if isinstance(parsed, PlanFinishEvent):
        return plan_finish(parsed, deps)
    return plan_fail(parsed, planner)
