"""The source contract served over a ``SourcePort``: how the contract kit (and the demo) reach the Rev.io
adapter, since the kit speaks HTTP and the adapter is a Python object.

The front is thin on purpose. Reads, writes, versions, paging and reference lists are the adapter's;
the front adds what only an HTTP surface has: the per-tenant key, the error shape, request validation
(the contract's strict request models), cursors tied to their list, ``Idempotency-Key`` bookkeeping
(the adapter's own safety is its look-before-write), the open-amount check on new payments, and signed
contract webhooks. It is also the tenant's Rev.io webhook receiver: it answers the ``X-Hook-Secret``
handshake and turns each notification into a contract event by re-reading the object
(``RevioNotificationIntake``), then signs and delivers it like any source would.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qbosync.errors import validation_details
from qbosync.source.errors import SourceInvalidResponse, SourceNotFound, SourceRejected, SourceUnavailable
from qbosync.source.models import (
    MAX_PAGE_LIMIT,
    NewSourceCustomer,
    NewSourcePayment,
    NewSourceProduct,
    SourceCustomerUpdate,
)
from qbosync.source.port import SourcePort
from qbosync.source.revio.webhooks import RevioNotificationIntake, answer_handshake
from qbosync.source.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

Deliver = Callable[[bytes, dict[str, str]], None]
"""Sends one signed contract webhook (body, headers) to qbosync's receiver."""

_LISTS = ("customers", "products", "invoices", "payments", "credit-notes")
_REFERENCES = ("payment-methods", "gl-codes", "product-types", "accounts", "tax-codes", "bill-profiles")


