"""Queries, batches and change data capture through python-quickbooks as shipped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.batch import batch_create, batch_delete, batch_update
from quickbooks.cdc import change_data_capture
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment

from tests.conformance.records import (
    create_credit_memo,
    create_customer,
    create_invoice,
    create_item,
    create_payment,
    income_account,
)


@pytest.fixture
def three_customers(qb: QuickBooks) -> tuple[str, list[Customer]]:
    """Three customers sharing a prefix no other test uses, created in name order."""
    prefix = f"Q{uuid.uuid4().hex[:8]}"
    created = []
    for suffix in ("a", "b", "c"):
        customer = Customer()
        customer.DisplayName = f"{prefix} {suffix}"
        created.append(customer.save(qb=qb))
    return prefix, created


@pytest.fixture(scope="module")
def item(qb: QuickBooks) -> Item:
    return create_item(qb, income_account(qb))


def _since(minutes: int = 10) -> str:
    """A changedSince value with an explicit offset, so no time zone is guessed."""
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


# ---------------------------------------------------------------- query


def test_given_three_customers_when_like_is_ordered_and_paged_then_the_second_one_comes_back(
    qb: QuickBooks, three_customers: tuple[str, list[Customer]]
) -> None:
    prefix, created = three_customers

    page = Customer.where(
        f"DisplayName LIKE '{prefix}%'", order_by="DisplayName DESC", start_position=2, max_results=1, qb=qb
    )

    assert [c.DisplayName for c in page] == [created[1].DisplayName], (
        "ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 1 selects the middle record (QBO pages from 1)"
    )


def test_given_three_customers_when_counted_with_a_where_clause_then_the_total_count_is_three(
    qb: QuickBooks, three_customers: tuple[str, list[Customer]]
) -> None:
    prefix, _ = three_customers

    total = Customer.count(f"DisplayName LIKE '{prefix}%'", qb=qb)

    assert total == 3, f"SELECT COUNT(*) answers QueryResponse.totalCount; python-quickbooks read {total!r}"


def test_given_no_match_when_counted_then_the_total_count_is_zero(qb: QuickBooks) -> None:
    total = Customer.count(f"DisplayName = 'nobody {uuid.uuid4().hex}'", qb=qb)

    assert total == 0, (
        f"QBO answers COUNT(*) with totalCount 0 when nothing matches; python-quickbooks read {total!r}"
    )


def test_given_two_of_three_ids_when_chosen_then_exactly_those_come_back(
    qb: QuickBooks, three_customers: tuple[str, list[Customer]]
) -> None:
    _, created = three_customers
    wanted = sorted(str(c.Id) for c in created[:2])

    chosen = Customer.choose(wanted, qb=qb)

    assert sorted(str(c.Id) for c in chosen) == wanted


def test_given_a_select_statement_when_run_through_query_then_the_named_entity_list_is_returned(
    qb: QuickBooks, three_customers: tuple[str, list[Customer]]
) -> None:
    prefix, created = three_customers

    found = Customer.query(
        f"SELECT * FROM Customer WHERE DisplayName LIKE '{prefix}%' ORDERBY DisplayName",  # noqa: S608
        qb=qb,
    )

    assert [c.DisplayName for c in found] == [c.DisplayName for c in created]


def test_given_a_name_with_an_apostrophe_when_filtered_then_the_escaped_literal_matches(
    qb: QuickBooks,
) -> None:
    customer = Customer()
    customer.DisplayName = f"O'Brien {uuid.uuid4().hex[:8]}"
    created = customer.save(qb=qb)

    found = Customer.filter(DisplayName=customer.DisplayName, qb=qb)

    assert [str(c.Id) for c in found] == [str(created.Id)], "QBO reads \\' inside a literal as an apostrophe"


def test_given_items_when_listed_with_all_then_the_sku_projection_python_quickbooks_sends_is_accepted(
    qb: QuickBooks, item: Item
) -> None:
    listed = Item.all(max_results=1000, qb=qb)

    assert str(item.Id) in {str(i.Id) for i in listed}, (
        "Item.all sends `SELECT *, Sku FROM Item`, which QBO serves"
    )


def test_given_all_customers_when_listed_with_order_by_then_the_order_by_form_python_quickbooks_sends_works(
    qb: QuickBooks,
) -> None:
    first = create_customer(qb, prefix="Aaa first")

    listed = Customer.all(order_by="DisplayName", max_results=5, qb=qb)

    names = [c.DisplayName for c in listed]
    assert names[:1] == [first.DisplayName] and len(names) == 5, (
        f"Customer.all sends `ORDER BY DisplayName` (two words); QBO serves it sorted; sandbox: {names}"
    )


# ---------------------------------------------------------------- batch


def test_given_two_new_customers_when_batch_created_then_both_succeed_with_ids(qb: QuickBooks) -> None:
    customers = [Customer(), Customer()]
    for index, customer in enumerate(customers):
        customer.DisplayName = f"Batch {uuid.uuid4().hex[:8]} {index}"

    result = batch_create(customers, qb=qb)

    assert result.faults == [], f"no item should fail; sandbox faults: {[f.Error for f in result.faults]}"
    assert sorted(c.DisplayName for c in result.successes) == sorted(c.DisplayName for c in customers)
    assert all(c.Id for c in result.successes)


def test_given_a_batch_with_a_duplicate_name_when_created_then_only_that_item_faults_with_6240(
    qb: QuickBooks,
) -> None:
    taken = create_customer(qb)
    fresh, duplicate = Customer(), Customer()
    fresh.DisplayName = f"Batch fresh {uuid.uuid4().hex[:8]}"
    duplicate.DisplayName = taken.DisplayName

    result = batch_create([fresh, duplicate], qb=qb)

    assert [c.DisplayName for c in result.successes] == [fresh.DisplayName]
    codes = [error.code for fault in result.faults for error in fault.Error]
    assert codes == ["6240"], (
        f"a duplicate DisplayName faults its batch item with code '6240'; sandbox: {codes}"
    )


def test_given_two_read_customers_when_batch_updated_then_both_sync_tokens_increment(qb: QuickBooks) -> None:
    customers = [Customer.get(create_customer(qb).Id, qb=qb) for _ in range(2)]
    for customer in customers:
        customer.Notes = "batch update"

    result = batch_update(customers, qb=qb)

    assert result.faults == [], f"sandbox faults: {[f.Error for f in result.faults]}"
    assert sorted(str(c.SyncToken) for c in result.successes) == ["1", "1"]


def test_given_two_invoices_when_batch_deleted_then_both_are_gone(qb: QuickBooks, item: Item) -> None:
    customer = create_customer(qb)
    invoices = [create_invoice(qb, customer, item) for _ in range(2)]

    result = batch_delete(invoices, qb=qb)

    assert result.faults == [], f"sandbox faults: {[f.Error for f in result.faults]}"
    remaining = Invoice.choose([str(i.Id) for i in invoices], qb=qb)
    assert remaining == [], f"deleted invoices must not be queryable; still found {[i.Id for i in remaining]}"


# ---------------------------------------------------------------- change data capture


def test_given_a_new_customer_and_invoice_when_cdc_is_asked_then_both_are_reported(
    qb: QuickBooks, item: Item
) -> None:
    since = _since()
    customer = create_customer(qb)
    invoice = create_invoice(qb, customer, item)

    changes = change_data_capture([Customer, Invoice], since, qb=qb)

    customers = {str(c.Id) for c in getattr(changes, "Customer", [])}
    invoices = {str(i.Id) for i in getattr(changes, "Invoice", [])}
    assert str(customer.Id) in customers, "CDC reports customers changed since changedSince"
    assert str(invoice.Id) in invoices, "CDC reports invoices changed since changedSince"


def test_given_a_deleted_invoice_when_cdc_is_asked_then_it_is_reported_with_status_deleted(
    qb: QuickBooks, item: Item
) -> None:
    since = _since()
    invoice = create_invoice(qb, create_customer(qb), item)
    invoice.delete(qb=qb)

    changes = change_data_capture([Invoice], since, qb=qb)

    reported = [i for i in getattr(changes, "Invoice", []) if str(i.Id) == str(invoice.Id)]
    assert [getattr(i, "status", None) for i in reported] == ["Deleted"], (
        "QBO's CDC lists a deleted object once, as {status: Deleted, Id, MetaData}"
    )


def test_given_a_new_customer_when_filtered_by_last_updated_time_then_it_is_found(qb: QuickBooks) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    customer = create_customer(qb)

    found = Customer.where(
        f"MetaData.LastUpdatedTime >= '{since}' AND DisplayName = '{customer.DisplayName}'", qb=qb
    )

    assert [str(c.Id) for c in found] == [str(customer.Id)], (
        "QBO filters on MetaData.LastUpdatedTime (the paged fallback for CDC beyond 30 days)"
    )


def test_given_an_invoice_number_when_invoices_are_filtered_by_doc_number_then_that_invoice_is_found(
    qb: QuickBooks, item: Item
) -> None:
    doc_number = f"D{uuid.uuid4().hex[:12]}"
    invoice = create_invoice(qb, create_customer(qb), item, doc_number=doc_number)

    found = Invoice.filter(DocNumber=doc_number, qb=qb)

    assert [str(i.Id) for i in found] == [str(invoice.Id)]


@pytest.fixture(scope="module")
def customer_with_transactions(qb: QuickBooks, item: Item) -> tuple[Customer, dict[str, str]]:
    """One customer with one invoice, one payment and one credit memo; their Ids by entity."""
    customer = create_customer(qb)
    invoice = create_invoice(qb, customer, item, amount=60)
    payment = create_payment(qb, customer, invoice, amount=20)
    memo = create_credit_memo(qb, customer, item, amount=5)
    return customer, {"Invoice": str(invoice.Id), "Payment": str(payment.Id), "CreditMemo": str(memo.Id)}


@pytest.mark.parametrize("entity", [Invoice, Payment, CreditMemo], ids=["Invoice", "Payment", "CreditMemo"])
def test_given_a_customers_transactions_when_queried_by_customer_ref_then_exactly_its_own_come_back(
    qb: QuickBooks, customer_with_transactions: tuple[Customer, dict[str, str]], entity: type[Any]
) -> None:
    customer, ids = customer_with_transactions

    found = entity.where(f"CustomerRef = '{customer.Id}'", qb=qb)

    assert [str(record.Id) for record in found] == [ids[entity.qbo_object_name]]
    assert entity.count(f"CustomerRef = '{customer.Id}'", qb=qb) == 1
