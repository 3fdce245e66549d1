"""The shapes that travel between states: task events, page descriptors, the run's frozen config.

Everything here crosses the Step Functions boundary as JSON, so each is a pydantic model and each
event is validated on the way in; a malformed event is a defect of the definition, never retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from qbosync.store.runs import EntityCounts
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.configuration import MappingKind, MappingRow, TenantSettings

PageEntity = Literal["customers", "products"]
RunId = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")]
TenantId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]

QBO_CUSTOMERS_ENTITY = "qbo_customers"
QBO_ITEMS_ENTITY = "qbo_items"
# A multiple of QBO's 30 items a batch, so every create batch of a page is full.
DEFAULT_PAGE_SIZE = 120
MAX_SKIP_REASONS = 50


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageDescriptor(_Wire):
    """One page of a source list: what a Map iteration needs to read exactly that page again."""

    entity: PageEntity
    page_no: int = Field(ge=1)
    cursor: str | None = None
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=500)


class RunConfig(_Wire):
    """Settings and mappings as they were when the run was prepared: every page uses the same ones."""

    settings: TenantSettings
    product_types: dict[str, str] = Field(default_factory=dict)
    gl_codes: dict[str, str] = Field(default_factory=dict)
    income_accounts: dict[str, str] = Field(default_factory=dict)
    """Source income account → the QBO item invoices use for it: an item candidate's "existing mapping"."""
    run_started_at: datetime
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=500)
    plan_id: str | None = None
    """The dry run's plan this run follows (``bulk.plan``), if it was started from one."""

    @classmethod
    def freeze(
        cls,
        settings: TenantSettings,
        mappings: Mapping[MappingKind, list[MappingRow]],
        run_started_at: datetime,
        page_size: int = DEFAULT_PAGE_SIZE,
        plan_id: str | None = None,
    ) -> RunConfig:
        def rows(kind: MappingKind) -> dict[str, str]:
            return {row.source_key: row.qbo_id for row in mappings.get(kind, [])}

        return cls(
            settings=settings,
            product_types=rows(MappingKind.PRODUCT_TYPES),
            gl_codes=rows(MappingKind.GL_CODES),
            income_accounts=rows(MappingKind.INCOME_ACCOUNTS),
            run_started_at=run_started_at,
            page_size=page_size,
            plan_id=plan_id,
        )


class StepFunctionsError(BaseModel):
    """What a Catch puts at its ResultPath: ``Error`` (the errorType) and ``Cause`` (Lambda's JSON)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    error: str = Field("States.TaskFailed", alias="Error")
    cause: str | None = Field(None, alias="Cause")

    def reason(self) -> str:
        """``Error: message``, without Lambda's stack trace."""
        message = self.cause or ""
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or "")
        if message.startswith(f"{self.error}: "):
            return message[:500]
        return f"{self.error}: {message}".rstrip(": ")[:500]


class _TaskEvent(_Wire):
    tenant_id: TenantId
    run_id: RunId


class PrepareEvent(_TaskEvent):
    task: Literal["prepare"]
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=500)


class ListPagesEvent(_TaskEvent):
    task: Literal["list_pages"]
    config: RunConfig


class SyncPageEvent(_TaskEvent):
    task: Literal["sync_customer_page", "sync_product_page"]
    config: RunConfig
    page: PageDescriptor


class MarkPageFailedEvent(_TaskEvent):
    task: Literal["mark_page_failed"]
    page: PageDescriptor | QboToSourceStep
    error: StepFunctionsError


class QboToSourceStep(_Wire):
    """The QBO → source step, reported like a page when it fails."""

    entity: Literal["qbo_to_source"] = "qbo_to_source"
    page_no: int = 1


class QboToSourceEvent(_TaskEvent):
    task: Literal["qbo_to_source"]
    config: RunConfig


class FinishEvent(_TaskEvent):
    task: Literal["finish"]


class AbortEvent(_TaskEvent):
    task: Literal["abort"]
    error: StepFunctionsError


TaskEvent = Annotated[
    PrepareEvent
    | ListPagesEvent
    | SyncPageEvent
    | MarkPageFailedEvent
    | QboToSourceEvent
    | FinishEvent
    | AbortEvent,
    Field(discriminator="task"),
]


class SkippedRecord(BaseModel):
    source_id: str
    code: SkipReason
    reason: str


class FailedRecord(BaseModel):
    source_id: str
    reason: str


class PageResult(BaseModel):
    """What one page did; ``counted`` is False when an earlier attempt already counted the page."""

    entity: str
    page_no: int
    counts: EntityCounts
    counted: bool
    qbo_requests: int = 0
    skipped: list[SkippedRecord] = Field(default_factory=list)
    failed: list[FailedRecord] = Field(default_factory=list)


class PreparedRun(BaseModel):
    config: RunConfig
    check_plan: bool = False
    """The run follows a plan it has not re-checked yet (a resumed run that has is not checked again)."""


class PageList(BaseModel):
    customers: list[PageDescriptor]
    products: list[PageDescriptor]


class FinishedRun(BaseModel):
    status: str
    counts: dict[str, EntityCounts]
    failed_pages: int


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as the JSON Step Functions passes on (aliases off, datetimes as ISO strings)."""
    return model.model_dump(mode="json")


MarkPageFailedEvent.model_rebuild()
