"""The events API: failed, parked and done events with their reasons, paged; retrying one."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.events import events_router
from qbosync.store.events import EventFailure, ReasonCode, SyncEvent
from qbosync.store.tenants import TenantRepository
from qbosync.sync.records.messages import EntityChange, PullMessage
from qbosync.sync.retry.replay import EventReplay
from qbosync.sync.retry.requeue import EventRequeue
from tests.support.push_world import FakeLambdaContext, PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=3, products=2) as built:
        built.configure(payment_methods=False)
        yield built


class RecordingPullQueue:
    """The pull queue, as far as a retry sees it: the bodies it was given."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_all(self, bodies: Sequence[str]) -> None:
        self.bodies.extend(bodies)


@pytest.fixture
def pull_requeued() -> RecordingPullQueue:
    return RecordingPullQueue()


@pytest.fixture
def api(world: PushWorld, pull_requeued: RecordingPullQueue) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    deps = ApiDependencies(tenants=TenantRepository())
    requeue = EventRequeue(push_queue=world.receiver.queue, pull_queue=pull_requeued)
    replay = EventReplay(world.events, requeue)
    app.include_router(events_router(deps, replay=lambda: replay))
    return app


def _call(
    api: APIGatewayHttpResolver, method: str, path: str, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "queryStringParameters": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "authorizer": {"jwt": {"claims": {"sub": "admin-1", "qbosync_tenants": "acme"}, "scopes": []}},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    answer = api.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]
    return int(answer["statusCode"]), json.loads(answer["body"])


def _two_failed_payments(world: PushWorld) -> list[str]:
    invoice = world.new_invoice(lines=1)
    for _ in range(2):
        world.change(
            "POST",
            "payments",
            {"customer_id": invoice["customer_id"], "amount": "1.00", "method": "WIRE", "applied_to": []},
        )
    deliveries = world.deliver_all()
    world.drain()
    return [delivery.event_id for delivery in deliveries[1:]]


def test_given_failed_events_when_listed_a_page_at_a_time_then_each_appears_once_with_its_reason(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    failed = _two_failed_payments(world)

    status, first = _call(api, "GET", "/tenants/acme/sync/events", {"status": "failed", "limit": "1"})
    _status, second = _call(
        api,
        "GET",
        "/tenants/acme/sync/events",
        {"status": "failed", "limit": "1", "cursor": first["next_cursor"]},
    )

    assert status == 200
    listed = first["items"] + second["items"]
    assert sorted(item["event_id"] for item in listed) == sorted(failed)
    assert {(item["reason_code"], item["mapping"]["source_key"], item["retryable"]) for item in listed} == {
        ("missing_mapping", "WIRE", True)
    }
    assert "payload" not in listed[0]


def test_given_done_events_when_listed_by_status_done_then_the_invoice_event_is_there(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    _two_failed_payments(world)

    _status, page = _call(api, "GET", "/tenants/acme/sync/events", {"status": "done"})

    assert [item["kind"] for item in page["items"]] == ["invoice"]


def test_given_a_failed_event_when_retried_then_it_is_queued_again(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    failed = _two_failed_payments(world)

    status, body = _call(api, "POST", f"/tenants/acme/sync/events/{failed[0]}/retry")

    assert status == 202 and body == {"event_id": failed[0], "status": "queued"}
    assert world.queued() == 1


def test_given_a_done_event_when_retried_then_409(world: PushWorld, api: APIGatewayHttpResolver) -> None:
    _two_failed_payments(world)
    _status, page = _call(api, "GET", "/tenants/acme/sync/events", {"status": "done"})

    status, body = _call(api, "POST", f"/tenants/acme/sync/events/{page['items'][0]['event_id']}/retry")

    assert status == 409 and body["error"]["code"] == "event_already_done"
    assert world.queued() == 0


def test_given_an_unknown_event_when_retried_then_404(world: PushWorld, api: APIGatewayHttpResolver) -> None:
    status, body = _call(api, "POST", "/tenants/acme/sync/events/evt_nope/retry")

    assert status == 404 and body["error"]["code"] == "event_not_found"


def test_given_an_unknown_status_when_listed_then_422(world: PushWorld, api: APIGatewayHttpResolver) -> None:
    status, body = _call(api, "GET", "/tenants/acme/sync/events", {"status": "everything"})

    assert status == 422 and body["error"]["code"] == "validation_failed"


def _other_event(world: PushWorld, event_id: str, kind: str, payload: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    world.events.record_received(
        SyncEvent(
            event_id=event_id,
            tenant_id=world.tenant_id,
            kind=kind,
            source_object_id="x",
            source_version=1,
            received_at=now,
            updated_at=now,
            payload=payload,
        )
    )
    world.events.mark_failed(
        world.tenant_id, event_id, EventFailure.of(ReasonCode.NOT_APPLIED, "something"), now
    )


def test_given_a_failed_report_without_a_message_when_retried_then_409_not_replayable(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    _other_event(world, "connection-expiring-2027-01-01", "connection.expiring", {})

    status, body = _call(api, "POST", "/tenants/acme/sync/events/connection-expiring-2027-01-01/retry")

    assert status == 409 and body["error"]["code"] == "event_not_replayable"
    assert world.queued() == 0


def test_given_a_failed_pull_event_when_retried_then_it_goes_back_through_the_pull_flow(
    world: PushWorld, api: APIGatewayHttpResolver, pull_requeued: RecordingPullQueue
) -> None:
    change = EntityChange(
        realm_id="realm-1", entity="Customer", entity_id="58", operation="Update", dedupe_key="k"
    )
    message = PullMessage(tenant_id=world.tenant_id, change=change, received_at=datetime.now(UTC))
    _other_event(world, "qbo-customer-58-1", "qbo.customer", message.model_dump(mode="json"))

    status, _body = _call(api, "POST", "/tenants/acme/sync/events/qbo-customer-58-1/retry")

    assert status == 202
    requeued = [PullMessage.model_validate_json(body) for body in pull_requeued.bodies]
    assert [(m.change.entity_id, m.redelivery) for m in requeued] == [("58", 1)]
    assert world.queued() == 0


def test_given_an_event_without_a_variance_when_its_variance_is_accepted_then_409_variance_not_open(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    failed = _two_failed_payments(world)

    status, body = _call(api, "POST", f"/tenants/acme/sync/events/{failed[0]}/accept-variance")
    missing_status, _missing = _call(api, "POST", "/tenants/acme/sync/events/nope/accept-variance")

    assert status == 409 and body["error"]["code"] == "variance_not_open"
    assert missing_status == 404
