"""Customer pages: match, create through the batch API, record links, resolve name collisions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.qbo.client import BatchItem, BatchItemResult
from qbosync.qbo.faults import QboUncertainOutcome
from qbosync.qbo.metadata import last_updated_time
from qbosync.store.events import WarningCode
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import Link, LinkRepository
from qbosync.store.runs import SKIP_SAMPLE_SIZE
from qbosync.sync.bulk.customers import sync_customer_page
from qbosync.sync.bulk.models import PageDescriptor
from qbosync.sync.bulk.page_context import PageContext
from tests.support.bulk_harness import (  # noqa: F401 (fixtures)
    QboWorld,
    SourceWorld,
    links_fixture,
    qbo_fixture,
    run_config,
    source_world,
)

TENANT = "acme"
PAGE = PageDescriptor(entity="customers", page_no=1, cursor=None, limit=40)


@pytest.fixture
def source() -> Iterator[SourceWorld]:
    with source_world([TENANT], customers=40, products=0) as world:
        yield world


def context(qbo: QboWorld, source: SourceWorld, links: LinkRepository, **settings: object) -> PageContext:
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


def active_customers(source: SourceWorld) -> list[object]:
    return [c for c in source.customers(TENANT) if c.active and not c.deleted]


def qbo_names(qbo: QboWorld) -> list[str]:
    return [str(row["DisplayName"]) for row in qbo.all_rows(qbo.realms[0], "Customer")]


def test_given_new_customers_when_the_page_syncs_then_each_is_created_once_and_linked(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    before = len(qbo_names(qbo))
    expected = active_customers(source)

    tally = sync_customer_page(context(qbo, source, links), PAGE)

    assert tally.created == len(expected)
    assert len(qbo_names(qbo)) == before + len(expected)
    linked = links.list(TENANT, "Customer", limit=100).items
    assert sorted(link.source_id for link in linked) == sorted(c.id for c in expected)  # type: ignore[attr-defined]


def test_given_a_page_of_forty_when_it_syncs_then_one_query_and_two_batches_are_sent(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    tally = sync_customer_page(context(qbo, source, links), PAGE)

    assert tally.qbo_requests == 1 + 2


def test_given_a_customer_already_in_qbo_when_the_page_syncs_then_it_is_matched_not_created(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first = active_customers(source)[0]
    existing = qbo.sandbox.companies[qbo.realms[0]].create(
        "Customer", {"DisplayName": first.display_name.upper()}
    )  # type: ignore[attr-defined]

    tally = sync_customer_page(context(qbo, source, links), PAGE)

    assert tally.matched == 1
    link = links.get(TENANT, "Customer", first.id)  # type: ignore[attr-defined]
    assert link is not None and link.qbo_id == existing["Id"] and link.origin == "matched"
    assert qbo_names(qbo).count(existing["DisplayName"]) == 1


def test_given_a_vendor_with_the_name_and_suffix_policy_when_synced_then_created_with_the_suffix(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first = active_customers(source)[0]
    qbo.sandbox.companies[qbo.realms[0]].create("Vendor", {"DisplayName": first.display_name})  # type: ignore[attr-defined]

    tally = sync_customer_page(context(qbo, source, links, name_collision_policy="suffix"), PAGE)

    assert tally.failed == 0 and tally.created == len(active_customers(source))
    assert f"{first.display_name} (C)" in qbo_names(qbo)  # type: ignore[attr-defined]


def test_given_a_vendor_with_the_name_and_report_policy_when_synced_then_skipped_with_the_reason(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first = active_customers(source)[0]
    qbo.sandbox.companies[qbo.realms[0]].create("Vendor", {"DisplayName": first.display_name})  # type: ignore[attr-defined]

    tally = sync_customer_page(context(qbo, source, links, name_collision_policy="report"), PAGE)

    assert tally.skipped == 1 + (40 - len(active_customers(source)))
    reasons = {skip.source_id: skip.reason for skip in tally.skipped_reasons}
    assert "name conflict" in reasons[first.id]  # type: ignore[attr-defined]
    assert links.get(TENANT, "Customer", first.id) is None  # type: ignore[attr-defined]


def test_given_a_synced_page_when_it_runs_again_in_the_same_run_then_nothing_is_created_and_counts_repeat(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    page_context = context(qbo, source, links)
    first = sync_customer_page(page_context, PAGE)
    count = len(qbo_names(qbo))

    second = sync_customer_page(page_context, PAGE)

    assert len(qbo_names(qbo)) == count
    assert second.counts() == first.counts()
    assert second.qbo_requests == 0


class LinksLostOnWrite(LinkRepository):
    """A link store whose writes never land: a task that died between QBO's answer and its links."""

    def put_many(self, links: Sequence[Link]) -> None:
        return None


