"""QBO wire models: the JSON shapes of the Accounting API v3, as the sync reads and writes them.

Field names are snake_case in Python and PascalCase on the wire (``sync_token`` ↔ ``SyncToken``).
QBO spells a few fields in lowercase (``sparse``, ``domain``, ``status``, ``value``, ``name``...);
those carry explicit aliases. Unknown fields are kept (``extra="allow"``) so a read-modify-write
never drops what QBO sent. Money is ``Decimal`` in Python and a JSON number on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_pascal


def _decimal_to_json_number(amount: Decimal) -> int | float:
    # QBO amounts have at most 15 significant digits, which a double represents exactly when
    # printed back (Python prints the shortest round-tripping form), so nothing is lost.
    return int(amount) if amount == amount.to_integral_value() else float(amount)


Money = Annotated[Decimal, PlainSerializer(_decimal_to_json_number, when_used="json")]
"""An amount: exact in Python, a JSON number on the wire."""


class QboModel(BaseModel):
    """Base of every wire model: PascalCase aliases, unknown fields kept, names or aliases accepted."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_pascal)

    def to_qbo(self) -> dict[str, Any]:
        """The JSON-ready body QBO expects: wire names, no nulls (a null would clear the field)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_qbo(cls, payload: dict[str, Any]) -> Self:
        """Parse one entity as QBO returned it (the inner object, not the ``{"Customer": ...}`` envelope)."""
        return cls.model_validate(payload)


class Ref(QboModel):
    """A reference to another entity: ``{"value": "42", "name": "Acme"}``."""

    value: str = Field(alias="value")
    name: str | None = Field(None, alias="name")
    type: str | None = Field(None, alias="type")


class MetaData(QboModel):
    create_time: str | None = None
    last_updated_time: str | None = None


def metadata_time(record: Mapping[str, Any], name: str) -> datetime | None:
    """``MetaData.<name>`` (``CreateTime``, ``LastUpdatedTime``) of a record as QBO returned it: QBO's
    clock, whole seconds, with the company's UTC offset.

    None when the record has none, it does not parse, or it has no UTC offset (a time that could not
    be compared with another).
    """
    meta = record.get("MetaData")
    stamp = meta.get(name) if isinstance(meta, Mapping) else None
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def last_updated_time(record: Mapping[str, Any]) -> datetime | None:
    """``MetaData.LastUpdatedTime``: compares exactly with a webhook's ``lastUpdated`` (both QBO's clock)."""
    return metadata_time(record, "LastUpdatedTime")


class EmailAddress(QboModel):
    address: str | None = None


class PhoneNumber(QboModel):
    free_form_number: str | None = None


class PhysicalAddress(QboModel):
    id: str | None = None
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    country_sub_division_code: str | None = None
    postal_code: str | None = None
    country: str | None = None


class MemoText(QboModel):
    value: str = Field(alias="value")


class QboEntity(QboModel):
    """Fields every QBO entity carries."""

    id: str | None = None
    sync_token: str | None = None
    meta_data: MetaData | None = None
    sparse: bool | None = Field(None, alias="sparse")
    domain: str | None = Field(None, alias="domain")
    status: str | None = Field(None, alias="status")
    """Set by QBO on delete responses and CDC entries: ``Deleted`` or ``Voided``."""

    @property
    def is_deleted(self) -> bool:
        """True for a CDC entry or delete response that reports the entity as gone."""
        return self.status == "Deleted"


class Customer(QboEntity):
    display_name: str | None = None
    title: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    family_name: str | None = None
    suffix: str | None = None
    company_name: str | None = None
    fully_qualified_name: str | None = None
    print_on_check_name: str | None = None
    active: bool | None = None
    primary_email_addr: EmailAddress | None = None
    primary_phone: PhoneNumber | None = None
    bill_addr: PhysicalAddress | None = None
    ship_addr: PhysicalAddress | None = None
    notes: str | None = None
    job: bool | None = None
    parent_ref: Ref | None = None
    taxable: bool | None = None
    default_tax_code_ref: Ref | None = None
    sales_term_ref: Ref | None = None
    payment_method_ref: Ref | None = None
    currency_ref: Ref | None = None
    balance: Money | None = None


class Vendor(QboEntity):
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    company_name: str | None = None
    active: bool | None = None
    primary_email_addr: EmailAddress | None = None


class Employee(QboEntity):
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    active: bool | None = None
    primary_email_addr: EmailAddress | None = None


class Item(QboEntity):
    name: str | None = None
    sku: str | None = None
    description: str | None = None
    active: bool | None = None
    type: str | None = None
    """Inventory, Service, NonInventory, Category (Group and Bundle are read-only)."""
    fully_qualified_name: str | None = None
    sub_item: bool | None = None
    parent_ref: Ref | None = None
    unit_price: Money | None = None
    taxable: bool | None = None
    sales_tax_code_ref: Ref | None = None
    income_account_ref: Ref | None = None
    expense_account_ref: Ref | None = None
    asset_account_ref: Ref | None = None
    track_qty_on_hand: bool | None = None
    qty_on_hand: Decimal | None = None
    inv_start_date: date | None = None


class Account(QboEntity):
    name: str | None = None
    acct_num: str | None = None
    description: str | None = None
    active: bool | None = None
    account_type: str | None = None
    account_sub_type: str | None = None
    classification: str | None = None
    fully_qualified_name: str | None = None
    sub_account: bool | None = None
    parent_ref: Ref | None = None
    current_balance: Money | None = None


class TaxRateDetail(QboModel):
    tax_rate_ref: Ref | None = None
    tax_type_applicable: str | None = None
    tax_order: int | None = None


class TaxRateList(QboModel):
    tax_rate_detail: list[TaxRateDetail] = Field(default_factory=list)


class TaxCode(QboEntity):
    name: str | None = None
    description: str | None = None
    active: bool | None = None
    taxable: bool | None = None
    tax_group: bool | None = None
    sales_tax_rate_list: TaxRateList | None = None
    purchase_tax_rate_list: TaxRateList | None = None


class TaxRate(QboEntity):
    name: str | None = None
    description: str | None = None
    active: bool | None = None
    rate_value: Decimal | None = None
    agency_ref: Ref | None = None
    special_tax_type: str | None = None
    display_type: str | None = None


class QboClass(QboEntity):
    """QBO's Class (a reserved word in Python)."""

    name: str | None = None
    active: bool | None = None
    sub_class: bool | None = None
    parent_ref: Ref | None = None
    fully_qualified_name: str | None = None


