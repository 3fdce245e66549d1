"""Product pages: item type and income account from the run's mappings; unmapped products skipped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.store.events import WarningCode
from qbosync.store.links import LinkRepository
from qbosync.store.runs import SKIP_SAMPLE_SIZE
from qbosync.sync.bulk.models import PageDescriptor
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.products import sync_product_page
from qbosync.sync.bulk.skips import SkipReason
from tests.support.bulk_harness import (  # noqa: F401 (fixtures)
    QboWorld,
    SourceWorld,
    links_fixture,
    qbo_fixture,
    run_config,
    source_world,
)

TENANT = "acme"
PAGE = PageDescriptor(entity="products", page_no=1, cursor=None, limit=32)


@pytest.fixture
def source() -> Iterator[SourceWorld]:
    with source_world([TENANT], customers=0, products=32) as world:
        yield world


def context(qbo: QboWorld, source: SourceWorld, links: LinkRepository, **settings: Any) -> PageContext:
    qbo.age_existing_records()
    client = qbo.client(qbo.realms[0])
    return PageContext(
        tenant_id=TENANT,
        run_id="run-1",
        config=run_config(client, **settings),
        qbo=client,
        source=source.adapter(TENANT),
        links=links,
        clock=lambda: datetime.now(UTC),
    )


def syncable(source: SourceWorld) -> list[object]:
    return [p for p in source.products(TENANT) if p.active and not p.deleted]


def items_by_name(qbo: QboWorld) -> dict[str, dict[str, object]]:
    return {str(row["Name"]): row for row in qbo.all_rows(qbo.realms[0], "Item")}


def test_given_mapped_products_when_the_page_syncs_then_items_get_the_mapped_type_and_income_account(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    page_context = context(qbo, source, links)

    sync_product_page(page_context, PAGE)

    items = items_by_name(qbo)
    for product in syncable(source):
        if product.product_type == "discount":  # type: ignore[attr-defined]
            continue
        item = items[product.name]  # type: ignore[attr-defined]
        assert item["Type"] == page_context.config.product_types[product.product_type]  # type: ignore[attr-defined]
        income = item["IncomeAccountRef"]
        assert isinstance(income, dict)
        assert income["value"] == page_context.config.gl_codes[product.gl_code]  # type: ignore[attr-defined]


def test_given_a_product_type_without_mapping_when_the_page_syncs_then_it_is_skipped_with_the_reason(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    discounts = [p for p in syncable(source) if p.product_type == "discount"]  # type: ignore[attr-defined]

    tally = sync_product_page(context(qbo, source, links), PAGE)

    reasons = {skip.source_id: (skip.code, skip.reason) for skip in tally.skipped_reasons}
    assert discounts
    for product in discounts:
        assert reasons[product.id] == (  # type: ignore[attr-defined]
            SkipReason.NO_PRODUCT_TYPE_MAPPING,
            "no product-types mapping for 'discount'",
        )
        assert product.name not in items_by_name(qbo)  # type: ignore[attr-defined]
    by_code = {tally.code: tally for tally in tally.skips()}
    assert by_code["no_product_type_mapping"].count == len(discounts)
    assert len(by_code["no_product_type_mapping"].sample) == min(len(discounts), SKIP_SAMPLE_SIZE)


def test_given_an_item_with_the_name_in_qbo_when_the_page_syncs_then_the_product_is_matched(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    product = next(p for p in syncable(source) if p.product_type == "service")  # type: ignore[attr-defined]
    existing = qbo.sandbox.companies[qbo.realms[0]].create(
        "Item",
        {"Name": product.name, "Type": "Service", "IncomeAccountRef": {"value": "1"}},  # type: ignore[attr-defined]
    )

    tally = sync_product_page(context(qbo, source, links), PAGE)

    assert tally.matched == 1
    link = links.get(TENANT, "Item", product.id)  # type: ignore[attr-defined]
    assert link is not None and link.qbo_id == existing["Id"] and link.origin == "matched"


def test_given_products_when_the_page_syncs_then_the_counts_add_up_to_the_page(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    tally = sync_product_page(context(qbo, source, links), PAGE)

    assert tally.matched + tally.created + tally.skipped + tally.failed == 32
    assert tally.failed == 0


def rename_in_source(source: SourceWorld, product: Any, name: str) -> None:
    sandbox = source.app.state.sandbox
    sandbox.tenant(TENANT).collections["products"].put(product.model_copy(update={"name": name}))


def test_given_a_product_name_with_a_colon_when_created_then_the_cut_name_is_a_name_truncated_warning(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    product = next(p for p in syncable(source) if p.product_type == "service")  # type: ignore[attr-defined]
    rename_in_source(source, product, "Support: premium")

    tally = sync_product_page(context(qbo, source, links), PAGE)

    assert "Support- premium" in items_by_name(qbo)
    (warning,) = tally.warnings()
    assert (warning.code, warning.count) == (WarningCode.NAME_TRUNCATED, 1)
    assert warning.sample[0].source_id == product.id  # type: ignore[attr-defined]
    assert "'Support: premium' is 'Support- premium' in QBO" in warning.sample[0].message


def test_given_an_inactive_item_with_the_name_and_suffix_policy_when_created_then_name_suffixed_warns(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    product = next(p for p in syncable(source) if p.product_type == "service")  # type: ignore[attr-defined]
    company = qbo.sandbox.companies[qbo.realms[0]]
    taken = company.create(
        "Item", {"Name": product.name, "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    )  # type: ignore[attr-defined]
    company.update(
        "Item", {"Id": taken["Id"], "SyncToken": taken["SyncToken"], "Active": False, "sparse": True}
    )
    tally = sync_product_page(context(qbo, source, links, name_collision_policy="suffix"), PAGE)

    assert f"{product.name} (P)" in items_by_name(qbo)  # type: ignore[attr-defined]
    assert [(w.code, w.count) for w in tally.warnings()] == [(WarningCode.NAME_SUFFIXED, 1)]
    assert tally.warnings()[0].sample[0].source_id == product.id  # type: ignore[attr-defined]
