"""What QBO sends and refuses that a client notices: keys on every record, fault codes, sales receipts and
estimates, stale writes inside a batch. Driven by python-quickbooks as shipped; the raw JSON of a record is
read with the client's own `get_single_object`, so keys python-quickbooks would default are not mistaken
for keys the server sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.batch import batch_create, batch_update
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import ValidationException
from quickbooks.objects.base import Address
from quickbooks.objects.customer import Customer
from quickbooks.objects.employee import Employee
from quickbooks.objects.estimate import Estimate
from quickbooks.objects.item import Item
from quickbooks.objects.salesreceipt import SalesReceipt
from quickbooks.objects.vendor import Vendor

from tests.conformance.harness import unique_name
from tests.conformance.records import (
    create_credit_memo,
    create_customer,
    create_invoice,
    create_item,
    create_payment,
    income_account,
    money,
    ref,
    sales_line,
)

HOME_CURRENCY = {"value": "USD", "name": "United States Dollar"}


@pytest.fixture(scope="module")
def item(qb: QuickBooks) -> Item:
    return create_item(qb, income_account(qb))


def _raw(qb: QuickBooks, entity: str, entity_id: object) -> dict[str, Any]:
    answer: dict[str, Any] = qb.get_single_object(entity, str(entity_id))[entity]
    return answer


def _billing_address() -> Address:
    address = Address()
    address.Line1 = "4581 Finch St."
    address.City = "Bayshore"
    address.CountrySubDivisionCode = "CA"
    address.PostalCode = "94326"
    return address


# ---------------------------------------------------------------- keys QBO always sends


def test_given_a_customer_created_with_only_a_name_when_read_then_it_has_the_keys_qbo_always_sends(
    qb: QuickBooks,
) -> None:
    """Customers recorded from real companies (fylein/fyle-qbo-api test fixtures; Intuit's Customer page
    sample) always carry CurrencyRef, PrintOnCheckName (the display name when no company name), the Job,
    BillWithParent, Taxable and IsProject flags, PreferredDeliveryMethod and both balances."""
    created = create_customer(qb)

    raw = _raw(qb, "Customer", created.Id)

    assert raw["CurrencyRef"] == HOME_CURRENCY
    assert raw["PrintOnCheckName"] == created.DisplayName
    assert (raw["Job"], raw["BillWithParent"], raw["IsProject"], raw["Active"]) == (False, False, False, True)
    assert raw["Taxable"] is True, "a US company with Automated Sales Tax makes new customers taxable"
    assert raw["PreferredDeliveryMethod"] == "Print"
    assert (raw["Balance"], raw["BalanceWithJobs"]) == (0, 0)
    assert raw["FullyQualifiedName"] == created.DisplayName


def test_given_a_company_name_when_a_customer_is_created_then_print_on_check_name_is_the_company_name(
    qb: QuickBooks,
) -> None:
    """Intuit's Customer create sample: CompanyName "King Groceries" comes back as PrintOnCheckName."""
    company_name = unique_name("Groceries")
    created = create_customer(qb, CompanyName=company_name)

    assert _raw(qb, "Customer", created.Id)["PrintOnCheckName"] == company_name


def test_given_a_vendor_and_an_employee_when_read_then_they_carry_their_always_sent_keys(
    qb: QuickBooks,
) -> None:
    """Intuit's Vendor and Employee samples: CurrencyRef (vendor), PrintOnCheckName, Vendor1099 and
    BillableTime flags, a vendor Balance."""
    vendor = Vendor()
    vendor.DisplayName = unique_name("Vendor")
    vendor = vendor.save(qb=qb)
    employee = Employee()
    employee.GivenName, employee.FamilyName = "Emily", unique_name("Platt").replace(" ", "")
    employee = employee.save(qb=qb)

    raw_vendor, raw_employee = _raw(qb, "Vendor", vendor.Id), _raw(qb, "Employee", employee.Id)

    assert raw_vendor["CurrencyRef"] == HOME_CURRENCY
    assert (raw_vendor["PrintOnCheckName"], raw_vendor["Vendor1099"], raw_vendor["Balance"]) == (
        vendor.DisplayName,
        False,
        0,
    )
    assert raw_employee["PrintOnCheckName"] == raw_employee["DisplayName"]
    assert raw_employee["BillableTime"] is False


