"""What onboarding a tenant with existing books remembers: match suggestions and the admin's decisions
on them, and dry-run plans with their entries.

| item | pk | sk |
|---|---|---|
| suggestion | ``TENANT#{t}`` | ``SUGGESTION#{entity}#{source_id}`` (candidates, status, decision) |
| plan | ``TENANT#{t}`` | ``PLAN#{plan_id}`` (summary; expires after ``PLAN_TTL``) |
| plan entry | ``TENANT#{t}`` | ``PLANENTRY#{plan_id}#{entity}#{source_id}`` (one record, same TTL) |
| plan page | ``TENANT#{t}`` | ``PLANPAGE#{plan_id}#{entity}#{page_no}`` (counts, reads; same TTL) |
| plan check | ``TENANT#{t}`` | ``PLANCHECK#{plan_id}#{run_id}#{entity}#{page_no}`` (re-check; same TTL) |

Documents are stored as JSON strings (like settings), read back into the models below.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qbosync.store.table import MainTable, Page, tenant_pk

PLAN_TTL = timedelta(days=7)


class CandidateReason(StrEnum):
    """Why a QBO record is a candidate, strongest first (the order the matching tries them)."""

    EXISTING_MAPPING = "existing_mapping"
    LINK = "link"
    EXACT_EMAIL = "exact_email"
    EXACT_SKU = "exact_sku"
    EXACT_NAME = "exact_name"


class SuggestionStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    """The admin picked one candidate: the next run links it."""
    CREATE_NEW = "create_new"
    """The admin rejected every candidate: the next run creates a new QBO record."""
    SKIPPED = "skipped"
    """The admin rejected every candidate and wants nothing done for the record."""


class Candidate(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    qbo_id: str
    name: str
    reasons: list[CandidateReason]
    email: str | None = None


class Suggestion(BaseModel):
    """One ambiguous match, waiting for (or carrying) an admin's decision."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    entity: str
    source_id: str
    source_name: str
    candidates: list[Candidate]
    status: SuggestionStatus = SuggestionStatus.OPEN
    chosen_qbo_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    found_at: datetime


def _suggestion_sk(entity: str, source_id: str) -> str:
    return f"SUGGESTION#{entity}#{source_id}"


class SuggestionRepository:
    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def get(self, tenant_id: str, entity: str, source_id: str) -> Suggestion | None:
        item = self._table.get(tenant_pk(tenant_id), _suggestion_sk(entity, source_id))
        return Suggestion.model_validate_json(item["document"]) if item else None

    def put(self, suggestion: Suggestion) -> Suggestion:
        self._table.put(
            {
                "pk": tenant_pk(suggestion.tenant_id),
                "sk": _suggestion_sk(suggestion.entity, suggestion.source_id),
                "item_type": "suggestion",
                "status": suggestion.status.value,
                "document": suggestion.model_dump_json(),
            }
        )
        return suggestion

    def record_open(self, suggestion: Suggestion) -> Suggestion:
        """Record an ambiguous match found by a run; a decision already taken is never overwritten."""
        current = self.get(suggestion.tenant_id, suggestion.entity, suggestion.source_id)
        if current is not None and current.status is not SuggestionStatus.OPEN:
            return current
        return self.put(suggestion)

    def open_for(self, tenant_id: str, entity: str) -> list[Suggestion]:
        """Every suggestion of ``entity`` still waiting for an admin."""
        found = (
            Suggestion.model_validate_json(item["document"])
            for item in self._table.query_all(tenant_pk(tenant_id), f"SUGGESTION#{entity}#")
        )
        return [suggestion for suggestion in found if suggestion.status is SuggestionStatus.OPEN]

    def list(self, tenant_id: str, *, limit: int = 100, cursor: str | None = None) -> Page[Suggestion]:
        page = self._table.query(tenant_pk(tenant_id), "SUGGESTION#", limit=limit, cursor=cursor)
        return Page(
            items=[Suggestion.model_validate_json(item["document"]) for item in page.items],
            cursor=page.cursor,
        )


class PlanAction(StrEnum):
    MATCH = "match"
    CREATE = "create"
    SKIP = "skip"
    SUGGESTION = "suggestion"
    """Ambiguous: nothing is created or linked until an admin decides."""


