"""Initial bulk sync runs: progress that survives retries, and one active run per tenant.

The tenant's ``RUNLOCK`` item names the active run; it is created with the run (in one transaction) and
deleted when the run finishes, so "no lock" means "no run in progress". Page results are counted with
atomic ADDs guarded by a set of done page keys, so a retried page is counted once.
Counters live in flat attributes (``count#{entity}#{field}``) because DynamoDB cannot ADD into a nested
map that does not exist yet. Skips are counted by reason the same way (``skip#{entity}#{code}``), and
the first page that skips for a reason leaves a small sample of those records
(``sample#{entity}#{code}``, written only if absent), so the item stays small however long the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qbosync.errors import Conflict, NotFound
from qbosync.observability import logger
from qbosync.store.table import (
    RUN_PREFIX,
    RUNLOCK_SK,
    Condition,
    ConditionFailed,
    MainTable,
    Page,
    run_sk,
    tenant_pk,
)

RunStatus = Literal[
    "RUNNING", "SUCCEEDED", "SUCCEEDED_WITH_WARNINGS", "SUCCEEDED_WITH_ERRORS", "FAILED", "ABORTED"
]
FinalRunStatus = Literal["SUCCEEDED", "SUCCEEDED_WITH_WARNINGS", "SUCCEEDED_WITH_ERRORS", "FAILED", "ABORTED"]
_COUNT_FIELDS = ("matched", "created", "skipped", "failed")
_COUNT_PREFIX = "count#"
_SKIP_PREFIX = "skip#"
_SAMPLE_PREFIX = "sample#"
SKIP_SAMPLE_SIZE = 5
SKIP_MESSAGE_LENGTH = 200
_STORED_ONLY = ("pk", "sk", "item_type", "done_page_keys", "failed_pages")


class EntityCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matched: int = Field(0, ge=0)
    created: int = Field(0, ge=0)
    skipped: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)


class SkippedSample(BaseModel):
    """One skipped record: its source id and why, in words."""

    source_id: str
    message: str


class SkipTally(BaseModel):
    """How many records a page skipped for one reason, with a few of them."""

    code: str
    count: int = Field(ge=1)
    sample: list[SkippedSample] = Field(default_factory=list)


class EntitySkips(SkipTally):
    """A run's skips of one entity for one reason; ``sample`` comes from the first page that had any."""

    entity: str


class FailedPage(BaseModel):
    entity: str
    page_no: int
    reason: str
    failed_at: datetime


