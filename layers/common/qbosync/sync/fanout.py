"""The schedules, fanned out: a dispatcher per schedule, one queued unit of work per tenant.

- **Dispatcher.** Each schedule (reconcile every 15 min, keep-alive daily, retry every 10 min) invokes
  the dispatcher with its job and EventBridge Scheduler's scheduled time. It queries the sparse
  ``connected`` index (never a scan), sends one message per tenant (ten per SendMessageBatch) to the
  scheduled work queue, and for reconciliation counts the tenants not reconciled within two intervals
  (a metric with an alarm, and a warning naming a sample of them).
- **Worker.** One message is one job for one tenant in one schedule slot (the scheduled time to the
  minute). The worker claims ``(job, tenant, slot)`` before it works, so a duplicated message or a
  re-run dispatcher does nothing twice; a failed run releases the claim and SQS delivers it again
  (then, after ``maxReceiveCount``, to the dead-letter queue, which alarms). A reconciled tenant's
  ``last_reconciled_at`` is recorded on its connection, where the connection status and the dispatcher
  read it.

The jobs themselves are the services the old all-tenant loops called, per tenant: the worker reaches
them through ``TenantJob`` callables that ``qbosync.sync.wiring`` fills in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from qbosync.clock import utc_now
from qbosync.errors import NotConnected
from qbosync.metrics import Metric, count
from qbosync.observability import logger
from qbosync.settings import get_schedule_fan_out
from qbosync.store.connections import ConnectedTenant, ConnectionRepository
from qbosync.store.job_claims import JobClaims
from qbosync.store.work_queue import ScheduledWorkQueue

# The scheduled worker's Lambda timeout (template.yaml): a claim outlives a run that was cut off by it.
WORK_TIMEOUT = timedelta(seconds=300)
OVERDUE_AFTER_INTERVALS = 2
OVERDUE_SAMPLE = 20


class ScheduledJob(StrEnum):
    RECONCILE = "reconcile"
    KEEPALIVE = "keepalive"
    RETRY = "retry"


class DispatchRequest(BaseModel):
    """The schedule's input: which job, and when EventBridge Scheduler meant to fire it."""

    model_config = ConfigDict(extra="ignore")

    job: ScheduledJob
    scheduled_time: datetime | None = None


class ScheduledWork(BaseModel):
    """One message on the scheduled work queue: one job for one tenant in one schedule slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job: ScheduledJob
    tenant_id: str
    slot: str


class DispatchReport(BaseModel):
    job: ScheduledJob
    slot: str
    tenants: int
    send_requests: int
    overdue: int = 0
    overdue_sample: list[str] = []


class WorkOutcome(StrEnum):
    RAN = "ran"
    DUPLICATE = "duplicate"
    """Another delivery of the same (job, tenant, slot) already ran or is running: nothing done."""
    NOT_CONNECTED = "not_connected"
    """The tenant left ``connected`` between dispatch and work: nothing to do."""


def slot_of(moment: datetime) -> str:
    """The schedule slot of a firing: its scheduled time to the minute, in UTC (``20261202T0915``)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M")


def overdue_tenants(tenants: list[ConnectedTenant], now: datetime, interval: timedelta) -> list[str]:
    """Tenants waiting for a reconciliation longer than two intervals."""
    limit = now - interval * OVERDUE_AFTER_INTERVALS
    return [tenant.tenant_id for tenant in tenants if tenant.waiting_since() < limit]


@dataclass
class ScheduleDispatcher:
    """Fans one schedule firing out to every connected tenant; ``qbosync.sync.wiring`` builds it."""

    connections: ConnectionRepository
    queue: ScheduledWorkQueue
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep
    reconcile_interval: timedelta = field(default_factory=lambda: get_schedule_fan_out().reconcile_interval)

    def dispatch(self, request: DispatchRequest) -> DispatchReport:
        now = self.clock()
        slot = slot_of(request.scheduled_time or now)
        tenants = self.connections.connected_tenants()
        bodies = [
            ScheduledWork(job=request.job, tenant_id=tenant.tenant_id, slot=slot).model_dump_json()
            for tenant in tenants
        ]
        requests = self.queue.send_all(bodies, sleep=self.sleep)
        count(Metric.SCHEDULED_WORK_SENT, len(bodies))
        report = DispatchReport(job=request.job, slot=slot, tenants=len(tenants), send_requests=requests)
        if request.job is ScheduledJob.RECONCILE:
            overdue = overdue_tenants(tenants, now, self.reconcile_interval)
            report.overdue, report.overdue_sample = len(overdue), overdue[:OVERDUE_SAMPLE]
            # Emitted at every reconcile dispatch, zero included, so the alarm also sees a silent dispatcher.
            count(Metric.RECONCILE_OVERDUE, len(overdue))
        if report.overdue:
            logger.warning("tenants overdue for reconciliation", extra=report.model_dump(mode="json"))
        else:
            logger.info("schedule dispatched", extra=report.model_dump(mode="json"))
        return report


TenantJob = Callable[[str], object]


@dataclass
class ScheduledWorker:
    """Runs one tenant's job once per slot, whatever SQS delivers; ``qbosync.sync.wiring`` builds it."""

    jobs: Mapping[ScheduledJob, TenantJob]
    claims: JobClaims
    connections: ConnectionRepository
    clock: Callable[[], datetime] = utc_now
    lease: timedelta = WORK_TIMEOUT

    def run(self, work: ScheduledWork) -> WorkOutcome:
        started = self.clock()
        if not self.claims.claim(work.tenant_id, work.job, work.slot, started, self.lease):
            count(Metric.SCHEDULED_WORK_DUPLICATE)
            logger.info("scheduled work already claimed", extra=work.model_dump(mode="json"))
            return WorkOutcome.DUPLICATE
        try:
            self.jobs[work.job](work.tenant_id)
        except NotConnected:
            self.claims.complete(work.tenant_id, work.job, work.slot)
            logger.info("tenant no longer connected", extra=work.model_dump(mode="json"))
            return WorkOutcome.NOT_CONNECTED
        except Exception:
            self.claims.release(work.tenant_id, work.job, work.slot)
            raise
        if work.job is ScheduledJob.RECONCILE:
            self.connections.record_reconciled(work.tenant_id, started)
        self.claims.complete(work.tenant_id, work.job, work.slot)
        return WorkOutcome.RAN


def process_scheduled_batch(
    event: dict[str, Any], context: LambdaContext, worker: ScheduledWorker
) -> dict[str, Any]:
    """Run every message of an SQS batch; a failed one is reported back to SQS, the others are done."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        work = ScheduledWork.model_validate_json(record.body)
        logger.append_keys(tenant_id=work.tenant_id, job=work.job.value)
        worker.run(work)

    response = process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
    return dict(response)