def json_body(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """A QBO body as a plan stores and compares it (amounts as JSON sends them)."""
    if body is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(body, default=str))
    return loaded


class PlanEntry(BaseModel):
    """What the real run will do with one source record, and why."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: str
    source_id: str
    source_version: int
    action: PlanAction
    reason_code: str
    reason: str
    qbo_id: str | None = None
    qbo_body: dict[str, Any] | None = None
    source_body: dict[str, Any] | None = None
    """What the QBO → source step sends the source for a QBO record it creates there."""
    candidates: list[Candidate] = Field(default_factory=list)

    def same_outcome(self, other: PlanEntry) -> bool:
        """Same action on the same QBO record, from the same source version, with the same bodies."""
        return (
            self.action is other.action
            and self.qbo_id == other.qbo_id
            and self.source_version == other.source_version
            and self.qbo_body == other.qbo_body
            and self.source_body == other.source_body
        )


class PlanReasonCount(BaseModel):
    """How many records of an entity the plan gives one action for one reason code."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: str
    action: PlanAction
    reason_code: str
    count: int
    reason: str
    """The first such record's reason, in words."""


def count_reasons(groups: Sequence[Sequence[PlanReasonCount]]) -> list[PlanReasonCount]:
    """Pages' reason counts added up, sorted by entity, action and code (the first reason kept)."""
    totals: dict[tuple[str, str, str], PlanReasonCount] = {}
    for group in groups:
        for found in group:
            key = (found.entity, found.action.value, found.reason_code)
            known = totals.get(key)
            totals[key] = (
                found if known is None else known.model_copy(update={"count": known.count + found.count})
            )
    return [totals[key] for key in sorted(totals)]


class PlanStatus(StrEnum):
    RUNNING = "running"
    """The dry run's state machine is still planning: no entry is listed yet."""
    READY = "ready"
    FAILED = "failed"
    """The dry run stopped; ``failure`` says why. Make a new one."""


class PlanSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    plan_id: str
    tenant_id: str
    created_at: datetime
    created_by: str
    counts: dict[str, dict[str, int]]
    """Per entity, per action: how many records."""
    qbo_reads: int
    """QBO reads the real run from this plan will make: Prepare's reference lists, its re-check of the
    plan (the dry run's reads again) and its pages' (the same again)."""
    dry_run_reads: int = 0
    """QBO reads the dry run itself made."""
    reasons: list[PlanReasonCount] = Field(default_factory=list)
    """Per entity, action and reason code: how many records (plans made before it have none)."""
    entries: int
    status: PlanStatus = PlanStatus.READY
    """Plans stored before dry runs ran as Step Functions executions were made whole: ready."""
    failure: str | None = None
    """Why a failed plan stopped (the state machine's error and message)."""
    finished_at: datetime | None = None


class PlannedPage(BaseModel):
    """One page (or step) a dry run planned: its records per action and the QBO reads it made. Stored
    once per page, so a page planned again after a retry counts once."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: str
    page_no: int
    counts: dict[str, dict[str, int]]
    qbo_reads: int
    entries: int
    reasons: list[PlanReasonCount] = Field(default_factory=list)


class CheckedPage(BaseModel):
    """A run's re-check of one page (or of the step after the pages) against the plan it follows: the
    records it saw, those handled otherwise now (the first few, with ``changed_count`` in all) and the
    QBO reads it made. Stored once per page, so a retried page counts once."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: str
    page_no: int
    seen: dict[str, list[str]] = Field(default_factory=dict)
    """Per plan entity, the source ids this page decided."""
    changed: list[dict[str, Any]] = Field(default_factory=list)
    changed_count: int = 0
    qbo_reads: int = 0


def _plan_sk(plan_id: str) -> str:
    return f"PLAN#{plan_id}"


def _entry_prefix(plan_id: str) -> str:
    return f"PLANENTRY#{plan_id}#"


def _entry_sk(plan_id: str, entity: str, source_id: str) -> str:
    return f"{_entry_prefix(plan_id)}{entity}#{source_id}"


def _page_prefix(plan_id: str) -> str:
    return f"PLANPAGE#{plan_id}#"


def _check_prefix(plan_id: str, run_id: str) -> str:
    return f"PLANCHECK#{plan_id}#{run_id}#"


