"""Money right to the cent (issue 20): multi-currency, Automated Sales Tax, discounts and field limits,
driven by python-quickbooks as shipped (raw HTTP shaped like Intuit's samples where the client has no call).

Sources are named per test; the common one is `shared/reference/qbo-api.md` §10, which cites Intuit's
manage-multiple-currencies page, the AST blog posts (2017-12-11, 2018-03-28, 2018-05-11) and the reports of
other integrations.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Address
from quickbooks.objects.companycurrency import CompanyCurrency
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import DiscountLine, DiscountLineDetail
from quickbooks.objects.exchangerate import ExchangeRate
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.tax import TxnTaxDetail

from tests.conformance.harness import SandboxProcess, unique_name
from tests.conformance.records import (
    create_customer,
    create_item,
    create_payment,
    income_account,
    money,
    ref,
    sales_line,
)


@pytest.fixture(scope="module")
def money_item(money_qb: QuickBooks) -> Item:
    return create_item(money_qb, income_account(money_qb))


@pytest.fixture(scope="module")
def item(qb: QuickBooks) -> Item:
    return create_item(qb, income_account(qb))


def _currency(code: str) -> Any:
    return ref(code)


def _raw(qb: QuickBooks, entity: str, entity_id: object) -> dict[str, Any]:
    answer: dict[str, Any] = qb.get_single_object(entity, str(entity_id))[entity]
    return answer


def _invoice(customer: Customer, item: Item, amount: float, **fields: Any) -> Invoice:
    invoice = Invoice()
    invoice.CustomerRef = ref(customer.Id, customer.DisplayName)
    invoice.Line.append(sales_line(item, amount))
    for key, value in fields.items():
        setattr(invoice, key, value)
    return invoice


def _refusal(action: Any) -> QuickbooksException:
    with pytest.raises(QuickbooksException) as caught:
        action()
    return caught.value


def _ship_to(state: str) -> Address:
    address = Address()
    address.Line1 = "1 Test Way"
    address.City = "Testville"
    address.CountrySubDivisionCode = state
    address.PostalCode = "10001"
    return address


# ------------------------------------------------------------------------------------------- currencies


def test_given_multi_currency_off_when_a_euro_customer_is_created_then_qbo_refuses_it(qb: QuickBooks) -> None:
    """Intuit's manage-multiple-currencies page: without multi-currency every name is in the home currency."""
    customer = Customer()
    customer.DisplayName = unique_name("Euro customer")
    customer.CurrencyRef = _currency("EUR")
    refused = _refusal(lambda: customer.save(qb=qb))
    assert str(refused.error_code) == "6000", (
        f"a EUR customer in a USD-only company must be refused: {refused}"
    )
    assert "Multicurrency is not enabled" in refused.detail


def test_given_multi_currency_off_when_an_invoice_is_in_a_foreign_currency_then_it_is_refused(
    qb: QuickBooks, item: Item
) -> None:
    """Issue 20's report: a EUR invoice must never become a USD one; QBO refuses the currency instead."""
    customer = create_customer(qb, "Home customer")
    invoice = _invoice(customer, item, 1193.18, CurrencyRef=_currency("EUR"))
    refused = _refusal(lambda: invoice.save(qb=qb))
    assert str(refused.error_code) == "6000", (
        f"a EUR invoice in a USD-only company must be refused: {refused}"
    )


def test_given_multi_currency_when_preferences_are_read_then_they_show_it_and_ast(
    money_qb: QuickBooks,
) -> None:
    """Preferences.CurrencyPrefs and Preferences.TaxPrefs.PartnerTaxEnabled as qbo-api.md §10 describes."""
    preferences = Preferences.get(qb=money_qb)
    assert preferences.CurrencyPrefs.MultiCurrencyEnabled is True
    assert preferences.CurrencyPrefs.HomeCurrency.value == "USD"
    assert preferences.TaxPrefs.PartnerTaxEnabled is True


