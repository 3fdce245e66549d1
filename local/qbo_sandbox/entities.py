"""What each QBO entity looks like on the wire: its writable fields, their types, its kind of list.

Request bodies are cleaned here before any business rule runs: QBO's JSON binder refuses a value of
the wrong type (code 2010), ignores read-only members, and python-quickbooks sends "" for every
unset string, so "" counts as "no value".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from local.qbo_sandbox.faultbody import QboFaultError

TEXT = "text"
NUMBER = "number"
INTEGER = "integer"
BOOLEAN = "boolean"
DATE = "date"
REF = "ref"
EMAIL = "email"
ANY = "any"


@dataclass(frozen=True)
class ListOf:
    """A JSON array whose items all have one kind."""

    item: Any


# The member kinds of nested objects. A dict kind is an object with those members.
ADDRESS: dict[str, Any] = {
    "Id": TEXT,
    "Line1": TEXT,
    "Line2": TEXT,
    "Line3": TEXT,
    "City": TEXT,
    "Country": TEXT,
    "CountrySubDivisionCode": TEXT,
    "PostalCode": TEXT,
    "Lat": TEXT,
    "Long": TEXT,
}
PHONE: dict[str, Any] = {"FreeFormNumber": TEXT}
WEB: dict[str, Any] = {"URI": TEXT}
MEMO: dict[str, Any] = {"value": TEXT}
LINKED_TXN: dict[str, Any] = {"TxnId": TEXT, "TxnType": TEXT, "TxnLineId": TEXT}
SALES_ITEM_DETAIL: dict[str, Any] = {
    "ItemRef": REF,
    "ClassRef": REF,
    "TaxCodeRef": REF,
    "ItemAccountRef": REF,
    "Qty": NUMBER,
    "UnitPrice": NUMBER,
    "ServiceDate": DATE,
    "DiscountRate": NUMBER,
    "DiscountAmt": NUMBER,
    "TaxInclusiveAmt": NUMBER,
    "MarkupInfo": ANY,
    "PriceLevelRef": REF,
}
DISCOUNT_DETAIL: dict[str, Any] = {
    "PercentBased": BOOLEAN,
    "DiscountPercent": NUMBER,
    "DiscountAccountRef": REF,
    "ClassRef": REF,
    "TaxCodeRef": REF,
}
LINE: dict[str, Any] = {
    "Id": TEXT,
    "LineNum": INTEGER,
    "Description": TEXT,
    "Amount": NUMBER,
    "DetailType": TEXT,
    "SalesItemLineDetail": SALES_ITEM_DETAIL,
    "DiscountLineDetail": DISCOUNT_DETAIL,
    "SubTotalLineDetail": ANY,
    "DescriptionLineDetail": ANY,
    "GroupLineDetail": ANY,
    "LinkedTxn": ListOf(LINKED_TXN),
    "CustomField": ListOf(ANY),
    "LineEx": ANY,
}
TAX_DETAIL: dict[str, Any] = {"TotalTax": NUMBER, "TxnTaxCodeRef": REF, "TaxLine": ListOf(ANY)}

PERSON_NAME_FIELDS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
NAME_LENGTHS = {
    "DisplayName": 500,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "Title": 16,
    "Suffix": 16,
    "Name": 100,
    "CompanyName": 50,
    "PrintOnCheckName": 110,
    "DocNumber": 21,
    "PaymentRefNum": 21,
}

# Members the server owns: accepted in a request body (python-quickbooks echoes them) and ignored.
SERVER_OWNED = frozenset(
    {
        "Id",
        "SyncToken",
        "MetaData",
        "domain",
        "sparse",
        "status",
        "Balance",
        "BalanceWithJobs",
        "FullyQualifiedName",
        "Level",
        "TotalAmt",
        "HomeBalance",
        "HomeTotalAmt",
        "UnappliedAmt",
        "RemainingCredit",
        "Classification",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
        "InvoiceLink",
        "ClientEntityId",
        "V4IDPseudonym",
        "time",
    }
)

NAME_LIST = "name"
TRANSACTION = "transaction"
REFERENCE = "reference"
SETTINGS = "settings"


@dataclass(frozen=True)
class EntitySpec:
    """One QBO entity: wire name, URL segment, list kind and writable members."""

    name: str
    kind: str
    fields: dict[str, Any]
    read_only: frozenset[str] = frozenset()
    name_field: str = "Name"
    name_namespace: str = ""
    unique_detail: str = ""
    refs: dict[str, str] = field(default_factory=dict)
    voidable: bool = False
    in_cdc: bool = True

    @property
    def path(self) -> str:
        return self.name.lower()

    @property
    def writable(self) -> bool:
        return self.kind in (NAME_LIST, TRANSACTION)

    def queryable_members(self) -> frozenset[str]:
        """Top-level members a WHERE or ORDERBY may name, lowercased."""
        names = {"id", "synctoken", "metadata", "active"} | {m.lower() for m in self.fields}
        return frozenset(names | {m.lower() for m in self.read_only})


PERSON_FIELDS: dict[str, Any] = {
    "Title": TEXT,
    "GivenName": TEXT,
    "MiddleName": TEXT,
    "FamilyName": TEXT,
    "Suffix": TEXT,
    "DisplayName": TEXT,
    "PrintOnCheckName": TEXT,
    "CompanyName": TEXT,
    "Active": BOOLEAN,
    "PrimaryPhone": PHONE,
    "AlternatePhone": PHONE,
    "Mobile": PHONE,
    "Fax": PHONE,
    "PrimaryEmailAddr": {"Address": EMAIL},
    "WebAddr": WEB,
    "Notes": TEXT,
    "CurrencyRef": REF,
}
NAMES_DETAIL = "Another customer, vendor or employee is already using this name. Please use a different name."

CUSTOMER = EntitySpec(
    name="Customer",
    kind=NAME_LIST,
    fields={
        **PERSON_FIELDS,
        "BillAddr": ADDRESS,
        "ShipAddr": ADDRESS,
        "Job": BOOLEAN,
        "BillWithParent": BOOLEAN,
        "ParentRef": REF,
        "Taxable": BOOLEAN,
        "DefaultTaxCodeRef": REF,
        "SalesTermRef": REF,
        "PaymentMethodRef": REF,
        "OpenBalanceDate": DATE,
        "PreferredDeliveryMethod": TEXT,
        "ResaleNum": TEXT,
        "PrimaryTaxIdentifier": TEXT,
        "IsProject": BOOLEAN,
        "CustomerTypeRef": REF,
        "TaxExemptionReasonId": TEXT,
        "ARAccountRef": REF,
    },
    read_only=frozenset({"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level"}),
    name_field="DisplayName",
    name_namespace="names",
    unique_detail=NAMES_DETAIL,
    refs={
        "ParentRef": "Customer",
        "DefaultTaxCodeRef": "TaxCode",
        "SalesTermRef": "Term",
        "PaymentMethodRef": "PaymentMethod",
    },
)
VENDOR = EntitySpec(
    name="Vendor",
    kind=NAME_LIST,
    fields={
        **PERSON_FIELDS,
        "BillAddr": ADDRESS,
        "Vendor1099": BOOLEAN,
        "AcctNum": TEXT,
        "TaxIdentifier": TEXT,
        "TermRef": REF,
        "APAccountRef": REF,
        "BillRate": NUMBER,
        "CostRate": NUMBER,
        "TaxReportingBasis": TEXT,
    },
    read_only=frozenset({"Balance"}),
    name_field="DisplayName",
    name_namespace="names",
    unique_detail=NAMES_DETAIL,
    refs={"TermRef": "Term", "APAccountRef": "Account"},
)
EMPLOYEE = EntitySpec(
    name="Employee",
    kind=NAME_LIST,
    fields={
        **PERSON_FIELDS,
        "PrimaryAddr": ADDRESS,
        "EmployeeNumber": TEXT,
        "SSN": TEXT,
        "BillableTime": BOOLEAN,
        "BillRate": NUMBER,
        "CostRate": NUMBER,
        "HiredDate": DATE,
        "ReleasedDate": DATE,
        "BirthDate": DATE,
        "Gender": TEXT,
        "Organization": BOOLEAN,
    },
    name_field="DisplayName",
    name_namespace="names",
    unique_detail=NAMES_DETAIL,
)
ITEM = EntitySpec(
    name="Item",
    kind=NAME_LIST,
    fields={
        "Name": TEXT,
        "Sku": TEXT,
        "Description": TEXT,
        "Active": BOOLEAN,
        "SubItem": BOOLEAN,
        "ParentRef": REF,
        "Taxable": BOOLEAN,
        "SalesTaxIncluded": BOOLEAN,
        "UnitPrice": NUMBER,
        "Type": TEXT,
        "IncomeAccountRef": REF,
        "PurchaseDesc": TEXT,
        "PurchaseTaxIncluded": BOOLEAN,
        "PurchaseCost": NUMBER,
        "ExpenseAccountRef": REF,
        "AssetAccountRef": REF,
        "TrackQtyOnHand": BOOLEAN,
        "QtyOnHand": NUMBER,
        "InvStartDate": DATE,
        "SalesTaxCodeRef": REF,
        "PurchaseTaxCodeRef": REF,
        "ClassRef": REF,
        "ReorderPoint": NUMBER,
    },
    read_only=frozenset({"FullyQualifiedName", "Level"}),
    name_namespace="Item",
    unique_detail="Another Item is already using this name. Please use a different name.",
    refs={
        "ParentRef": "Item",
        "IncomeAccountRef": "Account",
        "ExpenseAccountRef": "Account",
        "AssetAccountRef": "Account",
        "SalesTaxCodeRef": "TaxCode",
        "PurchaseTaxCodeRef": "TaxCode",
        "ClassRef": "Class",
    },
)
ACCOUNT = EntitySpec(
    name="Account",
    kind=NAME_LIST,
    fields={
        "Name": TEXT,
        "AcctNum": TEXT,
        "SubAccount": BOOLEAN,
        "ParentRef": REF,
        "Description": TEXT,
        "Active": BOOLEAN,
        "AccountType": TEXT,
        "AccountSubType": TEXT,
        "CurrencyRef": REF,
        "TaxCodeRef": REF,
    },
    read_only=frozenset(
        {"FullyQualifiedName", "Classification", "CurrentBalance", "CurrentBalanceWithSubAccounts"}
    ),
    name_namespace="Account",
    unique_detail="Another account is already using this name. Please use a different name.",
    refs={"ParentRef": "Account", "TaxCodeRef": "TaxCode"},
)
TAX_CODE = EntitySpec(
    name="TaxCode",
    kind=REFERENCE,
    fields={
        "Name": TEXT,
        "Description": TEXT,
        "Active": BOOLEAN,
        "Hidden": BOOLEAN,
        "Taxable": BOOLEAN,
        "TaxGroup": BOOLEAN,
        "SalesTaxRateList": ANY,
        "PurchaseTaxRateList": ANY,
    },
    in_cdc=False,
)
TAX_RATE = EntitySpec(
    name="TaxRate",
    kind=REFERENCE,
    fields={
        "Name": TEXT,
        "Description": TEXT,
        "Active": BOOLEAN,
        "RateValue": NUMBER,
        "AgencyRef": REF,
        "SpecialTaxType": TEXT,
        "DisplayType": TEXT,
    },
    in_cdc=False,
)
CLASS = EntitySpec(
    name="Class",
    kind=NAME_LIST,
    fields={"Name": TEXT, "SubClass": BOOLEAN, "ParentRef": REF, "Active": BOOLEAN},
    read_only=frozenset({"FullyQualifiedName"}),
    name_namespace="Class",
    unique_detail="Another class is already using this name. Please use a different name.",
    refs={"ParentRef": "Class"},
)
PAYMENT_METHOD = EntitySpec(
    name="PaymentMethod",
    kind=NAME_LIST,
    fields={"Name": TEXT, "Active": BOOLEAN, "Type": TEXT},
    name_namespace="PaymentMethod",
    unique_detail="Another payment method is already using this name. Please use a different name.",
)
TERM = EntitySpec(
    name="Term",
    kind=NAME_LIST,
    fields={
        "Name": TEXT,
        "Active": BOOLEAN,
        "Type": TEXT,
        "DueDays": INTEGER,
        "DiscountDays": INTEGER,
        "DiscountPercent": NUMBER,
        "DayOfMonthDue": INTEGER,
        "DueNextMonthDays": INTEGER,
        "DiscountDayOfMonth": INTEGER,
    },
    name_namespace="Term",
    unique_detail="Another term is already using this name. Please use a different name.",
)
SALES_FORM_FIELDS: dict[str, Any] = {
    "DocNumber": TEXT,
    "TxnDate": DATE,
    "PrivateNote": TEXT,
    "CustomerMemo": MEMO,
    "CustomerRef": REF,
    "BillAddr": ADDRESS,
    "ShipAddr": ADDRESS,
    "BillEmail": {"Address": EMAIL},
    "Line": ListOf(LINE),
    "TxnTaxDetail": TAX_DETAIL,
    "ClassRef": REF,
    "SalesTermRef": REF,
    "DepartmentRef": REF,
    "ApplyTaxAfterDiscount": BOOLEAN,
    "PrintStatus": TEXT,
    "EmailStatus": TEXT,
    "GlobalTaxCalculation": TEXT,
    "CurrencyRef": REF,
    "ExchangeRate": NUMBER,
    "CustomField": ListOf(ANY),
    "FreeFormAddress": BOOLEAN,
    "ShipFromAddr": ADDRESS,
    "ProjectRef": REF,
    "ShipMethodRef": REF,
    "TaxExemptionRef": REF,
    "BillEmailCc": {"Address": TEXT},
    "BillEmailBcc": {"Address": TEXT},
    "DeliveryInfo": ANY,
    "RecurDataRef": REF,
}
SALES_FORM_REFS = {"CustomerRef": "Customer", "ClassRef": "Class", "SalesTermRef": "Term"}
INVOICE = EntitySpec(
    name="Invoice",
    kind=TRANSACTION,
    fields={
        **SALES_FORM_FIELDS,
        "DepositToAccountRef": REF,
        "DueDate": DATE,
        "ShipDate": DATE,
        "TrackingNum": TEXT,
        "Deposit": NUMBER,
        "AllowIPNPayment": BOOLEAN,
        "AllowOnlinePayment": BOOLEAN,
        "AllowOnlineCreditCardPayment": BOOLEAN,
        "AllowOnlineACHPayment": BOOLEAN,
    },
    read_only=frozenset({"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn"}),
    refs=SALES_FORM_REFS,
    voidable=True,
)
CREDIT_MEMO = EntitySpec(
    name="CreditMemo",
    kind=TRANSACTION,
    fields={**SALES_FORM_FIELDS, "PaymentMethodRef": REF, "DepositToAccountRef": REF},
    read_only=frozenset({"TotalAmt", "Balance", "RemainingCredit"}),
    refs=SALES_FORM_REFS,
)
SALES_RECEIPT = EntitySpec(
    name="SalesReceipt",
    kind=TRANSACTION,
    fields={
        **SALES_FORM_FIELDS,
        "ShipDate": DATE,
        "TrackingNum": TEXT,
        "PaymentMethodRef": REF,
        "PaymentRefNum": TEXT,
        "DepositToAccountRef": REF,
        "CreditCardPayment": ANY,
        "TxnSource": TEXT,
    },
    read_only=frozenset({"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn"}),
    refs={**SALES_FORM_REFS, "PaymentMethodRef": "PaymentMethod", "DepositToAccountRef": "Account"},
    voidable=True,
)
ESTIMATE = EntitySpec(
    name="Estimate",
    kind=TRANSACTION,
    fields={
        **SALES_FORM_FIELDS,
        "ExpirationDate": DATE,
        "AcceptedBy": TEXT,
        "AcceptedDate": DATE,
        "TxnStatus": TEXT,
        "ShipDate": DATE,
        "DueDate": DATE,
        "TrackingNum": TEXT,
    },
    read_only=frozenset({"TotalAmt", "HomeTotalAmt", "LinkedTxn"}),
    refs=SALES_FORM_REFS,
)
PAYMENT = EntitySpec(
    name="Payment",
    kind=TRANSACTION,
    fields={
        "TxnDate": DATE,
        "CustomerRef": REF,
        "TotalAmt": NUMBER,
        "PaymentMethodRef": REF,
        "PaymentRefNum": TEXT,
        "DepositToAccountRef": REF,
        "ARAccountRef": REF,
        "Line": ListOf(LINE),
        "PrivateNote": TEXT,
        "ProcessPayment": BOOLEAN,
        "CurrencyRef": REF,
        "ExchangeRate": NUMBER,
        "TxnSource": TEXT,
        "CreditCardPayment": ANY,
        "ProjectRef": REF,
        "TaxExemptionRef": REF,
    },
    read_only=frozenset({"UnappliedAmt"}),
    refs={
        "CustomerRef": "Customer",
        "PaymentMethodRef": "PaymentMethod",
        "DepositToAccountRef": "Account",
        "ARAccountRef": "Account",
    },
    voidable=True,
)
# Multi-currency companies list their foreign currencies (Intuit's CompanyCurrency page).
COMPANY_CURRENCY = EntitySpec(
    name="CompanyCurrency",
    kind=REFERENCE,
    fields={"Code": TEXT, "Name": TEXT, "Active": BOOLEAN, "CustomField": ListOf(ANY)},
    in_cdc=False,
)
COMPANY_INFO = EntitySpec(name="CompanyInfo", kind=SETTINGS, fields={}, in_cdc=False)
PREFERENCES = EntitySpec(name="Preferences", kind=SETTINGS, fields={}, in_cdc=False)

ENTITY_SPECS: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        CUSTOMER,
        VENDOR,
        EMPLOYEE,
        ITEM,
        ACCOUNT,
        TAX_CODE,
        TAX_RATE,
        CLASS,
        PAYMENT_METHOD,
        TERM,
        INVOICE,
        PAYMENT,
        CREDIT_MEMO,
        SALES_RECEIPT,
        ESTIMATE,
        COMPANY_CURRENCY,
        COMPANY_INFO,
        PREFERENCES,
    )
}
SPECS_BY_PATH: dict[str, EntitySpec] = {spec.path: spec for spec in ENTITY_SPECS.values()}

# AccountType -> Classification, as QBO derives the read-only Classification.
ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Receivable": "Asset",
    "Equity": "Equity",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Cost of Goods Sold": "Expense",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Long Term Liability": "Liability",
    "Other Current Liability": "Liability",
    "Income": "Revenue",
    "Other Income": "Revenue",
}
# A few sub-types, so an Account given only a sub-type gets its type.
ACCOUNT_TYPE_BY_SUBTYPE = {
    "SalesOfProductIncome": "Income",
    "ServiceFeeIncome": "Income",
    "DiscountsRefundsGiven": "Income",
    "OtherPrimaryIncome": "Income",
    "NonProfitIncome": "Income",
    "UnappliedCashPaymentIncome": "Income",
    "Checking": "Bank",
    "Savings": "Bank",
    "CashOnHand": "Bank",
    "UndepositedFunds": "Other Current Asset",
    "Inventory": "Other Current Asset",
    "AccountsReceivable": "Accounts Receivable",
    "AccountsPayable": "Accounts Payable",
    "SuppliesMaterialsCogs": "Cost of Goods Sold",
    "OtherCostsOfServiceCos": "Cost of Goods Sold",
    "AdvertisingPromotional": "Expense",
    "OfficeGeneralAdministrativeExpenses": "Expense",
    "Utilities": "Expense",
    "OtherMiscellaneousServiceCost": "Expense",
    "OpeningBalanceEquity": "Equity",
    "RetainedEarnings": "Equity",
    "SalesTaxPayable": "Other Current Liability",
}
ITEM_TYPES = ("Service", "NonInventory", "Inventory", "Category")
PAYMENT_METHOD_TYPES = ("CREDIT_CARD", "NON_CREDIT_CARD")
ESTIMATE_STATUSES = ("Pending", "Accepted", "Closed", "Rejected", "Converted")
TERM_TYPES = ("STANDARD", "DATE_DRIVEN")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_JAVA_TYPE = {NUMBER: "java.math.BigDecimal", INTEGER: "java.lang.Integer", BOOLEAN: "boolean", DATE: "Date"}


def invalid_property(element: str, value: Any, expected: str) -> QboFaultError:
    """QBO's answer to a value its JSON binder cannot read (wrong type, bad JSON)."""
    return QboFaultError(
        400,
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:Can not construct instance of {expected} from {value!r} for {element}: "
        "not a valid representation specified is unsupported or invalid",
        element=element,
    )


