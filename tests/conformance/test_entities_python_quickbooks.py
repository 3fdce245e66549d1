"""Every entity the sandbox supports, driven through python-quickbooks as shipped.

Name-list entities are created, read, updated in full and renamed or deactivated; transactions are also
deleted and voided. Failure messages say what the sandbox answered and what QBO does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Address, EmailAddress, Ref
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.employee import Employee
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment
from quickbooks.objects.paymentmethod import PaymentMethod
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.taxrate import TaxRate
from quickbooks.objects.term import Term
from quickbooks.objects.trackingclass import Class
from quickbooks.objects.vendor import Vendor

from tests.conformance.harness import SandboxProcess, quickbooks_client, unique_name
from tests.conformance.records import (
    create_credit_memo,
    create_customer,
    create_invoice,
    create_item,
    create_payment,
    income_account,
    money,
    sales_line,
)


def _refusal(call: Callable[[], object]) -> QuickbooksException | None:
    """The exception python-quickbooks raised for a call, or None when the sandbox accepted it."""
    try:
        call()
    except QuickbooksException as exc:
        return exc
    return None


# ---------------------------------------------------------------- name-list entities


def _customer(qb: QuickBooks) -> Customer:
    customer = Customer()
    customer.DisplayName = unique_name("Customer")
    return customer


def _vendor(qb: QuickBooks) -> Vendor:
    vendor = Vendor()
    vendor.DisplayName = unique_name("Vendor")
    return vendor


def _employee(qb: QuickBooks) -> Employee:
    employee = Employee()
    employee.GivenName = "Conformance"
    employee.FamilyName = uuid.uuid4().hex[:12]
    employee.DisplayName = unique_name("Employee")
    return employee


def _item(qb: QuickBooks) -> Item:
    account = income_account(qb)
    item = Item()
    item.Name = unique_name("Item")
    item.Type = "Service"
    item.UnitPrice = 42
    item.IncomeAccountRef = account.to_ref()
    return item


def _account(qb: QuickBooks) -> Account:
    account = Account()
    account.Name = unique_name("Account")
    account.AccountType = "Income"
    account.AccountSubType = "ServiceFeeIncome"
    return account


def _class(qb: QuickBooks) -> Class:
    tracking_class = Class()
    tracking_class.Name = unique_name("Class")
    return tracking_class


def _payment_method(qb: QuickBooks) -> PaymentMethod:
    method = PaymentMethod()
    method.Name = unique_name("PM")  # QBO allows at most 31 characters
    method.Type = "NON_CREDIT_CARD"
    return method


def _term(qb: QuickBooks) -> Term:
    term = Term()
    term.Name = unique_name("Net")
    term.DueDays = 15
    return term


NameListFactory = Callable[[QuickBooks], Any]
NAME_LISTS: list[tuple[type[Any], str, NameListFactory]] = [
    (Customer, "DisplayName", _customer),
    (Vendor, "DisplayName", _vendor),
    (Employee, "DisplayName", _employee),
    (Item, "Name", _item),
    (Account, "Name", _account),
    (Class, "Name", _class),
    (PaymentMethod, "Name", _payment_method),
    (Term, "Name", _term),
]
NAME_LIST_IDS = [entity.qbo_object_name for entity, _, _ in NAME_LISTS]


@pytest.mark.parametrize(("entity", "name_field", "factory"), NAME_LISTS, ids=NAME_LIST_IDS)
def test_given_a_new_record_when_saved_then_it_gets_an_id_and_sync_token_zero(
    qb: QuickBooks, entity: type[Any], name_field: str, factory: NameListFactory
) -> None:
    record = factory(qb)

    created = record.save(qb=qb)

    assert created.Id, f"QBO assigns an Id on create; the sandbox's {entity.qbo_object_name} has none"
    assert str(created.SyncToken) == "0", f"QBO starts SyncToken at '0'; sandbox sent {created.SyncToken!r}"
    assert getattr(created, name_field) == getattr(record, name_field)


@pytest.mark.parametrize(("entity", "name_field", "factory"), NAME_LISTS, ids=NAME_LIST_IDS)
def test_given_a_saved_record_when_read_by_id_then_the_same_record_comes_back(
    qb: QuickBooks, entity: type[Any], name_field: str, factory: NameListFactory
) -> None:
    created = factory(qb).save(qb=qb)

    read = entity.get(created.Id, qb=qb)

    assert (str(read.Id), getattr(read, name_field)) == (str(created.Id), getattr(created, name_field))


@pytest.mark.parametrize(("entity", "name_field", "factory"), NAME_LISTS, ids=NAME_LIST_IDS)
def test_given_a_read_record_when_renamed_and_saved_then_the_name_changes_and_sync_token_increments(
    qb: QuickBooks, entity: type[Any], name_field: str, factory: NameListFactory
) -> None:
    record = entity.get(factory(qb).save(qb=qb).Id, qb=qb)
    new_name = unique_name("Renamed")
    setattr(record, name_field, new_name)

    updated = record.save(qb=qb)

    assert str(updated.SyncToken) == "1", (
        f"QBO increments SyncToken on update; sandbox sent {updated.SyncToken!r}"
    )
    assert getattr(entity.get(record.Id, qb=qb), name_field) == new_name


@pytest.mark.parametrize(("entity", "name_field", "factory"), NAME_LISTS, ids=NAME_LIST_IDS)
def test_given_a_saved_record_when_filtered_by_its_name_then_exactly_it_is_found(
    qb: QuickBooks, entity: type[Any], name_field: str, factory: NameListFactory
) -> None:
    created = factory(qb).save(qb=qb)

    found = entity.filter(qb=qb, **{name_field: getattr(created, name_field)})

    assert [str(record.Id) for record in found] == [str(created.Id)]


@pytest.mark.parametrize(("entity", "name_field", "factory"), NAME_LISTS, ids=NAME_LIST_IDS)
def test_given_a_record_when_deactivated_then_a_read_shows_active_false(
    qb: QuickBooks, entity: type[Any], name_field: str, factory: NameListFactory
) -> None:
    record = entity.get(factory(qb).save(qb=qb).Id, qb=qb)
    record.Active = False

    record.save(qb=qb)

    assert entity.get(record.Id, qb=qb).Active is False, (
        "name-list entities are deleted in QBO by saving Active=false; the sandbox did not keep it"
    )


def test_given_an_inactive_customer_when_queried_without_an_active_filter_then_it_is_left_out(
    qb: QuickBooks,
) -> None:
    customer = Customer.get(create_customer(qb).Id, qb=qb)
    customer.Active = False
    customer.save(qb=qb)

    default = Customer.filter(DisplayName=customer.DisplayName, qb=qb)
    explicit = Customer.where(f"DisplayName = '{customer.DisplayName}' AND Active = false", qb=qb)

    assert default == [], "QBO's queries return only active name-list records unless Active is filtered"
    assert [str(c.Id) for c in explicit] == [str(customer.Id)]


def test_given_a_customer_with_email_when_updated_sparsely_then_omitted_fields_are_kept(
    qb: QuickBooks,
) -> None:
    email = EmailAddress()
    email.Address = "billing@example.com"
    customer = create_customer(qb, CompanyName="Kept Co", PrimaryEmailAddr=email)

    qb.update_object(
        "Customer",
        json.dumps({"Id": customer.Id, "SyncToken": customer.SyncToken, "sparse": True, "Notes": "sparse"}),
    )

    after = Customer.get(customer.Id, qb=qb)
    assert after.Notes == "sparse"
    assert (after.CompanyName, after.PrimaryEmailAddr.Address) == ("Kept Co", "billing@example.com"), (
        "a sparse update leaves omitted fields untouched (QBO); the sandbox changed them"
    )


def test_given_a_customer_with_a_company_name_when_fully_updated_without_it_then_it_is_cleared(
    qb: QuickBooks,
) -> None:
    customer = create_customer(qb, CompanyName="Dropped Co")

    qb.update_object(
        "Customer",
        json.dumps({"Id": customer.Id, "SyncToken": customer.SyncToken, "DisplayName": customer.DisplayName}),
    )

    after = Customer.get(customer.Id, qb=qb)
    assert not getattr(after, "CompanyName", None), (
        f"a full update sets omitted writable fields to NULL (QBO); the sandbox kept {after.CompanyName!r}"
    )


def test_given_python_quickbooks_sparse_flag_when_a_read_customer_is_saved_then_the_change_applies(
    qb: QuickBooks,
) -> None:
    customer = Customer.get(create_customer(qb).Id, qb=qb)
    customer.sparse = True
    customer.Notes = "sparse through the library"

    updated = customer.save(qb=qb)

    assert updated.Notes == "sparse through the library"
    assert str(updated.SyncToken) == "1"


def test_given_two_saves_with_one_request_id_when_replayed_then_one_customer_exists_with_one_id(
    qb: QuickBooks,
) -> None:
    name = unique_name("Replayed")
    request_id = uuid.uuid4().hex
    first, second = Customer(), Customer()
    first.DisplayName = second.DisplayName = name

    original = first.save(qb=qb, request_id=request_id)
    replayed = second.save(qb=qb, request_id=request_id)

    assert str(replayed.Id) == str(original.Id), "QBO answers a repeated requestid with the original response"
    assert Customer.count(f"DisplayName = '{name}'", qb=qb) == 1, "a replayed requestid must not write twice"


# ---------------------------------------------------------------- transactions


@pytest.fixture(scope="module")
def item(qb: QuickBooks) -> Item:
    return create_item(qb, income_account(qb), unit_price=100)


@pytest.fixture
def customer(qb: QuickBooks) -> Customer:
    return create_customer(qb)


def test_given_a_customer_and_item_when_an_invoice_is_saved_then_totals_balance_and_doc_number_are_set(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.extend([sales_line(item, 100), sales_line(item, 50.5)])

    created = invoice.save(qb=qb)

    assert money(created.TotalAmt) == 150.5, (
        f"TotalAmt is the sum of the lines; sandbox sent {created.TotalAmt}"
    )
    assert money(created.Balance) == 150.5, (
        f"a new invoice's Balance is its total; sandbox sent {created.Balance}"
    )
    assert created.DocNumber, "QBO assigns a DocNumber when none is given"
    assert str(created.SyncToken) == "0"


def test_given_a_saved_invoice_when_read_then_it_has_its_lines_and_a_subtotal_line(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    created = create_invoice(qb, customer, item, amount=80)

    read = Invoice.get(created.Id, qb=qb)

    kinds = [line.DetailType for line in read.Line]
    assert kinds.count("SalesItemLineDetail") == 1
    assert "SubTotalLineDetail" in kinds, (
        f"QBO adds a SubTotalLineDetail line to invoices; sandbox lines: {kinds}"
    )


def test_given_an_invoice_when_a_line_is_added_and_saved_then_the_total_follows(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = Invoice.get(create_invoice(qb, customer, item, amount=100).Id, qb=qb)
    invoice.Line.append(sales_line(item, 20))

    updated = invoice.save(qb=qb)

    assert money(updated.TotalAmt) == 120.0
    assert str(updated.SyncToken) == "1"


def test_given_an_invoice_when_updated_sparsely_then_the_memo_changes_and_the_lines_stay(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=70)

    qb.update_object(
        "Invoice",
        json.dumps({"Id": invoice.Id, "SyncToken": invoice.SyncToken, "sparse": True, "PrivateNote": "memo"}),
    )

    after = Invoice.get(invoice.Id, qb=qb)
    assert after.PrivateNote == "memo"
    assert money(after.TotalAmt) == 70.0, "a sparse update without Line leaves the lines alone (QBO)"


def test_given_an_invoice_when_deleted_then_the_answer_says_deleted_and_a_read_gives_610(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item)

    answer = invoice.delete(qb=qb)

    assert answer["Invoice"]["status"] == "Deleted", f"QBO answers a delete with status Deleted; got {answer}"
    assert str(answer["Invoice"]["Id"]) == str(invoice.Id)
    with pytest.raises(ObjectNotFoundException) as raised:
        Invoice.get(invoice.Id, qb=qb)
    assert raised.value.error_code == 610


def test_given_an_invoice_when_voided_then_amounts_are_zero_and_the_note_says_voided(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=90)

    invoice.void(qb=qb)

    after = Invoice.get(invoice.Id, qb=qb)
    assert (money(after.TotalAmt), money(after.Balance)) == (0.0, 0.0), (
        "QBO zeroes TotalAmt and Balance on void"
    )
    assert "Voided" in (after.PrivateNote or ""), (
        f"QBO sets PrivateNote 'Voided'; sandbox: {after.PrivateNote!r}"
    )


def test_given_an_open_invoice_when_a_payment_is_applied_then_the_invoice_balance_drops(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=100)

    payment = create_payment(qb, customer, invoice, amount=40)

    assert money(payment.TotalAmt) == 40.0
    assert money(payment.UnappliedAmt or 0) == 0.0
    assert money(Invoice.get(invoice.Id, qb=qb).Balance) == 60.0, (
        "a linked payment lowers the invoice Balance"
    )


def test_given_a_payment_when_voided_then_its_total_is_zero_and_the_invoice_is_open_again(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=100)
    payment = create_payment(qb, customer, invoice, amount=100)

    answer = payment.void(qb=qb)

    voided = answer["Payment"]
    assert money(voided["TotalAmt"]) == 0.0, f"QBO answers a payment void with TotalAmt 0; got {voided}"
    assert str(voided["SyncToken"]) == "1", "voiding a payment increments its SyncToken (QBO)"
    assert money(Invoice.get(invoice.Id, qb=qb).Balance) == 100.0


def test_given_a_payment_when_deleted_then_the_invoice_balance_is_restored(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=100)
    payment = create_payment(qb, customer, invoice, amount=30)

    answer = payment.delete(qb=qb)

    assert answer["Payment"]["status"] == "Deleted"
    assert money(Invoice.get(invoice.Id, qb=qb).Balance) == 100.0


def test_given_a_payment_when_read_then_it_links_the_invoice(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=100)
    payment = create_payment(qb, customer, invoice, amount=10)

    read = Payment.get(payment.Id, qb=qb)

    linked = [(str(txn.TxnId), txn.TxnType) for line in read.Line for txn in line.LinkedTxn]
    assert linked == [(str(invoice.Id), "Invoice")]


def test_given_a_customer_when_a_credit_memo_is_saved_then_total_and_remaining_credit_are_set(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    memo = create_credit_memo(qb, customer, item, amount=25)

    read = CreditMemo.get(memo.Id, qb=qb)

    assert money(read.TotalAmt) == 25.0
    assert money(read.RemainingCredit) == 25.0, f"QBO sets RemainingCredit; sandbox: {read.RemainingCredit!r}"


def test_given_a_credit_memo_when_its_line_is_changed_and_saved_then_the_total_follows(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    memo = CreditMemo.get(create_credit_memo(qb, customer, item, amount=25).Id, qb=qb)
    memo.Line = [sales_line(item, 35)]

    updated = memo.save(qb=qb)

    assert money(updated.TotalAmt) == 35.0
    assert str(updated.SyncToken) == "1"


def test_given_a_credit_memo_when_deleted_then_a_read_gives_610(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    memo = create_credit_memo(qb, customer, item)

    memo.delete(qb=qb)

    with pytest.raises(ObjectNotFoundException):
        CreditMemo.get(memo.Id, qb=qb)


# ---------------------------------------------------------------- read-only and settings


@pytest.mark.parametrize("entity", [TaxCode, TaxRate], ids=["TaxCode", "TaxRate"])
def test_given_a_seeded_company_when_tax_entities_are_listed_and_read_then_each_reads_back(
    qb: QuickBooks, entity: type[Any]
) -> None:
    listed = entity.all(qb=qb)

    assert listed, f"a US QBO company has {entity.qbo_object_name} records; the sandbox listed none"
    read = entity.get(listed[0].Id, qb=qb)
    assert (str(read.Id), read.Name) == (str(listed[0].Id), listed[0].Name)


def test_given_a_connected_realm_when_company_info_is_read_then_it_names_the_company(
    qb: QuickBooks, sandbox: SandboxProcess, realm_a: str
) -> None:
    info = CompanyInfo.get(realm_a, qb=qb)

    assert info.CompanyName == sandbox.info["companies"][realm_a]
    assert info.Country == "US"


def test_given_a_connected_realm_when_preferences_are_read_then_the_accounting_and_sales_prefs_are_there(
    qb: QuickBooks,
) -> None:
    preferences = Preferences.get(qb=qb)

    assert preferences.AccountingInfoPrefs is not None, "QBO's Preferences carry AccountingInfoPrefs"
    assert preferences.SalesFormsPrefs is not None, "QBO's Preferences carry SalesFormsPrefs"


def test_given_a_stale_sync_token_when_an_invoice_is_deleted_then_5010_and_the_invoice_stays(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    stale = Invoice.get(create_invoice(qb, customer, item).Id, qb=qb)
    fresh = Invoice.get(stale.Id, qb=qb)
    fresh.PrivateNote = "moved on"
    fresh.save(qb=qb)

    with pytest.raises(QuickbooksException) as raised:
        stale.delete(qb=qb)

    assert raised.value.error_code == 5010, (
        f"a delete needs the current SyncToken; client raised {raised.value}"
    )
    assert str(Invoice.get(stale.Id, qb=qb).Id) == str(stale.Id)


def test_given_an_invoice_with_a_payment_when_deleted_then_it_is_refused_and_kept(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=100)
    create_payment(qb, customer, invoice, amount=100)

    refusal = _refusal(lambda: Invoice.get(invoice.Id, qb=qb).delete(qb=qb))

    assert refusal is not None, (
        "QBO refuses to delete an invoice with linked transactions; the sandbox deleted it"
    )
    assert money(Invoice.get(invoice.Id, qb=qb).Balance) == 0.0, (
        "QBO refuses to delete an invoice with linked transactions; the sandbox changed or removed it"
    )


def test_given_an_open_invoice_when_its_customer_is_read_then_the_balance_includes_it(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    create_invoice(qb, customer, item, amount=75)

    read = Customer.get(customer.Id, qb=qb)

    assert money(read.Balance) == 75.0, (
        f"QBO keeps Customer.Balance = open receivables; sandbox: {read.Balance}"
    )


def test_given_a_customer_with_an_open_balance_when_deactivated_then_6220_and_it_stays_active(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    create_invoice(qb, customer, item, amount=10)
    read = Customer.get(customer.Id, qb=qb)
    read.Active = False

    refusal = _refusal(lambda: read.save(qb=qb))

    assert refusal is not None and refusal.error_code == 6220, (
        "QBO refuses to make a customer with an open balance inactive with code 6220 "
        "(error-codes page: 'Delete Entity Has Balance Error: the object or entity you're trying to delete "
        "has an open balance'; seen in ruckus/quickbooks-ruby#390); "
        f"the sandbox answered {'with ' + str(refusal) if refusal else 'by accepting it'}"
    )
    assert Customer.get(customer.Id, qb=qb).Active is True


def test_given_a_read_payment_when_its_reference_number_is_changed_and_saved_then_the_link_stays(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    invoice = create_invoice(qb, customer, item, amount=100)
    payment = Payment.get(create_payment(qb, customer, invoice, amount=25).Id, qb=qb)
    payment.PaymentRefNum = "CHK-1001"

    updated = payment.save(qb=qb)

    assert (updated.PaymentRefNum, str(updated.SyncToken)) == ("CHK-1001", "1")
    assert money(Invoice.get(invoice.Id, qb=qb).Balance) == 75.0, (
        "a full update that keeps the lines keeps the link"
    )


def test_given_a_doc_number_in_use_when_saved_with_allowduplicatedocnum_then_it_is_accepted(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    doc_number = f"A{uuid.uuid4().hex[:12]}"
    create_invoice(qb, customer, item, doc_number=doc_number)
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(sales_line(item, 10))
    invoice.DocNumber = doc_number

    duplicate = invoice.save(qb=qb, params={"include": "allowduplicatedocnum"})

    assert duplicate.DocNumber == doc_number, (
        "include=allowduplicatedocnum lets QBO accept a repeated DocNumber"
    )


def test_given_a_decimal_client_when_an_invoice_of_cents_is_saved_then_the_total_is_exact(
    sandbox: SandboxProcess, auth_a: AuthClient, customer: Customer, item: Item
) -> None:
    decimal_qb = quickbooks_client(sandbox, auth_a, use_decimal=True)
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    for _ in range(3):
        invoice.Line.append(sales_line(item, Decimal("19.99")))

    created = invoice.save(qb=decimal_qb)

    assert created.TotalAmt == Decimal("59.97"), (
        "use_decimal sends amounts as JSON strings ('19.99'), which QBO reads as numbers; "
        f"sandbox: {created.TotalAmt!r}"
    )


def test_given_a_customer_with_a_billing_address_when_read_then_the_address_comes_back(
    qb: QuickBooks,
) -> None:
    address = Address()
    address.Line1 = "1 Conformance Way"
    address.City = "Mountain View"
    address.CountrySubDivisionCode = "CA"
    address.PostalCode = "94043"

    created = create_customer(qb, BillAddr=address)

    read = Customer.get(created.Id, qb=qb).BillAddr
    assert (read.Line1, read.City, read.PostalCode) == ("1 Conformance Way", "Mountain View", "94043")


def test_given_a_parent_customer_when_a_sub_customer_is_saved_then_full_name_and_level_follow(
    qb: QuickBooks, customer: Customer
) -> None:
    child = Customer()
    child.DisplayName = unique_name("Child")
    child.Job = True
    child.ParentRef = customer.to_ref()

    created = child.save(qb=qb)

    assert created.FullyQualifiedName == f"{customer.DisplayName}:{child.DisplayName}"
    assert (created.Job, int(created.Level)) == (True, 1), (
        "a sub-customer is a Job one level below its parent"
    )


def test_given_a_payment_without_lines_when_saved_then_it_is_an_unapplied_credit_on_the_customer(
    qb: QuickBooks, customer: Customer
) -> None:
    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = 15

    created = payment.save(qb=qb)

    assert money(created.UnappliedAmt) == 15.0, "a payment with no lines is recorded as a credit (QBO)"
    assert money(Customer.get(customer.Id, qb=qb).Balance) == -15.0


def test_given_a_class_and_the_non_tax_code_when_set_on_an_invoice_line_then_both_are_kept(
    qb: QuickBooks, customer: Customer, item: Item
) -> None:
    tracking_class = _class(qb).save(qb=qb)
    line = sales_line(item, 40)
    line.SalesItemLineDetail.ClassRef = tracking_class.to_ref()
    line.SalesItemLineDetail.TaxCodeRef = Ref()
    line.SalesItemLineDetail.TaxCodeRef.value = "NON"
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(line)

    created = invoice.save(qb=qb)

    detail = Invoice.get(created.Id, qb=qb).Line[0].SalesItemLineDetail
    assert (detail.ClassRef.value, detail.TaxCodeRef.value) == (str(tracking_class.Id), "NON"), (
        "line ClassRef and the US pseudo tax code NON are stored on the line"
    )
