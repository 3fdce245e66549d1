"""The QBO sandbox's webhooks: batching, signing, both payload formats, in-order retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from local.qbo_sandbox.app import Sandbox, build_app
from local.qbo_sandbox.company import ChangeEvent
from local.qbo_sandbox.config import SandboxConfig

VERIFIER = "test-verifier-token"
HOOK_URL = "http://receiver.test/webhooks/qbo"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Receiver:
    """An app's webhook endpoint: records each POST and answers with the next scripted status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.got_one = anyio.Event()

    async def endpoint(self, request: Request) -> Response:
        self.received.append({"headers": dict(request.headers), "body": await request.body()})
        self.got_one.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return PlainTextResponse("", status_code=status)

    def transport(self) -> httpx.AsyncBaseTransport:
        app = Starlette(routes=[Route("/webhooks/qbo", self.endpoint, methods=["POST"])])
        return httpx.ASGITransport(app=app)


def _sandbox(receiver: Receiver, **overrides: Any) -> Sandbox:
    values: dict[str, Any] = {
        "webhook_url": HOOK_URL,
        "verifier_token": VERIFIER,
        "webhook_batch_window_seconds": 0,
        **overrides,
    }
    app = build_app(SandboxConfig(**values), webhook_transport=receiver.transport())
    sandbox: Sandbox = app.state.sandbox
    return sandbox


def _emit(sandbox: Sandbox, entity: str, entity_id: str, operation: str, realm: str | None = None) -> str:
    """A change in a company, as the accounting API reports it to the company's listeners."""
    realm_id = realm or next(iter(sandbox.companies))
    event = ChangeEvent(realm_id, entity, entity_id, operation, datetime(2026, 11, 22, 4, 0, tzinfo=UTC))
    for listener in sandbox.companies[realm_id].listeners:
        listener(event)
    return realm_id


def _expected_signature(body: bytes) -> str:
    return base64.b64encode(hmac.new(VERIFIER.encode(), body, hashlib.sha256).digest()).decode()


async def test_given_a_created_customer_when_delivered_then_a_legacy_notification_is_posted() -> None:
    receiver = Receiver()
    sandbox = _sandbox(receiver)
    realm = _emit(sandbox, "Customer", "58", "Create")

    await sandbox.webhooks.deliver_due()

    body = json.loads(receiver.received[0]["body"])
    assert body == {
        "eventNotifications": [
            {
                "realmId": realm,
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": "Customer",
                            "id": "58",
                            "operation": "Create",
                            "lastUpdated": "2026-11-22T04:00:00.000Z",
                        }
                    ]
                },
            }
        ]
    }


async def test_given_a_delivery_when_posted_then_the_intuit_signature_verifies_with_the_verifier_token() -> (
    None
):
    receiver = Receiver()
    sandbox = _sandbox(receiver)
    _emit(sandbox, "Invoice", "130", "Update")

    await sandbox.webhooks.deliver_due()

    headers, body = receiver.received[0]["headers"], receiver.received[0]["body"]
    assert hmac.compare_digest(headers["intuit-signature"], _expected_signature(body))
    assert headers["content-type"] == "application/json"
    assert headers["intuit-t-id"].startswith("1-")
    assert headers["intuit-created-time"]


async def test_given_a_receiver_failing_once_when_retried_after_10_s_then_the_same_body_lands() -> None:
    receiver = Receiver(statuses=[500, 200])
    sandbox = _sandbox(receiver)
    _emit(sandbox, "Customer", "1", "Update")
    await sandbox.webhooks.deliver_due()
    await sandbox.webhooks.deliver_due()  # not due yet: QBO waits 10 s before the first retry
    assert len(receiver.received) == 1

    sandbox.clock.advance(10)
    await sandbox.webhooks.deliver_due()

    assert [r["body"] for r in receiver.received] == [receiver.received[0]["body"]] * 2
    delivery = sandbox.webhooks.describe()["deliveries"][0]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["delivered"] is True
    stats = sandbox.stats.to_dict()
    assert (stats["webhooks_failed"], stats["webhooks_delivered"]) == (1, 1)


