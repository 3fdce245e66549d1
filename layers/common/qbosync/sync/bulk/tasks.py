"""One service function per state of the bulk-sync state machine, and ``run_task`` to dispatch to them.

Every task is safe to run again: Prepare and ListPages only read; a page skips what is linked, creates
under deterministic requestids and is counted once (``RunRepository.add_page_result``); marking a page
failed, finishing and aborting are idempotent in the run repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from qbosync.observability import logger
from qbosync.store.runs import EntityCounts, FinalRunStatus, SyncRun
from qbosync.sync.bulk.common import Tally, page_descriptors
from qbosync.sync.bulk.customers import sync_customer_page
from qbosync.sync.bulk.dependencies import BulkSyncDependencies
from qbosync.sync.bulk.documents import match_documents
from qbosync.sync.bulk.errors import (
    BulkSyncBadEvent,
    BulkSyncPageRejected,
    BulkSyncPreflightFailed,
    step_functions_errors,
)
from qbosync.sync.bulk.models import (
    QBO_CUSTOMERS_ENTITY,
    QBO_ITEMS_ENTITY,
    AbortEvent,
    FinishedRun,
    FinishEvent,
    ListPagesEvent,
    MarkPageFailedEvent,
    PageList,
    PageResult,
    PreparedRun,
    PrepareEvent,
    QboToSourceEvent,
    RunConfig,
    SyncPageEvent,
    TaskEvent,
    dump,
)
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.plan import PREPARE_REFERENCE_KINDS
from qbosync.sync.bulk.plan_tasks import PLAN_TASKS, run_plan_task
from qbosync.sync.bulk.products import sync_product_page
from qbosync.sync.bulk.qbo_to_source import customers_to_source, items_to_default_product
from qbosync.sync.bulk.recheck import RECHECK_TASKS, run_recheck_task
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.preflight import run_preflight
from qbosync.sync.reference import CONNECTED, ReferenceCatalog

_TASK_EVENT: TypeAdapter[Any] = TypeAdapter(TaskEvent)
RUN_STEP_ENTITY = "run"
DOCUMENTS_ENTITY = "documents"


def prepare(event: PrepareEvent, deps: BulkSyncDependencies) -> PreparedRun:
    """Refresh QBO reference data (its reads counted in the run), run preflight, and freeze settings and
    mappings for the run (a run from a plan re-checks it next, page by page: ``bulk.recheck``)."""
    run = deps.runs.get(event.tenant_id, event.run_id)
    if run is None:
        raise BulkSyncPageRejected(f"there is no run {event.run_id} for this tenant")
    if run.status != "RUNNING":
        raise BulkSyncPageRejected(f"run {event.run_id} has already finished ({run.status})")
    deps.runs.set_phase(event.tenant_id, event.run_id, "preparing")
    configuration = deps.configuration()
    settings, _version = configuration.read_settings(event.tenant_id)
    mappings = configuration.all_mappings(event.tenant_id)
    connection = deps.connections.get(event.tenant_id)
    qbo = deps.qbo_for(event.tenant_id) if connection is not None and connection.status == CONNECTED else None
    catalog = None
    if qbo is not None:
        catalog = ReferenceCatalog(event.tenant_id, qbo, deps.reference_cache, deps.epoch_clock)
        for kind in PREPARE_REFERENCE_KINDS:
            catalog.entries(kind, refresh=True)

    def qbo_pair() -> tuple[Any, ReferenceCatalog]:
        assert qbo is not None and catalog is not None  # only called for a connected tenant
        return qbo, catalog

    report = run_preflight(settings, mappings, connection, qbo_pair, lambda: deps.source_for(event.tenant_id))
    if not report.ok:
        failing = "; ".join(
            f"{check.id}: {check.reason}" for check in report.checks if check.status == "fail"
        )
        raise BulkSyncPreflightFailed(f"preflight failed: {failing}"[:500])
    if catalog is not None:
        deps.runs.add_reads(event.tenant_id, event.run_id, "prepare", len(PREPARE_REFERENCE_KINDS))
    config = RunConfig.freeze(settings, mappings, run.started_at, event.page_size, plan_id=run.plan_id)
    logger.info("bulk sync prepared", extra={"tenant_id": event.tenant_id, "run_id": event.run_id})
    return PreparedRun(config=config, check_plan=run.plan_id is not None and run.plan_checked_at is None)


def list_pages(event: ListPagesEvent, deps: BulkSyncDependencies) -> PageList:
    """Walk the source's cursor-paged lists once and describe each page for the Maps."""
    settings = event.config.settings
    source = deps.source_for(event.tenant_id)
    limit = event.config.page_size
    sync = settings.sync
    customers = page_descriptors("customers", source.list_customers, limit) if sync.customers else []
    products = page_descriptors("products", source.list_products, limit) if sync.products else []
    steps = _qbo_to_source_steps(event.config)
    deps.runs.set_phase(
        event.tenant_id, event.run_id, "customers", total_pages=len(customers) + len(products) + steps
    )
    logger.info(
        "bulk sync pages listed",
        extra={
            "tenant_id": event.tenant_id,
            "run_id": event.run_id,
            "customer_pages": len(customers),
            "product_pages": len(products),
        },
    )
    return PageList(customers=customers, products=products)


