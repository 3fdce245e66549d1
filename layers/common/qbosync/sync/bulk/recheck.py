"""A run started from a dry run's plan re-checks the plan page by page before it writes anything.

The bulk-sync state machine runs these tasks between ListPages and the first page of the run, so no
invocation grows with the tenant: each page of customers and products is planned again and compared
with its plan entries (``recheck_customer_page``, ``recheck_product_page``), then the step after the pages
(``recheck_after_pages``); ``recheck_finish`` adds the pages up and stops the run (``BulkSyncPlanStale``:
FAILED, nothing written, the first ten records named) when any record would now be handled otherwise,
or a planned record is no longer in the source. Each page's QBO reads are counted in the run once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from qbosync.observability import logger
from qbosync.store.onboarding import CheckedPage, PlanEntry, PlanSummary
from qbosync.sync.bulk.dependencies import BulkSyncDependencies
from qbosync.sync.bulk.errors import BulkSyncBadEvent, BulkSyncPageRejected, BulkSyncPlanStale
from qbosync.sync.bulk.models import PageDescriptor, RunConfig, _TaskEvent
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.plan import (
    InitialSyncPlanner,
    dry_run_context,
    outcome_change,
    plan_after_pages,
    plan_source_page,
)
from qbosync.sync.bulk.plan_tasks import AFTER_PAGES_STEP
from qbosync.sync.records.links import CUSTOMER, ITEM

CHECKING_PHASE = "checking_plan"
NAMED_CHANGES = 10
"""How many changed records the stale run's reason names (the count says how many in all)."""


class RecheckPageEvent(_TaskEvent):
    task: Literal["recheck_customer_page", "recheck_product_page"]
    config: RunConfig
    page: PageDescriptor


class RecheckAfterPagesEvent(_TaskEvent):
    task: Literal["recheck_after_pages"]
    config: RunConfig


class RecheckFinishEvent(_TaskEvent):
    task: Literal["recheck_finish"]
    config: RunConfig


RecheckTaskEvent = Annotated[
    RecheckPageEvent | RecheckAfterPagesEvent | RecheckFinishEvent, Field(discriminator="task")
]
RECHECK_TASKS = frozenset(
    {"recheck_customer_page", "recheck_product_page", "recheck_after_pages", "recheck_finish"}
)
_RECHECK_TASK_EVENT: TypeAdapter[Any] = TypeAdapter(RecheckTaskEvent)


def _followed_plan(event: _TaskEvent, config: RunConfig, deps: BulkSyncDependencies) -> PlanSummary:
    if config.plan_id is None:
        raise BulkSyncPageRejected(f"run {event.run_id} follows no plan: there is nothing to re-check")
    return InitialSyncPlanner(deps).ready(event.tenant_id, config.plan_id)


def _planning_context(event: _TaskEvent, config: RunConfig, deps: BulkSyncDependencies) -> PageContext:
    """Plan as the dry run did: with the admins' decisions, following no plan."""
    return dry_run_context(deps, event.tenant_id, config.model_copy(update={"plan_id": None}))


def _changes(
    now: Iterable[PlanEntry], planned: Mapping[tuple[str, str], PlanEntry | None]
) -> list[dict[str, Any]]:
    """Each record handled otherwise now than planned (or planned and gone), sorted by entity and id."""
    current = {(entry.entity, entry.source_id): entry for entry in now}
    found = [
        change
        for key in sorted(set(current) | {key for key, entry in planned.items() if entry is not None})
        if (change := outcome_change(key, planned.get(key), current.get(key))) is not None
    ]
    return found


def _save(
    deps: BulkSyncDependencies,
    event: _TaskEvent,
    summary: PlanSummary,
    checked: CheckedPage,
) -> dict[str, Any]:
    deps.plans.save_check(summary, event.run_id, checked)
    deps.runs.add_reads(
        event.tenant_id, event.run_id, f"plan_check#{checked.entity}#{checked.page_no}", checked.qbo_reads
    )
    return {"entity": checked.entity, "page_no": checked.page_no, "changed": checked.changed_count}


