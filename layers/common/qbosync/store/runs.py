"""Initial bulk sync runs: progress that survives retries, and one active run per tenant.

The tenant's ``RUNLOCK`` item names the active run; it is created with the run (in one transaction) and
deleted when the run finishes, so "no lock" means "no run in progress". Page results are counted with
atomic ADDs guarded by a set of done page keys, so a retried page is counted once.
Counters live in flat attributes (``count#{entity}#{field}``) because DynamoDB cannot ADD into a nested
map that does not exist yet. Skips are counted by reason the same way (``skip#{entity}#{code}``), and
the first page that skips for a reason leaves a small sample of those records
(``sample#{entity}#{code}``, written only if absent), so the item stays small however long the run.
Warnings (records created under another name than the source's, or with a field cut) are counted and
sampled the same way under ``warn#`` and ``warnsample#``.
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
_WARNING_PREFIX = "warn#"
_WARNING_SAMPLE_PREFIX = "warnsample#"
SKIP_SAMPLE_SIZE = 5
SKIP_MESSAGE_LENGTH = 200
_STORED_ONLY = ("pk", "sk", "item_type", "done_page_keys", "read_keys", "failed_pages")


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


# A warning is tallied like a skip: a code, how many records, and the first few of them.
WarningTally = SkipTally
EntityWarnings = EntitySkips


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
    warnings: list[EntityWarnings] = Field(default_factory=list)
    """Records created with an improvisation (``WarningCode``: a suffixed or cut name, a cut field)."""
    started_at: datetime
    finished_at: datetime | None = None
    execution_arn: str | None = None
    started_by: str
    qbo_reads: int = 0
    """QBO reads the run made: Prepare's reference lists, the re-check of the plan it follows and its
    pages' matching queries, each step counted once."""
    plan_id: str | None = None
    """The dry run's plan the run follows: a record whose outcome changed since is skipped."""
    plan_checked_at: datetime | None = None
    """When the run's re-check of its plan passed: a resumed run does not check it again (its own
    pages would look like changes)."""


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


def _tallies_of(item: dict[str, Any], prefix: str, sample_prefix: str) -> list[EntitySkips]:
    tallies: list[EntitySkips] = []
    for name, value in item.items():
        if not name.startswith(prefix):
            continue
        entity, code = name[len(prefix) :].rsplit("#", 1)
        sample = item.get(f"{sample_prefix}{entity}#{code}") or []
        tallies.append(EntitySkips(entity=entity, code=code, count=int(value), sample=sample))
    return sorted(tallies, key=lambda entry: (entry.entity, -entry.count, entry.code))


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
            elif name not in _STORED_ONLY and not name.startswith(
                (_SKIP_PREFIX, _SAMPLE_PREFIX, _WARNING_PREFIX, _WARNING_SAMPLE_PREFIX)
            ):
                plain[name] = value
        failed = sorted(
            (item.get("failed_pages") or {}).values(), key=lambda page: (page["entity"], page["page_no"])
        )
        return SyncRun.model_validate(
            {
                **plain,
                "counts": counts,
                "failed_pages": failed,
                "skips": _tallies_of(item, _SKIP_PREFIX, _SAMPLE_PREFIX),
                "warnings": _tallies_of(item, _WARNING_PREFIX, _WARNING_SAMPLE_PREFIX),
            }
        )

    def start(self, run: SyncRun) -> SyncRun:
        """Store a new RUNNING run and take the tenant's run lock; ``RunAlreadyActive`` if one is running."""
        pk = tenant_pk(run.tenant_id)
        started = run.model_copy(update={"status": "RUNNING", "finished_at": None})
        item: dict[str, Any] = {
            "pk": pk,
            "sk": run_sk(run.run_id),
            "item_type": "run",
            **started.model_dump(mode="json", exclude={"counts", "failed_pages", "skips", "warnings"}),
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
        warnings: Sequence[WarningTally] = (),
        qbo_reads: int = 0,
    ) -> bool:
        """Count one finished page (its skips by reason and warnings by code too, and the QBO reads it
        made); False (and nothing changes) if that page was already counted."""
        key = _page_key(entity, page_no)
        names = {"#failed_page": key}
        values: dict[str, Any] = {":one": 1, ":keys": {key}, ":key": key, ":reads": qbo_reads}
        adds = ["done_pages :one", "done_page_keys :keys", "qbo_reads :reads"]
        sets: list[str] = []
        for index, field in enumerate(_COUNT_FIELDS):
            names[f"#c{index}"] = _count_attribute(entity, field)
            values[f":c{index}"] = getattr(counts, field)
            adds.append(f"#c{index} :c{index}")
        for tag, prefix, sample_prefix, tallies in (
            ("s", _SKIP_PREFIX, _SAMPLE_PREFIX, skips),
            ("w", _WARNING_PREFIX, _WARNING_SAMPLE_PREFIX, warnings),
        ):
            for index, tally in enumerate(tallies):
                count, sample = f"{tag}{index}", f"{tag}p{index}"
                names[f"#{count}"] = f"{prefix}{entity}#{tally.code}"
                values[f":{count}"] = tally.count
                adds.append(f"#{count} :{count}")
                if tally.sample:
                    names[f"#{sample}"] = f"{sample_prefix}{entity}#{tally.code}"
                    values[f":{sample}"] = [
                        {"source_id": record.source_id, "message": record.message[:SKIP_MESSAGE_LENGTH]}
                        for record in tally.sample[:SKIP_SAMPLE_SIZE]
                    ]
                    sets.append(f"#{sample} = if_not_exists(#{sample}, :{sample})")
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

    def add_reads(self, tenant_id: str, run_id: str, step: str, qbo_reads: int) -> bool:
        """Count the QBO reads of a step that is not a page (Prepare, a page of the plan's re-check);
        False (and nothing changes) if that step was counted already."""
        try:
            self._table.update(
                tenant_pk(tenant_id),
                run_sk(run_id),
                Condition(
                    "ADD qbo_reads :reads, read_keys :keys",
                    values={":reads": qbo_reads, ":keys": {step}},
                ),
                condition=Condition(
                    "attribute_exists(pk) AND NOT contains(read_keys, :key)", values={":key": step}
                ),
            )
        except ConditionFailed:
            self._require(tenant_id, run_id)
            return False
        return True

    def mark_plan_checked(self, tenant_id: str, run_id: str, at: datetime) -> None:
        """The run's re-check of its plan passed (kept at the first time, on a retry)."""
        try:
            self._table.update(
                tenant_pk(tenant_id),
                run_sk(run_id),
                Condition(
                    "SET plan_checked_at = if_not_exists(plan_checked_at, :at)",
                    values={":at": at.isoformat()},
                ),
                condition=Condition("attribute_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise RunNotFound("no such sync run") from exc

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