def _qbo_to_source_steps(config: RunConfig) -> int:
    settings = config.settings
    customers = (
        settings.sync.customers
        and settings.sync.qbo_to_source_customers
        and settings.source_defaults.new_customer_bill_profile_id is not None
    )
    items = settings.sync.products and settings.source_defaults.unmatched_qbo_item_product_id is not None
    documents = settings.onboarding.match_documents_from is not None
    return int(bool(customers)) + int(bool(items)) + int(documents)


def _context(event: SyncPageEvent | QboToSourceEvent, deps: BulkSyncDependencies) -> PageContext:
    return PageContext(
        tenant_id=event.tenant_id,
        run_id=event.run_id,
        config=event.config,
        qbo=deps.qbo_for(event.tenant_id),
        source=deps.source_for(event.tenant_id),
        links=deps.links,
        clock=deps.clock,
        batch_size=deps.batch_size,
        suggestions=deps.suggestions,
        plans=deps.plans,
    )


def _result(entity: str, page_no: int, tally: Tally, counted: bool) -> PageResult:
    return PageResult(
        entity=entity,
        page_no=page_no,
        counts=tally.counts(),
        counted=counted,
        qbo_requests=tally.qbo_requests,
        skipped=tally.skipped_reasons,
        failed=tally.failed_reasons,
    )


def sync_page(event: SyncPageEvent, deps: BulkSyncDependencies) -> PageResult:
    """Sync one page, record its links, then count it in the run (once, however often it runs)."""
    context = _context(event, deps)
    page = event.page
    if page.entity == "products":
        deps.runs.set_phase(event.tenant_id, event.run_id, "products")
        tally = sync_product_page(context, page)
    else:
        tally = sync_customer_page(context, page)
    counted = deps.runs.add_page_result(
        event.tenant_id,
        event.run_id,
        page.entity,
        tally.counts(),
        page.page_no,
        skips=tally.skips(),
        warnings=tally.warnings(),
        qbo_reads=tally.qbo_reads,
    )
    logger.info(
        "bulk sync page done",
        extra={
            "tenant_id": event.tenant_id,
            "run_id": event.run_id,
            "entity": page.entity,
            "page_no": page.page_no,
            "counted": counted,
            **{f"count_{name}": value for name, value in tally.counts().model_dump().items()},
            "qbo_requests": tally.qbo_requests,
            "warnings": sum(warning.count for warning in tally.warnings()),
        },
    )
    return _result(page.entity, page.page_no, tally, counted)


