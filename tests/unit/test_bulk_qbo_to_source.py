"""QBO → source: unlinked QBO customers become source customers (once); unlinked items follow the default."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from qbosync.settings import get_settings
from qbosync.store.links import LinkRepository
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.qbo_to_source import customers_to_source, items_to_default_product
from tests.integration.conftest import create_table_from_template
from tests.support.bulk_harness import QboWorld, SourceWorld, qbo_world, run_config, source_world

TENANT = "acme"
PROFILE = "BP-QUARTERLY"


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkRepository]:
    with mock_aws():
        monkeypatch.setenv("TABLE_NAME", "bulk-unit")
        get_settings.cache_clear()
        create_table_from_template("MainTable", "bulk-unit")
        yield LinkRepository(sleep=lambda _s: None)


@pytest.fixture
def worlds() -> Iterator[tuple[QboWorld, SourceWorld]]:
    with qbo_world() as qbo, source_world([TENANT], customers=0, products=3) as source:
        yield qbo, source


def context(worlds: tuple[QboWorld, SourceWorld], links: LinkRepository, **settings: object) -> PageContext:
    qbo, source = worlds
    qbo.age_existing_records()
    client = qbo.client(qbo.realms[0])
    return PageContext(
        tenant_id=TENANT,
        run_id="run-1",
        config=run_config(client, **settings),  # type: ignore[arg-type]
        qbo=client,
        source=source.adapter(TENANT),
        links=links,
        clock=lambda: datetime.now(UTC),
    )


ENABLED = {
    "sync": {"invoices": False, "payments": False, "credit_notes": False, "qbo_to_source_customers": True},
    "source_defaults": {
        "new_customer_bill_profile_id": PROFILE,
        "unmatched_qbo_item_product_id": "prd_000001",
    },
}


def test_given_qbo_customers_without_links_when_synced_then_each_is_created_in_the_source_with_the_profile(
    worlds: tuple[QboWorld, SourceWorld], links: LinkRepository
) -> None:
    qbo, source = worlds
    qbo_customers = [row for row in qbo.all_rows(qbo.realms[0], "Customer") if row.get("Active", True)]

    tally = customers_to_source(context(worlds, links, **ENABLED))

    assert tally is not None and tally.created == len(qbo_customers)
    created = source.customers(TENANT)
    assert sorted(c.display_name for c in created) == sorted(row["DisplayName"] for row in qbo_customers)
    assert {c.bill_profile_id for c in created} == {PROFILE}


def test_given_the_step_ran_when_it_runs_again_then_no_source_customer_is_created_twice(
    worlds: tuple[QboWorld, SourceWorld], links: LinkRepository
) -> None:
    page_context = context(worlds, links, **ENABLED)
    first = customers_to_source(page_context)

    again = customers_to_source(page_context)

    assert len(worlds[1].customers(TENANT)) == (first.created if first else -1)
    assert again is not None and again.counts() == first.counts()  # type: ignore[union-attr]


def test_given_the_flow_off_when_the_step_runs_then_nothing_is_created(
    worlds: tuple[QboWorld, SourceWorld], links: LinkRepository
) -> None:
    assert customers_to_source(context(worlds, links)) is None
    assert worlds[1].customers(TENANT) == []


def test_given_unlinked_qbo_items_when_synced_then_each_is_linked_to_the_default_product(
    worlds: tuple[QboWorld, SourceWorld], links: LinkRepository
) -> None:
    qbo, _source = worlds
    items = [
        row
        for row in qbo.all_rows(qbo.realms[0], "Item")
        if row.get("Type") in {"Service", "NonInventory", "Inventory"} and row.get("Active", True)
    ]

    tally = items_to_default_product(context(worlds, links, **ENABLED))

    assert tally is not None and tally.matched == len(items)
    linked = links.list(TENANT, "Item", limit=500).items
    assert sorted(link.qbo_id for link in linked) == sorted(str(row["Id"]) for row in items)
    assert all(link.source_id.startswith("prd_000001~") for link in linked)
