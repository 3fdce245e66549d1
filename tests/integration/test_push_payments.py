"""Push of payments: mapped method and prefix, applied via LinkedTxn, parked until their invoice lands."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from qbosync.store.events import MissingMappingRef, ReasonCode
from qbosync.store.pull_queue import PullQueue
from qbosync.sync.configuration import MappingKind, TenantSettings
from qbosync.sync.retry.replay import EventReplay
from qbosync.sync.retry.requeue import EventRequeue
from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def _pay(world: PushWorld, invoice: dict[str, Any], method: str = "ACH") -> dict[str, Any]:
    return world.change(
        "POST",
        "payments",
        {
            "customer_id": invoice["customer_id"],
            "amount": invoice["total"],
            "method": method,
            "reference": "REF-1",
            "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        },
    )


def _qbo_payment(world: PushWorld, payment: dict[str, Any]) -> dict[str, Any]:
    rows = world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'")
    assert len(rows) == 1, rows
    return rows[0]


def test_given_a_pushed_invoice_when_its_payment_is_pushed_then_qbo_applies_it_with_method_and_prefix(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()

    payment = _pay(world, invoice)
    world.deliver_all()
    world.drain()

    qbo_payment = _qbo_payment(world, payment)
    invoice_link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert invoice_link is not None
    assert qbo_payment["Line"][0]["LinkedTxn"][0] == {"TxnId": invoice_link.qbo_id, "TxnType": "Invoice"}
    assert qbo_payment["PaymentMethodRef"]["value"] == world.payment_method_rows("ACH")[0].qbo_id
    assert Decimal(str(world.qbo.read("Invoice", invoice_link.qbo_id)["Balance"])) == 0


def test_given_a_payment_before_its_invoice_when_pushed_then_it_is_parked_until_the_invoice_lands(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    payment = _pay(world, invoice)
    invoice_event, payment_event = world.held_webhooks()

    world.post_webhook(payment_event)
    world.drain()
    parked = world.events.get(world.tenant_id, payment_event["event_id"])
    assert parked is not None and parked.status == "parked" and parked.parked_on == f"invoice:{invoice['id']}"
    assert world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'") == []

    world.post_webhook(invoice_event)
    world.drain()

    released = world.events.get(world.tenant_id, payment_event["event_id"])
    assert released is not None and released.status == "done"
    assert Decimal(str(_qbo_payment(world, payment)["TotalAmt"])) == Decimal(payment["amount"])


def test_given_an_unmapped_payment_method_when_the_mapping_is_added_then_the_failed_payment_is_released(
    main_table: str,
) -> None:
    with push_world() as world:
        world.configure(payment_methods=False)
        invoice = world.new_invoice(lines=1)
        payment = _pay(world, invoice, method="CHECK")
        deliveries = world.deliver_all()
        world.drain()
        failed = world.events.get(world.tenant_id, deliveries[1].event_id)
        assert failed is not None and failed.status == "failed"
        assert failed.reason_code is ReasonCode.MISSING_MAPPING
        assert failed.mapping == MissingMappingRef(kind="payment-methods", source_key="CHECK")

        world.map(MappingKind.PAYMENT_METHODS, world.payment_method_rows("CHECK"))
        replay = EventReplay(
            world.events, EventRequeue(push_queue=world.receiver.queue, pull_queue=PullQueue())
        )
        released = replay.release_waiting_for_mappings(world.tenant_id, "payment-methods", ["CHECK"])
        world.drain()

        assert released == 1
        assert Decimal(str(_qbo_payment(world, payment)["TotalAmt"])) == Decimal(payment["amount"])


def test_given_a_pushed_payment_when_it_is_voided_in_the_source_then_qbo_voids_it_and_reopens_the_invoice(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    payment = _pay(world, invoice)
    world.deliver_all()
    world.drain()

    world.change("POST", f"payments/{payment['id']}/void")
    world.deliver_all()
    world.drain()

    voided = _qbo_payment(world, payment)
    assert Decimal(str(voided["TotalAmt"])) == 0
    invoice_link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert invoice_link is not None
    assert Decimal(str(world.qbo.read("Invoice", invoice_link.qbo_id)["Balance"])) == Decimal(
        invoice["total"]
    )


def test_given_payment_sync_is_off_when_a_payment_is_pushed_then_nothing_is_written(main_table: str) -> None:
    with push_world() as world:
        settings = TenantSettings.model_validate({"sync": {"payments": False}})
        world.configure(settings)
        invoice = world.new_invoice(lines=1)
        payment = _pay(world, invoice)
        deliveries = world.deliver_all()

        world.drain()

        assert world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'") == []
        skipped = world.events.get(world.tenant_id, deliveries[1].event_id)
        assert skipped is not None and skipped.status == "done"