def test_given_a_euro_customer_when_invoiced_with_a_rate_then_home_amounts_follow_the_rate(
    money_qb: QuickBooks, money_item: Item
) -> None:
    """`CurrencyRef.value` is the ISO code (python-quickbooks#344); `ExchangeRate` is home units per one
    foreign unit, so HomeTotalAmt = TotalAmt x ExchangeRate; a payment sent without a rate is booked at 1
    (intuit/quickbooks-online-mcp-server#75)."""
    customer = create_customer(money_qb, "Euro customer", CurrencyRef=_currency("EUR"))
    assert customer.CurrencyRef.value == "EUR"
    ship_nowhere = _ship_to("OR")  # a state without sales tax keeps the arithmetic on currency
    invoice = _invoice(customer, money_item, 1000.0, ExchangeRate=1.1, ShipAddr=ship_nowhere).save(
        qb=money_qb
    )
    raw = _raw(money_qb, "Invoice", invoice.Id)
    assert raw["CurrencyRef"]["value"] == "EUR"
    assert (raw["TotalAmt"], raw["ExchangeRate"], raw["HomeTotalAmt"], raw["HomeBalance"]) == (
        1000.0,
        1.1,
        1100.0,
        1100.0,
    )
    payment = create_payment(money_qb, customer, invoice, 400.0)
    raw_payment = _raw(money_qb, "Payment", payment.Id)
    assert (raw_payment["CurrencyRef"]["value"], raw_payment["ExchangeRate"]) == ("EUR", 1.0)
    after = _raw(money_qb, "Invoice", invoice.Id)
    assert (after["Balance"], after["HomeBalance"]) == (600.0, 660.0)


def test_given_a_euro_customer_when_its_currency_or_a_transactions_currency_differs_then_qbo_refuses(
    money_qb: QuickBooks, money_item: Item
) -> None:
    """Intuit's multicurrency page: one currency per customer, fixed once set; a transaction is in it."""
    customer = create_customer(money_qb, "Fixed currency", CurrencyRef=_currency("EUR"))
    customer.CurrencyRef = _currency("GBP")
    assert str(_refusal(lambda: customer.save(qb=money_qb)).error_code) == "6000"
    invoice = _invoice(customer, money_item, 50.0, CurrencyRef=_currency("GBP"))
    refused = _refusal(lambda: invoice.save(qb=money_qb))
    assert str(refused.error_code) == "6000"
    assert "must be the currency of the customer (EUR)" in refused.detail