@dataclass
class FrontTenant:
    """The one tenant a front serves: its contract credentials and the port behind it."""

    tenant_id: str
    api_key: str
    webhook_secret: str
    port: SourcePort
    intake: RevioNotificationIntake | None = None
    keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(collection, Idempotency-Key) → (body hash, created id)."""
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FrontError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


def build_front(
    tenant: FrontTenant, deliver: Deliver, *, wall_clock: Callable[[], float] = time.time
) -> Starlette:
    """The contract for the tenant under ``/tenants/{id}``; its Rev.io receiver at ``/revio/webhooks``."""

    def list_page(request: Request, _: bytes) -> Any:
        collection = request.path_params["collection"]
        if collection in _REFERENCES:
            entries = getattr(tenant.port, "list_" + collection.replace("-", "_"))()
            return {"items": [entry.model_dump(mode="json") for entry in entries], "next_cursor": None}
        if collection not in _LISTS:
            raise FrontError(404, "unknown_collection", f"no list {collection!r}")
        limit = _limit(request.query_params.get("limit", "100"))
        cursor = _inner_cursor(collection, request.query_params.get("cursor"))
        since = _since(request.query_params.get("updated_since"))
        reader = getattr(tenant.port, "list_" + collection.replace("-", "_"))
        try:
            page = reader(cursor=cursor, limit=limit, updated_since=since)
        except ValueError as exc:
            raise FrontError(400, "invalid_cursor", "this list did not issue that cursor") from exc
        return {
            "items": [item.model_dump(mode="json") for item in page.items],
            "next_cursor": None if page.next_cursor is None else f"{collection}~{page.next_cursor}",
        }

    def get_one(request: Request, _: bytes) -> Any:
        collection, object_id = request.path_params["collection"], request.path_params["object_id"]
        readers = {
            "customers": tenant.port.get_customer,
            "products": tenant.port.get_product,
            "invoices": tenant.port.get_invoice,
            "payments": tenant.port.get_payment,
            "credit-notes": tenant.port.get_credit_note,
        }
        if collection not in readers:
            raise FrontError(404, "unknown_collection", f"no collection {collection!r}")
        return readers[collection](object_id).model_dump(mode="json")

    def create(request: Request, body: bytes) -> Response:
        return _create(tenant, request.path_params["collection"], request.headers, body)

    def patch(request: Request, body: bytes) -> Response:
        return _patch(tenant, request.path_params["object_id"], request.headers, body)

    def void(request: Request, _: bytes) -> Any:
        return tenant.port.void_payment(request.path_params["object_id"]).model_dump(mode="json")

    async def revio_webhook(request: Request) -> Response:
        handshake = answer_handshake({k.lower(): v for k, v in request.headers.items()})
        if handshake is not None:
            return Response(status_code=handshake.status, headers=handshake.headers)
        body = await request.body()
        return await run_in_threadpool(_forward, tenant, body, deliver, wall_clock)

    routes = [
        Route("/tenants/{tenant_id}/{collection}", _guarded(tenant, list_page), methods=["GET"]),
        Route("/tenants/{tenant_id}/{collection}/{object_id}", _guarded(tenant, get_one), methods=["GET"]),
        Route("/tenants/{tenant_id}/{collection}", _guarded(tenant, create), methods=["POST"]),
        Route("/tenants/{tenant_id}/customers/{object_id}", _guarded(tenant, patch), methods=["PATCH"]),
        Route("/tenants/{tenant_id}/payments/{object_id}/void", _guarded(tenant, void), methods=["POST"]),
        Route("/revio/webhooks", revio_webhook, methods=["POST"]),
    ]
    return Starlette(routes=routes)


# -- writes -----------------------------------------------------------------------------------------


def _create(tenant: FrontTenant, collection: str, headers: Any, raw: bytes) -> Response:
    models: dict[str, type[BaseModel]] = {
        "customers": NewSourceCustomer,
        "products": NewSourceProduct,
        "payments": NewSourcePayment,
    }
    if collection not in models:
        raise FrontError(405, "method_not_allowed", f"{collection} cannot be created")
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise FrontError(415, "unsupported_media_type", "send application/json")
    key = headers.get("idempotency-key")
    if not key:
        raise FrontError(428, "idempotency_key_required", "a create needs an Idempotency-Key header")
    body = _validated(models[collection], raw)
    digest = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    with tenant.lock:
        known = tenant.keys.get((collection, key))
    if known is not None:
        if known[0] != digest:
            raise FrontError(409, "idempotency_key_reused", "this key was used with another body")
        replayed = _read_created(tenant.port, collection, known[1])
        return JSONResponse(replayed, status_code=201, headers={"Idempotent-Replayed": "true"})
    _check_references(tenant.port, collection, body)
    created: BaseModel
    if isinstance(body, NewSourceCustomer):
        created = tenant.port.create_customer(body, key)
    elif isinstance(body, NewSourceProduct):
        created = tenant.port.create_product(body, key)
    else:
        assert isinstance(body, NewSourcePayment)
        _check_open_amounts(tenant.port, body)
        created = tenant.port.create_payment(body, key)
    answer = created.model_dump(mode="json")
    with tenant.lock:
        tenant.keys[(collection, key)] = (digest, answer["id"])
    return JSONResponse(answer, status_code=201)


def _patch(tenant: FrontTenant, object_id: str, headers: Any, raw: bytes) -> Response:
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise FrontError(415, "unsupported_media_type", "send application/json")
    changes = _validated(SourceCustomerUpdate, raw)
    assert isinstance(changes, SourceCustomerUpdate)
    return JSONResponse(tenant.port.update_customer(object_id, changes).model_dump(mode="json"))


def _read_created(port: SourcePort, collection: str, object_id: str) -> Any:
    reader = {"customers": port.get_customer, "products": port.get_product, "payments": port.get_payment}
    return reader[collection](object_id).model_dump(mode="json")


def _check_references(port: SourcePort, collection: str, body: BaseModel) -> None:
    """Codes in a create must be codes of the tenant's reference lists (the contract's 422)."""
    lists: dict[str, Callable[[], list[Any]]] = {
        "bill_profile_id": port.list_bill_profiles,
        "product_type": port.list_product_types,
        "gl_code": port.list_gl_codes,
        "tax_code": port.list_tax_codes,
        "method": port.list_payment_methods,
    }
    problems = []
    for name, read in lists.items():
        value = getattr(body, name, None)
        if value is not None and value not in {entry.code for entry in read()}:
            problems.append(
                {"loc": name, "type": "unknown_reference", "message": f"{value!r} is not a listed code"}
            )
    if collection == "payments":
        assert isinstance(body, NewSourcePayment)
        try:
            port.get_customer(body.customer_id)
        except SourceNotFound:
            problems.append(
                {"loc": "customer_id", "type": "unknown_reference", "message": "no such customer"}
            )
    if problems:
        raise FrontError(422, "validation_failed", "the body names codes the tenant does not have", problems)


def _check_open_amounts(port: SourcePort, payment: NewSourcePayment) -> None:
    """No application above an invoice's open amount: its total minus live payments and credits on it."""
    settled: dict[str, Decimal] = {}
    for reader in (port.list_payments, port.list_credit_notes):
        cursor: str | None = None
        while True:
            page = reader(cursor=cursor, limit=MAX_PAGE_LIMIT)
            for document in page.items:
                if document.status not in {"void", "deleted"}:
                    for applied in document.applied_to:
                        settled[applied.invoice_id] = (
                            settled.get(applied.invoice_id, Decimal(0)) + applied.amount
                        )
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    problems = []
    for index, application in enumerate(payment.applied_to):
        try:
            invoice = port.get_invoice(application.invoice_id)
        except SourceNotFound:
            problems.append(
                {
                    "loc": f"applied_to.{index}.invoice_id",
                    "type": "unknown_reference",
                    "message": "no such invoice",
                }
            )
            continue
        if invoice.customer_id != payment.customer_id:
            problems.append(
                {
                    "loc": f"applied_to.{index}.invoice_id",
                    "type": "invoice_of_another_customer",
                    "message": "not this customer's invoice",
                }
            )
        if application.amount > invoice.total - settled.get(invoice.id, Decimal(0)):
            problems.append(
                {
                    "loc": f"applied_to.{index}.amount",
                    "type": "exceeds_open_amount",
                    "message": "more than the invoice's open amount",
                }
            )
    if problems:
        raise FrontError(422, "validation_failed", "the payment does not fit the tenant's invoices", problems)


