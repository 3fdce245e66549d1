"""The initial sync's dry run: what the real run will do with every source customer and product,
decided by the same functions the run's pages use (``decide_customers``, ``decide_products``), with
QBO read and nothing written anywhere.

A plan is stored (``store.onboarding.PlanRepository``), listed page by page and downloaded as JSON or
CSV. Starting the real run from a plan id re-plans first and refuses (``plan_stale``, 409) when any
record's planned action changed since: the admin reviews a new plan instead of a surprise.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from qbosync.errors import Conflict, NotFound
from qbosync.observability import logger
from qbosync.source.models import Page
from qbosync.store.onboarding import PlanAction, PlanEntry, PlanSummary
from qbosync.store.table import Page as StorePage
from qbosync.sync.bulk.common import Tally, records_to_sync
from qbosync.sync.bulk.customers import decide_customers
from qbosync.sync.bulk.dependencies import BulkSyncDependencies
from qbosync.sync.bulk.models import DEFAULT_PAGE_SIZE, RunConfig
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.products import decide_products
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.records.links import CUSTOMER, ITEM
from qbosync.sync.reference import ReferenceKind

PREPARE_READS = len((ReferenceKind.ACCOUNTS, ReferenceKind.ITEMS, ReferenceKind.TAX_CODES))
"""The reference lists the run's Prepare step reads again before its pages."""
CSV_COLUMNS = (
    "entity",
    "source_id",
    "source_version",
    "action",
    "reason_code",
    "reason",
    "qbo_id",
    "qbo_body",
)


class PlanNotFound(NotFound):
    code = "plan_not_found"


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
    ) -> None:
        self._deps = deps
        self._page_size = page_size
        self._config_for = config_for or self._stored_config

    def _stored_config(self, tenant_id: str, now: datetime) -> RunConfig:
        """Settings and mappings frozen as the run's Prepare freezes them."""
        configuration = self._deps.configuration()
        settings, _version = configuration.read_settings(tenant_id)
        return RunConfig.freeze(settings, configuration.all_mappings(tenant_id), now, self._page_size)

    def plan(self, tenant_id: str, admin: str) -> PlanSummary:
        """Plan the initial sync of the tenant as it stands, and store the plan."""
        now = self._deps.clock()
        entries, reads = self.entries(tenant_id)
        counts: dict[str, Counter[str]] = {}
        for entry in entries:
            counts.setdefault(entry.entity, Counter())[entry.action.value] += 1
        summary = PlanSummary(
            plan_id=new_plan_id(now),
            tenant_id=tenant_id,
            created_at=now,
            created_by=admin,
            counts={entity: dict(found) for entity, found in counts.items()},
            qbo_reads=reads + PREPARE_READS,
            entries=len(entries),
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

    def entries_page(
        self, tenant_id: str, plan_id: str, *, limit: int, cursor: str | None
    ) -> StorePage[PlanEntry]:
        return self._deps.plans.entries(tenant_id, plan_id, limit=limit, cursor=cursor)

    def all_entries(self, tenant_id: str, plan_id: str) -> list[PlanEntry]:
        return self._deps.plans.all_entries(tenant_id, plan_id)

    def recheck(self, tenant_id: str, plan_id: str) -> PlanSummary:
        """The plan, if every record would still be handled as planned; ``PlanStale`` otherwise."""
        summary = self.summary(tenant_id, plan_id)
        planned = {(e.entity, e.source_id): e for e in self._deps.plans.all_entries(tenant_id, plan_id)}
        current, _reads = self.entries(tenant_id)
        now = {(e.entity, e.source_id): e for e in current}
        changed = [
            {
                "entity": entity,
                "source_id": source_id,
                "planned": _action_of(planned.get((entity, source_id))),
                "now": _action_of(now.get((entity, source_id))),
            }
            for entity, source_id in sorted(set(planned) | set(now))
            if not _same_outcome(planned.get((entity, source_id)), now.get((entity, source_id)))
        ]
        if changed:
            raise PlanStale(
                f"{len(changed)} record(s) changed since plan {plan_id}; make a new dry run and review it",
                details=changed[:50],
            )
        return summary

    def entries(self, tenant_id: str) -> tuple[list[PlanEntry], int]:
        """Every source customer's and product's planned action, and the QBO reads that cost."""
        deps = self._deps
        config = self._config_for(tenant_id, deps.clock())
        settings = config.settings
        context = PageContext(
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
        entries: list[PlanEntry] = []
        reads = 0
        if settings.sync.customers:
            for listing in _pages(context.source.list_customers, self._page_size):
                tally = Tally()
                pending = self._pending(context, CUSTOMER, listing.items, tally, entries)
                entries += [d.entry() for d in decide_customers(context, tally, pending)] if pending else []
                reads += tally.qbo_reads
        if settings.sync.products:
            for listing in _pages(context.source.list_products, self._page_size):
                tally = Tally()
                pending = self._pending(context, ITEM, listing.items, tally, entries)
                entries += [d.entry() for d in decide_products(context, tally, pending)] if pending else []
                reads += tally.qbo_reads
        return entries, reads

    @staticmethod
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
            ]
        )
    return out.getvalue()