async def test_given_a_failing_head_delivery_when_later_events_arrive_then_they_wait_their_turn() -> None:
    receiver = Receiver(statuses=[503])
    sandbox = _sandbox(receiver)
    _emit(sandbox, "Customer", "1", "Create")
    await sandbox.webhooks.deliver_due()
    _emit(sandbox, "Customer", "2", "Create")

    await sandbox.webhooks.deliver_due()
    held = len(receiver.received)
    sandbox.clock.advance(10)
    await sandbox.webhooks.deliver_due()

    notifications = [json.loads(r["body"])["eventNotifications"][0] for r in receiver.received]
    ids = [n["dataChangeEvent"]["entities"][0]["id"] for n in notifications]
    assert held == 1
    assert ids == ["1", "1", "2"]


async def test_given_a_batch_window_when_events_arrive_within_it_then_they_are_held_then_sent_together() -> (
    None
):
    receiver = Receiver()
    sandbox = _sandbox(receiver, webhook_batch_window_seconds=60)
    _emit(sandbox, "Customer", "1", "Create")
    _emit(sandbox, "Item", "7", "Update")
    await sandbox.webhooks.deliver_due()
    held = len(receiver.received)

    sandbox.clock.advance(60)
    await sandbox.webhooks.deliver_due()

    entities = json.loads(receiver.received[0]["body"])["eventNotifications"][0]["dataChangeEvent"][
        "entities"
    ]
    assert held == 0
    assert [e["id"] for e in entities] == ["1", "7"]


async def test_given_more_events_than_fit_one_post_when_delivered_then_they_are_split() -> None:
    receiver = Receiver()
    sandbox = _sandbox(receiver, webhook_max_events_per_post=2)
    for entity_id in ("1", "2", "3"):
        _emit(sandbox, "Customer", entity_id, "Create")

    await sandbox.webhooks.deliver_due()

    notifications = [json.loads(r["body"])["eventNotifications"][0] for r in receiver.received]
    assert [len(n["dataChangeEvent"]["entities"]) for n in notifications] == [2, 1]


async def test_given_cloudevents_format_when_delivered_then_an_array_of_cloudevents_is_posted() -> None:
    receiver = Receiver()
    sandbox = _sandbox(receiver, webhook_format="cloudevents")
    realm = _emit(sandbox, "Invoice", "130", "Void")
    _emit(sandbox, "Customer", "9", "Merge")

    await sandbox.webhooks.deliver_due()

    headers, body = receiver.received[0]["headers"], receiver.received[0]["body"]
    events = json.loads(body)
    assert headers["content-type"] == "application/cloudevents+json"
    assert hmac.compare_digest(headers["intuit-signature"], _expected_signature(body))
    assert [e["type"] for e in events] == ["qbo.invoice.voided.v1", "qbo.customer.merged.v1"]
    assert events[0]["specversion"] == "1.0"
    assert events[0]["intuitaccountid"] == realm
    assert events[0]["intuitentityid"] == "130"
    assert events[0]["source"].startswith("intuit.")
    assert len({e["id"] for e in events}) == 2


async def test_given_no_webhook_url_when_changes_happen_then_nothing_is_queued() -> None:
    receiver = Receiver()
    sandbox = _sandbox(receiver, webhook_url=None)
    _emit(sandbox, "Customer", "1", "Create")

    await sandbox.webhooks.deliver_due(flush=True)

    assert receiver.received == []
    assert sandbox.webhooks.describe()["pending_events"] == 0


async def test_given_the_server_running_when_a_change_happens_then_the_background_task_delivers_it() -> None:
    receiver = Receiver()
    sandbox = _sandbox(receiver)
    await sandbox.start()
    try:
        _emit(sandbox, "Customer", "1", "Create")
        with anyio.fail_after(5):
            await receiver.got_one.wait()
    finally:
        await sandbox.stop()

    assert len(receiver.received) == 1


