"""Push of invoices: create, edit, stale SyncToken, out-of-order and duplicate webhooks, QBO refusals."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def _only_invoice(world: PushWorld, doc_number: str) -> dict[str, Any]:
    rows = world.qbo_rows("Invoice", f"DocNumber = '{doc_number}'")
    assert len(rows) == 1, rows
    return rows[0]


def test_given_a_new_source_invoice_when_its_webhook_is_pushed_then_qbo_has_it_with_prefix_and_lines(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=2)

    deliveries = world.deliver_all()
    world.drain()

    assert [d.status for d in deliveries] == [202]
    qbo_invoice = _only_invoice(world, invoice["number"])
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(invoice["total"])
    assert len([line for line in qbo_invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]) == 2
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.qbo_id == qbo_invoice["Id"] and link.source_version == invoice["version"]
    event = world.events.get(world.tenant_id, deliveries[0].event_id)
    assert event is not None and event.status == "done"
    assert event.reason == (
        f"created QBO Invoice {qbo_invoice['Id']} from source invoice {invoice['id']} "
        f"version {invoice['version']}"
    )


def test_given_a_pushed_invoice_when_its_lines_are_edited_then_qbo_is_updated_with_the_next_sync_token(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    products = world.product_ids()

    edited = world.change(
        "PUT", f"invoices/{invoice['id']}", {"lines": [{"product_id": products[1], "quantity": "7"}]}
    )
    world.deliver_all()
    world.drain()

    qbo_invoice = _only_invoice(world, invoice["number"])
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(edited["total"])
    assert qbo_invoice["SyncToken"] == "1"
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.source_version == 2 and link.sync_token == "1"


def test_given_someone_changed_the_invoice_in_qbo_when_the_source_edit_arrives_then_5010_reapplies_it(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    current = _only_invoice(world, invoice["number"])
    world.qbo.sparse_update(
        "Invoice",
        {"Id": current["Id"], "SyncToken": current["SyncToken"], "PrivateNote": "edited in QBO"},
        "outside-edit-1",
    )

    edited = world.change(
        "PUT",
        f"invoices/{invoice['id']}",
        {"lines": [{"product_id": world.product_ids()[0], "quantity": "3"}]},
    )
    world.deliver_all()
    world.drain()

    qbo_invoice = _only_invoice(world, invoice["number"])
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(edited["total"])
    assert qbo_invoice["SyncToken"] == "2"
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.sync_token == "2" and link.source_version == 2


def test_given_an_older_webhook_arrives_after_a_newer_one_when_pushed_then_it_changes_nothing(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.change(
        "PUT",
        f"invoices/{invoice['id']}",
        {"lines": [{"product_id": world.product_ids()[0], "quantity": "5"}]},
    )
    created, edited = world.held_webhooks()
    world.post_webhook(edited)
    world.drain()
    before = _only_invoice(world, invoice["number"])

    world.post_webhook(created)
    world.drain()

    after = _only_invoice(world, invoice["number"])
    assert after["SyncToken"] == before["SyncToken"] == "0"
    older = world.events.get(world.tenant_id, created["event_id"])
    assert older is not None and older.status == "done"
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.source_version == 2


def test_given_a_webhook_delivered_three_times_when_pushed_then_qbo_is_written_once(world: PushWorld) -> None:
    invoice = world.new_invoice(lines=1)
    (event,) = world.held_webhooks()
    writes_before = world.qbo_writes("POST invoice")

    statuses = [world.post_webhook(event).status for _ in range(3)]
    world.drain()

    assert statuses == [202, 202, 202]
    assert len(world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'")) == 1
    assert world.qbo_writes("POST invoice") == writes_before + 1


def test_given_an_applied_event_when_sqs_delivers_it_again_then_the_worker_answers_from_idempotency(
    world: PushWorld,
) -> None:
    world.new_invoice(lines=1)
    (event,) = world.held_webhooks()
    world.post_webhook(event)
    world.drain()
    requests_before = world.qbo_requests()
    message = world.events.get(world.tenant_id, event["event_id"])
    assert message is not None

    from qbosync.sync.records.messages import PushMessage

    again = PushMessage.model_validate(message.payload)
    world.receiver.queue.send(
        again.model_dump_json(), group_id=again.group_id, deduplication_id="a-later-duplicate"
    )
    world.drain()

    assert world.qbo_requests() == requests_before
