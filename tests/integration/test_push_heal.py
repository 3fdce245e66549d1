"""Healing drift: a heal message writes the source's current version to QBO again, once.

Each test pushes documents, then changes QBO behind qbosync's back through the QBO API (delete, edit,
void), as an accountant would, and queues the heal message the pull sends when it finds the drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from qbosync.store.events import ReasonCode
from qbosync.store.links import LinkState
from qbosync.sync.configuration import TenantSettings
from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _pushed_invoice(world: PushWorld, lines: int = 2) -> dict[str, Any]:
    invoice = world.new_invoice(lines=lines)
    world.deliver_all()
    world.drain()
    return invoice


def _invoices_numbered(world: PushWorld, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    return world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'")


# Deleted in QBO


def test_given_an_invoice_deleted_in_qbo_when_healed_then_qbo_has_it_once_again_and_the_link_follows(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    deleted_id = world.linked("Invoice", invoice["id"]).qbo_id
    world.delete_in_qbo("Invoice", deleted_id, "accountant-delete-1")

    event = world.heal("invoice", invoice["id"])

    (recreated,) = _invoices_numbered(world, invoice)
    assert recreated["Id"] != deleted_id
    assert _money(recreated["TotalAmt"]) == _money(invoice["total"])
    link = world.linked("Invoice", invoice["id"])
    assert (link.qbo_id, link.sync_token) == (recreated["Id"], recreated["SyncToken"])
    assert event.status == "done"


def test_given_a_healed_invoice_when_the_heal_is_applied_again_then_qbo_is_not_written(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    world.delete_in_qbo("Invoice", world.linked("Invoice", invoice["id"]).qbo_id, "accountant-delete-1")
    world.heal("invoice", invoice["id"])
    writes_before = world.qbo_writes("POST invoice")

    again = world.heal("invoice", invoice["id"], redelivery=1)

    assert world.qbo_writes("POST invoice") == writes_before
    assert len(_invoices_numbered(world, invoice)) == 1
    assert again.status == "done"


def test_given_a_heal_whose_link_was_lost_when_retried_then_qbo_replays_the_recreation_instead_of_doubling(
    world: PushWorld,
) -> None:
    # A payment, because QBO does not keep PaymentRefNums unique: only the requestid prevents a twin.
    payment = world.pay_in_full(_pushed_invoice(world, lines=1))
    before_heal = world.linked("Payment", payment["id"])
    world.delete_in_qbo("Payment", before_heal.qbo_id, "accountant-delete-1")
    world.heal("payment", payment["id"])
    recreated_id = world.linked("Payment", payment["id"]).qbo_id
    world.links.put(before_heal)  # the re-creation landed, its link write did not

    world.heal("payment", payment["id"], redelivery=1)

    rows = world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'")
    assert [row["Id"] for row in rows] == [recreated_id]
    assert world.linked("Payment", payment["id"]).qbo_id == recreated_id


def test_given_a_payment_deleted_in_qbo_when_healed_then_it_is_recreated_and_pays_the_invoice_again(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world, lines=1)
    payment = world.pay_in_full(invoice)
    invoice_id = world.linked("Invoice", invoice["id"]).qbo_id
    deleted_id = world.linked("Payment", payment["id"]).qbo_id
    world.delete_in_qbo("Payment", deleted_id, "accountant-delete-1")
    assert _money(world.qbo.read("Invoice", invoice_id)["Balance"]) == _money(invoice["total"])

    event = world.heal("payment", payment["id"])

    (recreated,) = world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'")
    assert recreated["Id"] != deleted_id
    assert recreated["Line"][0]["LinkedTxn"][0] == {"TxnId": invoice_id, "TxnType": "Invoice"}
    assert _money(world.qbo.read("Invoice", invoice_id)["Balance"]) == 0
    assert world.linked("Payment", payment["id"]).qbo_id == recreated["Id"]
    assert event.status == "done"


def test_given_a_credit_application_deleted_in_qbo_when_the_credit_note_is_healed_then_it_is_applied_again(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=2)
    note = world.change(
        "POST",
        "credit-notes",
        {
            "kind": "credit",
            "customer_id": invoice["customer_id"],
            "lines": [{"product_id": world.product_ids()[0], "quantity": "1"}],
            "applied_to": [{"invoice_id": invoice["id"], "amount": "1.00"}],
        },
    )
    world.deliver_all()
    world.drain()
    deleted_id = world.linked("CreditApplication", note["id"]).qbo_id
    world.delete_in_qbo("Payment", deleted_id, "accountant-delete-1")

    event = world.heal("credit_note", note["id"])

    (application,) = world.qbo_rows("Payment", f"PaymentRefNum = '{note['number']}'")
    assert application["Id"] != deleted_id
    memo_id = world.linked("CreditMemo", note["id"]).qbo_id
    assert {
        (line["LinkedTxn"][0]["TxnType"], line["LinkedTxn"][0]["TxnId"]) for line in application["Line"]
    } == {
        ("Invoice", world.linked("Invoice", invoice["id"]).qbo_id),
        ("CreditMemo", memo_id),
    }
    invoice_row = world.qbo.read("Invoice", world.linked("Invoice", invoice["id"]).qbo_id)
    assert _money(invoice_row["Balance"]) == _money(invoice["total"]) - Decimal("1.00")
    assert _money(world.qbo.read("CreditMemo", memo_id)["RemainingCredit"]) == _money(note["total"]) - 1
    assert world.linked("CreditApplication", note["id"]).qbo_id == application["Id"]
    assert event.status == "done"


# Changed or voided in QBO


def test_given_an_invoice_whose_amount_was_edited_in_qbo_when_healed_then_qbo_has_the_source_total_again(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world, lines=1)
    qbo_id = world.linked("Invoice", invoice["id"]).qbo_id
    line = world.qbo.read("Invoice", qbo_id)["Line"][0]
    edited_line = {
        **line,
        "Amount": 1,
        "SalesItemLineDetail": {**line["SalesItemLineDetail"], "Qty": 1, "UnitPrice": 1},
    }
    edited = world.edit_in_qbo("Invoice", qbo_id, {"Line": [edited_line]}, "accountant-edit-1")
    assert _money(edited["TotalAmt"]) != _money(invoice["total"])

    event = world.heal("invoice", invoice["id"])

    healed = world.qbo.read("Invoice", qbo_id)
    assert _money(healed["TotalAmt"]) == _money(invoice["total"])
    assert healed["SyncToken"] == str(int(edited["SyncToken"]) + 1)
    assert world.linked("Invoice", invoice["id"]).sync_token == healed["SyncToken"]
    assert (event.status, len(_invoices_numbered(world, invoice))) == ("done", 1)


def test_given_an_invoice_voided_in_qbo_when_healed_then_it_fails_as_not_healable_and_nothing_is_written(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    qbo_id = world.linked("Invoice", invoice["id"]).qbo_id
    world.void_in_qbo("Invoice", qbo_id, "accountant-void-1")
    writes_before = world.qbo_writes("POST invoice")

    event = world.heal("invoice", invoice["id"])

    assert (event.status, event.reason_code, event.retryable) == (
        "failed",
        ReasonCode.DRIFT_NOT_HEALABLE,
        True,
    )
    assert "voided in QBO" in (event.reason or "")
    assert world.qbo_writes("POST invoice") == writes_before
    assert _money(world.qbo.read("Invoice", qbo_id)["TotalAmt"]) == 0


# What a heal leaves alone


def test_given_an_invoice_voided_in_the_source_when_healed_then_it_does_what_a_push_of_the_void_does(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    world.change("POST", f"invoices/{invoice['id']}/void")
    world.held_webhooks()  # the void's own webhook has not arrived yet
    writes_before = world.qbo_writes("POST invoice")

    event = world.heal("invoice", invoice["id"])

    assert world.qbo_writes("POST invoice") == writes_before + 1
    (voided,) = _invoices_numbered(world, invoice)
    assert (_money(voided["TotalAmt"]), voided["PrivateNote"]) == (0, "Voided")
    assert world.linked("Invoice", invoice["id"]).state is LinkState.VOIDED
    assert event.status == "done"


def test_given_invoice_sync_turned_off_when_an_invoice_is_healed_then_it_is_done_without_a_write(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    world.delete_in_qbo("Invoice", world.linked("Invoice", invoice["id"]).qbo_id, "accountant-delete-1")
    world.configure(TenantSettings.model_validate({"sync": {"invoices": False}}))
    writes_before = world.qbo_writes("POST invoice")

    event = world.heal("invoice", invoice["id"])

    assert event.status == "done"
    assert world.qbo_writes("POST invoice") == writes_before
    assert _invoices_numbered(world, invoice) == []
