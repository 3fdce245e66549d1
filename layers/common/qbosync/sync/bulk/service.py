"""Starting an initial bulk sync and reading its progress: what the admin API's run routes call.

A run starts only when everything that would make it fail at once is fine: the tenant is connected,
no other run of the tenant is active, and preflight passes. Otherwise nothing is stored or started.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from qbosync.errors import Conflict, NotConnected, ValidationFailed
from qbosync.observability import logger
from qbosync.store.events import WarningCode
from qbosync.store.runs import (
    EntityCounts,
    EntitySkips,
    EntityWarnings,
    FailedPage,
    RunAlreadyActive,
    RunNotFound,
    RunRepository,
    RunStatus,
    SkippedSample,
    SyncRun,
)
from qbosync.sync.bulk.skips import WARNING_EXPLANATIONS, SkipReason
from qbosync.sync.preflight import PreflightReport
from qbosync.sync.reference import CONNECTED, ConnectionReader


class ExecutionLauncher(Protocol):
    """``qbosync.store.executions.BulkSyncExecutions`` implements it."""

    def start(self, name: str, execution_input: Mapping[str, Any]) -> str: ...

    def status(self, execution_arn: str) -> str: ...


class RunActive(Conflict):
    """Another initial sync of this tenant is running; ``details`` names it."""

    code = "run_active"


class PreflightFailed(ValidationFailed):
    """The tenant is not ready to sync; ``details`` lists the failing checks."""

    code = "preflight_failed"


class RunNotResumable(Conflict):
    code = "run_not_resumable"


class StartedRun(BaseModel):
    run_id: str
    status_url: str


class SkipsView(BaseModel):
    """Records of one entity skipped for one reason: how many, what it means, and a few of them."""

    entity: str
    code: SkipReason
    count: int
    warns: bool
    explanation: str
    sample: list[SkippedSample]


class WarningsView(BaseModel):
    """Records of one entity created with one kind of improvisation (the push's ``WarningCode``): how
    many, what it means, and a few of them."""

    entity: str
    code: WarningCode
    count: int
    explanation: str
    sample: list[SkippedSample]


class RunView(BaseModel):
    """A run as an admin follows it."""

    run_id: str
    status: RunStatus
    phase: str
    counts: dict[str, EntityCounts]
    totals: EntityCounts
    percentage: float
    total_pages: int
    done_pages: int
    failed_pages: list[FailedPage]
    skips: list[SkipsView]
    warnings: list[WarningsView] = []
    """Records created, but not quite as the source has them (a suffixed or cut name, a cut field)."""
    started_at: datetime
    finished_at: datetime | None
    started_by: str
    qbo_reads: int = 0
    """QBO reads the run made so far (a dry run's plan says how many to expect)."""
    plan_id: str | None = None


def skips_view(skips: EntitySkips) -> SkipsView:
    code = SkipReason(skips.code)
    return SkipsView(
        entity=skips.entity,
        code=code,
        count=skips.count,
        warns=code.warns,
        explanation=code.explanation,
        sample=skips.sample,
    )


def warnings_view(warnings: EntityWarnings) -> WarningsView:
    code = WarningCode(warnings.code)
    return WarningsView(
        entity=warnings.entity,
        code=code,
        count=warnings.count,
        explanation=WARNING_EXPLANATIONS.get(code, ""),
        sample=warnings.sample,
    )


def new_run_id(now: datetime) -> str:
    """Sorts by start time (runs list newest first), unique without coordination."""
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:10]}"


def status_url(tenant_id: str, run_id: str) -> str:
    return f"/tenants/{tenant_id}/sync/runs/{run_id}"


def run_view(run: SyncRun) -> RunView:
    totals = EntityCounts(
        matched=sum(c.matched for c in run.counts.values()),
        created=sum(c.created for c in run.counts.values()),
        skipped=sum(c.skipped for c in run.counts.values()),
        failed=sum(c.failed for c in run.counts.values()),
    )
    if run.status != "RUNNING":
        percentage = 100.0
    elif run.total_pages <= 0:
        percentage = 0.0
    else:
        finished_pages = run.done_pages + len(run.failed_pages)
        percentage = min(99.0, round(100.0 * finished_pages / run.total_pages, 1))
    return RunView(
        run_id=run.run_id,
        status=run.status,
        phase=run.phase,
        counts=run.counts,
        totals=totals,
        percentage=percentage,
        total_pages=run.total_pages,
        done_pages=run.done_pages,
        failed_pages=run.failed_pages,
        skips=[skips_view(skips) for skips in run.skips],
        warnings=[warnings_view(warnings) for warnings in run.warnings],
        started_at=run.started_at,
        finished_at=run.finished_at,
        started_by=run.started_by,
        qbo_reads=run.qbo_reads,
        plan_id=run.plan_id,
    )


