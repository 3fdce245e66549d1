"""``Link.qbo_written_at``: QBO's ``LastUpdatedTime`` of qbosync's own last write, by QBO's clock.

The pull compares it with a webhook's ``lastUpdated`` to tell qbosync's writes from someone else's, so
it moves with every create, update and void the push makes, and never when the push writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbosync.qbo.metadata import last_updated_time
from qbosync.store.links import LinkState
from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure()
        yield built


def _pushed_invoice(world: PushWorld) -> dict[str, Any]:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    return invoice


def _qbo_invoice(world: PushWorld, source_id: str) -> dict[str, Any]:
    return world.qbo.read("Invoice", world.linked("Invoice", source_id).qbo_id)


def test_given_a_new_invoice_when_pushed_then_the_link_holds_qbos_time_of_the_creation(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)

    written_at = world.linked("Invoice", invoice["id"]).qbo_written_at

    assert written_at is not None
    assert written_at == last_updated_time(_qbo_invoice(world, invoice["id"]))


def test_given_a_pushed_invoice_when_edited_in_the_source_then_the_link_holds_qbos_time_of_the_update(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    created_at = world.linked("Invoice", invoice["id"]).qbo_written_at
    world.advance_qbo_clock(5)

    world.change(
        "PUT",
        f"invoices/{invoice['id']}",
        {"lines": [{"product_id": world.product_ids()[1], "quantity": "4"}]},
    )
    world.deliver_all()
    world.drain()

    updated = _qbo_invoice(world, invoice["id"])
    written_at = world.linked("Invoice", invoice["id"]).qbo_written_at
    assert updated["SyncToken"] == "1"
    assert written_at == last_updated_time(updated)
    assert created_at is not None and written_at is not None and written_at > created_at


def test_given_a_pushed_invoice_when_voided_in_the_source_then_the_link_holds_qbos_time_of_the_void(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    created_at = world.linked("Invoice", invoice["id"]).qbo_written_at
    world.advance_qbo_clock(5)

    world.change("POST", f"invoices/{invoice['id']}/void")
    world.deliver_all()
    world.drain()

    voided = _qbo_invoice(world, invoice["id"])
    link = world.linked("Invoice", invoice["id"])
    assert (link.state, voided["PrivateNote"]) == (LinkState.VOIDED, "Voided")
    assert link.qbo_written_at == last_updated_time(voided)
    assert created_at is not None and link.qbo_written_at is not None and link.qbo_written_at > created_at


def test_given_a_qbo_edit_after_the_push_when_a_source_change_writes_nothing_then_the_write_time_stays(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    before = world.linked("Invoice", invoice["id"])
    world.advance_qbo_clock(5)
    edited = world.edit_in_qbo(
        "Invoice", before.qbo_id, {"PrivateNote": "checked by the accountant"}, "accountant-edit-1"
    )
    same_lines = [{"product_id": world.product_ids()[0], "quantity": "1"}]

    world.change("PUT", f"invoices/{invoice['id']}", {"lines": same_lines})
    world.deliver_all()
    world.drain()

    after = world.linked("Invoice", invoice["id"])
    assert after.source_version > before.source_version and after.updated_at > before.updated_at
    assert (after.sync_token, after.content_hash) == (before.sync_token, before.content_hash)
    assert after.qbo_written_at == before.qbo_written_at
    edited_at = last_updated_time(edited)
    assert after.qbo_written_at is not None and edited_at is not None and after.qbo_written_at < edited_at


def test_given_an_invoice_deleted_in_qbo_when_healed_then_the_link_holds_the_time_of_the_recreation(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    world.delete_in_qbo("Invoice", world.linked("Invoice", invoice["id"]).qbo_id, "accountant-delete-1")
    world.advance_qbo_clock(5)

    world.heal("invoice", invoice["id"])

    recreated = _qbo_invoice(world, invoice["id"])
    assert world.linked("Invoice", invoice["id"]).qbo_written_at == last_updated_time(recreated)
