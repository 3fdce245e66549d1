"""Pydantic models of the source contract (see ``docs/source-contract.md``).

Objects read from a source tolerate unknown fields (a source may add fields without breaking us);
request bodies we send are strict, so a typo fails here instead of at the source. Money is a
``Decimal`` and travels as a decimal string.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

SourceId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Money = Annotated[Decimal, Field(max_digits=15, decimal_places=2)]
Quantity = Annotated[Decimal, Field(max_digits=15, decimal_places=4)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code (``USD``, ``EUR``)."""
ExchangeRate = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=10)]
"""Home-currency units per one unit of the document's currency (QBO's ``ExchangeRate``)."""
DiscountPercent = Annotated[Decimal, Field(gt=0, le=100, max_digits=7, decimal_places=4)]

ObjectKind = Literal["customer", "product", "invoice", "payment", "credit_note"]
ChangeAction = Literal["created", "updated", "deleted", "voided"]
BillingKind = Literal["one_time", "recurring"]
InvoiceStatus = Literal["open", "paid", "void", "deleted"]
PaymentStatus = Literal["posted", "void", "deleted"]
CreditNoteStatus = Literal["open", "applied", "void", "deleted"]
CreditNoteKind = Literal["credit", "write_off"]
AccountType = Literal["income", "expense", "asset", "liability", "equity"]
ReferenceKind = Literal[
    "payment-methods", "gl-codes", "product-types", "accounts", "tax-codes", "bill-profiles"
]

MAX_PAGE_LIMIT = 500

# Every model here sets defer_build: its validator is built when first used, not at import, so a
# cold start that touches none of them (most requests) does not pay for all 23.