class InitialSyncService:
    def __init__(
        self,
        runs: RunRepository,
        executions: ExecutionLauncher,
        connections: ConnectionReader,
        preflight: Callable[[str], PreflightReport],
        clock: Callable[[], datetime],
    ) -> None:
        self._runs = runs
        self._executions = executions
        self._connections = connections
        self._preflight = preflight
        self._clock = clock

    def start(self, tenant_id: str, admin: str, plan_id: str | None = None) -> StartedRun:
        """Check, store the run (taking the tenant's run lock), then start its execution. A run started
        from a dry run's ``plan_id`` leaves alone each record whose outcome changed since the plan."""
        connection = self._connections.get(tenant_id)
        if connection is None or connection.status != CONNECTED:
            state = "not connected" if connection is None else connection.status
            raise NotConnected(f"QuickBooks Online is {state} for this tenant; connect it before syncing")
        self._refuse_if_active(tenant_id)
        report = self._preflight(tenant_id)
        if not report.ok:
            failing = [check.model_dump() for check in report.checks if check.status == "fail"]
            raise PreflightFailed(
                "preflight checks failed; fix them and start the sync again", details=failing
            )
        now = self._clock()
        run = SyncRun(
            run_id=new_run_id(now), tenant_id=tenant_id, started_at=now, started_by=admin, plan_id=plan_id
        )
        try:
            self._runs.start(run)
        except RunAlreadyActive as exc:
            raise self._active(exc.active_run_id) from exc
        try:
            arn = self._executions.start(run.run_id, {"tenant_id": tenant_id, "run_id": run.run_id})
        except Exception:
            # Nothing runs it: end the run so the tenant's lock does not outlive the failed start.
            self._runs.finish(tenant_id, run.run_id, "FAILED", self._clock())
            raise
        self._runs.set_phase(tenant_id, run.run_id, "queued", execution_arn=arn)
        logger.info(
            "initial sync started", extra={"tenant_id": tenant_id, "run_id": run.run_id, "admin": admin}
        )
        return StartedRun(run_id=run.run_id, status_url=status_url(tenant_id, run.run_id))

    def resume(self, tenant_id: str, run_id: str) -> StartedRun:
        """Start a new execution for a run whose execution stopped before the run finished."""
        run = self._require(tenant_id, run_id)
        if run.status != "RUNNING":
            raise RunNotResumable(f"run {run_id} has finished ({run.status}); start a new sync instead")
        if run.execution_arn and self._executions.status(run.execution_arn) == "RUNNING":
            raise RunNotResumable(f"run {run_id} is still running")
        name = f"{run_id}-r{self._clock().strftime('%H%M%S%f')}"
        arn = self._executions.start(name, {"tenant_id": tenant_id, "run_id": run_id})
        self._runs.set_phase(tenant_id, run_id, "resuming", execution_arn=arn)
        logger.info("initial sync resumed", extra={"tenant_id": tenant_id, "run_id": run_id})
        return StartedRun(run_id=run_id, status_url=status_url(tenant_id, run_id))

    def view(self, tenant_id: str, run_id: str) -> RunView:
        return run_view(self._require(tenant_id, run_id))

    def _require(self, tenant_id: str, run_id: str) -> SyncRun:
        run = self._runs.get(tenant_id, run_id)
        if run is None:
            raise RunNotFound(f"no sync run {run_id} for this tenant")
        return run

    def _refuse_if_active(self, tenant_id: str) -> None:
        active = self._runs.active_run_id(tenant_id)
        if active is not None:
            raise self._active(active)

    @staticmethod
    def _active(active_run_id: str | None) -> RunActive:
        return RunActive(
            "an initial sync is already running for this tenant", details=[{"active_run_id": active_run_id}]
        )
