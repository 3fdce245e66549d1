"""Deletions and voids in the source, per the deletion policy: void what has payments, delete otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from qbosync.store.links import LinkState
from qbosync.sync.configuration import TenantSettings
from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure(TenantSettings(deletion_policy="delete"))
        yield built


def test_given_an_unpaid_invoice_and_the_delete_policy_when_deleted_in_the_source_then_qbo_deletes_it(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()

    world.change("DELETE", f"invoices/{invoice['id']}")
    world.deliver_all()
    world.drain()

    assert world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'") == []
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.state is LinkState.DELETED


def test_given_a_paid_invoice_and_the_delete_policy_when_deleted_in_the_source_then_qbo_voids_it(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    world.pay_in_full(invoice)

    world.change("DELETE", f"invoices/{invoice['id']}")
    world.deliver_all()
    world.drain()

    (voided,) = world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'")
    assert Decimal(str(voided["TotalAmt"])) == 0
    assert voided["PrivateNote"] == "Voided"


def test_given_a_pushed_invoice_when_voided_in_the_source_then_qbo_voids_it(world: PushWorld) -> None:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()

    world.change("POST", f"invoices/{invoice['id']}/void")
    world.deliver_all()
    world.drain()

    (voided,) = world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'")
    assert Decimal(str(voided["TotalAmt"])) == 0
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.state is LinkState.VOIDED


def test_given_a_pushed_payment_and_the_delete_policy_when_deleted_in_the_source_then_qbo_deletes_it(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    payment = world.change(
        "POST",
        "payments",
        {
            "customer_id": invoice["customer_id"],
            "amount": invoice["total"],
            "method": "CASH",
            "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        },
    )
    world.deliver_all()
    world.drain()

    world.change("DELETE", f"payments/{payment['id']}")
    world.deliver_all()
    world.drain()

    assert world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'") == []
    invoice_link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert invoice_link is not None
    assert Decimal(str(world.qbo.read("Invoice", invoice_link.qbo_id)["Balance"])) == Decimal(
        invoice["total"]
    )