def test_given_links_lost_after_the_creates_when_the_page_is_retried_then_nothing_is_created_twice(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    page_context = context(qbo, source, links)
    first = sync_customer_page(replace(page_context, links=LinksLostOnWrite(sleep=lambda _s: None)), PAGE)
    count = len(qbo_names(qbo))

    retried = sync_customer_page(page_context, PAGE)

    assert len(qbo_names(qbo)) == count
    assert retried.counts() == first.counts()


def test_given_a_later_run_when_the_page_syncs_then_linked_customers_are_skipped_as_already_linked(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    sync_customer_page(context(qbo, source, links), PAGE)

    later = sync_customer_page(context(qbo, source, links), PAGE)

    assert later.created == 0 and later.matched == 0
    assert later.skipped == 40


def test_given_rule_both_and_a_same_named_customer_with_another_email_when_synced_then_it_is_skipped(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first, second = active_customers(source)[:2]
    company = qbo.sandbox.companies[qbo.realms[0]]
    company.create(
        "Customer",
        {"DisplayName": first.display_name, "PrimaryEmailAddr": {"Address": "someone.else@example.com"}},  # type: ignore[attr-defined]
    )
    same = company.create(
        "Customer",
        {"DisplayName": second.display_name, "PrimaryEmailAddr": {"Address": second.email.upper()}},  # type: ignore[attr-defined]
    )

    tally = sync_customer_page(context(qbo, source, links, customer_matching="both"), PAGE)

    reasons = {skip.source_id: skip.reason for skip in tally.skipped_reasons}
    assert reasons[first.id] == "a QBO customer has this display name but a different email"  # type: ignore[attr-defined]
    link = links.get(TENANT, "Customer", second.id)  # type: ignore[attr-defined]
    assert link is not None and link.qbo_id == same["Id"]


def test_given_new_and_existing_customers_when_synced_then_only_created_links_hold_qbos_write_time(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first = active_customers(source)[0]
    existing = qbo.sandbox.companies[qbo.realms[0]].create("Customer", {"DisplayName": first.display_name})  # type: ignore[attr-defined]

    sync_customer_page(context(qbo, source, links), PAGE)

    rows = {str(row["Id"]): row for row in qbo.all_rows(qbo.realms[0], "Customer")}
    linked = links.list(TENANT, "Customer", limit=100).items
    matched = [link for link in linked if link.qbo_id == existing["Id"]]
    created = [link for link in linked if link.qbo_id != existing["Id"]]
    assert [link.qbo_written_at for link in matched] == [None]
    assert created and all(link.origin == "qbosync" for link in created)
    assert all(link.qbo_written_at == last_updated_time(rows[link.qbo_id]) for link in created)
    assert all(link.qbo_written_at is not None for link in created)


def test_given_links_lost_after_the_creates_when_the_page_is_retried_then_the_links_hold_qbos_write_time(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    page_context = context(qbo, source, links)
    sync_customer_page(replace(page_context, links=LinksLostOnWrite(sleep=lambda _s: None)), PAGE)

    sync_customer_page(page_context, PAGE)

    rows = {str(row["Id"]): row for row in qbo.all_rows(qbo.realms[0], "Customer")}
    linked = links.list(TENANT, "Customer", limit=100).items
    assert linked and all(link.origin == "qbosync" for link in linked)
    assert all(
        link.qbo_written_at is not None and link.qbo_written_at == last_updated_time(rows[link.qbo_id])
        for link in linked
    )


def test_given_a_batch_whose_answer_was_lost_when_the_page_is_retried_then_each_is_created_once_and_settled(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    page_context = context(qbo, source, links)
    before = len(qbo_names(qbo))
    real_batch = page_context.qbo.batch
    answers_lost = [True]

    def committed_then_lost(items: Sequence[BatchItem], request_id: str | None) -> list[BatchItemResult]:
        results = real_batch(items, request_id)
        if answers_lost:
            answers_lost.clear()
            raise QboUncertainOutcome(
                "QBO committed the batch; its answer never came back", request_id=request_id, entity="batch"
            )
        return results

    monkeypatch.setattr(page_context.qbo, "batch", committed_then_lost)
    with pytest.raises(QboUncertainOutcome):
        sync_customer_page(page_context, PAGE)
    open_creates = list(WriteLedger().ambiguous(TENANT))
    assert len(open_creates) == page_context.batch_size
    assert {intent.operation for intent in open_creates} == {"bulk-create"}

    retried = sync_customer_page(page_context, PAGE)

    expected = active_customers(source)
    assert len(qbo_names(qbo)) == before + len(expected)
    assert retried.created == len(expected)
    assert list(WriteLedger().ambiguous(TENANT)) == []


def rename_in_source(source: SourceWorld, customer: Any, **fields: object) -> None:
    sandbox = source.app.state.sandbox
    sandbox.tenant(TENANT).collections["customers"].put(customer.model_copy(update=fields))


def test_given_a_vendor_with_the_name_and_suffix_policy_when_synced_then_the_suffix_is_a_warning_of_the_page(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first = active_customers(source)[0]
    qbo.sandbox.companies[qbo.realms[0]].create("Vendor", {"DisplayName": first.display_name})  # type: ignore[attr-defined]

    tally = sync_customer_page(context(qbo, source, links, name_collision_policy="suffix"), PAGE)

    (warning,) = tally.warnings()
    assert (warning.code, warning.count) == (WarningCode.NAME_SUFFIXED, 1)
    assert [sample.source_id for sample in warning.sample] == [first.id]  # type: ignore[attr-defined]
    assert f"so it is '{first.display_name} (C)' in QBO" in warning.sample[0].message  # type: ignore[attr-defined]


def test_given_company_names_longer_than_qbo_holds_when_created_then_each_is_a_field_truncated_warning(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    long_named = active_customers(source)[:7]
    for customer in long_named:
        rename_in_source(source, customer, company_name="Very Long Company Name " * 3)

    tally = sync_customer_page(context(qbo, source, links), PAGE)

    (warning,) = tally.warnings()
    assert (warning.code, warning.count) == (WarningCode.FIELD_TRUNCATED, 7)
    assert len(warning.sample) == SKIP_SAMPLE_SIZE
    assert (
        warning.sample[0].message
        == f"customer {long_named[0].id}: company_name longer than QBO holds, so cut in QBO"
    )  # type: ignore[attr-defined]


def test_given_links_lost_after_suffixed_creates_when_the_page_is_retried_then_the_warning_is_counted_again(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    first = active_customers(source)[0]
    qbo.sandbox.companies[qbo.realms[0]].create("Vendor", {"DisplayName": first.display_name})  # type: ignore[attr-defined]
    page_context = context(qbo, source, links, name_collision_policy="suffix")
    sync_customer_page(replace(page_context, links=LinksLostOnWrite(sleep=lambda _s: None)), PAGE)

    retried = sync_customer_page(page_context, PAGE)

    assert [(w.code, w.count) for w in retried.warnings()] == [(WarningCode.NAME_SUFFIXED, 1)]


def test_given_customers_created_as_the_source_has_them_when_synced_then_the_page_has_no_warnings(
    qbo: QboWorld, source: SourceWorld, links: LinkRepository
) -> None:
    tally = sync_customer_page(context(qbo, source, links), PAGE)

    assert tally.created > 0 and tally.warnings() == []