def mark_page_failed(event: MarkPageFailedEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Record a page that failed after its retries, with its reason; the run carries on."""
    reason = event.error.reason()
    marked = deps.runs.mark_page_failed(
        event.tenant_id, event.run_id, event.page.entity, event.page.page_no, reason=reason, at=deps.clock()
    )
    logger.warning(
        "bulk sync page failed",
        extra={
            "tenant_id": event.tenant_id,
            "run_id": event.run_id,
            "entity": event.page.entity,
            "page_no": event.page.page_no,
            "reason": reason,
        },
    )
    return {"entity": event.page.entity, "page_no": event.page.page_no, "reason": reason, "marked": marked}


def qbo_to_source(event: QboToSourceEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """QBO customers and items nobody links: to the source, or to the default product."""
    deps.runs.set_phase(event.tenant_id, event.run_id, "qbo_to_source")
    context = _context(event, deps)
    results: dict[str, Any] = {}
    for entity, step in (
        (QBO_CUSTOMERS_ENTITY, customers_to_source),
        (QBO_ITEMS_ENTITY, items_to_default_product),
        (DOCUMENTS_ENTITY, match_documents),
    ):
        tally = step(context)
        if tally is None:
            continue
        counted = deps.runs.add_page_result(
            event.tenant_id,
            event.run_id,
            entity,
            tally.counts(),
            1,
            skips=tally.skips(),
            warnings=tally.warnings(),
            qbo_reads=tally.qbo_reads,
        )
        results[entity] = dump(_result(entity, 1, tally, counted))
    return results


def finish(event: FinishEvent, deps: BulkSyncDependencies) -> FinishedRun:
    """End the run with ``final_status``, releasing the tenant's run lock."""
    run = deps.runs.get(event.tenant_id, event.run_id)
    if run is None:
        raise BulkSyncPageRejected(f"there is no run {event.run_id} for this tenant")
    status = final_status(run)
    finished = deps.runs.finish(event.tenant_id, event.run_id, status, deps.clock())
    logger.info(
        "bulk sync finished",
        extra={"tenant_id": event.tenant_id, "run_id": event.run_id, "status": finished.status},
    )
    return FinishedRun(
        status=finished.status, counts=finished.counts, failed_pages=len(finished.failed_pages)
    )


def final_status(run: SyncRun) -> FinalRunStatus:
    """SUCCEEDED_WITH_ERRORS when a page or a record failed; else SUCCEEDED_WITH_WARNINGS when a record
    was skipped for a reason that needs the admin (``SkipReason.warns``) or created with a warning (a
    suffixed or cut name, a cut field); else SUCCEEDED."""
    if run.failed_pages or any(counts.failed for counts in run.counts.values()):
        return "SUCCEEDED_WITH_ERRORS"
    if run.warnings or any(_warns(skips.code) for skips in run.skips):
        return "SUCCEEDED_WITH_WARNINGS"
    return "SUCCEEDED"


def _warns(code: str) -> bool:
    try:
        return SkipReason(code).warns
    except ValueError:
        return True  # a code this version does not know is still a skip the admin should see


def abort(event: AbortEvent, deps: BulkSyncDependencies) -> FinishedRun:
    """Prepare or listing failed for good: record why and end the run FAILED (releasing the lock)."""
    reason = event.error.reason()
    deps.runs.mark_page_failed(
        event.tenant_id, event.run_id, RUN_STEP_ENTITY, 1, reason=reason, at=deps.clock()
    )
    finished = deps.runs.finish(event.tenant_id, event.run_id, "FAILED", deps.clock())
    logger.warning(
        "bulk sync aborted", extra={"tenant_id": event.tenant_id, "run_id": event.run_id, "reason": reason}
    )
    counts: dict[str, EntityCounts] = finished.counts
    return FinishedRun(status=finished.status, counts=counts, failed_pages=len(finished.failed_pages))


def run_task(event: Any, dependencies: BulkSyncDependencies) -> dict[str, Any]:
    """Validate a task event and run its task; errors leave as the types the state machine knows."""
    with step_functions_errors():
        if isinstance(event, Mapping) and event.get("task") in PLAN_TASKS:
            return run_plan_task(event, dependencies)
        if isinstance(event, Mapping) and event.get("task") in RECHECK_TASKS:
            return run_recheck_task(event, dependencies)
        try:
            parsed = _TASK_EVENT.validate_python(event)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise BulkSyncBadEvent(f"not a bulk-sync task event: {problems}") from None
        logger.append_keys(tenant_id=parsed.tenant_id, run_id=parsed.run_id, task=parsed.task)
        result: Any
        if isinstance(parsed, PrepareEvent):
            result = prepare(parsed, dependencies)
        elif isinstance(parsed, ListPagesEvent):
            result = list_pages(parsed, dependencies)
        elif isinstance(parsed, SyncPageEvent):
            result = sync_page(parsed, dependencies)
        elif isinstance(parsed, MarkPageFailedEvent):
            return mark_page_failed(parsed, dependencies)
        elif isinstance(parsed, QboToSourceEvent):
            return qbo_to_source(parsed, dependencies)
        elif isinstance(parsed, FinishEvent):
            result = finish(parsed, dependencies)
        else:
            result = abort(parsed, dependencies)
        return dump(result)
