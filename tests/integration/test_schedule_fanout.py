"""The schedules' fan-out against moto: the sparse index of connected tenants, the dispatcher (one
message per tenant, no scan), the per-tenant worker (once per job, tenant and slot) and the overdue count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.schedule_dispatcher.app import lambda_handler as dispatcher_handler
from functions.scheduled_worker.app import lambda_handler as worker_handler
from qbosync.errors import NotConnected
from qbosync.operator.__main__ import run as operator_cli
from qbosync.operator.fleet import FleetOperator
from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client, sqs_client
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.job_claims import JobClaims
from qbosync.store.table import CONNECTION_SK, Condition, MainTable, tenant_pk
from qbosync.store.work_queue import ScheduledWorkQueue
from qbosync.sync.fanout import (
    DispatchRequest,
    ScheduleDispatcher,
    ScheduledJob,
    ScheduledWork,
    ScheduledWorker,
    WorkOutcome,
    slot_of,
)
from tests.support.lambda_context import LambdaContextStub
from tests.support.pull_world import sample_event
from tests.support.schedules import work_event

FIRED = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)


def _connect(repository: ConnectionRepository, tenant_id: str, at: datetime = FIRED) -> None:
    repository.record_connected(
        Connection(tenant_id=tenant_id, realm_id=f"9{tenant_id[1:]}", connected_by="admin", connected_at=at)
    )


@pytest.fixture
def work_queue(main_table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = sqs_client().create_queue(QueueName="scheduled-work-test")["QueueUrl"]
    monkeypatch.setenv("SCHEDULED_WORK_QUEUE_URL", url)
    get_settings.cache_clear()  # main_table already read the settings (the source-credentials key's alias)
    return url


def _drain(url: str) -> list[ScheduledWork]:
    found: list[ScheduledWork] = []
    while True:
        messages = sqs_client().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(ScheduledWork.model_validate_json(message["Body"]))
            sqs_client().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _dispatcher(now: datetime = FIRED) -> ScheduleDispatcher:
    return ScheduleDispatcher(
        connections=ConnectionRepository(),
        queue=ScheduledWorkQueue(),
        clock=lambda: now,
        sleep=lambda _: None,
        reconcile_interval=INTERVAL,
    )


@pytest.fixture
def no_scan(main_table: str) -> Iterator[list[str]]:
    """Every DynamoDB operation name called while the test runs (to prove none is a Scan)."""
    calls: list[str] = []
    client = dynamodb_client()

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb.*", record)
    yield calls
    client.meta.events.unregister("before-call.dynamodb.*", record)


def test_given_tenants_in_every_status_when_the_index_is_read_then_only_connected_ones_are_in_it(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    for tenant_id in ("t1", "t2", "t3", "t4"):
        _connect(repository, tenant_id)
    repository.mark_needs_reauth("t2", "invalid_grant", FIRED)
    repository.mark_disconnected("t3", by="admin", at=FIRED)
    repository.mark_needs_reauth("t4", "invalid_grant", FIRED, refused_version=3)

    before = [tenant.tenant_id for tenant in repository.connected_tenants()]
    repository.clear_superseded_needs_reauth("t4", stored_version=4, at=FIRED)
    _connect(repository, "t2")

    assert before == ["t1"]
    assert [tenant.tenant_id for tenant in repository.connected_tenants()] == ["t1", "t2", "t4"]
    assert [connection.tenant_id for connection in repository.list_connected()] == ["t1", "t2", "t4"]


def test_given_25_connected_tenants_when_a_schedule_fires_then_one_message_each_in_3_batches_and_no_scan(
    work_queue: str, no_scan: list[str]
) -> None:
    repository = ConnectionRepository()
    tenants = [f"t{index:02d}" for index in range(25)]
    for tenant_id in tenants:
        _connect(repository, tenant_id)
    no_scan.clear()

    report = _dispatcher().dispatch(DispatchRequest(job=ScheduledJob.RECONCILE, scheduled_time=FIRED))

    sent = _drain(work_queue)
    assert report.tenants == 25 and report.send_requests == 3
    assert sorted(work.tenant_id for work in sent) == tenants
    assert {(work.job, work.slot) for work in sent} == {(ScheduledJob.RECONCILE, "20261122T0400")}
    assert set(no_scan) == {"Query"}


def test_given_a_dispatcher_run_twice_for_one_firing_when_workers_take_every_message_then_each_runs_once(
    work_queue: str,
) -> None:
    repository = ConnectionRepository()
    for tenant_id in ("t1", "t2", "t3"):
        _connect(repository, tenant_id)
    ran: Counter[str] = Counter()
    worker = ScheduledWorker(
        jobs={ScheduledJob.RETRY: lambda tenant_id: ran.update([tenant_id])},
        claims=JobClaims(),
        connections=repository,
        clock=lambda: FIRED,
    )

    for _ in range(2):
        _dispatcher().dispatch(DispatchRequest(job=ScheduledJob.RETRY, scheduled_time=FIRED))
    outcomes = Counter(worker.run(work) for work in _drain(work_queue))

    assert ran == Counter({"t1": 1, "t2": 1, "t3": 1})
    assert outcomes == Counter({WorkOutcome.RAN: 3, WorkOutcome.DUPLICATE: 3})


def test_given_the_next_firing_when_its_work_arrives_then_it_runs_again(main_table: str) -> None:
    repository = ConnectionRepository()
    _connect(repository, "t1")
    ran: list[str] = []
    worker = ScheduledWorker(
        jobs={ScheduledJob.RETRY: ran.append}, claims=JobClaims(), connections=repository, clock=lambda: FIRED
    )

    first = worker.run(ScheduledWork(job=ScheduledJob.RETRY, tenant_id="t1", slot=slot_of(FIRED)))
    second = worker.run(
        ScheduledWork(job=ScheduledJob.RETRY, tenant_id="t1", slot=slot_of(FIRED + timedelta(minutes=10)))
    )

    assert (first, second) == (WorkOutcome.RAN, WorkOutcome.RAN)
    assert ran == ["t1", "t1"]


def test_given_a_job_that_fails_when_sqs_delivers_it_again_then_it_runs_again_and_is_then_done(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    _connect(repository, "t1")
    attempts: list[str] = []

    def reconcile_failing_once(tenant_id: str) -> None:
        attempts.append(tenant_id)
        if len(attempts) == 1:
            raise RuntimeError("the source timed out")

    worker = ScheduledWorker(
        jobs={ScheduledJob.RECONCILE: reconcile_failing_once},
        claims=JobClaims(),
        connections=repository,
        clock=lambda: FIRED,
    )
    event = work_event(ScheduledWork(job=ScheduledJob.RECONCILE, tenant_id="t1", slot=slot_of(FIRED)))

    with pytest.raises(BatchProcessingError):  # a whole failed batch: SQS delivers it again
        worker_handler(event, LambdaContextStub(), worker=worker)
    second = worker_handler(event, LambdaContextStub(), worker=worker)
    third = worker_handler(event, LambdaContextStub(), worker=worker)

    assert second == third == {"batchItemFailures": []}
    assert attempts == ["t1", "t1"]
    connection = repository.get("t1")
    assert connection is not None and connection.last_reconciled_at == FIRED


def test_given_a_worker_that_died_holding_a_claim_when_its_lease_ran_out_then_another_takes_it_over(
    main_table: str,
) -> None:
    claims = JobClaims()
    lease = timedelta(minutes=5)

    assert claims.claim("t1", "reconcile", "20261122T0400", FIRED, lease) is True
    within = claims.claim("t1", "reconcile", "20261122T0400", FIRED + timedelta(minutes=4), lease)
    after = claims.claim("t1", "reconcile", "20261122T0400", FIRED + timedelta(minutes=6), lease)

    assert (within, after) == (False, True)


def test_given_a_tenant_that_disconnected_after_dispatch_when_its_work_arrives_then_nothing_is_done(
    main_table: str,
) -> None:
    repository = ConnectionRepository()

    def reconcile(tenant_id: str) -> None:
        raise NotConnected(f"Tenant '{tenant_id}' has no working QuickBooks connection.")

    worker = ScheduledWorker(
        jobs={ScheduledJob.RECONCILE: reconcile},
        claims=JobClaims(),
        connections=repository,
        clock=lambda: FIRED,
    )

    outcome = worker.run(ScheduledWork(job=ScheduledJob.RECONCILE, tenant_id="gone", slot="20261122T0400"))

    assert outcome is WorkOutcome.NOT_CONNECTED


def test_given_tenants_reconciled_at_different_times_when_reconcile_dispatches_then_overdue_ones_are_counted(
    work_queue: str,
) -> None:
    repository = ConnectionRepository()
    _connect(repository, "t1", at=FIRED - timedelta(hours=3))
    _connect(repository, "t2", at=FIRED - timedelta(hours=3))
    _connect(repository, "t3", at=FIRED - timedelta(minutes=10))  # new: not overdue yet
    repository.record_reconciled("t1", FIRED - timedelta(minutes=20))
    repository.record_reconciled("t2", FIRED - timedelta(minutes=31))

    report = _dispatcher().dispatch(DispatchRequest(job=ScheduledJob.RECONCILE, scheduled_time=FIRED))

    assert (report.overdue, report.overdue_sample) == (1, ["t2"])


def test_given_the_sample_schedule_event_when_the_dispatcher_handler_runs_then_it_queues_the_job_for_its_slot(
    work_queue: str,
) -> None:
    _connect(ConnectionRepository(), "t1")

    reply = dispatcher_handler(sample_event("schedule_keepalive.json"), LambdaContextStub())

    assert reply["job"] == "keepalive" and reply["slot"] == "20261122T0400" and reply["tenants"] == 1
    assert _drain(work_queue) == [
        ScheduledWork(job=ScheduledJob.KEEPALIVE, tenant_id="t1", slot="20261122T0400")
    ]


def test_given_a_schedule_event_naming_no_known_job_when_dispatched_then_it_is_refused_and_nothing_queued(
    work_queue: str,
) -> None:
    with pytest.raises(ValueError, match="job"):
        dispatcher_handler({"job": "defragment"}, LambdaContextStub())

    assert _drain(work_queue) == []


def test_given_connections_stored_before_the_index_when_the_operator_backfills_then_only_connected_ones_join(
    main_table: str,
) -> None:
    repository = ConnectionRepository()
    for tenant_id in ("t1", "t2", "t3"):
        _connect(repository, tenant_id)
    repository.mark_needs_reauth("t3", "invalid_grant", FIRED)
    for tenant_id in ("t1", "t2"):  # as an older release wrote them: no index keys
        MainTable().update(
            tenant_pk(tenant_id), CONNECTION_SK, Condition("REMOVE connected_pk, connected_sk")
        )

    before = repository.connected_tenants()
    reply = operator_cli(["index-connected"], operator=FleetOperator())
    again = repository.backfill_connected_index()

    assert before == [] and reply == 0 and again == 0
    assert [tenant.tenant_id for tenant in repository.connected_tenants()] == ["t1", "t2"]