def test_given_a_service_item_when_read_then_its_defaulted_flags_and_amounts_are_there(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Item create sample: Taxable, UnitPrice, PurchaseCost and TrackQtyOnHand come back set."""
    raw = _raw(qb, "Item", item.Id)

    assert (raw["Taxable"], raw["TrackQtyOnHand"], raw["SalesTaxIncluded"]) == (False, False, False)
    assert (raw["PurchaseCost"], raw["UnitPrice"]) == (0, 100)


def test_given_an_invoice_for_a_customer_with_addresses_when_read_then_qbo_filled_in_what_it_always_sends(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Invoice create sample and recorded invoices (PipedreamHQ/pipedream QuickBooks test
    events): `LinkedTxn: []`, `Deposit`, `ApplyTaxAfterDiscount`, Print/EmailStatus, the line's
    `TaxCodeRef` (NON for a non-taxable item), BillAddr/ShipAddr copied from the customer; the
    `Allow…Payment` flags and `CurrencyRef` come with every invoice read at minor version 75."""
    customer = create_customer(qb, BillAddr=_billing_address(), ShipAddr=_billing_address())
    invoice = create_invoice(qb, customer, item)

    raw = _raw(qb, "Invoice", invoice.Id)
    customer_raw = _raw(qb, "Customer", customer.Id)

    # python-quickbooks sends AllowIPNPayment true and the card/ACH flags false; AllowOnlinePayment is QBO's.
    assert (raw["AllowIPNPayment"], raw["AllowOnlineCreditCardPayment"], raw["AllowOnlineACHPayment"]) == (
        True,
        False,
        False,
    )
    assert raw["AllowOnlinePayment"] is False
    assert raw["LinkedTxn"] == []
    assert (raw["Deposit"], raw["ApplyTaxAfterDiscount"]) == (0, False)
    assert (raw["PrintStatus"], raw["EmailStatus"]) == ("NotSet", "NotSet")
    assert raw["CurrencyRef"] == HOME_CURRENCY
    assert raw["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert raw["BillAddr"] == customer_raw["BillAddr"] and raw["ShipAddr"] == customer_raw["ShipAddr"]
    assert raw["TxnTaxDetail"]["TotalTax"] == 0 and raw["DueDate"]


def test_given_a_payment_when_read_then_it_has_process_payment_currency_and_a_deposit_account(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Payment create sample: ProcessPayment false, DepositToAccountRef (Undeposited Funds when
    not given), UnappliedAmt; and the invoice it pays lists it in LinkedTxn."""
    customer = create_customer(qb)
    invoice = create_invoice(qb, customer, item)
    payment = create_payment(qb, customer, invoice, 40)

    raw = _raw(qb, "Payment", payment.Id)

    assert (raw["ProcessPayment"], raw["CurrencyRef"], raw["UnappliedAmt"]) == (False, HOME_CURRENCY, 0)
    assert raw["DepositToAccountRef"]["value"]
    assert _raw(qb, "Invoice", invoice.Id)["LinkedTxn"] == [{"TxnId": str(payment.Id), "TxnType": "Payment"}]


def test_given_a_credit_memo_and_an_account_when_read_then_they_carry_currency_and_their_defaults(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's CreditMemo sample: RemainingCredit, Print/EmailStatus, ApplyTaxAfterDiscount, addresses from
    the customer, the line's TaxCodeRef; Intuit's Account sample: CurrencyRef and SubAccount."""
    customer = create_customer(qb, BillAddr=_billing_address())
    memo = create_credit_memo(qb, customer, item, 25)
    account = income_account(qb)

    raw_memo, raw_account = _raw(qb, "CreditMemo", memo.Id), _raw(qb, "Account", account.Id)

    assert (money(raw_memo["RemainingCredit"]), raw_memo["CurrencyRef"]) == (25.0, HOME_CURRENCY)
    assert (raw_memo["PrintStatus"], raw_memo["EmailStatus"], raw_memo["ApplyTaxAfterDiscount"]) == (
        "NotSet",
        "NotSet",
        False,
    )
    assert raw_memo["BillAddr"] == _raw(qb, "Customer", customer.Id)["BillAddr"]
    assert raw_memo["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert (raw_account["CurrencyRef"], raw_account["SubAccount"]) == (HOME_CURRENCY, False)


def test_given_a_customer_with_a_default_tax_code_when_fully_updated_without_it_then_it_survives(
    qb: QuickBooks,
) -> None:
    """A full update sets omitted writable fields to NULL (Intuit's PaymentMethod page), but a customer's
    DefaultTaxCodeRef, which QBO's tax engine owns, is kept."""
    tax_code = next(
        code for code in qb.query("select * from TaxCode")["QueryResponse"]["TaxCode"] if code["Id"].isdigit()
    )
    created = create_customer(qb, DefaultTaxCodeRef=ref(tax_code["Id"]))
    read = Customer.get(created.Id, qb=qb)
    read.DefaultTaxCodeRef = None
    read.Notes = "full update without the tax code"

    saved = read.save(qb=qb)

    raw = _raw(qb, "Customer", saved.Id)
    assert raw["DefaultTaxCodeRef"]["value"] == tax_code["Id"]
    assert raw["Notes"] == "full update without the tax code" and raw["SyncToken"] == "1"


# ---------------------------------------------------------------- fault codes


def test_given_an_unknown_entity_in_a_query_when_run_then_4001_invalid_query(qb: QuickBooks) -> None:
    """A production response quoted in a public integration's tests: `4001` "Invalid query",
    "QueryValidationError: invalid context declaration: Check" for an entity QBO does not know."""
    with pytest.raises(ValidationException) as raised:
        qb.query("select * from Spaceship")

    assert raised.value.error_code == 4001
    assert "Invalid context declaration" in raised.value.detail


def test_given_a_malformed_id_when_read_then_2030_invalid_id(qb: QuickBooks) -> None:
    """Intuit's error-code list: 2030 "Invalid ID" (also matched on by other QBO integrations)."""
    with pytest.raises(ValidationException) as raised:
        Customer.get("not-a-number", qb=qb)

    assert (raised.value.error_code, raised.value.message) == (2030, "Invalid ID")


def test_given_a_body_with_an_unknown_member_when_saved_then_2010_and_nothing_is_created(
    qb: QuickBooks,
) -> None:
    """QBO's JSON binder refuses a member its schema lacks with 2010 "Request has invalid or unsupported
    property" (the same code as a wrong-typed value, Intuit's error-code list)."""
    customer = Customer()
    customer.DisplayName = unique_name("Colourful")
    customer.Colour = "teal"  # python-quickbooks sends every attribute set on the object

    with pytest.raises(ValidationException) as raised:
        customer.save(qb=qb)

    assert raised.value.error_code == 2010 and "Colour" in raised.value.detail
    assert Customer.filter(DisplayName=customer.DisplayName, qb=qb) == []


def test_given_a_stale_sync_token_in_a_batch_update_when_sent_then_that_item_faults_with_5010(
    qb: QuickBooks,
) -> None:
    """Intuit's Batch page sample response: a stale item answers `Stale Object Error`, code 5010, inside
    the BatchItemResponse, while the call is HTTP 200 and the other items succeed."""
    fresh, stale = (Customer.get(create_customer(qb).Id, qb=qb) for _ in range(2))
    stale.Notes = "first writer"
    stale.save(qb=qb)
    stale.SyncToken = 0
    stale.Notes, fresh.Notes = "second writer", "untouched by the conflict"

    result = batch_update([fresh, stale], qb=qb)

    assert [str(c.Id) for c in result.successes] == [str(fresh.Id)]
    codes = [(error.code, error.Message) for fault in result.faults for error in fault.Error]
    assert codes == [("5010", "Stale Object Error")]


# ---------------------------------------------------------------- SalesReceipt and Estimate


def _sales_receipt(qb: QuickBooks, customer: Customer, item: Item, amount: float = 80) -> SalesReceipt:
    receipt = SalesReceipt()
    receipt.CustomerRef = ref(customer.Id, customer.DisplayName)
    receipt.Line.append(sales_line(item, amount))
    return receipt.save(qb=qb)


def _estimate(qb: QuickBooks, customer: Customer, item: Item, amount: float = 120) -> Estimate:
    estimate = Estimate()
    estimate.CustomerRef = ref(customer.Id, customer.DisplayName)
    estimate.Line.append(sales_line(item, amount))
    return estimate.save(qb=qb)


def test_given_a_sales_receipt_when_created_read_and_queried_then_it_is_paid_and_found(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's SalesReceipt page: TotalAmt from the lines, Balance 0, DepositToAccountRef defaulted."""
    customer = create_customer(qb)
    receipt = _sales_receipt(qb, customer, item)

    raw = _raw(qb, "SalesReceipt", receipt.Id)
    found = SalesReceipt.filter(DocNumber=receipt.DocNumber, qb=qb)

    assert (money(raw["TotalAmt"]), raw["Balance"]) == (80.0, 0)
    assert raw["DepositToAccountRef"]["value"] and raw["CurrencyRef"] == HOME_CURRENCY
    assert [str(r.Id) for r in found] == [str(receipt.Id)]


def test_given_a_sales_receipt_when_sparse_updated_then_only_the_named_member_changes(
    qb: QuickBooks, item: Item
) -> None:
    receipt = _sales_receipt(qb, create_customer(qb), item)

    body = {"Id": str(receipt.Id), "SyncToken": "0", "sparse": True, "PrivateNote": "sparse"}

    answer = qb.update_object("SalesReceipt", json.dumps(body))["SalesReceipt"]

    assert (answer["PrivateNote"], answer["SyncToken"], money(answer["TotalAmt"])) == ("sparse", "1", 80.0)


def test_given_a_sales_receipt_when_voided_by_python_quickbooks_then_it_stays_with_zero_amounts(
    qb: QuickBooks, item: Item
) -> None:
    """python-quickbooks voids a SalesReceipt with `?operation=update&include=void` and a sparse body
    (its VoidMixin, following Intuit's SalesReceipt page); the record stays with TotalAmt 0."""
    receipt = _sales_receipt(qb, create_customer(qb), item)

    receipt.void(qb=qb)

    raw = _raw(qb, "SalesReceipt", receipt.Id)
    assert (raw["TotalAmt"], raw["PrivateNote"], raw["SyncToken"]) == (0, "Voided", "1")


def test_given_an_estimate_when_created_then_it_is_pending_and_can_be_deleted(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Estimate page: TxnStatus Pending by default, LinkedTxn empty until it is converted."""
    estimate = _estimate(qb, create_customer(qb), item)
    raw = _raw(qb, "Estimate", estimate.Id)

    estimate.delete(qb=qb)

    assert (raw["TxnStatus"], raw["LinkedTxn"], money(raw["TotalAmt"])) == ("Pending", [], 120.0)
    assert Estimate.filter(Id=estimate.Id, qb=qb) == []


def test_given_sales_receipts_and_estimates_when_batch_created_and_asked_by_cdc_then_both_are_reported(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Batch page (SalesReceipt items) and ChangeDataCapture page (an Estimate in its sample)."""
    customer = create_customer(qb)
    since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="seconds")
    receipt, estimate = SalesReceipt(), Estimate()
    for form in (receipt, estimate):
        form.CustomerRef = ref(customer.Id, customer.DisplayName)
        form.Line.append(sales_line(item, 50))

    result = batch_create([receipt, estimate], qb=qb)
    changes = change_data_capture([SalesReceipt, Estimate], since, qb=qb)

    assert result.faults == [], f"sandbox faults: {[f.Error for f in result.faults]}"
    created = {type(obj).__name__: str(obj.Id) for obj in result.successes}
    assert created["SalesReceipt"] in {str(r.Id) for r in changes.SalesReceipt}
    assert created["Estimate"] in {str(e.Id) for e in changes.Estimate}