async def test_given_pending_events_when_flushed_through_the_control_plane_then_they_are_delivered() -> None:
    receiver = Receiver()
    app = build_app(
        SandboxConfig(webhook_url=HOOK_URL, verifier_token=VERIFIER), webhook_transport=receiver.transport()
    )
    _emit(app.state.sandbox, "Customer", "1", "Create")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
    ) as http:
        answer = await http.post("/_sandbox/webhooks/flush")

    assert answer.json()["deliveries"][0]["attempts"][0]["status_code"] == 200
    assert len(receiver.received) == 1


async def test_given_an_unreachable_receiver_when_delivering_then_the_attempt_is_recorded_as_failed() -> None:
    config = SandboxConfig(webhook_url="http://127.0.0.1:9/unreachable", webhook_batch_window_seconds=0)
    sandbox: Sandbox = build_app(config).state.sandbox  # real sockets, to a closed loopback port
    _emit(sandbox, "Customer", "1", "Create")

    await sandbox.webhooks.deliver_due()

    attempt = sandbox.webhooks.describe()["deliveries"][0]["attempts"][0]
    assert attempt["status_code"] is None
    assert attempt["error"]


async def test_given_a_customer_created_through_the_api_when_delivered_then_the_webhook_names_it() -> None:
    receiver = Receiver()
    config = SandboxConfig(
        webhook_url=HOOK_URL, verifier_token=VERIFIER, webhook_batch_window_seconds=0, auto_consent=True
    )
    app = build_app(config, webhook_transport=receiver.transport())
    sandbox: Sandbox = app.state.sandbox
    redirect_uri = config.redirect_uris[0]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
    ) as http:
        consent = await http.get(
            "/connect/oauth2",
            params={
                "client_id": config.client_id,
                "response_type": "code",
                "scope": "com.intuit.quickbooks.accounting",
                "redirect_uri": redirect_uri,
            },
        )
        callback = parse_qs(urlsplit(consent.headers["location"]).query)
        tokens = await http.post(
            "/oauth2/v1/tokens/bearer",
            data={
                "grant_type": "authorization_code",
                "code": callback["code"][0],
                "redirect_uri": redirect_uri,
            },
            auth=(config.client_id, config.client_secret),
        )
        realm = callback["realmId"][0]
        created = await http.post(
            f"/v3/company/{realm}/customer",
            json={"DisplayName": "Webhook Subject"},
            headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
        )

    await sandbox.webhooks.deliver_due()

    notification = json.loads(receiver.received[0]["body"])["eventNotifications"][0]
    entity = notification["dataChangeEvent"]["entities"][0]
    assert notification["realmId"] == realm
    assert (entity["name"], entity["id"], entity["operation"]) == (
        "Customer",
        created.json()["Customer"]["Id"],
        "Create",
    )


async def test_given_a_receiver_slower_than_the_timeout_when_delivering_then_the_attempt_fails() -> None:
    never = anyio.Event()

    async def hanging(request: Request) -> Response:
        await never.wait()
        return PlainTextResponse("")

    receiver = httpx.ASGITransport(app=Starlette(routes=[Route("/webhooks/qbo", hanging, methods=["POST"])]))
    config = SandboxConfig(webhook_url=HOOK_URL, webhook_batch_window_seconds=0, webhook_timeout_seconds=0.2)
    sandbox: Sandbox = build_app(config, webhook_transport=receiver).state.sandbox
    _emit(sandbox, "Customer", "1", "Create")

    await sandbox.webhooks.deliver_due()

    delivery = sandbox.webhooks.describe()["deliveries"][0]
    assert delivery["attempts"][0]["error"] == "no answer within 0.2 s"
    assert delivery["delivered"] is False
    assert delivery["next_attempt_at"] is not None
