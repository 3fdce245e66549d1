"""The initial sync's dry run: what the real run will do with every source customer and product,
every existing document it matches and every QBO record its QBO → source step takes, decided by the
same functions the run uses (``decide_customers``, ``decide_products``, ``decide_documents``,
``decide_customers_to_source``, ``decide_items_to_default_product``), with QBO read and nothing written
to QBO or the source.

``InitialSyncPlanner.start`` stores a running plan and starts the dry-run state machine, which plans
page by page (``bulk.plan_tasks``), so no request or Lambda meets a limit however many records a tenant
has. A ready plan (``store.onboarding.PlanRepository``) is listed page by page and downloaded as JSON or
CSV. A real run started from a plan id re-plans page by page before its first page (``bulk.recheck``;
``recheck`` here does the same in one process) and stops before writing anything (``plan_stale``) when any
record's planned action changed since: the admin reviews a new plan instead of a surprise.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from qbosync.errors import Conflict, NotConnected, NotFound
from qbosync.observability import logger
from qbosync.source.models import Page
from qbosync.store.onboarding import (
    PlanAction,
    PlanEntry,
    PlanReasonCount,
    PlanStatus,
    PlanSummary,
    count_reasons,
)
from qbosync.store.table import Page as StorePage
from qbosync.sync.bulk.common import Tally, records_to_sync
from qbosync.sync.bulk.customers import decide_customers
from qbosync.sync.bulk.dependencies import BulkSyncDependencies
from qbosync.sync.bulk.documents import CustomerInQbo, decide_documents
from qbosync.sync.bulk.models import DEFAULT_PAGE_SIZE, PageDescriptor, RunConfig
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.products import decide_products
from qbosync.sync.bulk.qbo_to_source import (
    customers_to_source_enabled,
    decide_customers_to_source,
    decide_items_to_default_product,
    items_to_default_product_enabled,
    links_by_qbo_id,
    qbo_rows,
)
from qbosync.sync.bulk.service import ExecutionLauncher
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.records.links import CUSTOMER, ITEM
from qbosync.sync.reference import CONNECTED, ReferenceKind

PREPARE_REFERENCE_KINDS = (ReferenceKind.ACCOUNTS, ReferenceKind.ITEMS, ReferenceKind.TAX_CODES)
"""The reference lists the run's Prepare step reads again (one query each) before its pages."""
PREPARE_READS = len(PREPARE_REFERENCE_KINDS)


def real_run_reads(dry_run_reads: int) -> int:
    """What a run from the plan reads on unchanged data: Prepare's reference lists, then its re-check
    of the plan and its pages, each reading what the dry run read."""
    return PREPARE_READS + 2 * dry_run_reads


CSV_COLUMNS = (
    "entity",
    "source_id",
    "source_version",
    "action",
    "reason_code",
    "reason",
    "qbo_id",
    "qbo_body",
    "source_body",
)


class PlanNotFound(NotFound):
    code = "plan_not_found"


class PlanNotReady(Conflict):
    """The plan is still being made, or its dry run failed; ``details`` gives its status."""

    code = "plan_not_ready"


class StartedPlan(BaseModel):
    plan_id: str
    status: PlanStatus
    status_url: str


def plan_url(tenant_id: str, plan_id: str) -> str:
    return f"/tenants/{tenant_id}/sync/plans/{plan_id}"


class PlanStale(Conflict):
    """Records changed since the plan was made; ``details`` names each, planned and now."""

    code = "plan_stale"


def new_plan_id(now: datetime) -> str:
    return f"plan-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