class SyncRun(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    tenant_id: str
    status: RunStatus = "RUNNING"
    phase: str = "starting"
    counts: dict[str, EntityCounts] = Field(default_factory=dict)
    total_pages: int = 0
    done_pages: int = 0
    failed_pages: list[FailedPage] = Field(default_factory=list)
    skips: list[EntitySkips] = Field(default_factory=list)
    started_at: datetime
    finished_at: datetime | None = None
    execution_arn: str | None = None
    started_by: str
    qbo_reads: int = 0
    """QBO reads the run's pages made (matching queries), counted once per page."""
    plan_id: str | None = None
    """The dry run's plan the run follows: a record whose outcome changed since is skipped."""


class RunAlreadyActive(Conflict):
    """Another initial sync of this tenant is still running."""

    code = "run_already_active"

    def __init__(self, active_run_id: str | None) -> None:
        super().__init__(
            "an initial sync is already running for this tenant", details=[{"active_run_id": active_run_id}]
        )
        self.active_run_id = active_run_id


class RunNotFound(NotFound):
    code = "run_not_found"


class RunAlreadyFinished(Conflict):
    code = "run_already_finished"


def _page_key(entity: str, page_no: int) -> str:
    return f"{entity}#{page_no}"


def _count_attribute(entity: str, field: str) -> str:
    return f"{_COUNT_PREFIX}{entity}#{field}"


def _skips_of(item: dict[str, Any]) -> list[EntitySkips]:
    skips: list[EntitySkips] = []
    for name, value in item.items():
        if not name.startswith(_SKIP_PREFIX):
            continue
        entity, code = name[len(_SKIP_PREFIX) :].rsplit("#", 1)
        sample = item.get(f"{_SAMPLE_PREFIX}{entity}#{code}") or []
        skips.append(EntitySkips(entity=entity, code=code, count=int(value), sample=sample))
    return sorted(skips, key=lambda entry: (entry.entity, -entry.count, entry.code))


class RunRepository:
    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    @staticmethod
    def _to_run(item: dict[str, Any]) -> SyncRun:
        counts: dict[str, dict[str, int]] = {}
        plain: dict[str, Any] = {}
        for name, value in item.items():
            if name.startswith(_COUNT_PREFIX):
                entity, field = name[len(_COUNT_PREFIX) :].rsplit("#", 1)
                counts.setdefault(entity, {})[field] = int(value)
            elif name not in _STORED_ONLY and not name.startswith((_SKIP_PREFIX, _SAMPLE_PREFIX)):
                plain[name] = value
        failed = sorted(
            (item.get("failed_pages") or {}).values(), key=lambda page: (page["entity"], page["page_no"])
        )
        return SyncRun.model_validate(
            {**plain, "counts": counts, "failed_pages": failed, "skips": _skips_of(item)}
        )

    def start(self, run: SyncRun) -> SyncRun:
        """Store a new RUNNING run and take the tenant's run lock; ``RunAlreadyActive`` if one is running."""
        pk = tenant_pk(run.tenant_id)
        started = run.model_copy(update={"status": "RUNNING", "finished_at": None})
        item: dict[str, Any] = {
            "pk": pk,
            "sk": run_sk(run.run_id),
            "item_type": "run",
            **started.model_dump(mode="json", exclude={"counts", "failed_pages", "skips"}),
            "failed_pages": {},
        }
        for entity, counts in run.counts.items():
            for field in _COUNT_FIELDS:
                item[_count_attribute(entity, field)] = getattr(counts, field)
        try:
            self._table.transact_write(
                [
                    self._table.put_op(
                        {"pk": pk, "sk": RUNLOCK_SK, "item_type": "run_lock", "run_id": run.run_id},
                        condition=Condition("attribute_not_exists(pk)"),
                    ),
                    self._table.put_op(item, condition=Condition("attribute_not_exists(pk)")),
                ]
            )
        except ConditionFailed as exc:
            if exc.failed_at(0):
                lock = self._table.get(pk, RUNLOCK_SK)
                raise RunAlreadyActive(str(lock["run_id"]) if lock else None) from exc
            raise Conflict("a run with this id already exists", code="run_exists") from exc
        logger.info("sync run started", extra={"tenant_id": run.tenant_id, "run_id": run.run_id})
        return started

    def get(self, tenant_id: str, run_id: str) -> SyncRun | None:
        item = self._table.get(tenant_pk(tenant_id), run_sk(run_id))
        return self._to_run(item) if item else None

    def active_run_id(self, tenant_id: str) -> str | None:
        lock = self._table.get(tenant_pk(tenant_id), RUNLOCK_SK)
        return str(lock["run_id"]) if lock else None

    def add_page_result(
        self,
        tenant_id: str,
        run_id: str,
        entity: str,
        counts: EntityCounts,
        page_no: int,
        *,
        skips: Sequence[SkipTally] = (),
        qbo_reads: int = 0,
    ) -> bool:
        """Count one finished page (its skips by reason too, and the QBO reads it made); False (and
        nothing changes) if that page was already counted."""
        key = _page_key(entity, page_no)
        names = {"#failed_page": key}
        values: dict[str, Any] = {":one": 1, ":keys": {key}, ":key": key, ":reads": qbo_reads}
        adds = ["done_pages :one", "done_page_keys :keys", "qbo_reads :reads"]
        sets: list[str] = []
        for index, field in enumerate(_COUNT_FIELDS):
            names[f"#c{index}"] = _count_attribute(entity, field)
            values[f":c{index}"] = getattr(counts, field)
            adds.append(f"#c{index} :c{index}")
        for index, skip in enumerate(skips):
            names[f"#s{index}"] = f"{_SKIP_PREFIX}{entity}#{skip.code}"
            values[f":s{index}"] = skip.count
            adds.append(f"#s{index} :s{index}")
            if skip.sample:
                names[f"#p{index}"] = f"{_SAMPLE_PREFIX}{entity}#{skip.code}"
                values[f":p{index}"] = [
                    {"source_id": sample.source_id, "message": sample.message[:SKIP_MESSAGE_LENGTH]}
                    for sample in skip.sample[:SKIP_SAMPLE_SIZE]
                ]
                sets.append(f"#p{index} = if_not_exists(#p{index}, :p{index})")
        set_clause = f"SET {', '.join(sets)} " if sets else ""
        update = Condition(
            f"{set_clause}ADD {', '.join(adds)} REMOVE failed_pages.#failed_page", names=names, values=values
        )
        condition = Condition("attribute_exists(pk) AND NOT contains(done_page_keys, :key)")
        try:
            self._table.update(tenant_pk(tenant_id), run_sk(run_id), update, condition=condition)
        except ConditionFailed:
            self._require(tenant_id, run_id)
            return False
        return True

    def mark_page_failed(
        self, tenant_id: str, run_id: str, entity: str, page_no: int, *, reason: str, at: datetime
    ) -> bool:
        """Report a page that failed (after its retries); False if the page had already succeeded."""
        key = _page_key(entity, page_no)
        failed = FailedPage(entity=entity, page_no=page_no, reason=reason, failed_at=at)
        try:
            self._table.update(
                tenant_pk(tenant_id),
                run_sk(run_id),
                Condition(
                    "SET failed_pages.#page = :page",
                    names={"#page": key},
                    values={":page": failed.model_dump(mode="json")},
                ),
                condition=Condition(
                    "attribute_exists(pk) AND NOT contains(done_page_keys, :key)", values={":key": key}
                ),
            )
        except ConditionFailed:
            self._require(tenant_id, run_id)
            return False
        return True

    def set_phase(
        self,
        tenant_id: str,
        run_id: str,
        phase: str,
        *,
        total_pages: int | None = None,
        execution_arn: str | None = None,
    ) -> SyncRun:
        sets = ["phase = :phase"]
        values: dict[str, Any] = {":phase": phase}
        if total_pages is not None:
            sets.append("total_pages = :total")
            values[":total"] = total_pages
        if execution_arn is not None:
            sets.append("execution_arn = :arn")
            values[":arn"] = execution_arn
        try:
            item = self._table.update(
                tenant_pk(tenant_id),
                run_sk(run_id),
                Condition("SET " + ", ".join(sets), values=values),
                condition=Condition("attribute_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise RunNotFound("no such sync run") from exc
        return self._to_run(item)

    def finish(self, tenant_id: str, run_id: str, status: FinalRunStatus, at: datetime) -> SyncRun:
        """End the run and release the tenant's run lock; finishing again with the same status is a no-op."""
        pk = tenant_pk(tenant_id)
        try:
            self._table.transact_write(
                [
                    self._table.update_op(
                        pk,
                        run_sk(run_id),
                        Condition(
                            "SET #status = :status, finished_at = :at, phase = :phase",
                            names={"#status": "status"},
                            values={":status": status, ":at": at.isoformat(), ":phase": "finished"},
                        ),
                        condition=Condition(
                            "attribute_exists(pk) AND #status = :running",
                            names={"#status": "status"},
                            values={":running": "RUNNING"},
                        ),
                    ),
                    self._table.delete_op(
                        pk,
                        RUNLOCK_SK,
                        condition=Condition(
                            "attribute_not_exists(pk) OR run_id = :run", values={":run": run_id}
                        ),
                    ),
                ]
            )
        except ConditionFailed as exc:
            existing = self._require(tenant_id, run_id)
            if existing.status == status:
                return existing
            raise RunAlreadyFinished(
                "this sync run has already finished", details=[{"status": existing.status}]
            ) from exc
        logger.info("sync run finished", extra={"tenant_id": tenant_id, "run_id": run_id, "status": status})
        return self._require(tenant_id, run_id)

    def list(self, tenant_id: str, *, limit: int = 20, cursor: str | None = None) -> Page[SyncRun]:
        """A tenant's runs, by run id descending (newest first when run ids sort by time, e.g. ULIDs)."""
        page = self._table.query(
            tenant_pk(tenant_id), RUN_PREFIX, limit=limit, cursor=cursor, newest_first=True
        )
        return Page(items=[self._to_run(item) for item in page.items], cursor=page.cursor)

    def _require(self, tenant_id: str, run_id: str) -> SyncRun:
        found = self.get(tenant_id, run_id)
        if found is None:
            raise RunNotFound("no such sync run")
        return found
