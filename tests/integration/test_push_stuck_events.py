"""No invisible events: a push worker killed after recording ``received`` leaves the event stuck; the events
API lists it with its age once it is older than a worker may run, and the retry schedule runs it to done."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.events import events_router
from qbosync.clock import utc_now
from qbosync.store.aws import sqs_client
from qbosync.store.events import STUCK_AFTER, ReasonCode
from qbosync.store.ledger import WriteLedger
from qbosync.store.pull_queue import PullQueue
from qbosync.store.tenants import TenantRepository
from qbosync.sync.push.service import PushDependencies, PushService
from qbosync.sync.records.messages import PushMessage
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.replay import EventReplay
from qbosync.sync.retry.requeue import EventRequeue
from qbosync.sync.retry.schedule import EventRetrySchedule
from tests.support.push_world import PushWorld, push_world


class WorkerKilled(BaseException):
    """Lambda ending the worker at its timeout: nothing in the worker gets to run after it."""


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def _killed_after_received(world: PushWorld) -> PushMessage:
    """The webhook is queued; a worker takes it, records it received, and is killed before QBO is written.

    Its SQS message then runs out of receives (it sits in the dead-letter queue), so no queue holds it.
    """
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    received = sqs_client().receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=1)
    [queued] = received["Messages"]
    message = PushMessage.model_validate_json(queued["Body"])
    assert message.source_id == invoice["id"]

    def killed(_tenant_id: str) -> Any:
        raise WorkerKilled

    dying = PushService(
        PushDependencies(
            events=world.events,
            links=world.links,
            configuration=world.configuration,
            qbo_for=lambda _tenant_id: world.qbo,
            source_for=killed,
            parked=ParkedRelease(world.events, _requeue(world)),
            clock=utc_now,
            ledger=WriteLedger(),
        )
    )
    with pytest.raises(WorkerKilled):
        dying.apply(message)
    sqs_client().purge_queue(QueueUrl=world.queue_url)  # its receives ran out: in the DLQ now
    return message


def _requeue(world: PushWorld) -> EventRequeue:
    return EventRequeue(push_queue=world.receiver.queue, pull_queue=PullQueue())


def _list_stuck(world: PushWorld, now: datetime) -> list[dict[str, Any]]:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    replay = EventReplay(world.events, _requeue(world))
    deps = ApiDependencies(tenants=TenantRepository(), clock=lambda: now)
    app.include_router(events_router(deps, lambda: replay))
    path = f"/tenants/{world.tenant_id}/sync/events"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "status=stuck",
        "queryStringParameters": {"status": "stuck"},
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "authorizer": {
                "jwt": {"claims": {"sub": "admin-1", "qbosync_tenants": world.tenant_id}, "scopes": []}
            },
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    reply = app.resolve(event, SimpleNamespace())
    assert reply["statusCode"] == 200, reply
    items: list[dict[str, Any]] = json.loads(reply["body"])["items"]
    return items


def _schedule(world: PushWorld, now: datetime) -> EventRetrySchedule:
    tenant = SimpleNamespace(tenant_id=world.tenant_id)
    connections: Any = SimpleNamespace(list_connected=lambda: [tenant])
    return EventRetrySchedule(
        events=world.events, connections=connections, requeue=_requeue(world), clock=lambda: now
    )


def test_given_a_worker_killed_after_received_when_the_timeout_passed_then_it_is_listed_and_retried_to_done(
    world: PushWorld,
) -> None:
    message = _killed_after_received(world)
    received = world.events.get(world.tenant_id, message.event_id)
    assert received is not None and received.status == "received"
    assert world.queued() == 0
    within_timeout = received.updated_at + STUCK_AFTER - timedelta(seconds=1)
    past_timeout = received.updated_at + STUCK_AFTER + timedelta(minutes=1)

    assert _list_stuck(world, within_timeout) == []
    [stuck] = _list_stuck(world, past_timeout)
    assert (stuck["event_id"], stuck["status"]) == (message.event_id, "received")
    assert stuck["age_seconds"] == int((STUCK_AFTER + timedelta(minutes=1)).total_seconds())

    report = _schedule(world, past_timeout).run()
    world.drain()

    assert (report.stuck, report.requeued_push) == (1, 1)
    done = world.events.get(world.tenant_id, message.event_id)
    assert done is not None and done.status == "done"
    assert world.linked("Invoice", message.source_id).qbo_id
    assert _list_stuck(world, past_timeout + timedelta(hours=1)) == []


def test_given_a_stuck_event_when_the_schedule_runs_then_it_is_marked_stuck_before_it_is_queued(
    world: PushWorld,
) -> None:
    message = _killed_after_received(world)
    received = world.events.get(world.tenant_id, message.event_id)
    assert received is not None
    past_timeout = received.updated_at + STUCK_AFTER + timedelta(minutes=1)

    _schedule(world, past_timeout).run()

    failed = world.events.get(world.tenant_id, message.event_id)
    assert failed is not None and (failed.status, failed.reason_code, failed.attempts) == (
        "failed",
        ReasonCode.STUCK,
        1,
    )
    assert world.queued() == 1


def test_given_an_event_in_flight_when_the_schedule_runs_within_the_timeout_then_it_is_left_alone(
    world: PushWorld,
) -> None:
    message = _killed_after_received(world)
    received = world.events.get(world.tenant_id, message.event_id)
    assert received is not None

    report = _schedule(world, received.updated_at + STUCK_AFTER - timedelta(seconds=1)).run()

    assert (report.stuck, world.queued()) == (0, 0)
    still = world.events.get(world.tenant_id, message.event_id)
    assert still is not None and still.status == "received"