class InitialSyncPlanner:
    def __init__(
        self,
        deps: BulkSyncDependencies,
        page_size: int = DEFAULT_PAGE_SIZE,
        config_for: Callable[[str, datetime], RunConfig] | None = None,
        executions: ExecutionLauncher | None = None,
    ) -> None:
        self._deps = deps
        self._page_size = page_size
        self._config_for = config_for or self._stored_config
        self._executions = executions

    def _stored_config(self, tenant_id: str, now: datetime) -> RunConfig:
        """Settings and mappings frozen as the run's Prepare freezes them."""
        configuration = self._deps.configuration()
        settings, _version = configuration.read_settings(tenant_id)
        return RunConfig.freeze(settings, configuration.all_mappings(tenant_id), now, self._page_size)

    def config(self, tenant_id: str) -> RunConfig:
        """The settings and mappings a dry run plans with, as they are now."""
        return self._config_for(tenant_id, self._deps.clock())

    def start(self, tenant_id: str, admin: str) -> StartedPlan:
        """Store a running plan and start the dry-run state machine that makes it."""
        connection = self._deps.connections.get(tenant_id)
        if connection is None or connection.status != CONNECTED:
            state = "not connected" if connection is None else connection.status
            raise NotConnected(f"QuickBooks Online is {state} for this tenant; connect it before a dry run")
        if self._executions is None:
            raise RuntimeError("this planner was built without a way to start dry runs")
        now = self._deps.clock()
        summary = PlanSummary(
            plan_id=new_plan_id(now),
            tenant_id=tenant_id,
            created_at=now,
            created_by=admin,
            counts={},
            qbo_reads=0,
            entries=0,
            status=PlanStatus.RUNNING,
        )
        self._deps.plans.put_summary(summary)
        try:
            self._executions.start(summary.plan_id, {"tenant_id": tenant_id, "plan_id": summary.plan_id})
        except Exception:
            # Nothing will make the plan: say so instead of leaving it running for ever.
            self.fail(tenant_id, summary.plan_id, "the dry run's execution could not be started")
            raise
        logger.info("dry run started", extra={"tenant_id": tenant_id, "plan_id": summary.plan_id})
        return StartedPlan(
            plan_id=summary.plan_id, status=summary.status, status_url=plan_url(tenant_id, summary.plan_id)
        )

    def fail(self, tenant_id: str, plan_id: str, failure: str) -> PlanSummary:
        summary = self.summary(tenant_id, plan_id)
        failed = summary.model_copy(
            update={"status": PlanStatus.FAILED, "failure": failure[:500], "finished_at": self._deps.clock()}
        )
        return self._deps.plans.put_summary(failed)

    def plan(self, tenant_id: str, admin: str) -> PlanSummary:
        """Plan the initial sync of the tenant in this process, and store the plan (the state machine's
        tasks do the same page by page)."""
        now = self._deps.clock()
        entries, reads = self.entries(tenant_id)
        summary = PlanSummary(
            plan_id=new_plan_id(now),
            tenant_id=tenant_id,
            created_at=now,
            created_by=admin,
            counts=count_actions(entries),
            qbo_reads=real_run_reads(reads),
            dry_run_reads=reads,
            reasons=reasons_of(entries),
            entries=len(entries),
            finished_at=now,
        )
        self._deps.plans.save(summary, entries)
        logger.info(
            "initial sync planned",
            extra={"tenant_id": tenant_id, "plan_id": summary.plan_id, "entries": len(entries)},
        )
        return summary

    def summary(self, tenant_id: str, plan_id: str) -> PlanSummary:
        found = self._deps.plans.get(tenant_id, plan_id)
        if found is None:
            raise PlanNotFound(f"no plan {plan_id} for this tenant (plans are kept 7 days)")
        return found

    def ready(self, tenant_id: str, plan_id: str) -> PlanSummary:
        """The plan, once its dry run has finished it; ``PlanNotReady`` before or after a failure."""
        summary = self.summary(tenant_id, plan_id)
        if summary.status is not PlanStatus.READY:
            raise PlanNotReady(
                f"plan {plan_id} is {summary.status.value}"
                + (f": {summary.failure}" if summary.failure else "; follow it at its status URL"),
                details=[{"status": summary.status.value, "failure": summary.failure}],
            )
        return summary

    def entries_page(
        self, tenant_id: str, plan_id: str, *, limit: int, cursor: str | None
    ) -> StorePage[PlanEntry]:
        return self._deps.plans.entries(tenant_id, plan_id, limit=limit, cursor=cursor)

    def all_entries(self, tenant_id: str, plan_id: str) -> list[PlanEntry]:
        return self._deps.plans.all_entries(tenant_id, plan_id)

    def recheck(self, tenant_id: str, plan_id: str) -> PlanSummary:
        """The plan, if every record would still be handled as planned; ``PlanStale`` otherwise."""
        summary = self.ready(tenant_id, plan_id)
        planned = {(e.entity, e.source_id): e for e in self._deps.plans.all_entries(tenant_id, plan_id)}
        current, _reads = self.entries(tenant_id)
        now = {(e.entity, e.source_id): e for e in current}
        changed = [
            change
            for key in sorted(set(planned) | set(now))
            if (change := outcome_change(key, planned.get(key), now.get(key))) is not None
        ]
        if changed:
            raise PlanStale(
                f"{len(changed)} record(s) changed since plan {plan_id}; make a new dry run and review it",
                details=changed[:50],
            )
        return summary

    def entries(self, tenant_id: str) -> tuple[list[PlanEntry], int]:
        """Every record's planned action, and the QBO reads that cost."""
        context = dry_run_context(self._deps, tenant_id, self.config(tenant_id))
        settings = context.config.settings
        entries: list[PlanEntry] = []
        reads = 0
        if settings.sync.customers:
            for listing in _pages(context.source.list_customers, self._page_size):
                found, cost = plan_records(context, CUSTOMER, listing.items)
                entries += found
                reads += cost
        if settings.sync.products:
            for listing in _pages(context.source.list_products, self._page_size):
                found, cost = plan_records(context, ITEM, listing.items)
                entries += found
                reads += cost
        after, cost = plan_after_pages(
            context,
            {e.source_id: e for e in entries if e.entity == CUSTOMER},
            {e.source_id: e for e in entries if e.entity == ITEM},
        )
        return entries + after, reads + cost