# -- webhooks -----------------------------------------------------------------------------------------


def _forward(tenant: FrontTenant, raw: bytes, deliver: Deliver, wall_clock: Callable[[], float]) -> Response:
    """A Rev.io notification in, a signed contract event out (nothing for an event about no synced object)."""
    if tenant.intake is None:
        return Response(status_code=404)
    notification = tenant.intake.parse(raw)
    if notification is None:
        return _error(FrontError(400, "not_a_notification", "the body is not a Rev.io notification"))
    event = tenant.intake.resolve(notification)
    if event is not None:
        body = event.model_dump_json().encode()
        timestamp = int(wall_clock())
        deliver(
            body,
            {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(tenant.webhook_secret, timestamp, body),
            },
        )
    return Response(status_code=204)


# -- plumbing -------------------------------------------------------------------------------------------


def _guarded(tenant: FrontTenant, handler: Callable[[Request, bytes], Any]) -> Callable[[Request], Any]:
    """The tenant's key checked, then ``handler`` in a worker thread (the port is synchronous), with the
    port's typed errors turned into the contract's error answers."""

    async def endpoint(request: Request) -> Response:
        tenant.requests[request.method + " " + request.url.path.split("/")[3]] += 1
        if request.path_params["tenant_id"] != tenant.tenant_id or not secrets.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {tenant.api_key}"
        ):
            return _error(FrontError(401, "invalid_api_key", "missing or wrong API key for this tenant"))
        body = await request.body()
        return await run_in_threadpool(_answer, handler, request, body)

    return endpoint


def _answer(handler: Callable[[Request, bytes], Any], request: Request, body: bytes) -> Response:
    try:
        answer = handler(request, body)
    except FrontError as exc:
        return _error(exc)
    except SourceNotFound as exc:
        return _error(FrontError(404, "not_found", exc.message))
    except SourceRejected as exc:
        status = exc.source_status if 400 <= exc.source_status < 500 else 502
        return _error(FrontError(status, exc.source_code or "source_rejected", exc.message, exc.details))
    except (SourceUnavailable, SourceInvalidResponse) as exc:
        return _error(FrontError(503, exc.code, exc.message))
    return answer if isinstance(answer, Response) else JSONResponse(answer)


def _validated(model: type[BaseModel], raw: bytes) -> BaseModel:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise FrontError(400, "malformed_json", "the body is not JSON") from exc
        details = validation_details(exc.errors(include_input=False, include_url=False))
        raise FrontError(422, "validation_failed", "the body does not validate", details) from exc


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_LIMIT:
        raise FrontError(400, "invalid_limit", f"limit must be an integer from 1 to {MAX_PAGE_LIMIT}")
    return int(value)


def _inner_cursor(collection: str, cursor: str | None) -> str | None:
    if not cursor:
        return None
    prefix, _, inner = cursor.partition("~")
    if prefix != collection or not inner:
        raise FrontError(400, "invalid_cursor", "this list did not issue that cursor")
    return inner


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FrontError(400, "invalid_updated_since", "updated_since must be an RFC 3339 time") from exc
    if since.tzinfo is None:
        raise FrontError(400, "invalid_updated_since", "updated_since needs a zone")
    return since


def _error(exc: FrontError) -> Response:
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return JSONResponse(body, status_code=exc.status)