class SourceObject(BaseModel):
    """What every object of the contract carries: identity, a version that bumps on every change."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    id: SourceId
    version: int = Field(ge=1)
    updated_at: datetime


class Address(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerFields(BaseModel):
    """The editable part of a customer, shared by the read model and the create request."""

    model_config = ConfigDict(defer_build=True)

    display_name: DisplayName
    company_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    billing_address: Address | None = None
    bill_profile_id: Code | None = None
    active: bool = True
    currency: CurrencyCode | None = None
    """The currency the customer is billed in, when not the source's home currency (QBO keeps one
    currency per customer, chosen when it is created)."""


class SourceCustomer(CustomerFields, SourceObject):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    deleted: bool = False


class NewSourceCustomer(CustomerFields):
    """Body of ``POST /customers``: a customer created in the source from QBO."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class AddressInput(Address):
    """An address in a request body: strict, like every request body."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class SourceCustomerUpdate(BaseModel):
    """Body of ``PATCH /customers/{id}``: the fields to change; fields left unset stay as they are.

    Only the fields that were set travel (``model_dump(exclude_unset=True)``), so ``None`` means
    "clear this field" and an unset field means "leave it". ``billing_address`` replaces the whole
    address (keys left out of it become null). ``display_name`` and ``active`` cannot be cleared,
    and an update that sets nothing is refused here, before any request.
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    display_name: DisplayName | None = None
    company_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    billing_address: AddressInput | None = None
    active: bool | None = None

    @field_validator("display_name", "active", mode="before")
    @classmethod
    def _cannot_be_cleared(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError(
                "not_nullable", "this field cannot be null; leave it out to keep its value"
            )
        return value

    @field_validator("billing_address", mode="before")
    @classmethod
    def _address_as_read(cls, value: object) -> object:
        """An address read from a customer (``Address``) is accepted as the whole new address."""
        if isinstance(value, Address) and not isinstance(value, AddressInput):
            return value.model_dump()
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> SourceCustomerUpdate:
        if not self.model_fields_set:
            raise PydanticCustomError("empty_update", "an update must set at least one field")
        return self


class ProductFields(BaseModel):
    """The editable part of a product, shared by the read model and the create request."""

    model_config = ConfigDict(defer_build=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    sku: str | None = None
    description: str | None = None
    product_type: Code
    gl_code: Code | None = None
    income_account: Code | None = None
    billing: BillingKind = "one_time"
    tax_code: Code | None = None
    unit_price: Money = Decimal("0.00")
    active: bool = True


class SourceProduct(ProductFields, SourceObject):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    deleted: bool = False


class NewSourceProduct(ProductFields):
    """Body of ``POST /products``: a product created in the source from a QBO item."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Discount(BaseModel):
    """A discount as the source expresses it: an amount or a percent, never both."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    amount: PositiveMoney | None = None
    percent: DiscountPercent | None = None

    @model_validator(mode="after")
    def _amount_or_percent(self) -> Discount:
        if (self.amount is None) == (self.percent is None):
            raise PydanticCustomError(
                "discount_amount_or_percent", "a discount has an amount or a percent, exactly one"
            )
        return self


class SourceLine(BaseModel):
    """One line of an invoice or credit note. ``amount`` is after the line's own ``discount``."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    id: SourceId
    product_id: SourceId | None = None
    description: str | None = None
    quantity: Quantity
    unit_price: Money
    amount: Money
    gl_code: Code | None = None
    tax_code: Code | None = None
    discount: Discount | None = None


class AppliedAmount(BaseModel):
    """How much of a payment or credit note settles one invoice."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    invoice_id: SourceId
    amount: Money


class NewAppliedAmount(BaseModel):
    """How much of a new payment settles one invoice (a request body: strict, amount above zero)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    invoice_id: SourceId
    amount: PositiveMoney


class NewSourcePayment(BaseModel):
    """Body of ``POST /payments``: a payment entered in QBO. An empty ``applied_to`` is an
    unapplied payment (a credit on the customer's account); without ``number`` the source assigns one."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    customer_id: SourceId
    date: date
    amount: PositiveMoney
    method: Code
    reference: str | None = None
    number: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    currency: CurrencyCode | None = None
    """Sent only for a payment in a foreign currency (left out, the source's home currency)."""
    exchange_rate: ExchangeRate | None = None
    applied_to: list[NewAppliedAmount] = Field(default_factory=list, max_length=500)


class SourceInvoice(SourceObject):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    number: str
    customer_id: SourceId
    issue_date: date
    due_date: date | None = None
    currency: CurrencyCode = "USD"
    exchange_rate: ExchangeRate | None = None
    lines: list[SourceLine]
    discount: Discount | None = None
    """A discount on the whole document, after the lines."""
    tax_total: Money | None = None
    """The sales tax the source charged; None when the source leaves tax to QBO."""
    total: Money
    status: InvoiceStatus


class SourcePayment(SourceObject):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    number: str
    customer_id: SourceId
    date: date
    amount: Money
    method: Code
    reference: str | None = None
    currency: CurrencyCode = "USD"
    exchange_rate: ExchangeRate | None = None
    applied_to: list[AppliedAmount] = Field(default_factory=list)
    status: PaymentStatus
    deposit_account: Code | None = None
    """The source GL account (a bank or clearing account) the payment was deposited to, if the source
    says; the gl-accounts mapping turns it into the QBO Payment's deposit account."""


class SourceCreditNote(SourceObject):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    number: str
    kind: CreditNoteKind
    customer_id: SourceId
    date: date
    currency: CurrencyCode = "USD"
    exchange_rate: ExchangeRate | None = None
    lines: list[SourceLine]
    discount: Discount | None = None
    tax_total: Money | None = None
    total: Money
    applied_to: list[AppliedAmount] = Field(default_factory=list)
    status: CreditNoteStatus


class ReferenceEntry(BaseModel):
    """One choice an admin maps from: a payment method, GL code, product type, bill profile."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    code: Code
    name: str
    active: bool = True


class SourceAccount(ReferenceEntry):
    """An account of the source's chart (income/expense accounts map to QBO items, the rest to accounts)."""

    account_type: AccountType


class SourceTaxCode(ReferenceEntry):
    rate: Annotated[Decimal, Field(ge=0, max_digits=7, decimal_places=4)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a cursor-paged list; ``next_cursor`` is None on the last page."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    items: list[T]
    next_cursor: str | None = None


class WebhookObject(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    kind: ObjectKind
    id: SourceId
    version: int = Field(ge=1)


class SourceWebhook(BaseModel):
    """A change notification from the source. It names the object; the receiver re-reads it."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    tenant_id: SourceId
    type: Annotated[
        str,
        StringConstraints(
            pattern=r"^(customer|product|invoice|payment|credit_note)\.(created|updated|deleted|voided)$"
        ),
    ]
    object: WebhookObject
    occurred_at: datetime

    @model_validator(mode="after")
    def _type_names_the_object_kind(self) -> SourceWebhook:
        if self.type.split(".", 1)[0] != self.object.kind:
            raise ValueError(f"type {self.type!r} does not match object kind {self.object.kind!r}")
        return self

    @property
    def action(self) -> ChangeAction:
        """The verb of ``type`` (``invoice.voided`` → ``voided``)."""
        return _ACTIONS[self.type.rsplit(".", 1)[1]]


_ACTIONS: dict[str, ChangeAction] = {
    "created": "created",
    "updated": "updated",
    "deleted": "deleted",
    "voided": "voided",
}
