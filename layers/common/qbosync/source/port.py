"""The port the sync services use to talk to a source system, whatever product it is.

``HttpSourceAdapter`` implements it over the source contract; product-specific adapters (Rev.io,
Actionstep) implement the same methods. Every method raises ``SourceNotFound``,
``SourceUnavailable`` (retry later) or ``SourceRejected`` (fix the request or the credentials).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from qbosync.source.models import (
    NewSourceCustomer,
    NewSourcePayment,
    NewSourceProduct,
    Page,
    ReferenceEntry,
    SourceAccount,
    SourceCreditNote,
    SourceCustomer,
    SourceCustomerUpdate,
    SourceInvoice,
    SourcePayment,
    SourceProduct,
    SourceTaxCode,
)

DEFAULT_PAGE_LIMIT = 100


class SourcePort(Protocol):
    """What qbosync needs from one tenant of a source system."""

    def list_customers(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceCustomer]: ...

    def list_products(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceProduct]: ...

    def list_invoices(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceInvoice]: ...

    def list_payments(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourcePayment]: ...

    def list_credit_notes(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceCreditNote]: ...

    def get_customer(self, customer_id: str) -> SourceCustomer: ...

    def get_product(self, product_id: str) -> SourceProduct: ...

    def get_invoice(self, invoice_id: str) -> SourceInvoice: ...

    def get_payment(self, payment_id: str) -> SourcePayment: ...

    def get_credit_note(self, credit_note_id: str) -> SourceCreditNote: ...

    def create_customer(self, customer: NewSourceCustomer, idempotency_key: str) -> SourceCustomer: ...

    def create_product(self, product: NewSourceProduct, idempotency_key: str) -> SourceProduct: ...

    def update_customer(self, customer_id: str, changes: SourceCustomerUpdate) -> SourceCustomer: ...

    def create_payment(self, payment: NewSourcePayment, idempotency_key: str) -> SourcePayment: ...

    def void_payment(self, payment_id: str) -> SourcePayment: ...

    def list_payment_methods(self) -> list[ReferenceEntry]: ...

    def list_gl_codes(self) -> list[ReferenceEntry]: ...

    def list_product_types(self) -> list[ReferenceEntry]: ...

    def list_accounts(self) -> list[SourceAccount]: ...

    def list_tax_codes(self) -> list[SourceTaxCode]: ...

    def list_bill_profiles(self) -> list[ReferenceEntry]: ...