class PlanRepository:
    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def save(self, summary: PlanSummary, entries: Sequence[PlanEntry]) -> None:
        """Store a whole plan at once: its entries first, then the summary that makes it visible."""
        self._put_entries(summary, entries)
        self.put_summary(summary)

    def _put_entries(self, summary: PlanSummary, entries: Sequence[PlanEntry]) -> None:
        expires_at = int((summary.created_at + PLAN_TTL).timestamp())
        pk = tenant_pk(summary.tenant_id)
        self._table.batch_put(
            [
                {
                    "pk": pk,
                    "sk": _entry_sk(summary.plan_id, entry.entity, entry.source_id),
                    "item_type": "plan_entry",
                    "document": entry.model_dump_json(),
                    "expires_at": expires_at,
                }
                for entry in entries
            ],
            sleep=lambda _seconds: None,
        )

    def put_summary(self, summary: PlanSummary) -> PlanSummary:
        """Write the plan's summary (a running plan when its execution starts; its end when it ends)."""
        self._table.put(
            {
                "pk": tenant_pk(summary.tenant_id),
                "sk": _plan_sk(summary.plan_id),
                "item_type": "plan",
                "document": summary.model_dump_json(),
                "expires_at": int((summary.created_at + PLAN_TTL).timestamp()),
            }
        )
        return summary

    def save_page(self, summary: PlanSummary, page: PlannedPage, entries: Sequence[PlanEntry]) -> None:
        """Store one planned page: its entries, then its counts (written again, the same, on a retry)."""
        self._put_entries(summary, entries)
        self._table.put(
            {
                "pk": tenant_pk(summary.tenant_id),
                "sk": f"{_page_prefix(summary.plan_id)}{page.entity}#{page.page_no:06d}",
                "item_type": "plan_page",
                "document": page.model_dump_json(),
                "expires_at": int((summary.created_at + PLAN_TTL).timestamp()),
            }
        )

    def save_check(self, summary: PlanSummary, run_id: str, page: CheckedPage) -> None:
        """Store a run's re-check of one page (the same again on a retry)."""
        self._table.put(
            {
                "pk": tenant_pk(summary.tenant_id),
                "sk": f"{_check_prefix(summary.plan_id, run_id)}{page.entity}#{page.page_no:06d}",
                "item_type": "plan_check",
                "document": page.model_dump_json(),
                "expires_at": int((summary.created_at + PLAN_TTL).timestamp()),
            }
        )

    def checks(self, tenant_id: str, plan_id: str, run_id: str) -> list[CheckedPage]:
        return [
            CheckedPage.model_validate_json(item["document"])
            for item in self._table.query_all(tenant_pk(tenant_id), _check_prefix(plan_id, run_id))
        ]

    def pages(self, tenant_id: str, plan_id: str) -> list[PlannedPage]:
        return [
            PlannedPage.model_validate_json(item["document"])
            for item in self._table.query_all(tenant_pk(tenant_id), _page_prefix(plan_id))
        ]

    def get(self, tenant_id: str, plan_id: str) -> PlanSummary | None:
        item = self._table.get(tenant_pk(tenant_id), _plan_sk(plan_id))
        return PlanSummary.model_validate_json(item["document"]) if item else None

    def entry(self, tenant_id: str, plan_id: str, entity: str, source_id: str) -> PlanEntry | None:
        item = self._table.get(tenant_pk(tenant_id), _entry_sk(plan_id, entity, source_id))
        return PlanEntry.model_validate_json(item["document"]) if item else None

    def entries(
        self, tenant_id: str, plan_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[PlanEntry]:
        page = self._table.query(tenant_pk(tenant_id), _entry_prefix(plan_id), limit=limit, cursor=cursor)
        return Page(
            items=[PlanEntry.model_validate_json(item["document"]) for item in page.items],
            cursor=page.cursor,
        )

    def all_entries(self, tenant_id: str, plan_id: str, entity: str | None = None) -> list[PlanEntry]:
        """Every entry of the plan, or of one entity."""
        prefix = _entry_prefix(plan_id) + (f"{entity}#" if entity is not None else "")
        return [
            PlanEntry.model_validate(json.loads(item["document"]))
            for item in self._table.query_all(tenant_pk(tenant_id), prefix)
        ]
