"""The retry schedule: a failed event is replayed once its backoff has passed and its cause is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.scheduled_worker.app import lambda_handler as scheduled_worker_handler
from qbosync.store.connections import ConnectionRepository
from qbosync.store.events import EventFailure, EventRepository, MissingMappingRef, ReasonCode, SyncEvent
from qbosync.sync import wiring
from qbosync.sync.configuration import SourceDefaults
from qbosync.sync.fanout import ScheduledJob
from qbosync.sync.records.messages import PushMessage
from qbosync.sync.retry.schedule import EventRetrySchedule
from tests.support.pull_world import (  # noqa: F401 (fixture)
    TENANT,
    LambdaContextStub,
    PullWorld,
    pull_world_fixture,
    sample_event,
)
from tests.support.schedules import work, work_event, worker


def _schedule(minutes_later: float) -> EventRetrySchedule:
    later = datetime.now(UTC) + timedelta(minutes=minutes_later)
    return EventRetrySchedule(
        events=EventRepository(),
        connections=ConnectionRepository(),
        requeue=wiring.event_requeue(),
        clock=lambda: later,
    )


def _customer_pulled_without_a_bill_profile(world: PullWorld) -> dict[str, Any]:
    world.settings = world.settings.model_copy(update={"source_defaults": SourceDefaults()})
    created = world.qbo_customer(DisplayName="Waits For A Profile")
    world.deliver_qbo_webhooks()
    world.run_pull_worker()
    return created


def test_given_a_failed_pull_when_its_cause_is_fixed_and_the_backoff_passed_then_the_retry_applies_it(
    pull_world: PullWorld,
) -> None:
    created = _customer_pulled_without_a_bill_profile(pull_world)
    [failed] = pull_world.events("failed")
    pull_world.settings = pull_world.settings.model_copy(
        update={"source_defaults": SourceDefaults(new_customer_bill_profile_id=pull_world.bill_profile)}
    )

    schedule = _schedule(minutes_later=6)

    reply = scheduled_worker_handler(
        work_event(work(ScheduledJob.RETRY, TENANT)),
        LambdaContextStub(),
        worker=worker({ScheduledJob.RETRY: schedule.run_tenant}),
    )
    pull_world.run_pull_worker()

    assert reply == {"batchItemFailures": []}
    assert pull_world.link_of_qbo("Customer", created["Id"]) is not None
    done = EventRepository().get(TENANT, failed.event_id)
    assert done is not None and done.status == "done"


def test_given_a_failed_pull_within_its_backoff_when_the_schedule_runs_then_it_waits(
    pull_world: PullWorld,
) -> None:
    _customer_pulled_without_a_bill_profile(pull_world)

    report = _schedule(minutes_later=1).run()

    assert (report.requeued_pull, report.waiting) == (0, 1)
    assert pull_world.pull_messages() == []


def test_given_an_unsupported_report_when_the_schedule_runs_then_it_is_not_replayed(
    pull_world: PullWorld,
) -> None:
    now = datetime.now(UTC)
    events = EventRepository()
    events.record_received(
        SyncEvent(
            event_id="qbo-report",
            tenant_id=TENANT,
            kind="qbo.payment",
            source_object_id="77",
            source_version=1,
            received_at=now,
            updated_at=now,
            payload={"anything": True},
        )
    )
    report = EventFailure.of(ReasonCode.UNSUPPORTED, "enter it in the source by hand")
    events.mark_failed(TENANT, "qbo-report", report, now)

    report = _schedule(minutes_later=600).run()

    assert (report.not_retryable, report.requeued_pull) == (1, 0)


def test_given_a_failed_push_event_when_its_backoff_passed_then_it_goes_back_on_the_push_queue(
    pull_world: PullWorld,
) -> None:
    now = datetime.now(UTC)
    message = PushMessage(
        event_id="evt_push_1",
        tenant_id=TENANT,
        kind="invoice",
        action="updated",
        source_id="inv_000001",
        source_version=2,
        occurred_at=now,
        received_at=now,
    )
    events = EventRepository()
    events.record_received(
        SyncEvent(
            event_id=message.event_id,
            tenant_id=TENANT,
            kind="invoice",
            source_object_id="inv_000001",
            source_version=2,
            received_at=now,
            updated_at=now,
            payload=message.model_dump(mode="json"),
        )
    )
    missing = EventFailure.of(
        ReasonCode.MISSING_MAPPING,
        "no gl-codes mapping for '4000-MS'",
        mapping=MissingMappingRef(kind="gl-codes", source_key="4000-MS"),
    )
    events.mark_failed(TENANT, message.event_id, missing, now)

    report = _schedule(minutes_later=6).run()

    assert report.requeued_push == 1
    [queued] = pull_world.push_messages()
    assert (queued["event_id"], queued["redelivery"]) == ("evt_push_1", 1)
