"""The sandbox's in-memory state: per-tenant collections with stable, cursor-paged order, versioned
changes, idempotent creation, idempotent updates and voids, request counters, injected faults, and
an optional snapshot file."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from local.source_sandbox import seed
from local.source_sandbox.config import SandboxConfig, TenantConfig
from qbosync.errors import BadRequest, Conflict, NotFound, ValidationFailed
from qbosync.source.kit.rules import ContractRule
from qbosync.source.models import (
    AppliedAmount,
    Code,
    CurrencyCode,
    Discount,
    ExchangeRate,
    Money,
    NewSourceCustomer,
    NewSourcePayment,
    NewSourceProduct,
    ObjectKind,
    Quantity,
    ReferenceEntry,
    SourceCreditNote,
    SourceCustomer,
    SourceCustomerUpdate,
    SourceId,
    SourceInvoice,
    SourceLine,
    SourceObject,
    SourcePayment,
    SourceProduct,
)

COLLECTIONS: dict[str, ObjectKind] = {
    "customers": "customer",
    "products": "product",
    "invoices": "invoice",
    "payments": "payment",
    "credit-notes": "credit_note",
}
_MODELS: dict[str, type[SourceObject]] = {
    "customers": SourceCustomer,
    "products": SourceProduct,
    "invoices": SourceInvoice,
    "payments": SourcePayment,
    "credit-notes": SourceCreditNote,
}
_ID_PREFIX = {
    "customers": "cus",
    "products": "prd",
    "invoices": "inv",
    "payments": "pay",
    "credit-notes": "cn",
}
_NUMBER_PREFIX = {"invoices": ("INV-", 1000), "payments": ("PMT-", 5000), "credit-notes": ("CN-", 300)}
_VOIDABLE = frozenset({"invoices", "payments", "credit-notes"})
_CLOSED_STATUSES = frozenset({"void", "deleted"})


class LineInput(BaseModel):
    """A document line as the control API takes it; amount is computed, price defaults to the product's."""

    model_config = ConfigDict(extra="forbid")

    product_id: SourceId | None = None
    description: str | None = None
    quantity: Quantity = Decimal("1")
    unit_price: Money | None = None
    gl_code: Code | None = None
    tax_code: Code | None = None
    discount: Discount | None = None


class InvoiceInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str | None = None
    customer_id: SourceId
    issue_date: dt.date | None = None
    due_date: dt.date | None = None
    currency: CurrencyCode = "USD"
    exchange_rate: ExchangeRate | None = None
    lines: list[LineInput] = Field(min_length=1, max_length=500)
    discount: Discount | None = None
    tax_total: Money | None = None
    status: Literal["open", "paid"] = "open"


class PaymentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str | None = None
    customer_id: SourceId
    date: dt.date | None = None
    amount: Annotated[Money, Field(gt=0)]
    method: Code
    reference: str | None = None
    currency: CurrencyCode = "USD"
    exchange_rate: ExchangeRate | None = None
    applied_to: list[AppliedAmount] = Field(default_factory=list)
    deposit_account: Code | None = None


class CreditNoteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str | None = None
    kind: Literal["credit", "write_off"] = "credit"
    customer_id: SourceId
    date: dt.date | None = None
    currency: CurrencyCode = "USD"
    exchange_rate: ExchangeRate | None = None
    lines: list[LineInput] = Field(min_length=1, max_length=500)
    discount: Discount | None = None
    tax_total: Money | None = None
    applied_to: list[AppliedAmount] = Field(default_factory=list)
    status: Literal["open", "applied"] = "open"


_INPUTS: dict[str, type[BaseModel]] = {
    "customers": NewSourceCustomer,
    "products": NewSourceProduct,
    "invoices": InvoiceInput,
    "payments": PaymentInput,
    "credit-notes": CreditNoteInput,
}


_PUBLIC_INPUTS: dict[str, type[BaseModel]] = {
    "customers": NewSourceCustomer,
    "products": NewSourceProduct,
    "payments": NewSourcePayment,
}
"""What the public source API creates (``POST /tenants/{t}/{collection}`` with an Idempotency-Key)."""


