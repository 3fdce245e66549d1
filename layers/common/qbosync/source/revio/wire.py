"""Rev.io's records as its REST API returns them (snake_case, unknown fields ignored).

Every field here is listed in ``docs/revio.md`` with what it rests on: an official reference page, public
client code, or an assumption. Fields the adapter does not need are left out (and ignored on read).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

_READ = ConfigDict(defer_build=True, extra="ignore", frozen=True)

RevioCreditType = Literal["CREDIT", "WRITE_OFF"]
"""Assumed: how a credit says whether it is a real credit or a balance written off."""


class RevioList(BaseModel, Generic[T]):
    """A list answer: ``{"ok", "has_more", "record_count", "records"}``
    (developers.rev.io/docs/collections)."""

    model_config = _READ

    ok: bool = True
    has_more: bool = False
    record_count: int = 0
    records: list[T] = Field(default_factory=list)


class RevioAddress(BaseModel):
    model_config = _READ

    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    line_1: str | None = None
    line_2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


class RevioFinance(BaseModel):
    model_config = _READ

    balance: Decimal = Decimal("0")


class RevioCustomer(BaseModel):
    model_config = _READ

    customer_id: int
    account_number: str | None = None
    bill_profile_id: int | None = None
    status: str = "ACTIVE"
    email: str | None = None
    phone: str | None = None
    billing_address: RevioAddress | None = None
    service_address: RevioAddress | None = None
    finance: RevioFinance | None = None
    created_date: datetime | None = None


class RevioProduct(BaseModel):
    model_config = _READ

    product_id: int
    product_type_id: int
    description: str
    code_1: str | None = None
    code_2: str | None = None
    rate: Decimal = Decimal("0")
    active: bool = True
    ledger_code_id: int | None = None
    tax_class_id: int | None = None
    currency_code: str = "USD"
    created_date: datetime | None = None


class RevioBill(BaseModel):
    model_config = _READ

    bill_id: int
    customer_id: int
    amount_due: Decimal = Decimal("0")
    total: Decimal | None = None
    due_date: datetime | None = None
    created_date: datetime
    status: str = "OPEN"


class RevioCharge(BaseModel):
    """A bill line (developers.rev.io/reference/postv1_charges-6)."""

    model_config = _READ

    charge_id: int
    bill_id: int | None = None
    customer_id: int
    product_id: int | None = None
    description: str = ""
    quantity: Decimal = Decimal("1")
    rate: Decimal = Decimal("0")
    amount: Decimal | None = None
    tax_amount: Decimal = Decimal("0")
    created_date: datetime | None = None


class RevioPayment(BaseModel):
    model_config = _READ

    payment_id: int
    customer_id: int
    amount: Decimal
    reference_number: str | None = None
    payment_type: str = "CHECK"
    bill_id: int | None = None
    status: str = "POSTED"
    created_date: datetime


class RevioCredit(BaseModel):
    model_config = _READ

    credit_id: int
    customer_id: int
    amount: Decimal
    credit_type: RevioCreditType = "CREDIT"
    bill_id: int | None = None
    description: str | None = None
    status: str = "APPLIED"
    created_date: datetime


class RevioBillProfile(BaseModel):
    model_config = _READ

    bill_profile_id: int
    description: str
    active: bool = True


class RevioProductType(BaseModel):
    model_config = _READ

    product_type_id: int
    description: str
    active: bool = True


class RevioLedgerCode(BaseModel):
    model_config = _READ

    ledger_code_id: int
    code: str
    description: str
    active: bool = True


class RevioTaxClass(BaseModel):
    model_config = _READ

    tax_class_id: int
    description: str
    rate: Decimal = Decimal("0")
    active: bool = True


class RevioCreated(BaseModel):
    """The answer to a create: the new record's fields next to ``"ok": true``; only the id is read."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)

    ok: bool = True


class RevioWebhookReceiver(BaseModel):
    model_config = _READ

    webhook_receiver_id: int
    url: str
    active: bool = False


class RevioNotification(BaseModel):
    """A webhook notification (developers.rev.io/docs/webhook-notifications): not signed, so only the
    event type and the object id are trusted, and the object is re-read through the API."""

    model_config = _READ

    event_id: str | int
    event_type: str
    object_id: int | None = None
    created_date: datetime | None = None