def recheck_page(event: RecheckPageEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Plan one page of the run again and compare each record with its plan entry."""
    summary = _followed_plan(event, event.config, deps)
    deps.runs.set_phase(event.tenant_id, event.run_id, CHECKING_PHASE)
    context = _planning_context(event, event.config, deps)
    page = event.page
    entity, entries, reads = plan_source_page(context, page)
    planned = {
        (entry.entity, entry.source_id): deps.plans.entry(
            event.tenant_id, summary.plan_id, entry.entity, entry.source_id
        )
        for entry in entries
    }
    changed = _changes(entries, planned)
    return _save(
        deps,
        event,
        summary,
        CheckedPage(
            entity=page.entity,
            page_no=page.page_no,
            seen={entity: [entry.source_id for entry in entries]},
            changed=changed[:NAMED_CHANGES],
            changed_count=len(changed),
            qbo_reads=reads,
        ),
    )


def recheck_after_pages(event: RecheckAfterPagesEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Plan document matching and the QBO → source step again (from the planned customers and items,
    which the pages' re-check holds to) and compare them with the plan's entries of that step."""
    summary = _followed_plan(event, event.config, deps)
    context = _planning_context(event, event.config, deps)

    def planned_of(entity: str) -> dict[str, PlanEntry]:
        return {e.source_id: e for e in deps.plans.all_entries(event.tenant_id, summary.plan_id, entity)}

    entries, reads = plan_after_pages(context, planned_of(CUSTOMER), planned_of(ITEM))
    step_entities = {entry.entity for entry in entries}
    for page in deps.plans.pages(event.tenant_id, summary.plan_id):
        if page.entity == AFTER_PAGES_STEP:
            step_entities |= set(page.counts)
    planned: dict[tuple[str, str], PlanEntry | None] = {
        (entry.entity, entry.source_id): entry
        for entity in sorted(step_entities)
        for entry in deps.plans.all_entries(event.tenant_id, summary.plan_id, entity)
    }
    changed = _changes(entries, planned)
    return _save(
        deps,
        event,
        summary,
        CheckedPage(
            entity=AFTER_PAGES_STEP,
            page_no=1,
            changed=changed[:NAMED_CHANGES],
            changed_count=len(changed),
            qbo_reads=reads,
        ),
    )


def recheck_finish(event: RecheckFinishEvent, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Add the re-checked pages up: the run goes on, or stops as stale naming the first records."""
    summary = _followed_plan(event, event.config, deps)
    checks = deps.plans.checks(event.tenant_id, summary.plan_id, event.run_id)
    changed = [change for check in checks for change in check.changed]
    count = sum(check.changed_count for check in checks)
    for entity in (CUSTOMER, ITEM):
        seen = {source_id for check in checks for source_id in check.seen.get(entity, [])}
        if len(seen) >= sum(summary.counts.get(entity, {}).values()):
            continue
        # A planned record the source no longer lists: only then are the plan's entries read whole.
        gone = [
            outcome_change((entity, entry.source_id), entry, None)
            for entry in deps.plans.all_entries(event.tenant_id, summary.plan_id, entity)
            if entry.source_id not in seen
        ]
        changed += [change for change in gone if change is not None]
        count += len(gone)
    if count:
        changed.sort(key=lambda change: (change["entity"], change["source_id"]))
        named = ", ".join(f"{c['entity']} {c['source_id']}" for c in changed[:NAMED_CHANGES])
        logger.warning(
            "plan stale", extra={"run_id": event.run_id, "plan_id": summary.plan_id, "changed": count}
        )
        raise BulkSyncPlanStale(
            f"plan_stale: {count} record(s) changed since plan {summary.plan_id}; "
            f"make a new dry run and review it: {named}"[:480]
        )
    deps.runs.mark_plan_checked(event.tenant_id, event.run_id, deps.clock())
    deps.runs.set_phase(event.tenant_id, event.run_id, "customers")
    reads = sum(check.qbo_reads for check in checks)
    logger.info("plan re-checked", extra={"run_id": event.run_id, "plan_id": summary.plan_id, "reads": reads})
    return {"changed": 0, "qbo_reads": reads}


def run_recheck_task(event: Any, deps: BulkSyncDependencies) -> dict[str, Any]:
    """Validate a re-check task event and run its task (inside ``tasks.run_task``'s error mapping)."""
    try:
        parsed = _RECHECK_TASK_EVENT.validate_python(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise BulkSyncBadEvent(f"not a re-check task event: {problems}") from None
    logger.append_keys(tenant_id=parsed.tenant_id, run_id=parsed.run_id, task=parsed.task)
    if isinstance(parsed, RecheckPageEvent):
        return recheck_page(parsed, deps)
    if isinstance(parsed, RecheckAfterPagesEvent):
        return recheck_after_pages(parsed, deps)
    return recheck_finish(parsed, deps)
