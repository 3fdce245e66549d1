"""Rev.io webhook intake: the X-Hook-Secret handshake, activation, and notifications trusted only for the
object id and event type (the object is re-read through the API)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.revio_emulator.app import EmulatorConfig, build_app
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.revio.adapter import RevioAdapter
from qbosync.source.revio.client import RevioClient, RevioCredentials
from qbosync.source.revio.webhooks import (
    HOOK_SECRET_HEADER,
    RevioNotificationIntake,
    RevioWebhookRegistration,
    answer_handshake,
    change_of,
)
from qbosync.source.revio.wire import RevioNotification

CONFIG = EmulatorConfig(customers=5, products=3, bills=2)
CREDENTIALS = RevioCredentials(CONFIG.username, CONFIG.client_code, CONFIG.password, CONFIG.subscription_key)
RECEIVER_URL = "http://qbosync/webhooks/revio/acme/s3cr3t-path"


@dataclass
class Receiver:
    """qbosync's side as a tiny ASGI app: echoes the handshake (if told to) and keeps notifications."""

    echo: bool = True
    notifications: list[bytes] = field(default_factory=list)

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            answer = answer_handshake({k.lower(): v for k, v in request.headers.items()})
            if answer is not None:
                return Response(status_code=answer.status, headers=answer.headers if self.echo else {})
            self.notifications.append(await request.body())
            return Response(status_code=204)

        return Starlette(routes=[Route("/webhooks/revio/acme/s3cr3t-path", receive, methods=["POST"])])


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def connected(receiver: Receiver) -> Iterator[tuple[RevioClient, httpx.Client]]:
    app = build_app(CONFIG, webhook_transport=httpx.ASGITransport(app=receiver.app()))
    with in_process_client(app, base_url="http://revio") as http:
        yield RevioClient(CREDENTIALS, base_url="http://revio/v1", http=http, sleep=lambda _: None), http


def receivers(http: httpx.Client) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = http.get("/_emulator/stats").json()["receivers"]
    return listed


def test_given_a_confirmation_request_when_answered_then_the_hook_secret_is_echoed_with_200() -> None:
    answer = answer_handshake({"x-hook-secret": "c0de"})

    assert answer is not None
    assert (answer.status, answer.headers) == (200, {HOOK_SECRET_HEADER: "c0de"})


def test_given_a_request_without_hook_secret_when_answered_then_it_is_not_a_handshake() -> None:
    assert answer_handshake({"content-type": "application/json"}) is None


def test_given_a_receiver_that_echoes_when_registered_then_rev_io_activates_it(
    connected: tuple[RevioClient, httpx.Client],
) -> None:
    client, http = connected

    receiver_id = RevioWebhookRegistration(client).register(RECEIVER_URL)

    assert receivers(http) == [{"webhook_receiver_id": receiver_id, "url": RECEIVER_URL, "active": True}]


def test_given_a_receiver_that_did_not_echo_when_activated_then_it_is_active(
    receiver: Receiver, connected: tuple[RevioClient, httpx.Client]
) -> None:
    client, http = connected
    receiver.echo = False
    registration = RevioWebhookRegistration(client)
    receiver_id = registration.register(RECEIVER_URL)
    assert receivers(http)[0]["active"] is False

    registration.activate(receiver_id)

    assert receivers(http)[0]["active"] is True


def test_given_a_subscribed_receiver_when_a_bill_changes_then_the_intake_re_reads_it_into_a_contract_event(
    receiver: Receiver, connected: tuple[RevioClient, httpx.Client]
) -> None:
    client, http = connected
    registration = RevioWebhookRegistration(client)
    registration.subscribe(registration.register(RECEIVER_URL))
    adapter = RevioAdapter("acme", client)
    intake = RevioNotificationIntake("acme", adapter)
    bill = http.post("/_emulator/bills", json={"customer_id": 1001, "lines": [{"product_id": 2001}]}).json()

    events = [intake.resolve(note) for note in map(intake.parse, receiver.notifications) if note is not None]

    assert [(e.type, e.object.id, e.object.version) for e in events if e is not None] == [
        ("invoice.created", str(bill["bill_id"]), 1)
    ]


def test_given_a_notification_whose_object_changed_again_when_resolved_then_the_version_is_the_current_one(
    connected: tuple[RevioClient, httpx.Client],
) -> None:
    client, http = connected
    adapter = RevioAdapter("acme", client)
    intake = RevioNotificationIntake("acme", adapter)
    note = RevioNotification(event_id=1, event_type="customer updated", object_id=1001)
    first = intake.resolve(note)
    http.patch("/_emulator/Customers/1001", json={"email": "new@customer.example"}).raise_for_status()

    # Only the id and type are used: a replay of the old notification reads the state of now.
    replayed = intake.resolve(note)

    assert first is not None and replayed is not None
    assert (first.object.version, replayed.object.version) == (1, 2)


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("bill created", ("invoice", "created")),
        ("Payment Voided", ("payment", "voided")),
        ("credit.created", ("credit_note", "created")),
        ("rating completed", None),
        ("bill", None),
    ],
)
def test_given_an_event_type_when_read_then_it_names_a_contract_kind_and_action_or_nothing(
    event_type: str, expected: tuple[str, str] | None
) -> None:
    assert change_of(event_type) == expected


def test_given_an_event_about_no_object_or_a_body_that_is_not_a_notification_when_taken_then_it_is_dropped(
    connected: tuple[RevioClient, httpx.Client],
) -> None:
    client, _ = connected
    intake = RevioNotificationIntake("acme", RevioAdapter("acme", client))

    assert intake.parse(b"not json") is None
    assert intake.resolve(RevioNotification(event_id=2, event_type="rating completed")) is None
    assert intake.resolve(RevioNotification(event_id=3, event_type="bill created", object_id=424242)) is None
