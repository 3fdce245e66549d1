"""Push of credit notes: CreditMemos with the credit or write-off prefix, applied as in the source."""

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


def _note(world: PushWorld, kind: str, customer_id: str, **extra: Any) -> dict[str, Any]:
    return world.change(
        "POST",
        "credit-notes",
        {
            "kind": kind,
            "customer_id": customer_id,
            "lines": [{"product_id": world.product_ids()[0], "quantity": "1"}],
            **extra,
        },
    )


def _memo(world: PushWorld, doc_number: str) -> dict[str, Any]:
    rows = world.qbo_rows("CreditMemo", f"DocNumber = '{doc_number}'")
    assert len(rows) == 1, rows
    return rows[0]


def test_given_a_credit_and_a_write_off_when_pushed_then_each_gets_its_own_prefix_and_stays_unapplied(
    world: PushWorld,
) -> None:
    customer = world.first_customer_id()
    credit = _note(world, "credit", customer)
    write_off = _note(world, "write_off", customer)

    world.deliver_all()
    world.drain()

    credit_memo = _memo(world, credit["number"])
    write_off_memo = _memo(world, f"WO-{write_off['number']}")
    assert Decimal(str(credit_memo["RemainingCredit"])) == Decimal(credit["total"])
    assert Decimal(str(write_off_memo["RemainingCredit"])) == Decimal(write_off["total"])


def test_given_a_credit_note_applied_to_an_invoice_when_pushed_then_a_payment_links_memo_and_invoice(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=2)
    note = _note(world, "credit", invoice["customer_id"])
    world.change(
        "PUT",
        f"credit-notes/{note['id']}",
        {"applied_to": [{"invoice_id": invoice["id"], "amount": note["total"]}], "status": "applied"},
    )

    world.deliver_all()
    world.drain()

    memo = _memo(world, note["number"])
    assert Decimal(str(memo["RemainingCredit"])) == 0
    invoice_link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert invoice_link is not None
    balance = Decimal(str(world.qbo.read("Invoice", invoice_link.qbo_id)["Balance"]))
    assert balance == Decimal(invoice["total"]) - Decimal(note["total"])
    (application,) = world.qbo_rows("Payment", f"PaymentRefNum = '{note['number']}'")
    assert Decimal(str(application["TotalAmt"])) == 0
    assert {line["LinkedTxn"][0]["TxnType"] for line in application["Line"]} == {"Invoice", "CreditMemo"}


def test_given_an_applied_credit_note_when_it_is_deleted_then_its_application_and_memo_are_deleted(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1)
    note = _note(
        world,
        "write_off",
        invoice["customer_id"],
        applied_to=[{"invoice_id": invoice["id"], "amount": "1.00"}],
    )
    world.deliver_all()
    world.drain()

    world.change("DELETE", f"credit-notes/{note['id']}")
    world.deliver_all()
    world.drain()

    assert world.qbo_rows("CreditMemo", f"DocNumber = 'WO-{note['number']}'") == []
    assert world.qbo_rows("Payment", f"PaymentRefNum = 'WO-{note['number']}'") == []
    invoice_link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert invoice_link is not None
    assert Decimal(str(world.qbo.read("Invoice", invoice_link.qbo_id)["Balance"])) == Decimal(
        invoice["total"]
    )


def test_given_an_applied_credit_note_when_its_application_changes_then_qbo_applies_the_new_amount(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=2)
    note = _note(
        world, "credit", invoice["customer_id"], applied_to=[{"invoice_id": invoice["id"], "amount": "1.00"}]
    )
    world.deliver_all()
    world.drain()

    world.change(
        "PUT", f"credit-notes/{note['id']}", {"applied_to": [{"invoice_id": invoice["id"], "amount": "2.00"}]}
    )
    world.deliver_all()
    world.drain()

    invoice_link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    assert invoice_link is not None
    balance = Decimal(str(world.qbo.read("Invoice", invoice_link.qbo_id)["Balance"]))
    assert balance == Decimal(invoice["total"]) - Decimal("2.00")
    assert Decimal(str(_memo(world, note["number"])["RemainingCredit"])) == Decimal(note["total"]) - 2


def test_given_an_applied_credit_note_when_it_is_unapplied_in_the_source_then_qbo_removes_the_application(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=2)
    note = _note(
        world, "credit", invoice["customer_id"], applied_to=[{"invoice_id": invoice["id"], "amount": "1.00"}]
    )
    world.deliver_all()
    world.drain()

    world.change("PUT", f"credit-notes/{note['id']}", {"applied_to": [], "status": "open"})
    world.deliver_all()
    world.drain()

    assert world.qbo_rows("Payment", f"PaymentRefNum = '{note['number']}'") == []
    assert Decimal(str(_memo(world, note["number"])["RemainingCredit"])) == Decimal(note["total"])
