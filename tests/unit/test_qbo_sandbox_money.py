"""A sandbox company's money rules in process: currencies, exchange rates, AST arithmetic, settings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from local.qbo_sandbox.__main__ import _parser, overrides_from
from local.qbo_sandbox.company import Company, SettingRefusedError
from local.qbo_sandbox.config import CompanyFeatures, load_config
from local.qbo_sandbox.faultbody import COMPANY_TIMEZONE, QboFaultError
from local.qbo_sandbox.sales_tax import prorate
from local.qbo_sandbox.seed import seed_company

START = datetime(2026, 11, 2, 9, 30, tzinfo=COMPANY_TIMEZONE)


def company_with(**features: Any) -> Company:
    seeded = seed_company("4620816365", "Money Co", 7, now=START, features=CompanyFeatures(**features))
    seeded.clock = lambda: START
    return seeded


def design_line(amount: float) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "3"}},
    }


def test_given_weights_when_a_total_is_prorated_then_the_shares_add_up_to_the_cent() -> None:
    shares = prorate(Decimal("10.00"), [Decimal("1"), Decimal("1"), Decimal("1")])
    assert shares == [Decimal("3.33"), Decimal("3.33"), Decimal("3.34")]


def test_given_a_seeded_home_currency_when_records_are_created_then_they_are_in_it() -> None:
    company = company_with(home_currency="CAD")
    customer = company.create("Customer", {"DisplayName": "Maple"})
    invoice = company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [design_line(75)]})
    assert (customer["CurrencyRef"]["value"], invoice["CurrencyRef"]["value"]) == ("CAD", "CAD")
    assert "ExchangeRate" not in invoice, "a single-currency company carries no rates"


def test_given_transactions_when_the_home_currency_is_changed_then_it_is_refused() -> None:
    company = company_with()
    with pytest.raises(SettingRefusedError) as refused:
        company.configure(home_currency="EUR")
    assert refused.value.code == "home_currency_fixed"


def test_given_multi_currency_switched_on_later_when_old_invoices_are_read_then_they_are_at_rate_one() -> (
    None
):
    company = company_with()
    company.configure(multi_currency=True)
    seeded = next(iter(company.records["Invoice"].values()))
    assert (seeded["ExchangeRate"], seeded["HomeTotalAmt"]) == (1.0, seeded["TotalAmt"])


def test_given_a_rate_table_when_a_snapshot_is_restored_then_the_rates_survive() -> None:
    company = company_with(multi_currency=True, exchange_rates={"EUR": Decimal("1.08")})
    company.set_exchange_rate("EUR", date(2026, 12, 1), "1.1")
    restored = Company.from_snapshot(company.to_snapshot())
    assert restored.exchange_rate("EUR", date(2026, 11, 30))["Rate"] == 1.08
    assert restored.exchange_rate("EUR", date(2026, 12, 2))["Rate"] == 1.1


def test_given_a_foreign_invoice_when_voided_then_its_home_amounts_are_zero() -> None:
    company = company_with(multi_currency=True)
    customer = company.create("Customer", {"DisplayName": "Euro", "CurrencyRef": {"value": "EUR"}})
    invoice = company.create(
        "Invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": [design_line(75)], "ExchangeRate": 1.2},
    )
    assert invoice["HomeTotalAmt"] == 90.0
    voided = company.void("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]})
    assert (voided["HomeTotalAmt"], voided["HomeBalance"]) == (0.0, 0.0)


def test_given_ast_and_no_ship_to_when_invoiced_then_the_company_address_state_is_taxed() -> None:
    company = company_with(automated_sales_tax=True)
    customer = company.create("Customer", {"DisplayName": "No address"})
    invoice = company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [design_line(75)]})
    # The seeded company is in California: 7.25% + 1.5% of 75.00 = 5.44 + 1.13 (each rounded half-up).
    assert invoice["TxnTaxDetail"]["TxnTaxCodeRef"]["name"] == "AST CA"
    assert (invoice["TxnTaxDetail"]["TotalTax"], invoice["TotalAmt"]) == (6.57, 81.57)


def test_given_ast_when_a_sparse_update_changes_the_lines_then_the_tax_is_recomputed() -> None:
    company = company_with(automated_sales_tax=True)
    customer = company.create("Customer", {"DisplayName": "Sparse AST"})
    invoice = company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [design_line(75)]})
    updated = company.update(
        "Invoice",
        {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "Line": [design_line(150)]},
    )
    assert (updated["TxnTaxDetail"]["TotalTax"], updated["TotalAmt"]) == (13.13, 163.13)


def test_given_ast_when_a_line_is_non_then_it_is_not_taxed() -> None:
    company = company_with(automated_sales_tax=True)
    customer = company.create("Customer", {"DisplayName": "Exempt line"})
    non_line = design_line(75)
    non_line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "NON"}
    invoice = company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [non_line]})
    assert (invoice["TxnTaxDetail"]["TotalTax"], invoice["TotalAmt"]) == (0.0, 75.0)


def test_given_no_multi_currency_when_an_exchange_rate_is_set_then_qbo_refuses() -> None:
    with pytest.raises(QboFaultError) as refused:
        company_with().set_exchange_rate("EUR", date(2026, 11, 1), 1.1)
    assert refused.value.code == "6000"


def test_given_the_money_flags_when_the_cli_is_parsed_then_they_become_company_features() -> None:
    args = _parser().parse_args(["--multi-currency", "--automated-sales-tax", "--home-currency", "GBP"])
    features = load_config(None, overrides_from(args)).company_features
    assert (features.home_currency, features.multi_currency, features.automated_sales_tax) == (
        "GBP",
        True,
        True,
    )


def test_given_ast_and_a_tax_exempt_customer_when_invoiced_then_no_tax_is_charged() -> None:
    company = company_with(automated_sales_tax=True)
    customer = company.create("Customer", {"DisplayName": "Charity", "Taxable": False})
    invoice = company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [design_line(75)]})
    assert (invoice["TxnTaxDetail"]["TotalTax"], invoice["TotalAmt"]) == (0.0, 75.0)
