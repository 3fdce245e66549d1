"""Reconnecting QuickBooks re-queues the events that failed for want of a connection at once, and a
document is listed as failed once (its webhook's event and reconciliation's ``reconcile-…`` event
collapse to the latest)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.errors import NotConnected
from qbosync.qbo.client import QboClient
from qbosync.store.events import ReasonCode
from qbosync.sync.configuration import MappingKind
from qbosync.sync.push.service import PushDependencies, PushService
from qbosync.sync.records.messages import PushMessage
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.replay import EventReplay
from qbosync.sync.retry.requeue import EventRequeue
from tests.support.push_world import PushWorld, push_world, utc_now


class _NoPullQueue:
    def send_all(self, bodies: Any) -> None:
        raise AssertionError("only push events are released here")


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=1, products=1) as built:
        built.configure()
        yield built


def _replay(world: PushWorld) -> EventReplay:
    return EventReplay(world.events, EventRequeue(push_queue=world.receiver.queue, pull_queue=_NoPullQueue()))


def _disconnected(world: PushWorld) -> PushService:
    """The push worker while QuickBooks is disconnected: no QBO client can be had."""

    def no_client(tenant_id: str) -> QboClient:
        raise NotConnected(f"tenant {tenant_id} has no QuickBooks connection")

    return PushService(
        PushDependencies(
            events=world.events,
            links=world.links,
            configuration=world.configuration,
            qbo_for=no_client,
            source_for=lambda _tenant: world.source,
            parked=ParkedRelease(world.events, EventRequeue(world.receiver.queue, _NoPullQueue())),
            clock=utc_now,
            ledger=world.ledger,
        )
    )


def _message(event_id: str, invoice: dict[str, Any]) -> PushMessage:
    now = datetime.now(UTC)
    return PushMessage(
        event_id=event_id,
        tenant_id="acme",
        kind="invoice",
        action="created",
        source_id=invoice["id"],
        source_version=invoice["version"],
        occurred_at=now,
        received_at=now,
    )


def _failed_twice_while_disconnected(world: PushWorld) -> tuple[dict[str, Any], str, str]:
    invoice = world.new_invoice(lines=1)
    world.held_webhooks()  # the source's own webhook is not delivered: the two messages below stand for it
    webhook_event, reconcile_event = (
        "evt-webhook-1",
        f"reconcile-invoice-{invoice['id']}-v{invoice['version']}",
    )
    disconnected = _disconnected(world)
    for event_id in (webhook_event, reconcile_event):
        outcome = disconnected.apply(_message(event_id, invoice))
        assert (outcome.status, outcome.reason_code) == ("failed", ReasonCode.QBO_NOT_CONNECTED)
    return invoice, webhook_event, reconcile_event


def test_given_a_webhook_and_a_reconcile_event_of_one_invoice_failed_when_listed_then_only_the_latest_shows(
    world: PushWorld,
) -> None:
    invoice, webhook_event, reconcile_event = _failed_twice_while_disconnected(world)

    failed = world.events.list("acme", "failed").items
    superseded = world.events.get("acme", webhook_event)

    assert [(event.event_id, event.source_object_id) for event in failed] == [
        (reconcile_event, invoice["id"])
    ]
    assert superseded is not None
    assert (superseded.status, superseded.superseded_by) == ("superseded", reconcile_event)


def test_given_events_failed_for_want_of_a_connection_when_qbo_is_reconnected_then_they_are_applied_at_once(
    world: PushWorld,
) -> None:
    invoice, webhook_event, reconcile_event = _failed_twice_while_disconnected(world)

    released = _replay(world).release_after_reconnect("acme")
    world.drain()

    assert released == 1
    assert world.events.list("acme", "failed").items == []
    done = world.events.get("acme", reconcile_event)
    assert done is not None and done.status == "done"
    assert world.linked("Invoice", invoice["id"]).source_version == invoice["version"]
    earlier = world.events.get("acme", webhook_event)
    assert earlier is not None and earlier.status == "superseded"


def test_given_a_failed_document_when_a_later_event_of_it_is_done_then_the_failure_is_no_longer_listed(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.held_webhooks()
    _disconnected(world).apply(_message("evt-webhook-2", invoice))

    outcome = world.service.apply(
        _message(f"reconcile-invoice-{invoice['id']}-v{invoice['version']}", invoice)
    )

    assert outcome.status == "done"
    assert world.events.list("acme", "failed").items == []
    earlier = world.events.get("acme", "evt-webhook-2")
    assert earlier is not None and earlier.superseded_by == outcome.event_id


def test_given_other_failures_when_reconnected_then_only_the_not_connected_ones_are_released(
    world: PushWorld,
) -> None:
    world.map(MappingKind.PAYMENT_METHODS, world.payment_method_rows(only="ACH"))
    world.change(
        "POST", "payments", {"customer_id": world.first_customer_id(), "amount": "1.00", "method": "WIRE"}
    )
    world.deliver_all()
    world.drain()
    _failed_twice_while_disconnected(world)

    released = _replay(world).release_after_reconnect("acme")
    world.drain()

    assert released == 1
    assert [event.reason_code for event in world.events.list("acme", "failed").items] == [
        ReasonCode.MISSING_MAPPING
    ]


def test_given_more_not_connected_failures_than_the_limit_when_reconnected_then_only_the_limit_is_released(
    world: PushWorld,
) -> None:
    disconnected = _disconnected(world)
    for _ in range(3):
        invoice = world.new_invoice(lines=1)
        disconnected.apply(_message(f"evt-{invoice['id']}", invoice))
    world.held_webhooks()

    released = _replay(world).release_after_reconnect("acme", limit=2)
    world.drain()

    assert released == 2
    assert [event.reason_code for event in world.events.list("acme", "failed").items] == [
        ReasonCode.QBO_NOT_CONNECTED
    ]
