"""``RevioAdapter``: a Rev.io billing client behind the ``SourcePort``.

Mapping (each Rev.io field's evidence is in ``docs/revio.md``):

- customers → ``SourceCustomer`` (name and address from the billing address, bill profile as a code);
- products → ``SourceProduct`` (``description`` is the name, ``rate`` the unit price, every catalog
  product billed ``recurring`` since Rev.io's rate is per month);
- bills → ``SourceInvoice``, their charges → lines (one more paged read per bill);
- payments → ``SourcePayment`` (applied to the bill they name, if any);
- credits → ``SourceCreditNote``, ``credit_type`` ``WRITE_OFF`` → kind ``write_off``;
- bill profiles, product types, ledger codes, tax classes → the reference lists; payment methods are
  Rev.io's payment types.

Rev.io has no version field: ``VersionLedger`` keeps one per object (the rule is in ``versions.py``).
It pages by page number, so a walk keeps the previous page's ids in the cursor and drops them when a
page shifted under it. Rev.io documents no idempotency key: each create looks for the marker it sets
(``qbosync-`` and a hash of the idempotency key) before it writes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from qbosync.source.errors import SourceInvalidResponse, SourceNotFound, SourceRejected, SourceUnavailable
from qbosync.source.models import (
    MAX_PAGE_LIMIT,
    NewSourceCustomer,
    NewSourcePayment,
    NewSourceProduct,
    ObjectKind,
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
from qbosync.source.port import DEFAULT_PAGE_LIMIT
from qbosync.source.revio.client import RevioClient
from qbosync.source.revio.versions import InMemoryVersionStore, VersionLedger, content_hash
from qbosync.source.revio.wire import (
    RevioAddress,
    RevioBill,
    RevioBillProfile,
    RevioCharge,
    RevioCreated,
    RevioCredit,
    RevioCustomer,
    RevioLedgerCode,
    RevioList,
    RevioPayment,
    RevioProduct,
    RevioProductType,
    RevioTaxClass,
)
from qbosync.source.revio.write_keys import (
    CLAIM_LEASE,
    InMemoryWriteKeys,
    WriteKey,
    WriteKeyStore,
    body_hash,
)

ContractT = TypeVar("ContractT", bound=BaseModel)
WireT = TypeVar("WireT", bound=BaseModel)
CreatedT = TypeVar("CreatedT", SourceCustomer, SourceProduct, SourcePayment)

MARKER_PREFIX = "qbosync-"
PAYMENT_TYPES: dict[str, str] = {
    "CREDIT_CARD": "Credit card",
    "ACH": "ACH bank transfer",
    "CHECK": "Check",
    "CASH": "Cash",
}
"""Rev.io's payment types: CREDIT_CARD and ACH are documented (developers.rev.io/docs/payments-1);
CHECK and CASH are assumed."""
_MAX_LIST_PAGES = 200
_MAX_PAGES_PER_CALL = 20
_ID_FIELDS = {
    "/Customers": "customer_id",
    "/Products": "product_id",
    "/Bills": "bill_id",
    "/Payments": "payment_id",
    "/Credits": "credit_id",
}


def idempotency_marker(idempotency_key: str) -> str:
    """What a create stores in Rev.io so a retry finds the record instead of making a second one."""
    return MARKER_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def marked_reference(reference: str | None, marker: str) -> str:
    """A payment's ``reference_number``: the reference from QBO, then the create marker in brackets."""
    return f"{reference} [{marker}]" if reference else f"[{marker}]"


def unmarked_reference(reference_number: str | None) -> str | None:
    """The reference as QBO gave it, without the marker qbosync added to find its own creates."""
    if reference_number is None:
        return None
    kept, bracket, rest = reference_number.rpartition(" [" + MARKER_PREFIX)
    if bracket and rest.endswith("]"):
        return kept
    if reference_number.startswith("[" + MARKER_PREFIX) and reference_number.endswith("]"):
        return None
    return reference_number


