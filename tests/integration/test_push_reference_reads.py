"""The reads a push makes for a document's customer and items (every QBO read is metered): a customer's
link keeps its currency, so its documents read no customer; a new customer or item is created with no
lookup first, and its name is looked up only when QBO answers that the name is taken (6240)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from qbosync.qbo.client import request_id_for
from qbosync.store.ledger import WriteIntent
from qbosync.store.links import Link
from qbosync.sync.configuration import TenantSettings
from tests.support.push_world import PushWorld, push_world, utc_now


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    # No reuse of currency rules across batches: each batch would read a customer's currency anew.
    with push_world(customers=3, products=2, company_books_ttl=timedelta(0)) as built:
        built.configure()
        yield built


def _pushed(world: PushWorld) -> None:
    world.deliver_all()
    world.drain()


def _lookups_while_pushed(world: PushWorld) -> int:
    """Name lookups (QBO queries) the push made while it worked the held changes."""
    before = world.qbo_writes("GET query")
    _pushed(world)
    return world.qbo_writes("GET query") - before


def _multi_currency(world: PushWorld) -> None:
    response = world.qbo_http.post(
        f"/_sandbox/realms/{world.realm_id}/preferences", json={"multi_currency": True}
    )
    assert response.status_code == 200, response.text


def _customer_name(world: PushWorld, index: int = 0) -> str:
    return world.source.get_customer(world.first_customer_id(index)).display_name


def _one_product_invoice(world: PushWorld, customer_id: str, **extra: Any) -> dict[str, Any]:
    product = world.product_ids()[0]
    return world.change(
        "POST", "invoices", {"customer_id": customer_id, "lines": [{"product_id": product}], **extra}
    )


def _open_create(world: PushWorld, entity: str, source_id: str) -> None:
    """A create left open by a worker that died after recording its intent."""
    record = (
        world.source.get_customer(source_id) if entity == "Customer" else world.source.get_product(source_id)
    )
    version = record.version
    world.ledger.begin(
        WriteIntent(
            tenant_id=world.tenant_id,
            link_entity=entity,
            qbo_entity=entity,
            source_id=source_id,
            version=version,
            operation="create",
            request_id=request_id_for(world.tenant_id, entity, source_id, str(version), "create"),
            started_at=utc_now(),
        )
    )


# A customer's currency on its link


def test_given_a_customer_qbosync_created_when_its_next_document_is_pushed_then_no_customer_is_read(
    world: PushWorld,
) -> None:
    _multi_currency(world)
    customer = world.first_customer_id()
    _one_product_invoice(world, customer, currency="EUR", exchange_rate="1.10")
    _pushed(world)
    reads_before = world.qbo_writes("GET customer")

    second = _one_product_invoice(world, customer, currency="EUR", exchange_rate="1.12")
    _pushed(world)

    assert world.linked("Customer", customer).currency == "EUR"
    assert world.linked("Invoice", second["id"]).qbo_id
    assert world.qbo_writes("GET customer") == reads_before == 0


def test_given_a_customer_link_older_than_its_currency_when_a_document_is_pushed_then_qbo_is_read_once(
    world: PushWorld,
) -> None:
    _multi_currency(world)
    customer = world.first_customer_id()
    _one_product_invoice(world, customer)
    _pushed(world)
    stored_before = world.linked("Customer", customer).model_dump(mode="json", exclude={"currency"})
    world.links.put(Link.model_validate(stored_before))
    assert world.linked("Customer", customer).currency is None
    reads_before = world.qbo_writes("GET customer")

    second = _one_product_invoice(world, customer, currency="EUR", exchange_rate="1.12")
    _pushed(world)

    [event] = world.events.list(world.tenant_id, "failed").items
    assert (event.source_object_id, event.reason_code) == (second["id"], "currency_mismatch")
    assert world.qbo_writes("GET customer") == reads_before + 1


# Create first, look the name up on conflict


def test_given_a_new_customer_when_its_document_is_pushed_then_it_is_created_without_any_lookup(
    world: PushWorld,
) -> None:
    customer = world.first_customer_id()

    _one_product_invoice(world, customer)
    lookups = _lookups_while_pushed(world)

    assert world.linked("Customer", customer).origin == "qbosync"
    assert world.linked("Item", world.product_ids()[0]).origin == "qbosync"
    assert lookups == 0


def test_given_a_qbo_customer_of_the_same_name_when_pushed_then_it_is_adopted_with_one_lookup(
    world: PushWorld,
) -> None:
    customer = world.first_customer_id()
    name = _customer_name(world)
    by_hand = world.qbo.create("Customer", {"DisplayName": name}, "made-by-hand-1")

    _one_product_invoice(world, customer)
    lookups = _lookups_while_pushed(world)

    link = world.linked("Customer", customer)
    assert (link.qbo_id, link.origin) == (str(by_hand["Id"]), "matched")
    assert len(world.qbo_rows("Customer", f"DisplayName = '{name}'")) == 1
    assert lookups == 1


def test_given_a_vendor_holding_the_name_when_pushed_then_the_customer_gets_the_suffixed_name(
    world: PushWorld,
) -> None:
    world.configure(TenantSettings(name_collision_policy="suffix"))
    customer = world.first_customer_id()
    name = _customer_name(world)
    world.qbo.create("Vendor", {"DisplayName": name}, "vendor-by-hand-1")

    _one_product_invoice(world, customer)
    _pushed(world)

    assert world.linked("Customer", customer).origin == "matched"
    qbo_customer = world.qbo.read("Customer", world.linked("Customer", customer).qbo_id)
    assert qbo_customer["DisplayName"] != name
    assert qbo_customer["DisplayName"].startswith(name)
    [event] = world.events.list(world.tenant_id, "done").items
    assert [warning.code for warning in event.warnings] == ["name_suffixed"]


def test_given_an_open_create_of_the_customer_when_pushed_then_its_name_is_looked_up_before_any_create(
    world: PushWorld,
) -> None:
    customer = world.first_customer_id()
    name = _customer_name(world)
    made_before_the_crash = world.qbo.create("Customer", {"DisplayName": name}, "the-lost-answer-1")
    _open_create(world, "Customer", customer)
    creates_before = world.qbo_writes("POST customer")

    _one_product_invoice(world, customer)
    lookups = _lookups_while_pushed(world)

    link = world.linked("Customer", customer)
    assert (link.qbo_id, link.origin) == (str(made_before_the_crash["Id"]), "qbosync")
    assert lookups == 1
    assert world.qbo_writes("POST customer") == creates_before
    assert world.ledger.open(world.tenant_id, "Customer", customer) is None


def test_given_a_qbo_item_of_the_product_s_name_when_pushed_then_it_is_adopted_with_one_lookup(
    world: PushWorld,
) -> None:
    product = world.source.get_product(world.product_ids()[0])
    by_hand = world.qbo.create(
        "Item",
        {"Name": product.name, "Type": "Service", "IncomeAccountRef": {"value": _income_account(world)}},
        "item-by-hand-1",
    )

    _one_product_invoice(world, world.first_customer_id())
    lookups = _lookups_while_pushed(world)

    link = world.linked("Item", product.id)
    assert (link.qbo_id, link.origin) == (str(by_hand["Id"]), "matched")
    assert len(world.qbo_rows("Item", f"Name = '{product.name}'")) == 1
    assert lookups == 1


def test_given_an_open_create_of_the_item_when_pushed_then_its_name_is_looked_up_and_it_is_created_anew(
    world: PushWorld,
) -> None:
    product = world.source.get_product(world.product_ids()[0])
    _open_create(world, "Item", product.id)

    _one_product_invoice(world, world.first_customer_id())
    lookups = _lookups_while_pushed(world)

    link = world.linked("Item", product.id)
    assert link.origin == "qbosync"
    assert len(world.qbo_rows("Item", f"Name = '{product.name}'")) == 1
    assert lookups == 1
    assert world.ledger.open(world.tenant_id, "Item", product.id) is None


def _income_account(world: PushWorld) -> str:
    income = next(
        row for row in world.qbo_rows("Account", "AccountType = 'Income'") if row.get("Active", True)
    )
    return str(income["Id"])