class PaymentMethod(QboEntity):
    name: str | None = None
    active: bool | None = None
    type: str | None = None
    """CREDIT_CARD or NON_CREDIT_CARD."""


class Term(QboEntity):
    name: str | None = None
    active: bool | None = None
    type: str | None = None
    due_days: int | None = None
    discount_percent: Decimal | None = None
    discount_days: int | None = None


class SalesItemLineDetail(QboModel):
    item_ref: Ref | None = None
    qty: Decimal | None = None
    unit_price: Money | None = None
    tax_code_ref: Ref | None = None
    class_ref: Ref | None = None
    service_date: date | None = None
    item_account_ref: Ref | None = None


class SubTotalLineDetail(QboModel):
    item_ref: Ref | None = None


class DiscountLineDetail(QboModel):
    percent_based: bool | None = None
    discount_percent: Decimal | None = None
    discount_account_ref: Ref | None = None


class LinkedTxn(QboModel):
    txn_id: str
    txn_type: str
    """Invoice, CreditMemo, Payment, ..."""
    txn_line_id: str | None = None


class SalesLine(QboModel):
    """A line of an Invoice or CreditMemo; ``detail_type`` says which detail object is set."""

    id: str | None = None
    line_num: int | None = None
    description: str | None = None
    amount: Money | None = None
    detail_type: str | None = None
    """SalesItemLineDetail, SubTotalLineDetail, DiscountLineDetail, DescriptionOnly, GroupLineDetail."""
    sales_item_line_detail: SalesItemLineDetail | None = None
    sub_total_line_detail: SubTotalLineDetail | None = None
    discount_line_detail: DiscountLineDetail | None = None
    linked_txn: list[LinkedTxn] | None = None


class TxnTaxDetail(QboModel):
    txn_tax_code_ref: Ref | None = None
    total_tax: Money | None = None


class SalesTransaction(QboEntity):
    """Fields Invoice and CreditMemo share."""

    doc_number: str | None = None
    txn_date: date | None = None
    customer_ref: Ref | None = None
    line: list[SalesLine] = Field(default_factory=list)
    class_ref: Ref | None = None
    currency_ref: Ref | None = None
    private_note: str | None = None
    customer_memo: MemoText | None = None
    bill_email: EmailAddress | None = None
    bill_addr: PhysicalAddress | None = None
    ship_addr: PhysicalAddress | None = None
    txn_tax_detail: TxnTaxDetail | None = None
    global_tax_calculation: str | None = None
    apply_tax_after_discount: bool | None = None
    total_amt: Money | None = None
    balance: Money | None = None


class Invoice(SalesTransaction):
    due_date: date | None = None
    sales_term_ref: Ref | None = None
    linked_txn: list[LinkedTxn] | None = None
    email_status: str | None = None


class CreditMemo(SalesTransaction):
    remaining_credit: Money | None = None


class PaymentLine(QboModel):
    amount: Money | None = None
    linked_txn: list[LinkedTxn] = Field(default_factory=list)


class Payment(QboEntity):
    txn_date: date | None = None
    customer_ref: Ref | None = None
    total_amt: Money | None = None
    unapplied_amt: Money | None = None
    line: list[PaymentLine] = Field(default_factory=list)
    payment_method_ref: Ref | None = None
    payment_ref_num: str | None = None
    deposit_to_account_ref: Ref | None = None
    currency_ref: Ref | None = None
    private_note: str | None = None


class NameValue(QboModel):
    name: str | None = None
    value: str | None = None


class CompanyInfo(QboEntity):
    company_name: str | None = None
    legal_name: str | None = None
    country: str | None = None
    company_addr: PhysicalAddress | None = None
    email: EmailAddress | None = None
    fiscal_year_start_month: str | None = None
    name_value: list[NameValue] = Field(default_factory=list)


class AccountingInfoPrefs(QboModel):
    class_tracking_per_txn: bool | None = None
    class_tracking_per_txn_line: bool | None = None
    track_departments: bool | None = None
    book_close_date: date | None = None


class ReportPrefs(QboModel):
    report_basis: str | None = None
    """Accrual or Cash."""


class TaxPrefs(QboModel):
    using_sales_tax: bool | None = None
    partner_tax_enabled: bool | None = None


class CurrencyPrefs(QboModel):
    multi_currency_enabled: bool | None = None
    home_currency: Ref | None = None


class SalesFormsPrefs(QboModel):
    custom_txn_numbers: bool | None = None
    allow_discount: bool | None = None
    allow_service_date: bool | None = None


class Preferences(QboEntity):
    """Company preferences; every section is optional because QBO omits what a region lacks."""

    accounting_info_prefs: AccountingInfoPrefs | None = None
    report_prefs: ReportPrefs | None = None
    tax_prefs: TaxPrefs | None = None
    currency_prefs: CurrencyPrefs | None = None
    sales_forms_prefs: SalesFormsPrefs | None = None