def encode_cursor(page: int, seen: Sequence[str]) -> str:
    raw = json.dumps({"p": page, "seen": list(seen)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, frozenset[str]]:
    """The page to read next and the ids of the page before it; ``ValueError`` for a foreign cursor."""
    if not cursor:
        return 1, frozenset()
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        page, seen = raw["p"], raw["seen"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError("not a cursor this adapter issued") from exc
    if not isinstance(page, int) or page < 1 or not isinstance(seen, list):
        raise ValueError("not a cursor this adapter issued")
    return page, frozenset(str(item) for item in seen)


class RevioAdapter:
    """One Rev.io client (a qbosync tenant) as a ``SourcePort``."""

    def __init__(
        self,
        tenant_id: str,
        client: RevioClient,
        *,
        versions: VersionLedger | None = None,
        write_keys: WriteKeyStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenant_id = tenant_id
        self._client = client
        self._versions = versions or VersionLedger(InMemoryVersionStore(), clock)
        self._write_keys = write_keys or InMemoryWriteKeys()
        self._clock = clock

    def __repr__(self) -> str:
        return f"RevioAdapter(tenant_id={self._tenant_id!r})"

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent to Rev.io so far (retries included)."""
        return self._client.requests_sent

    def close(self) -> None:
        self._client.close()

    # -- paged lists -------------------------------------------------------------------------

    def list_customers(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceCustomer]:
        return self._page(
            "/Customers",
            RevioCustomer,
            self._customer,
            cursor=cursor,
            limit=limit,
            updated_since=updated_since,
        )

    def list_products(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceProduct]:
        return self._page(
            "/Products", RevioProduct, self._product, cursor=cursor, limit=limit, updated_since=updated_since
        )

    def list_invoices(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceInvoice]:
        return self._page(
            "/Bills", RevioBill, self._invoice, cursor=cursor, limit=limit, updated_since=updated_since
        )

    def list_payments(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourcePayment]:
        return self._page(
            "/Payments", RevioPayment, self._payment, cursor=cursor, limit=limit, updated_since=updated_since
        )

    def list_credit_notes(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceCreditNote]:
        return self._page(
            "/Credits",
            RevioCredit,
            self._credit_note,
            cursor=cursor,
            limit=limit,
            updated_since=updated_since,
        )

    # -- single reads ------------------------------------------------------------------------

    def get_customer(self, customer_id: str) -> SourceCustomer:
        return self._customer(self._client.get(f"/Customers/{_numeric(customer_id)}", RevioCustomer))

    def get_product(self, product_id: str) -> SourceProduct:
        return self._product(self._client.get(f"/Products/{_numeric(product_id)}", RevioProduct))

    def get_invoice(self, invoice_id: str) -> SourceInvoice:
        return self._invoice(self._client.get(f"/Bills/{_numeric(invoice_id)}", RevioBill))

    def get_payment(self, payment_id: str) -> SourcePayment:
        return self._payment(self._client.get(f"/Payments/{_numeric(payment_id)}", RevioPayment))

    def get_credit_note(self, credit_note_id: str) -> SourceCreditNote:
        return self._credit_note(self._client.get(f"/Credits/{_numeric(credit_note_id)}", RevioCredit))

    # -- writing (QBO -> Rev.io) -------------------------------------------------------------

    def create_customer(self, customer: NewSourceCustomer, idempotency_key: str) -> SourceCustomer:
        """Create a customer, or return the one an earlier try of the same key created."""
        marker = idempotency_marker(_required_key(idempotency_key))
        return self._write_once(
            marker,
            customer,
            lambda: self._found(
                self._find("/Customers", RevioCustomer, {"search.account_number": marker}), self._customer
            ),
            lambda: self._post_customer(customer, marker),
            self.get_customer,
        )

    def _post_customer(self, customer: NewSourceCustomer, marker: str) -> SourceCustomer:
        name_parts = _address_names(
            customer.display_name, customer.company_name, customer.given_name, customer.family_name
        )
        address = customer.billing_address
        body: dict[str, Any] = {
            "account_number": marker,
            "status": "ACTIVE" if customer.active else "CLOSED",
            "email": customer.email,
            "phone": customer.phone,
            "billing_address": {
                **name_parts,
                "line_1": address.line1 if address else None,
                "line_2": address.line2 if address else None,
                "city": address.city if address else None,
                "state_or_province": address.region if address else None,
                "postal_code": address.postal_code if address else None,
                "country_code": address.country if address else None,
            },
        }
        if customer.bill_profile_id is not None:
            body["bill_profile_id"] = _code_number("bill_profile_id", customer.bill_profile_id)
        created = self._client.send("POST", "/Customers", RevioCreated, json=body)
        return self.get_customer(str(_created_id(created, "customer_id")))

    def create_product(self, product: NewSourceProduct, idempotency_key: str) -> SourceProduct:
        """Create a catalog product, or return the one an earlier try of the same key created."""
        marker = idempotency_marker(_required_key(idempotency_key))
        return self._write_once(
            marker,
            product,
            lambda: self._found(
                self._find("/Products", RevioProduct, {"search.code_2": marker}), self._product
            ),
            lambda: self._post_product(product, marker),
            self.get_product,
        )

    def _post_product(self, product: NewSourceProduct, marker: str) -> SourceProduct:
        body: dict[str, Any] = {
            "description": product.name,
            "code_1": product.sku,
            "code_2": marker,
            "product_type_id": _code_number("product_type", product.product_type),
            "rate": str(product.unit_price),
            "active": product.active,
        }
        if product.gl_code is not None:
            body["ledger_code_id"] = _code_number("gl_code", product.gl_code)
        if product.tax_code is not None:
            body["tax_class_id"] = _code_number("tax_code", product.tax_code)
        created = self._client.send("POST", "/Products", RevioCreated, json=body)
        return self.get_product(str(_created_id(created, "product_id")))

    def update_customer(self, customer_id: str, changes: SourceCustomerUpdate) -> SourceCustomer:
        """Apply the set fields as a JSON Patch (Rev.io's PATCH format); an update that changes nothing
        is not sent, so a retried update is harmless."""
        current = self._client.get(f"/Customers/{_numeric(customer_id)}", RevioCustomer)
        operations = _customer_patch(current, changes)
        if operations:
            self._client.request(
                "PATCH",
                f"/Customers/{current.customer_id}",
                json=operations,
                content_type="application/json-patch+json",
            )
            return self.get_customer(customer_id)
        return self._customer(current)

    def create_payment(self, payment: NewSourcePayment, idempotency_key: str) -> SourcePayment:
        """Record a payment entered in QBO, or return the one an earlier try of the same key recorded.

        Rev.io's payment names at most one bill (assumed): a payment applied to exactly one invoice goes
        to that bill, any other goes to the account's balance."""
        marker = idempotency_marker(_required_key(idempotency_key))
        reference = marked_reference(payment.reference, marker)
        customer = _numeric(payment.customer_id)
        search = {"search.customer_id": str(customer), "search.reference_number": reference}
        return self._write_once(
            marker,
            payment,
            lambda: self._found(self._find("/Payments", RevioPayment, search), self._payment),
            lambda: self._post_payment(payment, customer, reference),
            self.get_payment,
        )

    def _post_payment(self, payment: NewSourcePayment, customer: int, reference: str) -> SourcePayment:
        self._check_open_amounts(payment)
        if payment.method not in PAYMENT_TYPES:
            raise SourceRejected(
                f"Rev.io has no payment type {payment.method!r}",
                source_status=422,
                source_code="validation_failed",
                details=[
                    {"loc": "method", "type": "unknown_reference", "message": "not a Rev.io payment type"}
                ],
            )
        body: dict[str, Any] = {
            "customer_id": customer,
            "amount": str(payment.amount),
            "reference_number": reference,
            "payment_type": payment.method,
        }
        if len(payment.applied_to) == 1:
            body["bill_id"] = _numeric(payment.applied_to[0].invoice_id)
        created = self._client.send("POST", "/Payments", RevioCreated, json=body)
        return self.get_payment(str(_created_id(created, "payment_id")))

    def _write_once(
        self,
        marker: str,
        request: BaseModel,
        find: Callable[[], CreatedT | None],
        create: Callable[[], CreatedT],
        read: Callable[[str], CreatedT],
    ) -> CreatedT:
        """One create per idempotency key (``write_keys.py`` has the rule): claim the key, then look for
        the marker before writing, and record what was created."""
        now = self._clock()
        digest = body_hash(request.model_dump(mode="json"))
        standing = self._write_keys.claim(WriteKey(marker, digest, now), stale_before=now - CLAIM_LEASE)
        if standing is not None:
            if standing.body_hash != digest:
                raise SourceRejected(
                    "this idempotency key was used with another body",
                    source_status=409,
                    source_code="idempotency_key_reused",
                )
            if standing.created_id is not None:
                return read(standing.created_id)
            found = find()
            if found is None:
                raise SourceUnavailable("another try of this create is in flight; try again later")
            return found
        found = find()  # a try that died after Rev.io created it, before the key recorded it
        created = create() if found is None else found
        self._write_keys.settle(marker, created.id)
        return created

    @staticmethod
    def _found(row: WireT | None, mapped: Callable[[WireT], CreatedT]) -> CreatedT | None:
        return None if row is None else mapped(row)

    def _check_open_amounts(self, payment: NewSourcePayment) -> None:
        """The contract's open-amount rule, kept by the adapter since Rev.io's rule is not documented: no
        application above its bill's ``amount_due`` (nothing on a void or deleted bill), no bill of another
        customer. Refused as the contract's 422 ``validation_failed``, before anything is written."""
        bills: dict[str, RevioBill | None] = {}
        settled: dict[str, Decimal] = {}
        problems: list[dict[str, Any]] = []
        for index, application in enumerate(payment.applied_to):
            invoice_id = application.invoice_id
            if invoice_id not in bills:
                bills[invoice_id] = self._bill_or_none(invoice_id)
            bill = bills[invoice_id]
            if bill is None:
                problems.append(
                    _problem(f"applied_to.{index}.invoice_id", "unknown_reference", "no such invoice")
                )
                continue
            if str(bill.customer_id) != payment.customer_id:
                problems.append(
                    _problem(
                        f"applied_to.{index}.invoice_id",
                        "invoice_of_another_customer",
                        "not this customer's invoice",
                    )
                )
            settled[invoice_id] = settled.get(invoice_id, Decimal(0)) + application.amount
            open_amount = Decimal(0) if bill.status in {"VOID", "DELETED"} else bill.amount_due
            if settled[invoice_id] > open_amount:
                problems.append(
                    _problem(
                        f"applied_to.{index}.amount",
                        "exceeds_open_amount",
                        "more than the invoice's open amount",
                    )
                )
        if problems:
            raise SourceRejected(
                "the payment does not fit the customer's open bills",
                source_status=422,
                source_code="validation_failed",
                details=problems,
            )

    def _bill_or_none(self, invoice_id: str) -> RevioBill | None:
        try:
            return self._client.get(f"/Bills/{_numeric(invoice_id)}", RevioBill)
        except SourceNotFound:
            return None

    def void_payment(self, payment_id: str) -> SourcePayment:
        """Void a payment; one that is already void is returned as it is, with no request."""
        current = self._client.get(f"/Payments/{_numeric(payment_id)}", RevioPayment)
        if current.status == "VOID":
            return self._payment(current)
        self._client.request("POST", f"/Payments/{current.payment_id}/void")
        return self.get_payment(payment_id)

    # -- reference lists ---------------------------------------------------------------------

    def list_payment_methods(self) -> list[ReferenceEntry]:
        return [ReferenceEntry(code=code, name=name) for code, name in PAYMENT_TYPES.items()]

    def list_gl_codes(self) -> list[ReferenceEntry]:
        return [
            ReferenceEntry(
                code=str(row.ledger_code_id), name=f"{row.code} {row.description}", active=row.active
            )
            for row in self._all("/LedgerCodes", RevioLedgerCode)
        ]

    def list_product_types(self) -> list[ReferenceEntry]:
        return [
            ReferenceEntry(code=str(row.product_type_id), name=row.description, active=row.active)
            for row in self._all("/ProductTypes", RevioProductType)
        ]

    def list_accounts(self) -> list[SourceAccount]:
        """Rev.io has no chart of accounts; its ledger codes are where revenue is booked, so each is
        offered as an income account (a product's ``income_account`` is its ledger code)."""
        return [
            SourceAccount(code=entry.code, name=entry.name, active=entry.active, account_type="income")
            for entry in self.list_gl_codes()
        ]

    def list_tax_codes(self) -> list[SourceTaxCode]:
        return [
            SourceTaxCode(code=str(row.tax_class_id), name=row.description, active=row.active, rate=row.rate)
            for row in self._all("/TaxClasses", RevioTaxClass)
        ]

    def list_bill_profiles(self) -> list[ReferenceEntry]:
        return [
            ReferenceEntry(code=str(row.bill_profile_id), name=row.description, active=row.active)
            for row in self._all("/BillProfiles", RevioBillProfile)
        ]

    # -- mapping ------------------------------------------------------------------------------

    def _versioned(
        self, kind: ObjectKind, object_id: str, fields: dict[str, Any], model: type[ContractT]
    ) -> ContractT:
        """The contract object with the version the ledger gives this content."""
        draft = model.model_validate(
            {**fields, "id": object_id, "version": 1, "updated_at": datetime.now(UTC)}
        )
        observed = self._versions.observe(kind, object_id, content_hash(draft.model_dump(mode="json")))
        return draft.model_copy(update={"version": observed.version, "updated_at": observed.updated_at})

    def _customer(self, row: RevioCustomer) -> SourceCustomer:
        address = row.billing_address or row.service_address or RevioAddress()
        person = " ".join(part for part in (address.first_name, address.last_name) if part)
        display_name = address.company_name or person or f"Rev.io customer {row.customer_id}"
        fields = {
            "display_name": display_name,
            "company_name": address.company_name,
            "given_name": address.first_name,
            "family_name": address.last_name,
            "email": row.email,
            "phone": row.phone,
            "billing_address": {
                "line1": address.line_1,
                "line2": address.line_2,
                "city": address.city,
                "region": address.state_or_province,
                "postal_code": address.postal_code,
                "country": address.country_code,
            },
            "bill_profile_id": None if row.bill_profile_id is None else str(row.bill_profile_id),
            "active": row.status.upper() == "ACTIVE",
        }
        return self._versioned("customer", str(row.customer_id), fields, SourceCustomer)

    def _product(self, row: RevioProduct) -> SourceProduct:
        ledger = None if row.ledger_code_id is None else str(row.ledger_code_id)
        fields = {
            "name": row.description[:100] or f"Rev.io product {row.product_id}",
            "sku": row.code_1,
            "description": row.description,
            "product_type": str(row.product_type_id),
            "gl_code": ledger,
            "income_account": ledger,
            "billing": "recurring",
            "tax_code": None if row.tax_class_id is None else str(row.tax_class_id),
            "unit_price": _cents(row.rate),
            "active": row.active,
        }
        return self._versioned("product", str(row.product_id), fields, SourceProduct)

    def _invoice(self, bill: RevioBill) -> SourceInvoice:
        charges = self._all("/Charges", RevioCharge, {"search.bill_id": str(bill.bill_id)})
        lines = [_line(charge) for charge in charges]
        tax = sum((charge.tax_amount for charge in charges), Decimal("0"))
        total = (
            bill.total if bill.total is not None else sum((Decimal(line["amount"]) for line in lines), tax)
        )
        fields = {
            "number": str(bill.bill_id),
            "customer_id": str(bill.customer_id),
            "issue_date": bill.created_date.date(),
            "due_date": None if bill.due_date is None else bill.due_date.date(),
            "lines": lines,
            "tax_total": _cents(tax) if tax else None,
            "total": _cents(total),
            "status": _bill_status(bill),
        }
        return self._versioned("invoice", str(bill.bill_id), fields, SourceInvoice)

    def _payment(self, row: RevioPayment) -> SourcePayment:
        fields = {
            "number": str(row.payment_id),
            "customer_id": str(row.customer_id),
            "date": row.created_date.date(),
            "amount": _cents(row.amount),
            "method": row.payment_type,
            "reference": unmarked_reference(row.reference_number),
            "applied_to": []
            if row.bill_id is None
            else [{"invoice_id": str(row.bill_id), "amount": _cents(row.amount)}],
            "status": "void" if row.status.upper() == "VOID" else "posted",
        }
        return self._versioned("payment", str(row.payment_id), fields, SourcePayment)

    def _credit_note(self, row: RevioCredit) -> SourceCreditNote:
        amount = _cents(row.amount)
        voided = row.status.upper() == "VOID"
        fields = {
            "number": str(row.credit_id),
            "kind": "write_off" if row.credit_type == "WRITE_OFF" else "credit",
            "customer_id": str(row.customer_id),
            "date": row.created_date.date(),
            "lines": [
                {
                    "id": f"crd_{row.credit_id}",
                    "description": row.description,
                    "quantity": "1",
                    "unit_price": amount,
                    "amount": amount,
                }
            ],
            "total": amount,
            "applied_to": [] if row.bill_id is None else [{"invoice_id": str(row.bill_id), "amount": amount}],
            "status": "void" if voided else ("applied" if row.bill_id is not None else "open"),
        }
        return self._versioned("credit_note", str(row.credit_id), fields, SourceCreditNote)

    # -- paging -------------------------------------------------------------------------------

    def _page(
        self,
        path: str,
        wire: type[WireT],
        to_contract: Callable[[WireT], ContractT],
        *,
        cursor: str | None,
        limit: int,
        updated_since: datetime | None,
    ) -> Page[ContractT]:
        """Up to ``limit`` objects, reading as many Rev.io pages as that takes (at most
        ``_MAX_PAGES_PER_CALL``), so only the last page is short. The cursor holds the Rev.io page to
        read and the ids already handled around it: records that shifted pages are dropped by id.
        Rev.io's updated-since filter is not documented, so ``updated_since`` is applied here to the
        versions the ledger keeps (a changed object gets a new ``updated_at`` when it is read)."""
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_LIMIT}")
        page_number, seen = decode_cursor(cursor)
        id_field = _ID_FIELDS[path]
        items: list[ContractT] = []
        for _ in range(_MAX_PAGES_PER_CALL):
            answer = self._client.get(
                path,
                RevioList[wire],  # type: ignore[valid-type]
                {"search.page": str(page_number), "search.page_size": str(limit)},
            )
            handled = set(seen)
            for row in answer.records:
                row_id = str(getattr(row, id_field))
                if row_id in handled:
                    continue  # handled already, or shifted here from the page before (created meanwhile)
                if len(items) == limit:
                    return Page[ContractT](
                        items=items, next_cursor=encode_cursor(page_number, sorted(handled))
                    )
                handled.add(row_id)
                item = to_contract(row)
                if updated_since is None or item.updated_at >= updated_since:  # type: ignore[attr-defined]
                    items.append(item)
            if not answer.has_more or not answer.records:
                return Page[ContractT](items=items, next_cursor=None)
            page_number, seen = (
                page_number + 1,
                frozenset(str(getattr(row, id_field)) for row in answer.records),
            )
            if len(items) == limit:
                break
        return Page[ContractT](items=items, next_cursor=encode_cursor(page_number, sorted(seen)))

    def _all(self, path: str, wire: type[WireT], filters: dict[str, str] | None = None) -> list[WireT]:
        """Every record of a small list (reference data, a bill's charges), de-duplicated by position."""
        rows: list[WireT] = []
        for page_number in range(1, _MAX_LIST_PAGES + 1):
            params = {
                **(filters or {}),
                "search.page": str(page_number),
                "search.page_size": str(MAX_PAGE_LIMIT),
            }
            answer = self._client.get(path, RevioList[wire], params)  # type: ignore[valid-type]
            rows.extend(answer.records)
            if not answer.has_more or not answer.records:
                return rows
        raise SourceInvalidResponse(f"Rev.io's {path} list did not end within {_MAX_LIST_PAGES} pages")

    def _find(self, path: str, wire: type[WireT], filters: dict[str, str]) -> WireT | None:
        answer = self._client.get(path, RevioList[wire], {**filters, "search.page_size": "1"})  # type: ignore[valid-type]
        return answer.records[0] if answer.records else None


# -- helpers ------------------------------------------------------------------------------------


def _numeric(object_id: str) -> int:
    """Rev.io ids are integers; anything else cannot exist there."""
    if not object_id.isdigit():
        raise SourceNotFound(f"Rev.io has no object {object_id!r}", details=[{"id": object_id}])
    return int(object_id)


def _code_number(loc: str, code: str) -> int:
    if not code.isdigit():
        raise SourceRejected(
            f"{loc} {code!r} is not a Rev.io id",
            source_status=422,
            source_code="validation_failed",
            details=[{"loc": loc, "type": "unknown_reference", "message": "Rev.io codes are numeric ids"}],
        )
    return int(code)


def _required_key(idempotency_key: str) -> str:
    if not idempotency_key:
        raise ValueError("an idempotency key is required to create objects in the source")
    return idempotency_key


def _created_id(created: RevioCreated, field: str) -> int:
    extra = created.model_extra or {}
    value = extra.get(field)
    if not isinstance(value, int):
        raise SourceInvalidResponse(f"Rev.io's answer to a create has no {field}", details=[{"field": field}])
    return value


def _problem(loc: str, kind: str, message: str) -> dict[str, Any]:
    return {"loc": loc, "type": kind, "message": message}


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _quantity(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001")).normalize())


def _line(charge: RevioCharge) -> dict[str, Any]:
    amount = charge.amount if charge.amount is not None else charge.quantity * charge.rate
    # A charge's ``amount`` includes its taxes (developers.rev.io/reference/postv1_charges-6);
    # a contract line is before tax.
    net = amount - charge.tax_amount if charge.amount is not None else amount
    return {
        "id": f"chg_{charge.charge_id}",
        "product_id": None if charge.product_id is None else str(charge.product_id),
        "description": charge.description or None,
        "quantity": _quantity(charge.quantity),
        "unit_price": _cents(charge.rate),
        "amount": _cents(net),
    }


def _bill_status(bill: RevioBill) -> str:
    status = bill.status.upper()
    if status == "VOID":
        return "void"
    if status == "DELETED":
        return "deleted"
    return "paid" if bill.amount_due <= 0 else "open"


def _address_names(
    display_name: str, company: str | None, given: str | None, family: str | None
) -> dict[str, str | None]:
    """A business customer keeps its name as the company name; a person's name goes in the name fields."""
    if company or not (given or family):
        return {"company_name": company or display_name, "first_name": given, "last_name": family}
    return {"company_name": None, "first_name": given, "last_name": family}


_PATCH_PATHS = {
    "email": "/email",
    "phone": "/phone",
    "company_name": "/billing_address/company_name",
    "given_name": "/billing_address/first_name",
    "family_name": "/billing_address/last_name",
}
_ADDRESS_PATHS = {
    "line1": "line_1",
    "line2": "line_2",
    "city": "city",
    "region": "state_or_province",
    "postal_code": "postal_code",
    "country": "country_code",
}


def _customer_patch(current: RevioCustomer, changes: SourceCustomerUpdate) -> list[dict[str, Any]]:
    """The JSON Patch operations that make ``current`` match ``changes``; none for fields already equal."""
    wanted = changes.model_dump(mode="json", exclude_unset=True)
    address = current.billing_address or RevioAddress()
    have: dict[str, Any] = {
        "/email": current.email,
        "/phone": current.phone,
        "/billing_address/company_name": address.company_name,
        "/billing_address/first_name": address.first_name,
        "/billing_address/last_name": address.last_name,
        "/status": current.status,
    }
    for revio in _ADDRESS_PATHS.values():
        have[f"/billing_address/{revio}"] = getattr(address, revio)
    target: dict[str, Any] = {}
    for field, value in wanted.items():
        if field in _PATCH_PATHS:
            target[_PATCH_PATHS[field]] = value
        elif field == "display_name":
            named = address.company_name is not None or not (address.first_name or address.last_name)
            if named:
                target["/billing_address/company_name"] = value
        elif field == "active":
            target["/status"] = "ACTIVE" if value else "CLOSED"
        elif field == "billing_address":
            new_address = value or {}
            for contract, revio in _ADDRESS_PATHS.items():
                target[f"/billing_address/{revio}"] = new_address.get(contract)
    return [
        {"op": "replace", "path": path, "value": value}
        for path, value in target.items()
        if have.get(path) != value
    ]