def test_given_an_exchange_rate_when_an_invoice_comes_without_one_then_the_table_rate_applies(
    money_qb: QuickBooks, money_sandbox: SandboxProcess, money_item: Item
) -> None:
    """Intuit's ExchangeRate page: POST /exchangerate sets a rate; GET ?sourcecurrencycode=&asofdate= reads
    the one in force."""
    rate = ExchangeRate()
    rate.SourceCurrencyCode = "GBP"
    rate.Rate = 1.25
    rate.AsOfDate = "2020-01-01"
    saved = rate.save(qb=money_qb)
    assert (saved.SourceCurrencyCode, saved.TargetCurrencyCode, saved.Rate) == ("GBP", "USD", 1.25)
    read = httpx.get(
        money_sandbox.api(money_qb.company_id, "exchangerate"),
        params={"sourcecurrencycode": "GBP", "asofdate": "2021-06-30"},
        headers={
            "Authorization": f"Bearer {money_qb.auth_client.access_token}",
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert read.status_code == 200, read.text
    assert read.json()["ExchangeRate"]["Rate"] == 1.25
    customer = create_customer(money_qb, "Pound customer", CurrencyRef=_currency("GBP"))
    invoice = _invoice(customer, money_item, 80.0, ShipAddr=_ship_to("OR"))
    invoice.ExchangeRate = None  # python-quickbooks sends 1 unless told otherwise
    created = _raw(money_qb, "Invoice", invoice.save(qb=money_qb).Id)
    assert (created["ExchangeRate"], created["HomeTotalAmt"]) == (1.25, 100.0)


def test_given_multi_currency_when_currencies_are_used_then_company_currency_lists_them(
    money_qb: QuickBooks,
) -> None:
    """Intuit's CompanyCurrency page: the active currencies of a multi-currency company; created with
    POST /companycurrency {"Code": ...}. The sandbox also adds a currency the first time it is used."""
    added = CompanyCurrency()
    added.Code = "CHF"
    saved = added.save(qb=money_qb)
    assert (saved.Code, saved.Name, saved.Active) == ("CHF", "Swiss Franc", True)
    create_customer(money_qb, "Yen customer", CurrencyRef=_currency("JPY"))
    codes = {currency.Code for currency in CompanyCurrency.all(qb=money_qb)}
    assert {"CHF", "JPY"} <= codes and "USD" not in codes


def test_given_multi_currency_off_when_a_company_currency_is_added_then_qbo_refuses(qb: QuickBooks) -> None:
    """Intuit's CompanyCurrency page: applicable only to companies that enable multi-currency."""
    added = CompanyCurrency()
    added.Code = "EUR"
    assert str(_refusal(lambda: added.save(qb=qb)).error_code) == "6000"


def test_given_multi_currency_on_when_the_control_plane_switches_it_off_then_it_stays_on(
    money_sandbox: SandboxProcess, money_qb: QuickBooks
) -> None:
    """Intuit's multicurrency page: once on, multi-currency can not be turned off."""
    url = money_sandbox.control(f"realms/{money_qb.company_id}/preferences")
    answer = httpx.post(url, json={"multi_currency": False}, timeout=10)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "multi_currency_permanent"
    assert httpx.get(url, timeout=10).json()["CurrencyPrefs"]["MultiCurrencyEnabled"] is True


# ------------------------------------------------------------------------------------ automated sales tax


def test_given_ast_when_an_invoice_ships_to_new_york_then_qbo_picks_the_code_and_computes_the_tax(
    money_qb: QuickBooks, money_item: Item
) -> None:
    """AST blog posts (qbo-api.md §10): tax from the ship-to address, one TxnTaxCodeRef chosen by QBO,
    a line without a tax code counts as TAX. The sandbox's NY rate is 4% + 4.875%, rounded per component."""
    customer = create_customer(money_qb, "NY customer")
    invoice = _invoice(customer, money_item, 100.0, ShipAddr=_ship_to("NY"))
    invoice.Line[0].SalesItemLineDetail.TaxCodeRef = None
    raw = _raw(money_qb, "Invoice", invoice.save(qb=money_qb).Id)
    assert raw["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"
    detail = raw["TxnTaxDetail"]
    assert detail["TxnTaxCodeRef"]["name"] == "AST NY"
    assert [line["Amount"] for line in detail["TaxLine"]] == [4.0, 4.88]
    assert (detail["TotalTax"], raw["TotalAmt"]) == (8.88, 108.88)


def test_given_ast_when_the_request_sends_a_total_tax_then_it_is_honoured_and_prorated(
    money_qb: QuickBooks, money_item: Item
) -> None:
    """AST FAQ (2018-05-11): an explicit tax amount is honoured and prorated across the code's rates."""
    customer = create_customer(money_qb, "Override customer")
    invoice = _invoice(customer, money_item, 100.0, ShipAddr=_ship_to("NY"))
    invoice.TxnTaxDetail = TxnTaxDetail()
    invoice.TxnTaxDetail.TotalTax = 10
    raw = _raw(money_qb, "Invoice", invoice.save(qb=money_qb).Id)
    amounts = [Decimal(str(line["Amount"])) for line in raw["TxnTaxDetail"]["TaxLine"]]
    assert raw["TxnTaxDetail"]["TotalTax"] == 10.0 and sum(amounts) == Decimal("10.00")
    assert amounts == [Decimal("4.51"), Decimal("5.49")], "prorated 4 : 4.875, remainder on the last rate"
    assert raw["TotalAmt"] == 110.0


def test_given_ast_when_a_line_names_a_real_tax_code_then_qbo_refuses_it(
    money_qb: QuickBooks, money_item: Item
) -> None:
    """AST blog (2017-12-11): lines carry only TAX or NON; the transaction's code is QBO's to pick."""
    customer = create_customer(money_qb, "Line code customer")
    invoice = _invoice(customer, money_item, 100.0)
    invoice.Line[0].SalesItemLineDetail.TaxCodeRef = ref("2")
    assert str(_refusal(lambda: invoice.save(qb=money_qb)).error_code) == "6000"


def test_given_no_ast_when_an_invoice_sends_a_tax_amount_then_it_is_taken_as_given(
    qb: QuickBooks, item: Item
) -> None:
    """A company without AST keeps the tax the request carries (the sandbox's behaviour before issue 20)."""
    customer = create_customer(qb, "Manual tax")
    invoice = _invoice(customer, item, 100.0, ShipAddr=_ship_to("NY"))
    invoice.TxnTaxDetail = TxnTaxDetail()
    invoice.TxnTaxDetail.TotalTax = 3.5
    raw = _raw(qb, "Invoice", invoice.save(qb=qb).Id)
    assert (raw["TxnTaxDetail"]["TotalTax"], raw["TotalAmt"]) == (3.5, 103.5)
    assert "TxnTaxCodeRef" not in raw["TxnTaxDetail"]


# ------------------------------------------------------------------------------- discounts and limits


def _discount(amount: float, percent: float | None) -> DiscountLine:
    line = DiscountLine()
    line.Amount = amount
    line.DiscountLineDetail = DiscountLineDetail()
    if percent is not None:
        line.DiscountLineDetail.PercentBased = True
        line.DiscountLineDetail.DiscountPercent = percent
    return line


def test_given_a_percent_discount_when_invoiced_then_qbo_computes_its_amount(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Invoice page: DiscountLineDetail with PercentBased and DiscountPercent."""
    customer = create_customer(qb, "Percent discount")
    invoice = _invoice(customer, item, 200.0)
    invoice.Line.append(_discount(0, 10))
    raw = _raw(qb, "Invoice", invoice.save(qb=qb).Id)
    discount = next(line for line in raw["Line"] if line["DetailType"] == "DiscountLineDetail")
    assert (discount["Amount"], raw["TotalAmt"]) == (20.0, 180.0)


def test_given_a_fixed_discount_sent_with_discount_percent_zero_then_qbo_drops_it(
    qb: QuickBooks, item: Item
) -> None:
    """qbo-api.md §10 (known traps): a fixed discount sent with `DiscountPercent: 0` is dropped, which is
    what python-quickbooks' DiscountLineDetail sends by default."""
    customer = create_customer(qb, "Dropped discount")
    invoice = _invoice(customer, item, 200.0)
    invoice.Line.append(_discount(15, None))
    raw = _raw(qb, "Invoice", invoice.save(qb=qb).Id)
    assert [line["DetailType"] for line in raw["Line"]] == ["SalesItemLineDetail", "SubTotalLineDetail"]
    assert money(raw["TotalAmt"]) == 200.0


def test_given_a_fixed_discount_without_a_percent_when_sent_raw_then_it_is_kept(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Invoice sample shape: a DiscountLineDetail with `PercentBased: false` and an Amount."""
    customer = create_customer(qb, "Fixed discount")
    body = json.loads(_invoice(customer, item, 200.0).to_json())
    body["Line"].append(
        {"Amount": 15, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": False}}
    )
    created = qb.create_object("Invoice", json.dumps(body))["Invoice"]
    assert (created["TotalAmt"], created["Line"][1]["Amount"]) == (185.0, 15.0)


def test_given_an_amount_and_a_different_percent_when_sent_together_then_qbo_refuses(
    qb: QuickBooks, item: Item
) -> None:
    """Issue 20: amount and percent together are an error (an amount equal to the percent is an echo)."""
    customer = create_customer(qb, "Both discount")
    invoice = _invoice(customer, item, 200.0)
    invoice.Line.append(_discount(15, 10))
    assert str(_refusal(lambda: invoice.save(qb=qb)).error_code) == "6000"


def test_given_a_company_name_of_51_characters_when_saved_then_qbo_answers_2050(qb: QuickBooks) -> None:
    """A production 2050 quoted in consolibyte/quickbooks-php#79: CompanyName "Min:0 Max:50 supported.
    Supplied length:51"; qbo-api.md §10 lists the same limit."""
    customer = Customer()
    customer.DisplayName = unique_name("Long company")
    customer.CompanyName = "C" * 51
    refused = _refusal(lambda: customer.save(qb=qb))
    assert str(refused.error_code) == "2050"
    assert "Max:50 supported. Supplied length:51" in refused.detail
    customer.CompanyName = "C" * 50
    assert customer.save(qb=qb).CompanyName == "C" * 50


def test_given_a_doc_number_or_payment_ref_of_22_characters_when_saved_then_qbo_answers_2050(
    qb: QuickBooks, item: Item
) -> None:
    """Intuit's Invoice and Payment pages: DocNumber and PaymentRefNum are at most 21 characters;
    consolibyte/quickbooks-php#79 quotes the Max:21 answer."""
    customer = create_customer(qb, "Long numbers")
    invoice = _invoice(customer, item, 10.0, DocNumber="D" * 22)
    assert str(_refusal(lambda: invoice.save(qb=qb)).error_code) == "2050"
    invoice.DocNumber = unique_name("N")[:21]
    saved = invoice.save(qb=qb)
    payment = Payment()
    payment.CustomerRef = ref(customer.Id)
    payment.TotalAmt = 10.0
    payment.PaymentRefNum = "R" * 22
    assert str(_refusal(lambda: payment.save(qb=qb)).error_code) == "2050"
    payment.PaymentRefNum = "R" * 21
    assert payment.save(qb=qb).PaymentRefNum == "R" * 21 and saved.DocNumber