def dry_run_context(deps: BulkSyncDependencies, tenant_id: str, config: RunConfig) -> PageContext:
    """A page's collaborators for planning: admins' decisions are read, no plan is followed."""
    return PageContext(
        tenant_id=tenant_id,
        run_id="dry-run",
        config=config,
        qbo=deps.qbo_for(tenant_id),
        source=deps.source_for(tenant_id),
        links=deps.links,
        clock=deps.clock,
        batch_size=deps.batch_size,
        suggestions=deps.suggestions,
    )


def reasons_of(entries: Iterable[PlanEntry]) -> list[PlanReasonCount]:
    """Per entity, action and reason code: how many entries, with the first one's reason."""
    return count_reasons(
        [
            [
                PlanReasonCount(
                    entity=e.entity, action=e.action, reason_code=e.reason_code, count=1, reason=e.reason
                )
                for e in entries
            ]
        ]
    )


def count_actions(entries: Iterable[PlanEntry]) -> dict[str, dict[str, int]]:
    """Per entity, per action: how many entries."""
    counts: dict[str, Counter[str]] = {}
    for entry in entries:
        counts.setdefault(entry.entity, Counter())[entry.action.value] += 1
    return {entity: dict(found) for entity, found in counts.items()}


def plan_records(context: PageContext, entity: str, records: list[Any]) -> tuple[list[PlanEntry], int]:
    """One source page's entries (customers or products), and the QBO reads deciding them cost."""
    tally = Tally()
    entries: list[PlanEntry] = []
    pending = _pending(context, entity, records, tally, entries)
    if pending and entity == CUSTOMER:
        entries += [d.entry() for d in decide_customers(context, tally, pending)]
    elif pending:
        entries += [d.entry() for d in decide_products(context, tally, pending)]
    return entries, tally.qbo_reads


def plan_source_page(context: PageContext, page: PageDescriptor) -> tuple[str, list[PlanEntry], int]:
    """Read one page of source customers or products and plan it: the link entity, the entries, and the
    QBO reads deciding them cost (a dry run's page and a run's re-check of it plan alike)."""
    if page.entity == "customers":
        records: list[Any] = context.source.list_customers(page.cursor, page.limit).items
        entity = CUSTOMER
    else:
        records = context.source.list_products(page.cursor, page.limit).items
        entity = ITEM
    entries, reads = plan_records(context, entity, records)
    return entity, entries, reads