def validate_input(model: type[BaseModel], data: Any) -> BaseModel:
    """``model`` parsed from ``data``, or a 422 listing every problem by location."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "the request body is not valid",
            details=[
                {
                    "loc": ".".join(str(p) for p in error["loc"]),
                    "message": error["msg"],
                    "type": error["type"],
                }
                for error in exc.errors(include_url=False, include_input=False)
            ],
        ) from exc


@dataclass(frozen=True)
class Change:
    """One versioned change, which becomes one webhook event."""

    tenant_id: str
    kind: ObjectKind
    object_id: str
    version: int
    action: Literal["created", "updated", "deleted", "voided"]
    occurred_at: datetime


@dataclass
class Collection:
    """Objects of one kind in id order; ids are zero-padded sequence numbers, so order is creation order."""

    name: str
    items: dict[str, SourceObject] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    last_sequence: int = 0

    def next_id(self) -> str:
        self.last_sequence += 1
        return f"{_ID_PREFIX[self.name]}_{self.last_sequence:06d}"

    def put(self, obj: SourceObject) -> None:
        if obj.id not in self.items:
            if self.ids and obj.id < self.ids[-1]:
                raise ValueError(f"ids must be added in order: {obj.id} after {self.ids[-1]}")
            self.ids.append(obj.id)
            self.last_sequence = max(self.last_sequence, int(obj.id.rsplit("_", 1)[1]))
        self.items[obj.id] = obj

    def page(
        self, after: str | None, limit: int, keep: Callable[[SourceObject], bool]
    ) -> tuple[list[SourceObject], str | None]:
        """Up to ``limit`` kept objects after ``after``, and the id to continue after (None at the end)."""
        start = bisect_right(self.ids, after) if after else 0
        found: list[SourceObject] = []
        for object_id in self.ids[start:]:
            obj = self.items[object_id]
            if not keep(obj):
                continue
            if len(found) == limit:
                return found, found[-1].id
            found.append(obj)
        return found, None


@dataclass
class IdempotentCreation:
    fingerprint: str
    object_id: str
    recorded_at: datetime | None = None


# With ``--break create.key_retention`` keys are forgotten after this, well short of the contract's day.
BROKEN_KEY_RETENTION = dt.timedelta(hours=1)


@dataclass
class TenantData:
    config: TenantConfig
    collections: dict[str, Collection]
    reference: dict[str, list[ReferenceEntry]]
    idempotency: dict[str, IdempotentCreation] = field(default_factory=dict)

    def reference_codes(self, kind: str, *, only: str | None = None) -> set[str]:
        entries = self.reference[kind]
        return {e.code for e in entries if only is None or getattr(e, "account_type", None) == only}


@dataclass
class FaultRule:
    """Answer the next ``remaining`` public API requests (matching ``path_contains``) with ``status``."""

    status: int
    remaining: int
    path_contains: str | None = None


def encode_cursor(collection: str, after: str) -> str:
    raw = json.dumps({"c": collection, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(collection: str, cursor: str, *, any_collection: bool = False) -> str:
    """The id a cursor continues after; a 400 for anything this sandbox did not issue for ``collection``
    (``any_collection`` accepts another list's cursor: the broken ``paging.foreign_cursor`` rule)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        right_list = isinstance(data, dict) and (any_collection or data.get("c") == collection)
        if right_list and isinstance(data.get("a"), str):
            return str(data["a"])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise BadRequest("the cursor is not one this list issued", code="invalid_cursor")


class SandboxState:
    """Everything the sandbox knows; synchronous methods, called from one event loop."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tenants: dict[str, TenantData] = {t.id: self._seed_tenant(t) for t in config.tenants}
        self.requests: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.updated: Counter[str] = Counter()
        self.voided: Counter[str] = Counter()
        self.idempotent_replays = 0
        self.faults: list[FaultRule] = []

    # -- seeding and snapshots -----------------------------------------------------------------

    def _seed_tenant(self, tenant: TenantConfig) -> TenantData:
        rng = random.Random(f"{self.config.seed}/{tenant.id}")
        customers = seed.seed_customers(rng, self.config.customers)
        products = seed.seed_products(rng, self.config.products)
        documents = seed.seed_documents(rng, self.config.invoices, customers, products)
        collections = {name: Collection(name) for name in COLLECTIONS}
        seeded: dict[str, list[Any]] = {
            "customers": customers,
            "products": products,
            "invoices": documents.invoices,
            "payments": documents.payments,
            "credit-notes": documents.credit_notes,
        }
        for name, objects in seeded.items():
            for obj in objects:
                collections[name].put(obj)
        reference = {kind: list(entries) for kind, entries in seed.REFERENCE_LISTS.items()}
        return TenantData(config=tenant, collections=collections, reference=reference)

    def to_snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every tenant's objects and idempotency records."""
        return {
            "tenants": {
                tenant_id: {
                    "collections": {
                        name: [obj.model_dump(mode="json") for obj in coll.items.values()]
                        for name, coll in data.collections.items()
                    },
                    "last_sequence": {name: coll.last_sequence for name, coll in data.collections.items()},
                    "idempotency": {
                        key: {"fingerprint": rec.fingerprint, "object_id": rec.object_id}
                        for key, rec in data.idempotency.items()
                    },
                }
                for tenant_id, data in self.tenants.items()
            }
        }

    def load_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Replace the objects of every configured tenant found in ``snapshot``."""
        for tenant_id, saved in snapshot.get("tenants", {}).items():
            data = self.tenants.get(tenant_id)
            if data is None:
                continue
            for name, objects in saved["collections"].items():
                collection = Collection(name)
                for raw in objects:
                    collection.put(_MODELS[name].model_validate(raw))
                collection.last_sequence = max(collection.last_sequence, saved["last_sequence"].get(name, 0))
                data.collections[name] = collection
            data.idempotency = {
                key: IdempotentCreation(rec["fingerprint"], rec["object_id"])
                for key, rec in saved.get("idempotency", {}).items()
            }

    def save_snapshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.to_snapshot()))
        temporary.replace(path)

    # -- lookups -------------------------------------------------------------------------------

    def tenant(self, tenant_id: str) -> TenantData:
        data = self.tenants.get(tenant_id)
        if data is None:
            raise NotFound(f"no tenant {tenant_id!r}", code="unknown_tenant")
        return data

    def get(self, tenant_id: str, collection: str, object_id: str) -> SourceObject:
        obj = self.tenant(tenant_id).collections[collection].items.get(object_id)
        if obj is None:
            raise NotFound(f"no {COLLECTIONS[collection].replace('_', ' ')} {object_id!r}", code="not_found")
        return obj

    def iter_objects(self, tenant_id: str, collection: str) -> Iterator[SourceObject]:
        return iter(self.tenant(tenant_id).collections[collection].items.values())

    def take_fault(self, path: str) -> FaultRule | None:
        """Consume one injected fault matching ``path``, if any."""
        for rule in self.faults:
            if rule.remaining > 0 and (rule.path_contains is None or rule.path_contains in path):
                rule.remaining -= 1
                self.faults = [r for r in self.faults if r.remaining > 0]
                return rule
        return None

    # -- changes -------------------------------------------------------------------------------

    def create(self, tenant_id: str, collection: str, body: Any) -> tuple[SourceObject, Change]:
        """Validate ``body`` for ``collection`` (the control API's input) and add it as version 1."""
        data = self.tenant(tenant_id)
        parsed = validate_input(_INPUTS[collection], body)
        _refuse(_unknown_references(data, parsed))
        return self._insert(tenant_id, collection, parsed)

    def _insert(self, tenant_id: str, collection: str, parsed: BaseModel) -> tuple[SourceObject, Change]:
        data = self.tenant(tenant_id)
        coll = data.collections[collection]
        now = self.clock()
        new_id = coll.next_id()
        obj = self._build(data, collection, parsed, object_id=new_id, version=1, now=now, previous=None)
        coll.put(obj)
        return obj, Change(tenant_id, COLLECTIONS[collection], obj.id, 1, "created", now)

    def create_idempotently(
        self, tenant_id: str, collection: str, body: Any, idempotency_key: str
    ) -> tuple[SourceObject, Change | None]:
        """Create through the public API (customers, products, payments); a repeated key returns
        the first result (as it is now) and no change instead.

        The key is looked up before the checks against the tenant's data, so a replay succeeds
        even when the first request changed what those checks see (a payment that paid an invoice
        in full would otherwise over-apply it the second time).
        """
        data = self.tenant(tenant_id)
        if self.config.broken_rule is ContractRule.CREATE_STRICT_BODY and isinstance(body, dict):
            body = {k: v for k, v in body.items() if k in _PUBLIC_INPUTS[collection].model_fields}
        parsed = validate_input(_PUBLIC_INPUTS[collection], body)
        fingerprint = hashlib.sha256(parsed.model_dump_json().encode()).hexdigest()
        record_key = f"{collection}:{idempotency_key}"
        existing = data.idempotency.get(record_key)
        broken = self.config.broken_rule
        if (
            existing is not None
            and broken is ContractRule.KEY_RETENTION
            and existing.recorded_at is not None
            and self.clock() - existing.recorded_at > BROKEN_KEY_RETENTION
        ):
            existing = None
        if (
            existing is not None
            and broken is ContractRule.CREATE_REPLAY
            and existing.fingerprint == fingerprint
        ):
            existing = None  # a replay makes a duplicate
        if existing is not None and broken is ContractRule.CREATE_KEY_REUSE:
            fingerprint = existing.fingerprint  # another body under the same key passes as a replay
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was already used with a different body",
                    code="idempotency_key_reused",
                )
            self.idempotent_replays += 1
            return self.get(tenant_id, collection, existing.object_id), None
        if isinstance(parsed, NewSourcePayment):
            problems = _payment_problems(data, parsed)
            if broken is ContractRule.OPEN_AMOUNT:
                problems = [p for p in problems if p["type"] != "exceeds_open_amount"]
            _refuse(problems)
        elif broken is not ContractRule.CREATE_UNKNOWN_REFERENCE:
            _refuse(_unknown_references(data, parsed))
        obj, change = self._insert(tenant_id, collection, parsed)
        data.idempotency[record_key] = IdempotentCreation(fingerprint, obj.id, self.clock())
        self.created[collection] += 1
        return obj, change

    def update(
        self, tenant_id: str, collection: str, object_id: str, patch: Any
    ) -> tuple[SourceObject, Change]:
        """Merge ``patch`` (top-level fields) into the object and bump its version."""
        data = self.tenant(tenant_id)
        current = self.get(tenant_id, collection, object_id)
        self._refuse_if_closed(collection, current, "update")
        if not isinstance(patch, dict):
            raise BadRequest("the request body must be a JSON object", code="body_not_object")
        merged = {**_as_input(collection, current), **patch}
        parsed = validate_input(_INPUTS[collection], merged)
        _refuse(_unknown_references(data, parsed))
        now = self.clock()
        version = current.version + 1
        obj = self._build(
            data, collection, parsed, object_id=object_id, version=version, now=now, previous=current
        )
        data.collections[collection].put(obj)
        return obj, Change(tenant_id, COLLECTIONS[collection], object_id, version, "updated", now)

    def update_customer(
        self, tenant_id: str, customer_id: str, body: Any
    ) -> tuple[SourceCustomer, Change | None]:
        """Apply a public-API patch to a customer; a patch that changes nothing returns it as it is
        (no version bump, no change), which is what makes a retried PATCH harmless."""
        data = self.tenant(tenant_id)
        current = self.get(tenant_id, "customers", customer_id)
        assert isinstance(current, SourceCustomer)
        changes = validate_input(SourceCustomerUpdate, body)
        if current.deleted:
            raise Conflict(f"cannot update {customer_id}: it is deleted", code="object_deleted")
        changed = changes.model_dump(include=changes.model_fields_set)
        kept = current.model_dump()
        if self.config.broken_rule is ContractRule.PATCH:  # a PUT in disguise: fields left out are cleared
            kept.update(dict.fromkeys(("company_name", "given_name", "family_name", "email", "phone")))
        candidate = SourceCustomer.model_validate({**kept, **changed})
        if candidate.model_dump() == current.model_dump():
            return current, None
        now = self.clock()
        version = current.version + (0 if self.config.broken_rule is ContractRule.VERSIONS else 1)
        updated = candidate.model_copy(update={"version": version, "updated_at": now})
        data.collections["customers"].put(updated)
        self.updated["customers"] += 1
        return updated, Change(tenant_id, "customer", customer_id, version, "updated", now)

    def void_idempotently(
        self, tenant_id: str, collection: str, object_id: str
    ) -> tuple[SourceObject, Change | None]:
        """Void through the public API: the control API's void, except that an object already void
        is returned as it is (no change) rather than refused; a deleted one is still a 409."""
        try:
            voided, change = self.void(tenant_id, collection, object_id)
        except Conflict as refused:
            if refused.code != "object_void" or self.config.broken_rule is ContractRule.VOID:
                raise
            return self.get(tenant_id, collection, object_id), None
        self.voided[collection] += 1
        return voided, change

    def void(self, tenant_id: str, collection: str, object_id: str) -> tuple[SourceObject, Change]:
        if collection not in _VOIDABLE:
            raise BadRequest(f"{collection} cannot be voided", code="void_not_supported")
        current = self.get(tenant_id, collection, object_id)
        self._refuse_if_closed(collection, current, "void")
        return self._replace(tenant_id, collection, current, {"status": "void"}, "voided")

    def delete(self, tenant_id: str, collection: str, object_id: str) -> tuple[SourceObject, Change]:
        current = self.get(tenant_id, collection, object_id)
        if getattr(current, "deleted", False) or getattr(current, "status", None) == "deleted":
            raise Conflict(f"{object_id} is already deleted", code="already_deleted")
        changes = {"status": "deleted"} if collection in _VOIDABLE else {"deleted": True, "active": False}
        return self._replace(tenant_id, collection, current, changes, "deleted")

    def _replace(
        self,
        tenant_id: str,
        collection: str,
        current: SourceObject,
        changes: dict[str, Any],
        action: Literal["deleted", "voided"],
    ) -> tuple[SourceObject, Change]:
        now = self.clock()
        version = current.version + 1
        obj = type(current).model_validate(
            {**current.model_dump(), **changes, "version": version, "updated_at": now}
        )
        self.tenant(tenant_id).collections[collection].put(obj)
        return obj, Change(tenant_id, COLLECTIONS[collection], obj.id, version, action, now)

    @staticmethod
    def _refuse_if_closed(collection: str, current: SourceObject, verb: str) -> None:
        status = getattr(current, "status", None)
        if getattr(current, "deleted", False) or status == "deleted":
            raise Conflict(f"cannot {verb} {current.id}: it is deleted", code="object_deleted")
        if status == "void":
            raise Conflict(f"cannot {verb} {current.id}: it is void", code="object_void")

    # -- building objects from inputs, with the references they name checked --------------------

    def _build(
        self,
        data: TenantData,
        collection: str,
        parsed: BaseModel,
        *,
        object_id: str,
        version: int,
        now: datetime,
        previous: SourceObject | None,
    ) -> SourceObject:
        meta = {"id": object_id, "version": version, "updated_at": now}
        if collection == "customers":
            return SourceCustomer.model_validate({**parsed.model_dump(), **meta})
        if collection == "products":
            return SourceProduct.model_validate({**parsed.model_dump(), **meta})
        fields = parsed.model_dump(exclude={"lines"})
        if fields.get("currency") is None:
            fields.pop("currency", None)  # a payment recorded from QBO without one is in the home currency
        number = fields.pop("number") or _previous_number(previous) or _next_number(data, collection)
        if collection == "payments":
            return SourcePayment.model_validate(
                {**fields, **meta, "number": number, "date": fields["date"] or now.date(), "status": "posted"}
            )
        lines = _priced_lines(data, object_id, getattr(parsed, "lines", []))
        total = _document_total(lines, getattr(parsed, "discount", None), getattr(parsed, "tax_total", None))
        if collection == "invoices":
            return SourceInvoice.model_validate(
                {
                    **fields,
                    **meta,
                    "number": number,
                    "issue_date": fields["issue_date"] or now.date(),
                    "lines": lines,
                    "total": total,
                }
            )
        return SourceCreditNote.model_validate(
            {
                **fields,
                **meta,
                "number": number,
                "date": fields["date"] or now.date(),
                "lines": lines,
                "total": total,
            }
        )


def _refuse(problems: list[dict[str, Any]]) -> None:
    """A 422 listing ``problems`` (one details entry each), if there are any."""
    if problems:
        raise ValidationFailed("the body does not fit this tenant's data", details=problems)


def _problem(loc: str, message: str, problem_type: str) -> dict[str, Any]:
    return {"loc": loc, "message": message, "type": problem_type}


def _payment_problems(data: TenantData, payment: NewSourcePayment) -> list[dict[str, Any]]:
    """Everything wrong with ``payment`` given the tenant's data, one entry per problem."""
    problems: list[dict[str, Any]] = []
    customer = data.collections["customers"].items.get(payment.customer_id)
    if customer is None:
        problems.append(
            _problem("customer_id", f"unknown customer {payment.customer_id!r}", "unknown_reference")
        )
    elif getattr(customer, "deleted", False):
        problems.append(
            _problem("customer_id", f"customer {payment.customer_id!r} is deleted", "customer_deleted")
        )
    if payment.method not in data.reference_codes("payment-methods"):
        problems.append(_problem("method", f"unknown payment method {payment.method!r}", "unknown_reference"))
    invoices = data.collections["invoices"].items
    settled = _settled_amounts(data, {a.invoice_id for a in payment.applied_to})
    seen: set[str] = set()
    for index, applied in enumerate(payment.applied_to):
        loc = f"applied_to.{index}"
        invoice = invoices.get(applied.invoice_id)
        if not isinstance(invoice, SourceInvoice):
            problems.append(
                _problem(f"{loc}.invoice_id", f"unknown invoice {applied.invoice_id!r}", "unknown_reference")
            )
            continue
        if invoice.id in seen:
            problems.append(
                _problem(f"{loc}.invoice_id", f"{invoice.id} is applied more than once", "duplicate_invoice")
            )
            continue
        seen.add(invoice.id)
        if invoice.status in _CLOSED_STATUSES:
            problems.append(
                _problem(
                    f"{loc}.invoice_id", f"{invoice.id} is {invoice.status}", f"invoice_{invoice.status}"
                )
            )
            continue
        if customer is not None and invoice.customer_id != payment.customer_id:
            problems.append(
                _problem(
                    f"{loc}.invoice_id",
                    f"{invoice.id} belongs to {invoice.customer_id}, not {payment.customer_id}",
                    "invoice_of_another_customer",
                )
            )
        open_amount = invoice.total - settled[invoice.id]
        if applied.amount > open_amount:
            problems.append(
                _problem(
                    f"{loc}.amount",
                    f"{applied.amount} is more than the {open_amount} still open on {invoice.id}",
                    "exceeds_open_amount",
                )
            )
    applied_total = sum((a.amount for a in payment.applied_to), Decimal("0.00"))
    if applied_total > payment.amount:
        problems.append(
            _problem(
                "applied_to",
                f"applied amounts ({applied_total}) exceed the payment ({payment.amount})",
                "over_applied",
            )
        )
    return problems


def _settled_amounts(data: TenantData, invoice_ids: set[str]) -> dict[str, Decimal]:
    """What posted payments and live (not void, not deleted) credit notes already apply to each
    of ``invoice_ids``. An invoice's open amount is its total minus this."""
    settled = dict.fromkeys(invoice_ids, Decimal("0.00"))
    for collection in ("payments", "credit-notes"):
        for document in data.collections[collection].items.values():
            if getattr(document, "status", None) in _CLOSED_STATUSES:
                continue
            for applied in getattr(document, "applied_to", []):
                if applied.invoice_id in settled:
                    settled[applied.invoice_id] += applied.amount
    return settled


def _previous_number(previous: SourceObject | None) -> str | None:
    return getattr(previous, "number", None) if previous is not None else None


def _next_number(data: TenantData, collection: str) -> str:
    prefix, base = _NUMBER_PREFIX[collection]
    return f"{prefix}{base + data.collections[collection].last_sequence}"


def _priced_lines(data: TenantData, document_id: str, lines: list[LineInput]) -> list[SourceLine]:
    products = data.collections["products"].items
    priced = []
    for index, line in enumerate(lines, 1):
        product = products.get(line.product_id) if line.product_id else None
        unit_price = line.unit_price
        if unit_price is None:
            unit_price = product.unit_price if isinstance(product, SourceProduct) else Decimal("0.00")
        priced.append(
            SourceLine(
                id=f"{document_id}_l{index}",
                product_id=line.product_id,
                description=line.description
                or (product.name if isinstance(product, SourceProduct) else None),
                quantity=line.quantity,
                unit_price=unit_price,
                amount=_net_amount(line.quantity * unit_price, line.discount),
                discount=line.discount,
                gl_code=line.gl_code or (product.gl_code if isinstance(product, SourceProduct) else None),
                tax_code=line.tax_code or (product.tax_code if isinstance(product, SourceProduct) else None),
            )
        )
    return priced


def _net_amount(gross: Decimal, discount: Discount | None) -> Decimal:
    """A line's amount after its own discount, to the cent (half up)."""
    amount = gross.quantize(seed.CENT, rounding=ROUND_HALF_UP)
    if discount is None:
        return amount
    off = discount.amount if discount.amount is not None else amount * (discount.percent or 0) / 100
    return max(amount - off, Decimal("0.00")).quantize(seed.CENT, rounding=ROUND_HALF_UP)


def _document_total(lines: list[SourceLine], discount: Discount | None, tax_total: Decimal | None) -> Decimal:
    """Lines, less the document's discount (a percent of the lines' sum), plus the source's tax."""
    subtotal = sum((line.amount for line in lines), Decimal("0.00"))
    off = Decimal("0.00")
    if discount is not None:
        off = discount.amount if discount.amount is not None else subtotal * (discount.percent or 0) / 100
    total = subtotal - off.quantize(seed.CENT, rounding=ROUND_HALF_UP) + (tax_total or Decimal("0.00"))
    return max(total, Decimal("0.00"))


def _as_input(collection: str, obj: SourceObject) -> dict[str, Any]:
    """The fields of ``obj`` the control API accepts, so an update can be validated as a whole."""
    allowed = set(_INPUTS[collection].model_fields)
    dumped = obj.model_dump(mode="json")
    fields = {k: v for k, v in dumped.items() if k in allowed}
    if "lines" in fields:
        line_fields = set(LineInput.model_fields)
        fields["lines"] = [{k: v for k, v in line.items() if k in line_fields} for line in fields["lines"]]
    return fields


def _unknown_references(data: TenantData, parsed: BaseModel) -> list[dict[str, Any]]:
    """Every reference code or object id in ``parsed`` that this tenant does not have."""
    problems: list[dict[str, Any]] = []

    def check(loc: str, value: str | None, known: set[str] | dict[str, Any], what: str) -> None:
        if value is not None and value not in known:
            problems.append({"loc": loc, "message": f"unknown {what} {value!r}", "type": "unknown_reference"})

    if isinstance(parsed, NewSourceCustomer):
        check(
            "bill_profile_id", parsed.bill_profile_id, data.reference_codes("bill-profiles"), "bill profile"
        )
    elif isinstance(parsed, NewSourceProduct):
        check("product_type", parsed.product_type, data.reference_codes("product-types"), "product type")
        check("gl_code", parsed.gl_code, data.reference_codes("gl-codes"), "GL code")
        income_or_expense = data.reference_codes("accounts", only="income") | data.reference_codes(
            "accounts", only="expense"
        )
        check("income_account", parsed.income_account, income_or_expense, "income/expense account")
        check("tax_code", parsed.tax_code, data.reference_codes("tax-codes"), "tax code")
    else:
        customers = data.collections["customers"].items
        check("customer_id", getattr(parsed, "customer_id", None), customers, "customer")
        if isinstance(parsed, PaymentInput):
            check("method", parsed.method, data.reference_codes("payment-methods"), "payment method")
            balance_sheet = {
                code
                for kind in ("asset", "liability")
                for code in data.reference_codes("accounts", only=kind)
            }
            check("deposit_account", parsed.deposit_account, balance_sheet, "deposit account")
        for index, line in enumerate(getattr(parsed, "lines", [])):
            check(f"lines.{index}.product_id", line.product_id, data.collections["products"].items, "product")
            check(f"lines.{index}.gl_code", line.gl_code, data.reference_codes("gl-codes"), "GL code")
            check(f"lines.{index}.tax_code", line.tax_code, data.reference_codes("tax-codes"), "tax code")
        for index, applied in enumerate(getattr(parsed, "applied_to", [])):
            check(
                f"applied_to.{index}.invoice_id",
                applied.invoice_id,
                data.collections["invoices"].items,
                "invoice",
            )
        if isinstance(parsed, PaymentInput):
            applied_total = sum((a.amount for a in parsed.applied_to), Decimal("0"))
            if applied_total > parsed.amount:
                problems.append(
                    {
                        "loc": "applied_to",
                        "message": "applied amounts exceed the payment",
                        "type": "over_applied",
                    }
                )
    return problems
