"""A freshly provisioned US sandbox company, as Intuit hands one to a new developer.

The names are the ones Intuit's sample company uses (apostrophes included, which exercises query
escaping). Records go through `Company.create` so seed data obeys the same rules as API writes, and
they are stamped as provisioned weeks ago, so a CDC window of recent days starts empty.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from local.qbo_sandbox.company import Company
from local.qbo_sandbox.config import CompanyFeatures

PROVISIONED_DAYS_AGO = 45

CUSTOMER_POOL = (
    ("Amy's Bird Sanctuary", "Amy", "Lauterbach"),
    ("Bill's Windsurf Shop", "Bill", "Lucchini"),
    ("Cool Cars", "Grace", "Pariente"),
    ("Diego Rodriguez", "Diego", "Rodriguez"),
    ("Dukes Basketball Camp", "Peter", "Dukes"),
    ("Dylan Sollfrank", "Dylan", "Sollfrank"),
    ("Freeman Sporting Goods", "Kirby", "Freeman"),
    ("Geeta Kalapatapu", "Geeta", "Kalapatapu"),
    ("Gevelber Photography", "Lisa", "Gevelber"),
    ("Jeff's Jalopies", "Jeff", "Chin"),
    ("John Melton", "John", "Melton"),
    ("Kate Whelan", "Kate", "Whelan"),
    ("Kookies by Kathy", "Kathy", "Kuplis"),
    ("Mark Cho", "Mark", "Cho"),
    ("Paulsen Medical Supplies", "Kathy", "Paulsen"),
    ("Red Rock Diner", "Stephanie", "Martini"),
    ("Sushi by Katsuyuki", "Katsuyuki", "Yanagawa"),
    ("Travis Waldron", "Travis", "Waldron"),
    ("Video Games by Dan", "Dan", "Aaronson"),
    ("Weiskopf Consulting", "Nicola", "Weiskopf"),
)
VENDOR_POOL = (
    "Books by Bessie",
    "Brosnahan Insurance Agency",
    "Cal Telephone",
    "Hicks Hardware",
    "Norton Lumber and Building Materials",
    "Robertson & Associates",
)
CITIES = (("Bayshore", "94326"), ("Half Moon Bay", "94213"), ("Sunnyvale", "94086"), ("Middlefield", "94303"))
ACCOUNTS = (
    ("Services", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Design income", "Income", "ServiceFeeIncome"),
    ("Landscaping Services", "Income", "ServiceFeeIncome"),
    ("Discounts given", "Income", "DiscountsRefundsGiven"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Inventory Asset", "Other Current Asset", "Inventory"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Advertising", "Expense", "AdvertisingPromotional"),
    ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"),
    ("Utilities", "Expense", "Utilities"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable"),
)
# (Name, Type, income account, unit price, description)
ITEMS = (
    ("Services", "Service", "Services", 0, "Professional services"),
    ("Hours", "Service", "Services", 0, "Hourly work"),
    ("Design", "Service", "Design income", 75, "Custom Design"),
    ("Installation", "Service", "Landscaping Services", 50, "Installation of landscape design"),
    ("Gardening", "Service", "Landscaping Services", 0, "Weekly Gardening Service"),
    ("Pest Control", "Service", "Landscaping Services", 35, "Pest Control Services"),
    ("Lighting", "NonInventory", "Sales of Product Income", 0, "Garden Lighting"),
    ("Rock Fountain", "Inventory", "Sales of Product Income", 275, "Rock Fountain"),
    ("Sprinkler Heads", "Inventory", "Sales of Product Income", 2, "Sprinkler Heads"),
)
TERMS = (("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60))
PAYMENT_METHODS = (
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Discover", "CREDIT_CARD"),
)
CLASSES = ("Consulting", "Retail", "Wholesale")


def seed_company(
    realm_id: str,
    company_name: str,
    rng_seed: int,
    *,
    now: datetime | None = None,
    features: CompanyFeatures | None = None,
) -> Company:
    """A company that looks freshly provisioned; the same seed gives the same records.

    `features` (home currency, multi-currency, AST, exchange rates) are set before any record is made, so
    the seeded records are in the home currency and, with AST, taxed by it."""
    features = features or CompanyFeatures()
    rng = random.Random(rng_seed)
    company = Company(realm_id, company_name)
    live_clock = company.clock
    provisioned = (now or company.now()) - timedelta(days=PROVISIONED_DAYS_AGO)
    company.clock = lambda: provisioned
    try:
        _seed_settings(company, provisioned)
        company.configure(
            home_currency=features.home_currency,
            multi_currency=features.multi_currency,
            automated_sales_tax=features.automated_sales_tax,
        )
        for code, rate in features.exchange_rates.items():
            company.set_exchange_rate(code, provisioned.date(), rate)
        accounts = {
            name: company.create("Account", {"Name": name, "AccountType": kind, "AccountSubType": sub})
            for name, kind, sub in ACCOUNTS
        }
        _seed_taxes(company)
        terms = {
            name: company.create("Term", {"Name": name, "Type": "STANDARD", "DueDays": days})
            for name, days in TERMS
        }
        company.records["Preferences"]["1"]["SalesFormsPrefs"]["DefaultTerms"] = {
            "value": terms["Net 30"]["Id"],
            "name": "Net 30",
        }
        methods = {
            name: company.create("PaymentMethod", {"Name": name, "Type": kind})
            for name, kind in PAYMENT_METHODS
        }
        for name in CLASSES:
            company.create("Class", {"Name": name})
        customers = _seed_people(company, rng, terms)
        items = _seed_items(company, accounts)
        _seed_invoices(company, rng, customers, items, methods)
    finally:
        company.clock = live_clock
    return company


def _address(rng: random.Random, number: int) -> dict[str, Any]:
    city, postal = CITIES[rng.randrange(len(CITIES))]
    return {
        "Line1": f"{rng.randint(10, 9999)} {rng.choice(('Main', 'Pine', 'Oak', 'Sierra'))} St.",
        "City": city,
        "CountrySubDivisionCode": "CA",
        "PostalCode": postal,
        "Id": str(number),
    }


def _seed_settings(company: Company, provisioned: datetime) -> None:
    address = {
        "Id": "1",
        "Line1": "123 Sierra Way",
        "City": "San Pablo",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "87999",
        "Lat": "36.6788345",
        "Long": "-116.0274397",
    }
    company.insert(
        "CompanyInfo",
        {
            "Id": "1",
            "CompanyName": company.company_name,
            "LegalName": company.company_name,
            "CompanyAddr": address,
            "CustomerCommunicationAddr": address,
            "LegalAddr": address,
            "PrimaryPhone": {"FreeFormNumber": "(650) 555-0100"},
            "Email": {"Address": "noreply@quickbooks.com"},
            "WebAddr": {},
            "CompanyStartDate": provisioned.date().isoformat(),
            "FiscalYearStartMonth": "January",
            "Country": "US",
            "SupportedLanguages": "en",
            "NameValue": [
                {"Name": "NeoEnabled", "Value": "true"},
                {"Name": "IndustryType", "Value": "Landscaping Services"},
                {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                {"Name": "OfferingSku", "Value": "QuickBooks Online Advanced"},
                {"Name": "PayrollFeature", "Value": "true"},
                {"Name": "AccountantFeature", "Value": "false"},
                {"Name": "IsQbdtMigrated", "Value": "false"},
            ],
        },
    )
    company.insert(
        "Preferences",
        {
            "Id": "1",
            "AccountingInfoPrefs": {
                "FirstMonthOfFiscalYear": "January",
                "UseAccountNumbers": True,
                "TaxYearMonth": "January",
                "ClassTrackingPerTxn": False,
                "ClassTrackingPerTxnLine": True,
                "TrackDepartments": False,
                "DepartmentTerminology": "Location",
                "CustomerTerminology": "Customers",
            },
            "ProductAndServicesPrefs": {
                "ForSales": True,
                "ForPurchase": True,
                "QuantityWithPriceAndRate": True,
                "QuantityOnHand": True,
            },
            "SalesFormsPrefs": {
                "CustomTxnNumbers": False,
                "AllowDeposit": True,
                "AllowDiscount": True,
                "AllowEstimates": True,
                "AllowServiceDate": False,
                "AllowShipping": False,
                "AutoApplyCredit": True,
                "AutoApplyPayments": True,
                "ETransactionEnabledStatus": "NotApplicable",
                "IPNSupportEnabled": False,
                "UsingPriceLevels": False,
                "UsingProgressInvoicing": False,
                "DefaultCustomerMessage": "Thank you for your business and have a great day!",
            },
            "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True},
            "TimeTrackingPrefs": {
                "UseServices": True,
                "BillCustomers": True,
                "WorkWeekStartDate": "Monday",
                "MarkTimeEntriesBillable": True,
                "ShowBillRateToAll": False,
            },
            "TaxPrefs": {"UsingSalesTax": True},
            "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
            "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
            "OtherPrefs": {
                "NameValue": [
                    {
                        "Name": "SalesFormsPrefs.DefaultCustomerMessage",
                        "Value": "Thank you for your business and have a great day!",
                    }
                ]
            },
        },
    )


def _seed_taxes(company: Company) -> None:
    company.insert(
        "TaxRate",
        {
            "Id": "1",
            "Name": "California",
            "Description": "Sales Tax",
            "Active": True,
            "RateValue": 8.0,
            "AgencyRef": {"value": "1"},
            "SpecialTaxType": "NONE",
            "DisplayType": "ReadOnly",
        },
    )
    company.insert(
        "TaxRate",
        {
            "Id": "2",
            "Name": "Zero-rated",
            "Description": "Zero-rated sales",
            "Active": True,
            "RateValue": 0.0,
            "AgencyRef": {"value": "1"},
            "SpecialTaxType": "NONE",
            "DisplayType": "ReadOnly",
        },
    )
    company.insert(
        "TaxCode",
        {
            "Id": "TAX",
            "Name": "TAX",
            "Description": "TAX",
            "Active": True,
            "Taxable": True,
            "TaxGroup": False,
            "Hidden": False,
        },
    )
    company.insert(
        "TaxCode",
        {
            "Id": "NON",
            "Name": "NON",
            "Description": "NON",
            "Active": True,
            "Taxable": False,
            "TaxGroup": False,
            "Hidden": False,
        },
    )
    for tax_code_id, name, rate_id in (("2", "California", "1"), ("3", "Zero-rated", "2")):
        company.insert(
            "TaxCode",
            {
                "Id": tax_code_id,
                "Name": name,
                "Description": name,
                "Active": True,
                "Hidden": False,
                "Taxable": True,
                "TaxGroup": True,
                "SalesTaxRateList": {
                    "TaxRateDetail": [
                        {
                            "TaxRateRef": {"value": rate_id, "name": name},
                            "TaxTypeApplicable": "TaxOnAmount",
                            "TaxOrder": 0,
                        }
                    ]
                },
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            },
        )


def _seed_people(
    company: Company, rng: random.Random, terms: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    customers = []
    for number, (display, given, family) in enumerate(rng.sample(CUSTOMER_POOL, 10), start=1):
        slug = "".join(ch for ch in display.lower() if ch.isalnum())[:20]
        body: dict[str, Any] = {
            "DisplayName": display,
            "GivenName": given,
            "FamilyName": family,
            "PrimaryEmailAddr": {"Address": f"{given.lower()}@{slug}.example.com"},
            "PrimaryPhone": {"FreeFormNumber": f"(415) 555-{rng.randint(1000, 9999)}"},
            "BillAddr": _address(rng, number),
            "Taxable": rng.random() < 0.5,
            "SalesTermRef": {"value": terms[rng.choice(("Net 15", "Net 30"))]["Id"]},
        }
        if display != f"{given} {family}":
            body["CompanyName"] = display
        customers.append(company.create("Customer", body))
    for name in rng.sample(VENDOR_POOL, 3):
        company.create("Vendor", {"DisplayName": name, "CompanyName": name, "Vendor1099": False})
    for given, family in (("Emily", "Platt"), ("John", "Johnson")):
        company.create("Employee", {"GivenName": given, "FamilyName": family})
    return customers


def _seed_items(company: Company, accounts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    for name, item_type, income, price, description in ITEMS:
        body: dict[str, Any] = {
            "Name": name,
            "Type": item_type,
            "Description": description,
            "UnitPrice": price,
            "IncomeAccountRef": {"value": accounts[income]["Id"]},
            "Taxable": item_type != "Service",
        }
        if item_type == "Inventory":
            body.update(
                {
                    "AssetAccountRef": {"value": accounts["Inventory Asset"]["Id"]},
                    "ExpenseAccountRef": {"value": accounts["Cost of Goods Sold"]["Id"]},
                    "TrackQtyOnHand": True,
                    "QtyOnHand": 25 if name == "Sprinkler Heads" else 2,
                    "InvStartDate": company.now().date().isoformat(),
                }
            )
        items.append(company.create("Item", body))
    return items


def _seed_invoices(
    company: Company,
    rng: random.Random,
    customers: list[dict[str, Any]],
    items: list[dict[str, Any]],
    methods: dict[str, dict[str, Any]],
) -> None:
    priced = [item for item in items if item.get("UnitPrice")]
    invoices = []
    for customer in rng.sample(customers, 4):
        lines = []
        for item in rng.sample(priced, rng.randint(1, 3)):
            qty = rng.randint(1, 5)
            lines.append(
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": round(qty * float(item["UnitPrice"]), 2),
                    "Description": item.get("Description", item["Name"]),
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": qty,
                        "UnitPrice": item["UnitPrice"],
                        "TaxCodeRef": {"value": "NON"},
                    },
                }
            )
        invoices.append(company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": lines}))
    paid = invoices[0]
    company.create(
        "Payment",
        {
            "CustomerRef": {"value": paid["CustomerRef"]["value"]},
            "TotalAmt": paid["TotalAmt"],
            "PaymentMethodRef": {"value": methods["Visa"]["Id"]},
            "Line": [
                {"Amount": paid["TotalAmt"], "LinkedTxn": [{"TxnId": paid["Id"], "TxnType": "Invoice"}]}
            ],
        },
    )
