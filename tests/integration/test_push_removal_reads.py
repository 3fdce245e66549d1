"""Removing a pushed payment reads nothing first (every QBO read is metered): the delete or void goes out at
the SyncToken of qbosync's last write; only a stale token (edited in QBO since) is read and retried once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbosync.store.links import LinkState
from qbosync.sync.configuration import TenantSettings
from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure(TenantSettings(deletion_policy="delete"))
        yield built


def _pushed_payment(world: PushWorld) -> dict[str, Any]:
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
    return payment


def test_given_a_pushed_payment_when_deleted_in_the_source_then_qbo_deletes_it_without_reading_it(
    world: PushWorld,
) -> None:
    payment = _pushed_payment(world)
    reads_before = world.qbo_writes("GET payment")

    world.change("DELETE", f"payments/{payment['id']}")
    world.deliver_all()
    world.drain()

    assert world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'") == []
    assert world.linked("Payment", payment["id"]).state is LinkState.DELETED
    assert world.qbo_writes("GET payment") == reads_before


def test_given_a_payment_edited_in_qbo_when_deleted_in_the_source_then_its_current_token_is_read_once(
    world: PushWorld,
) -> None:
    payment = _pushed_payment(world)
    qbo_id = world.linked("Payment", payment["id"]).qbo_id
    world.edit_in_qbo("Payment", qbo_id, {"PrivateNote": "checked by the accountant"}, "accountant-edit-1")
    reads_before = world.qbo_writes("GET payment")

    world.change("DELETE", f"payments/{payment['id']}")
    world.deliver_all()
    world.drain()

    assert world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'") == []
    assert world.linked("Payment", payment["id"]).state is LinkState.DELETED
    assert world.qbo_writes("GET payment") == reads_before + 1


def test_given_a_payment_deleted_in_qbo_when_deleted_in_the_source_then_the_link_records_it_gone(
    world: PushWorld,
) -> None:
    payment = _pushed_payment(world)
    qbo_id = world.linked("Payment", payment["id"]).qbo_id
    world.delete_in_qbo("Payment", qbo_id, "accountant-delete-1")

    world.change("DELETE", f"payments/{payment['id']}")
    world.deliver_all()
    world.drain()

    assert world.linked("Payment", payment["id"]).state is LinkState.DELETED