def unrecognized_field(spec_name: str, member: str) -> QboFaultError:
    """QBO's JSON binder refuses a member its schema does not have (Jackson's wording, code 2010)."""
    return QboFaultError(
        400,
        "2010",
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{member}" (class com.intuit.schema.finance.v3.{spec_name}), '
        "not marked as ignorable specified is unsupported or invalid",
        element=member,
    )


def invalid_id(value: Any) -> QboFaultError:
    """An Id that is not a number (Intuit's error list: 2030 Invalid ID)."""
    return QboFaultError(
        400, "2030", "Invalid ID", f"Id should be a valid number. Supplied value:{value}", element="Id"
    )


def business_fault(detail: str, element: str = "") -> QboFaultError:
    return QboFaultError(
        400,
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def required_missing(element: str) -> QboFaultError:
    return QboFaultError(
        400,
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element=element,
    )


def too_long(element: str, limit: int, supplied: int) -> QboFaultError:
    """Code 2050 in the wording a production answer carried (consolibyte/quickbooks-php#79)."""
    return QboFaultError(
        400,
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{limit} supported. "
        f"Supplied length:{supplied}",
        element=element,
    )


def clean_value(kind: Any, value: Any, element: str) -> Any:
    """The value in its stored form, or None when it carries nothing; wrong types raise 2010."""
    if value is None or (isinstance(value, str) and value == "" and kind != ANY):
        return None
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise invalid_property(element, value, "object")
        cleaned = {}
        for member, member_value in value.items():
            kept = clean_value(kind.get(member, ANY), member_value, f"{element}.{member}")
            if kept is not None and kept != []:
                cleaned[member] = kept
        return cleaned or None
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            raise invalid_property(element, value, "array")
        items = [clean_value(kind.item, item, f"{element}[{i}]") for i, item in enumerate(value)]
        return [item for item in items if item is not None]
    return _clean_scalar(kind, value, element)


def _clean_scalar(kind: str, value: Any, element: str) -> Any:  # noqa: PLR0911, PLR0912
    if kind == ANY:
        return _prune(value)
    if kind in (TEXT, EMAIL):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid_property(element, value, "java.lang.String")
        text = value if isinstance(value, str) else str(value)
        if kind == EMAIL and not _EMAIL.match(text.strip()):
            raise business_fault(f"Email Address does not conform to the syntax rules: {text}", element)
        return text
    if kind in (NUMBER, INTEGER):
        number = _as_number(value)
        if number is None or (kind == INTEGER and number != number.to_integral_value()):
            raise invalid_property(element, value, _JAVA_TYPE[kind])
        return int(number) if kind == INTEGER else number_out(number)
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid_property(element, value, "boolean")
    if kind == DATE:
        if not isinstance(value, str) or not _DATE.match(value[:10]):
            raise invalid_property(element, value, "Date")
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise invalid_property(element, value, "Date") from None
    if kind == REF:
        if not isinstance(value, dict):
            raise invalid_property(element, value, "ReferenceType")
        ref_value = value.get("value")
        if isinstance(ref_value, bool) or not isinstance(ref_value, str | int) or str(ref_value) == "":
            raise invalid_property(f"{element}.value", ref_value, "java.lang.String")
        ref: dict[str, Any] = {"value": str(ref_value)}
        if isinstance(value.get("name"), str) and value["name"]:
            ref["name"] = value["name"]
        return ref
    raise invalid_property(element, value, kind)


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _prune(value: Any) -> Any:
    """Drop None and "" members anywhere inside a free-form value."""
    if isinstance(value, dict):
        kept = {k: _prune(v) for k, v in value.items() if v is not None and v != ""}
        return {k: v for k, v in kept.items() if v is not None} or None
    if isinstance(value, list):
        return [item for item in (_prune(v) for v in value) if item is not None]
    return value


def number_out(number: Decimal) -> float | int:
    """Numbers go back out as JSON numbers; QBO writes amounts as decimals (100.0)."""
    return float(number)


def money(value: Any) -> Decimal:
    """A stored amount as an exact two-place decimal."""
    number = _as_number(value)
    return (number if number is not None else Decimal(0)).quantize(Decimal("0.01"))


def clean_body(spec: EntitySpec, body: Any, *, sparse: bool) -> dict[str, Any]:
    """The writable members of a request body, typed; None marks a member to clear (sparse only)."""
    if not isinstance(body, dict):
        raise invalid_property(spec.name, body, f"com.intuit.schema.finance.v3.{spec.name}")
    cleaned: dict[str, Any] = {}
    for member, value in body.items():
        if (member in SERVER_OWNED and member not in spec.fields) or member in spec.read_only:
            continue
        if member not in spec.fields:
            raise unrecognized_field(spec.name, member)
        kind = spec.fields[member]
        kept = clean_value(kind, value, member)
        if kept is None:
            if sparse:
                cleaned[member] = None
            continue
        if isinstance(kept, list) and not kept and member != "Line":
            if sparse:
                cleaned[member] = None
            continue
        cleaned[member] = kept
    for member, limit in NAME_LENGTHS.items():
        text = cleaned.get(member)
        if isinstance(text, str) and len(text) > limit:
            raise too_long(member, limit, len(text))
    return cleaned


def check_name_characters(spec: EntitySpec, record: dict[str, Any]) -> None:
    """QBO refuses ':' and control characters in name-list names (they build FullyQualifiedName)."""
    members = (*PERSON_NAME_FIELDS, "DisplayName") if spec.name_field == "DisplayName" else ("Name",)
    for member in members:
        text = record.get(member)
        if isinstance(text, str) and any(ch in text for ch in (":", "\t", "\n", "\r")):
            raise business_fault(f"{member} can not contain a colon (:), a tab or a new line.", member)
    if spec.name == "Account" and isinstance(record.get("Name"), str) and '"' in record["Name"]:
        raise business_fault('Account Name can not contain a double quote (") or a colon (:).', "Name")


def display_name_from_parts(record: dict[str, Any]) -> str:
    """QBO builds a missing DisplayName from the person-name parts."""
    parts = [record.get(member) for member in PERSON_NAME_FIELDS]
    return " ".join(str(part).strip() for part in parts if part)


@dataclass
class PricedLines:
    """Lines as QBO returns them, with the amounts that follow from them."""

    lines: list[dict[str, Any]]
    subtotal: Decimal
    discount: Decimal


def price_sales_lines(lines: list[dict[str, Any]], previous: list[dict[str, Any]]) -> PricedLines:
    """Number the lines, check line amounts against Qty*UnitPrice, and add the SubTotal line."""
    kept_ids = {str(line.get("Id")) for line in previous if line.get("Id")}
    next_id = max([int(i) for i in kept_ids if i.isdigit()] + [0]) + 1
    priced: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    discount = Decimal(0)
    for index, given in enumerate(lines):
        line = dict(given)
        detail_type = line.get("DetailType") or _detail_type_of(line)
        if detail_type is None:
            raise required_missing(f"Line[{index}].DetailType")
        line["DetailType"] = detail_type
        if detail_type == "SubTotalLineDetail":
            continue  # QBO recomputes the subtotal line itself
        line_id = str(line.get("Id", ""))
        if not (line_id.isdigit() and int(line_id) > 0 and line_id in kept_ids):
            line["Id"] = str(next_id)
            next_id += 1
        if detail_type == "SalesItemLineDetail":
            subtotal += _price_sales_item_line(line, index)
        elif detail_type == "DiscountLineDetail":
            line_discount = _price_discount_line(line, subtotal, index)
            if line_discount is None:
                continue
            discount += line_discount
        elif detail_type == "DescriptionOnly":
            line["Amount"] = number_out(money(line.get("Amount", 0)))
        elif detail_type == "GroupLineDetail":
            subtotal += money(line.get("Amount", 0))
        else:
            raise invalid_property(f"Line[{index}].DetailType", detail_type, "LineDetailTypeEnum")
        line.pop("LineNum", None)
        priced.append(line)
    for number, line in enumerate(priced, start=1):
        line["LineNum"] = number
    priced.append(
        {"Amount": number_out(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    )
    return PricedLines(priced, subtotal, discount)


def _detail_type_of(line: dict[str, Any]) -> str | None:
    for candidate in ("SalesItemLineDetail", "DiscountLineDetail", "SubTotalLineDetail", "GroupLineDetail"):
        if candidate in line:
            return candidate
    return None


def _price_sales_item_line(line: dict[str, Any], index: int) -> Decimal:
    detail = line.setdefault("SalesItemLineDetail", {})
    qty = detail.get("Qty")
    unit_price = detail.get("UnitPrice")
    if "Amount" not in line:
        if qty is None or unit_price is None:
            raise required_missing(f"Line[{index}].Amount")
        line["Amount"] = number_out(money(Decimal(str(qty)) * Decimal(str(unit_price))))
    amount = money(line["Amount"])
    if qty and unit_price:
        expected = money(Decimal(str(qty)) * Decimal(str(unit_price)))
        if expected != amount:
            raise QboFaultError(
                400,
                "6070",
                "Amount is not equal to UnitPrice * Qty",
                f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
                element=f"Line[{index}].Amount",
            )
    line["Amount"] = number_out(amount)
    return amount


def _price_discount_line(line: dict[str, Any], subtotal: Decimal, index: int) -> Decimal | None:
    """A discount is a percent of the subtotal when `DiscountPercent` is sent, else a fixed `Amount`.

    QBO reads a `DiscountPercent` that is present as the discount, so a fixed discount sent with
    `DiscountPercent: 0` (python-quickbooks' default) comes to nothing and the line is dropped (the report
    in qbo-api.md §10); an amount and a different percent together are refused. None: the line is dropped.
    """
    detail = line.setdefault("DiscountLineDetail", {})
    percent = detail.get("DiscountPercent")
    given = money(line["Amount"]) if line.get("Amount") is not None else None
    if percent is not None:
        amount = money(subtotal * Decimal(str(percent)) / 100)
        if amount == 0:
            return None
        if given not in (None, Decimal(0), amount):
            raise business_fault(
                f"A discount is an amount or a percent, not both: Amount {given} and "
                f"DiscountPercent {percent} (which is {amount}) were sent.",
                f"Line[{index}].DiscountLineDetail",
            )
        detail["PercentBased"] = True
    elif detail.get("PercentBased"):
        raise required_missing(f"Line[{index}].DiscountLineDetail.DiscountPercent")
    elif given is not None:
        amount = given
        detail["PercentBased"] = False
    else:
        raise required_missing(f"Line[{index}].Amount")
    line["Amount"] = number_out(amount)
    return amount
