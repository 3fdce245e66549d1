"""The initial bulk sync end to end: the admin route starts the real state machine in moto, whose Task
states run the real handler (project invoker) against both sandboxes on loopback.

QBO-side truth is read from the QBO sandbox's own state (its company records), not through qbosync.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbosync.store.runs import EntityCounts
from qbosync.sync.bulk.models import DEFAULT_PAGE_SIZE
from tests.support.bulk_world import (
    BILL_PROFILE,
    DEFAULT_PRODUCT,
    BulkWorld,
    bulk_world,
    provision_tenant,
)

TENANT = "acme"
CUSTOMERS, PRODUCTS = 500, 200
ALREADY_IN_QBO, VENDOR_COLLISIONS = 20, 10
PAGE_SIZE = DEFAULT_PAGE_SIZE


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[BulkWorld]:
    with bulk_world(monkeypatch, [TENANT], CUSTOMERS, PRODUCTS) as built:
        realm = next(iter(built.qbo.companies))
        provision_tenant(built, TENANT, realm)
        yield built


def seed_qbo_overlaps(world: BulkWorld) -> tuple[list[Any], list[Any]]:
    """Some source customers already exist in QBO (by name, other case); some names belong to vendors."""
    active = [c for c in world.source_customers(TENANT) if c.active and not c.deleted]
    company = world.qbo.companies[world.realm_by_tenant[TENANT]]
    existing = active[:ALREADY_IN_QBO]
    colliding = active[ALREADY_IN_QBO : ALREADY_IN_QBO + VENDOR_COLLISIONS]
    for customer in existing:
        company.create("Customer", {"DisplayName": customer.display_name.lower()})
    for customer in colliding:
        company.create("Vendor", {"DisplayName": customer.display_name})
    world.qbo.clock.advance(2.0)  # QBO stamps whole seconds; what exists now predates the run
    return existing, colliding


def expected_customer_counts(customers: list[Any]) -> EntityCounts:
    active = [c for c in customers if c.active and not c.deleted]
    return EntityCounts(
        matched=ALREADY_IN_QBO,
        created=len(active) - ALREADY_IN_QBO,
        skipped=len(customers) - len(active),
        failed=0,
    )


def expected_product_counts(products: list[Any]) -> EntityCounts:
    syncable = [p for p in products if p.active and not p.deleted and p.product_type != "discount"]
    return EntityCounts(matched=0, created=len(syncable), skipped=len(products) - len(syncable), failed=0)


def start(world: BulkWorld) -> str:
    status, body = world.api("POST", f"/tenants/{TENANT}/sync/initial", TENANT)
    assert status == 202, body
    assert body["status_url"] == f"/tenants/{TENANT}/sync/runs/{body['run_id']}"
    return str(body["run_id"])


def test_given_500_customers_and_200_products_when_synced_then_counts_are_exact_and_nothing_is_duplicated(
    world: BulkWorld,
) -> None:
    existing, colliding = seed_qbo_overlaps(world)
    company_customers_before = world.qbo_rows(TENANT, "Customer")
    items_before = [
        row
        for row in world.qbo_rows(TENANT, "Item")
        if row.get("Type") in {"Service", "NonInventory", "Inventory"} and row.get("Active", True)
    ]
    source_customers_before = len(world.source_customers(TENANT))
    qbo_only_customers = [
        row
        for row in company_customers_before
        if row.get("Active", True) and row["DisplayName"] not in {c.display_name.lower() for c in existing}
    ]
    expected_customers = expected_customer_counts(world.source_customers(TENANT))
    world.fail_product_page(2)

    run_id = start(world)
    run = world.wait_until_finished(TENANT, run_id)

    assert run.status == "SUCCEEDED_WITH_ERRORS"
    assert run.counts["customers"] == expected_customers
    assert run.counts["products"] == expected_product_counts(world.source_products(TENANT)[:PAGE_SIZE])
    assert run.counts["qbo_customers"] == EntityCounts(created=len(qbo_only_customers))
    assert run.counts["qbo_items"] == EntityCounts(matched=len(items_before))
    assert [(page.entity, page.page_no) for page in run.failed_pages] == [("products", 2)]
    assert "page_unreadable" in run.failed_pages[0].reason
    # No duplicates: every created customer is one new QBO record, and every name is unique.
    qbo_customers = world.qbo_rows(TENANT, "Customer")
    assert len(qbo_customers) == len(company_customers_before) + run.counts["customers"].created
    names = [row["DisplayName"].casefold() for row in qbo_customers]
    assert len(names) == len(set(names))
    for customer in colliding:
        assert f"{customer.display_name} (C)" in {row["DisplayName"] for row in qbo_customers}
    customer_links = {link.source_id: link for link in world.links(TENANT, "Customer")}
    assert {customer_links[customer.id].origin for customer in existing} == {"matched"}
    created_in_source = world.source_customers(TENANT)[source_customers_before:]
    assert len(created_in_source) == len(qbo_only_customers)
    assert {c.bill_profile_id for c in created_in_source} == {BILL_PROFILE}
    default_links = [
        link for link in world.links(TENANT, "Item") if link.source_id.startswith(DEFAULT_PRODUCT + "~")
    ]
    assert len(default_links) == len(items_before)

    # The failed page succeeds when the sync runs again; nothing synced before is created again.
    world.heal_product_pages()
    items_after_first = len(world.qbo_rows(TENANT, "Item"))
    second = world.wait_until_finished(TENANT, start(world))

    # Unmapped discount products are skipped again, with their reason: the run warns.
    assert second.status == "SUCCEEDED_WITH_WARNINGS" and second.failed_pages == []
    assert second.counts["products"] == EntityCounts(
        created=expected_product_counts(world.source_products(TENANT)[PAGE_SIZE:]).created,
        skipped=PRODUCTS - expected_product_counts(world.source_products(TENANT)[PAGE_SIZE:]).created,
    )
    assert second.counts["customers"].created == 0 and second.counts["customers"].matched == 0
    assert len(world.qbo_rows(TENANT, "Customer")) == len(qbo_customers)
    assert len(world.qbo_rows(TENANT, "Item")) == items_after_first + second.counts["products"].created
    assert len(world.source_customers(TENANT)) == source_customers_before + len(qbo_only_customers)
    status, view = world.api("GET", f"/tenants/{TENANT}/sync/runs/{run_id}", TENANT)
    assert status == 200
    assert view["status"] == "SUCCEEDED_WITH_ERRORS" and view["percentage"] == 100.0
    assert view["failed_pages"][0]["page_no"] == 2
    first_page = world.source_products(TENANT)[:PAGE_SIZE]
    unmapped = {p.id for p in first_page if p.active and not p.deleted and p.product_type == "discount"}
    inactive = {p.id for p in first_page if not p.active or p.deleted}
    by_reason = {(skips["entity"], skips["code"]): skips for skips in view["skips"]}
    unmapped_skips = by_reason[("products", "no_product_type_mapping")]
    assert unmapped_skips["count"] == len(unmapped) and unmapped_skips["warns"] is True
    assert "Product types" in unmapped_skips["explanation"]
    assert {record["source_id"] for record in unmapped_skips["sample"]} <= unmapped
    assert 0 < len(unmapped_skips["sample"]) <= 5
    assert by_reason.get(("products", "inactive_in_source"), {"count": 0})["count"] == len(inactive)
