"""Source products → QBO Items through the push worker: created, sparse-updated, made inactive, with the
product-types, gl-codes and income-accounts mappings applied; reconciliation queues the changes
webhooks missed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbosync.store.events import ReasonCode
from qbosync.sync.configuration import MappingKind, MappingRowInput
from tests.support.push_world import PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=1, products=1) as built:
        built.configure()
        yield built


def _push(world: PushWorld) -> None:
    world.deliver_all()
    world.drain()


def _new_product(world: PushWorld, **fields: Any) -> dict[str, Any]:
    reference = world.source.list_product_types()[0].code
    gl_code = world.source.list_gl_codes()[0].code
    body = {"name": "Managed Backup", "product_type": reference, "gl_code": gl_code, "unit_price": "45.00"}
    created = world.change("POST", "products", {**body, **fields})
    _push(world)
    return created


def _item(world: PushWorld, qbo_id: str) -> dict[str, Any]:
    return world.qbo.read("Item", qbo_id)  # a query would leave inactive items out


def _income_account_of_gl_codes(world: PushWorld) -> str:
    rows, _version = world.configuration.read_mapping(world.tenant_id, MappingKind.GL_CODES)
    return rows[0].qbo_id


def test_given_a_new_source_product_when_its_webhook_is_pushed_then_qbo_has_an_item_of_the_mapped_type(
    world: PushWorld,
) -> None:
    created = _new_product(world)

    link = world.linked("Item", created["id"])
    item = _item(world, link.qbo_id)
    assert (item["Name"], item["Type"], item["UnitPrice"], item["Active"]) == (
        "Managed Backup",
        "Service",
        45.0,
        True,
    )
    assert item["IncomeAccountRef"]["value"] == _income_account_of_gl_codes(world)
    assert link.source_version == created["version"]
    [event] = world.events.list(world.tenant_id, "done").items
    assert event.source_object_id == created["id"]


def test_given_a_pushed_product_when_edited_in_the_source_then_the_same_item_is_sparse_updated(
    world: PushWorld,
) -> None:
    created = _new_product(world)
    before = world.linked("Item", created["id"])

    edited = world.change(
        "PUT", f"products/{created['id']}", {"name": "Managed Backup Plus", "unit_price": "55.00"}
    )
    _push(world)

    after = world.linked("Item", created["id"])
    item = _item(world, after.qbo_id)
    assert after.qbo_id == before.qbo_id
    assert (item["Name"], item["UnitPrice"]) == ("Managed Backup Plus", 55.0)
    assert int(item["SyncToken"]) == int(before.sync_token or 0) + 1
    assert after.source_version == edited["version"]
    assert len(world.qbo_rows("Item", "Name = 'Managed Backup'")) == 0


def test_given_a_pushed_product_when_deactivated_then_deleted_in_the_source_then_its_item_is_inactive(
    world: PushWorld,
) -> None:
    created = _new_product(world)
    qbo_id = world.linked("Item", created["id"]).qbo_id

    world.change("PUT", f"products/{created['id']}", {"active": False})
    _push(world)
    deactivated = _item(world, qbo_id)
    world.change("DELETE", f"products/{created['id']}")
    _push(world)

    assert deactivated["Active"] is False
    done = world.events.list(world.tenant_id, "done").items
    assert any("made inactive" in (event.reason or "") for event in done)
    assert world.events.list(world.tenant_id, "failed").items == []


def test_given_a_product_type_nobody_mapped_when_its_product_is_pushed_then_the_event_waits_for_the_mapping(
    world: PushWorld,
) -> None:
    world.map(MappingKind.PRODUCT_TYPES, [])

    created = _new_product(world)

    [failed] = world.events.list(world.tenant_id, "failed").items
    assert (failed.source_object_id, failed.reason_code) == (created["id"], ReasonCode.MISSING_MAPPING)
    assert failed.mapping is not None and failed.mapping.kind == "product-types"
    assert world.links.get(world.tenant_id, "Item", created["id"]) is None


def test_given_the_income_accounts_mapping_names_the_products_account_when_pushed_then_no_item_is_created(
    world: PushWorld,
) -> None:
    account = next(a for a in world.source.list_accounts() if a.account_type == "income")
    service_item = next(row for row in world.qbo_rows("Item") if row.get("Type") == "Service")
    world.map(
        MappingKind.INCOME_ACCOUNTS,
        [MappingRowInput(source_key=account.code, qbo_id=str(service_item["Id"]))],
    )
    items_before = len(world.qbo_rows("Item"))

    _new_product(world, income_account=account.code, name="Billed Through Mapping")

    assert len(world.qbo_rows("Item")) == items_before
    [event] = world.events.list(world.tenant_id, "done").items
    assert f"invoiced as QBO item {service_item['Id']}" in (event.reason or "")


def test_given_product_sync_is_off_when_a_product_is_pushed_then_qbo_is_not_written(world: PushWorld) -> None:
    settings, _version = world.configuration.read_settings(world.tenant_id)
    world.configure(
        settings.model_copy(update={"sync": settings.sync.model_copy(update={"products": False})})
    )
    items_before = len(world.qbo_rows("Item"))

    _new_product(world)

    assert len(world.qbo_rows("Item")) == items_before
    [event] = world.events.list(world.tenant_id, "done").items
    assert event.reason == "product sync is turned off"
