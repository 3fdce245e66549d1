"""The gl-accounts mapping decides where a pushed payment is deposited in QBO: the QBO account mapped
to the source GL account the payment names; none named, QBO's Undeposited Funds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbosync.store.events import ReasonCode
from qbosync.sync.configuration import MappingKind, MappingRowInput
from tests.support.push_world import PushWorld, push_world

OPERATING_BANK = "090"
TRUST_BANK = "095"


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=1, products=1) as built:
        built.configure()
        yield built


def _bank_account(world: PushWorld) -> dict[str, Any]:
    return next(row for row in world.qbo_rows("Account", "AccountType = 'Bank'") if row.get("Active", True))


def _pay(world: PushWorld, **extra: Any) -> dict[str, Any]:
    invoice = world.new_invoice(lines=1)
    payment = world.change(
        "POST",
        "payments",
        {
            "customer_id": invoice["customer_id"],
            "amount": invoice["total"],
            "method": "ACH",
            "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
            **extra,
        },
    )
    world.deliver_all()
    world.drain()
    return payment


def test_given_a_mapped_source_bank_account_when_a_payment_deposited_there_is_pushed_then_qbo_deposits_to_it(
    world: PushWorld,
) -> None:
    bank = _bank_account(world)
    world.map(MappingKind.GL_ACCOUNTS, [MappingRowInput(source_key=OPERATING_BANK, qbo_id=str(bank["Id"]))])

    payment = _pay(world, deposit_account=OPERATING_BANK)

    written = world.qbo.read("Payment", world.linked("Payment", payment["id"]).qbo_id)
    assert written["DepositToAccountRef"]["value"] == str(bank["Id"])


def test_given_a_payment_naming_no_deposit_account_when_pushed_then_qbo_puts_it_in_undeposited_funds(
    world: PushWorld,
) -> None:
    payment = _pay(world)

    written = world.qbo.read("Payment", world.linked("Payment", payment["id"]).qbo_id)
    deposit = world.qbo.read("Account", written["DepositToAccountRef"]["value"])
    assert deposit["AccountSubType"] == "UndepositedFunds"


def test_given_an_unmapped_deposit_account_when_its_payment_is_pushed_then_it_waits_for_a_gl_accounts_row(
    world: PushWorld,
) -> None:
    payment = _pay(world, deposit_account=TRUST_BANK)

    [failed] = world.events.list(world.tenant_id, "failed").items
    assert (failed.source_object_id, failed.reason_code) == (payment["id"], ReasonCode.MISSING_MAPPING)
    assert failed.mapping is not None
    assert (failed.mapping.kind, failed.mapping.source_key) == ("gl-accounts", TRUST_BANK)
    assert world.links.get(world.tenant_id, "Payment", payment["id"]) is None