def plan_after_pages(
    context: PageContext, customers: Mapping[str, PlanEntry], items: Mapping[str, PlanEntry]
) -> tuple[list[PlanEntry], int]:
    """What the run's last step does once its pages are done (planned as ``customers`` and ``items``,
    by source id): existing documents matched, and QBO customers and items nobody links taken to the
    source. The entries, and the QBO reads they cost."""
    tally = Tally()
    entries: list[PlanEntry] = []

    def customer_in_qbo(source_id: str) -> CustomerInQbo | None:
        link = context.links.get(context.tenant_id, CUSTOMER, source_id)
        if link is not None:
            return CustomerInQbo(link.qbo_id)
        planned = customers.get(source_id)
        if planned is not None and planned.action is PlanAction.MATCH and planned.qbo_id:
            return CustomerInQbo(planned.qbo_id)
        if planned is not None and planned.action is PlanAction.CREATE:
            return CustomerInQbo(None)
        return None

    documents = decide_documents(context, tally, customer_in_qbo)
    entries += [decision.entry() for decision in documents or []]
    if customers_to_source_enabled(context):
        linked = set(links_by_qbo_id(context, CUSTOMER)) | _matched(customers)
        rows = qbo_rows(context, tally, "Customer")
        held = _held(customers)
        entries += [d.entry() for d in decide_customers_to_source(context, rows, linked, held)]
    if items_to_default_product_enabled(context):
        linked = set(links_by_qbo_id(context, ITEM)) | _matched(items)
        rows = qbo_rows(context, tally, "Item")
        held = _held(items)
        entries += [d.entry() for d in decide_items_to_default_product(context, rows, linked, held)]
    return entries, tally.qbo_reads


def _held(planned: Mapping[str, PlanEntry]) -> dict[str, str]:
    """QBO id → source id, for the candidates of the planned suggestions (the run records them)."""
    return {
        candidate.qbo_id: entry.source_id
        for entry in planned.values()
        if entry.action is PlanAction.SUGGESTION
        for candidate in entry.candidates
    }


def _matched(planned: Mapping[str, PlanEntry]) -> set[str]:
    """The QBO ids the run's pages link (planned matches)."""
    return {e.qbo_id for e in planned.values() if e.action is PlanAction.MATCH and e.qbo_id}


def _pending(
    context: PageContext, entity: str, records: list[Any], tally: Tally, entries: list[PlanEntry]
) -> list[Any]:
    """The records a page would decide on; the others become skip entries, with the run's code."""
    pending = records_to_sync(
        records,
        tally,
        lambda source_id: context.links.get(context.tenant_id, entity, source_id),
        context.config.run_started_at,
    )
    deciding = {record.id for record in pending}
    for record in records:
        if record.id in deciding:
            continue
        link = context.links.get(context.tenant_id, entity, record.id)
        code = SkipReason.ALREADY_LINKED if link is not None else SkipReason.INACTIVE_IN_SOURCE
        entries.append(
            PlanEntry(
                entity=entity,
                source_id=record.id,
                source_version=record.version,
                action=PlanAction.SKIP,
                reason_code=code.value,
                reason=code.explanation,
                qbo_id=link.qbo_id if link is not None else None,
            )
        )
    return pending


def _pages(list_page: Callable[[str | None, int], Page[Any]], limit: int) -> Iterable[Page[Any]]:
    cursor: str | None = None
    while True:
        page = list_page(cursor, limit)
        if page.items:
            yield page
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return


def _action_of(entry: PlanEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"action": entry.action.value, "qbo_id": entry.qbo_id, "source_version": entry.source_version}


def outcome_change(
    key: tuple[str, str], planned: PlanEntry | None, now: PlanEntry | None
) -> dict[str, Any] | None:
    """The record (entity, source id) as planned and as it would be handled now, if that differs."""
    if _same_outcome(planned, now):
        return None
    entity, source_id = key
    return {"entity": entity, "source_id": source_id, "planned": _action_of(planned), "now": _action_of(now)}


def _same_outcome(planned: PlanEntry | None, now: PlanEntry | None) -> bool:
    if planned is None or now is None:
        return planned is now
    return planned.same_outcome(now)


def plan_as_csv(entries: Iterable[PlanEntry]) -> str:
    """One row per record; the QBO body as compact JSON in its column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        body = json.dumps(entry.qbo_body, separators=(",", ":"), default=str) if entry.qbo_body else ""
        source_body = (
            json.dumps(entry.source_body, separators=(",", ":"), default=str) if entry.source_body else ""
        )
        writer.writerow(
            [
                entry.entity,
                entry.source_id,
                entry.source_version,
                entry.action.value,
                entry.reason_code,
                entry.reason,
                entry.qbo_id or "",
                body,
                source_body,
            ]
        )
    return out.getvalue()
