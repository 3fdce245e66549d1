"""The source sandbox as a Starlette app: the public source contract under ``/tenants/{tenant_id}``,
and a control API under ``/_sandbox`` that changes data (emitting signed webhooks), injects faults
and reports counters. ``build_app(config)`` returns the app; ``app.state.sandbox`` and
``app.state.outbox`` are the state and webhook outbox, for tests that drive it in-process."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.source_sandbox.config import SandboxConfig, WebhookConfig
from local.source_sandbox.state import (
    COLLECTIONS,
    Change,
    FaultRule,
    SandboxState,
    decode_cursor,
    encode_cursor,
    validate_input,
)
from local.source_sandbox.webhooks import WebhookOutbox
from qbosync.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    PreconditionRequired,
    QbosyncError,
    Unauthorized,
    UnsupportedMediaType,
)
from qbosync.source.kit.rules import ContractRule
from qbosync.source.models import MAX_PAGE_LIMIT, SourceObject

log = logging.getLogger("qbosync.source_sandbox")

MAX_BODY_BYTES = 1_048_576
DEFAULT_LIMIT = 100
REFERENCE_KINDS = ("payment-methods", "gl-codes", "product-types", "accounts", "tax-codes", "bill-profiles")
_CREATABLE = frozenset({"customers", "products", "payments"})
_PATCHABLE = frozenset({"customers"})
_VOIDABLE_BY_API = frozenset({"payments"})
_DOCUMENTS = frozenset({"invoices", "payments", "credit-notes"})
_MAX_IDEMPOTENCY_KEY = 255

Endpoint = Callable[[Request], Awaitable[Response]]


class FlushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shuffle: bool = False
    seed: int | None = None
    copies: int | None = Field(None, ge=1, le=3)
    wait: bool = True


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=599)
    count: int = Field(1, ge=1, le=1000)
    path_contains: str | None = None


def build_app(
    config: SandboxConfig,
    *,
    clock: Callable[[], datetime] | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    webhook_sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Starlette:
    """The sandbox app, seeded from ``config`` (or restored from its snapshot file if one exists)."""
    state = SandboxState(config, clock=clock)
    if config.snapshot_path is not None and config.snapshot_path.exists():
        state.load_snapshot(json.loads(config.snapshot_path.read_text()))
    outbox_options: dict[str, Any] = {"transport": webhook_transport}
    if webhook_sleep is not None:
        outbox_options["sleep"] = webhook_sleep
    signing_tenants = {t.id: t for t in config.tenants}
    if config.broken_rule is ContractRule.WEBHOOK_SIGNATURE:
        signing_tenants = {
            t.id: t.model_copy(update={"webhook_secret": "not-" + t.webhook_secret}) for t in config.tenants
        }
    outbox = WebhookOutbox(config.webhooks, signing_tenants, **outbox_options)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await outbox.close()
        if config.snapshot_path is not None:
            state.save_snapshot(config.snapshot_path)

    routes = (
        _public_routes(state, outbox) + _control_routes(state, outbox) + _operations_routes(state, outbox)
    )
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            QbosyncError: _error_response,
            HTTPException: _http_error_response,
            Exception: _unexpected_error_response,
        },
    )
    app.state.sandbox = state
    app.state.outbox = outbox
    return app


# -- errors ----------------------------------------------------------------------------------------


def _broken(request: Request, rule: ContractRule) -> bool:
    """Whether this sandbox was started with ``--break rule`` (see ``qbosync.source.kit``)."""
    state: SandboxState = request.app.state.sandbox
    return state.config.broken_rule is rule


def _error_body(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    if _broken(request, ContractRule.ERROR_SHAPE):
        body["error"].pop("message", None)
    return body


async def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QbosyncError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(_error_body(request, exc.to_body()), status_code=exc.status, headers=headers)


async def _http_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "route_not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = {"error": {"code": code, "message": str(exc.detail), "details": []}}
    return JSONResponse(_error_body(request, body), status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error_response(_: Request, exc: Exception) -> Response:
    log.exception("sandbox request failed", exc_info=exc)
    body = {"error": {"code": "internal_error", "message": "the sandbox failed unexpectedly", "details": []}}
    return JSONResponse(body, status_code=500)


# -- request helpers -------------------------------------------------------------------------------


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body is not valid JSON", code="malformed_json") from exc


async def _optional_json_body(request: Request) -> Any:
    return await _json_body(request) if await request.body() else {}


def _dump(obj: BaseModel) -> dict[str, Any]:
    return obj.model_dump(mode="json")


def _collection(request: Request, allowed: frozenset[str] | None = None) -> str:
    name = request.path_params["collection"]
    if name not in COLLECTIONS or (allowed is not None and name not in allowed):
        raise NotFound(f"no collection {name!r}", code="unknown_collection")
    return str(name)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if raw.isdigit() and _broken(request, ContractRule.PAGING_LIMIT):
        return min(max(int(raw), 1), MAX_PAGE_LIMIT)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_PAGE_LIMIT}", code="invalid_limit")
    return int(raw)


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in {"true", "false"}:
        raise BadRequest(f"{name} must be true or false", code=f"invalid_{name}")
    return raw.lower() == "true"


def _updated_since(request: Request) -> datetime | None:
    raw = request.query_params.get("updated_since")
    if raw is None:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest("updated_since must be an ISO 8601 date-time", code="invalid_updated_since") from exc
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _authorized_tenant(state: SandboxState, request: Request) -> str:
    """The tenant named in the path, if the bearer key is that tenant's; 401 otherwise (even if unknown)."""
    tenant_id = str(request.path_params["tenant_id"])
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("send Authorization: Bearer <api key>", code="missing_api_key")
    tenant = state.tenants.get(tenant_id)
    if tenant is None and _broken(request, ContractRule.AUTH):
        raise NotFound(f"no tenant {tenant_id!r}", code="unknown_tenant")
    expected = tenant.config.api_key if tenant else "\x00" * 32
    if not hmac.compare_digest(presented.strip().encode(), expected.encode()) or tenant is None:
        raise Unauthorized("the API key is not valid for this tenant", code="invalid_api_key")
    return tenant_id


def _injected_fault(state: SandboxState, request: Request) -> Response | None:
    rule = state.take_fault(request.url.path)
    if rule is None:
        return None
    body = {"error": {"code": "injected_fault", "message": "a fault injected by the sandbox", "details": []}}
    headers = {"Retry-After": "0"} if rule.status in {429, 503} else None
    return JSONResponse(body, status_code=rule.status, headers=headers)


# -- the public source contract --------------------------------------------------------------------


def _reference_items(state: SandboxState, request: Request, name: str) -> list[dict[str, Any]]:
    """One reference list as the contract serves it (or as a broken rule mangles it)."""
    tenant = state.tenant(request.path_params["tenant_id"])
    items = [_dump(e) for e in tenant.reference[name]]
    if name == "tax-codes" and _broken(request, ContractRule.REFERENCE_LISTS):
        items = [{k: v for k, v in item.items() if k != "rate"} for item in items]
    if name == "product-types" and _broken(request, ContractRule.REFERENCE_CODES_IN_USE):
        # The first product's type left out of the list, though products still use it.
        products = tenant.collections["products"]
        in_use = getattr(products.items[products.ids[0]], "product_type", None) if products.ids else None
        items = [item for item in items if item["code"] != in_use]
    return items


def _public_routes(state: SandboxState, outbox: WebhookOutbox) -> list[Route]:
    def page_of(request: Request, collection: str) -> Response:
        limit = _limit(request)
        cursor = request.query_params.get("cursor")
        lax_cursor = _broken(request, ContractRule.PAGING_CURSOR)
        after = decode_cursor(collection, cursor, any_collection=lax_cursor) if cursor else None
        since = None if _broken(request, ContractRule.UPDATED_SINCE) else _updated_since(request)
        include_deleted = _flag(request, "include_deleted", default=collection in _DOCUMENTS)

        def keep(obj: SourceObject) -> bool:
            if since is not None and obj.updated_at < since:
                return False
            return include_deleted or not getattr(obj, "deleted", False)

        tenant = state.tenant(request.path_params["tenant_id"])
        items, continue_after = tenant.collections[collection].page(after, limit, keep)
        if continue_after and len(items) > 1 and _broken(request, ContractRule.PAGING_WALK):
            continue_after = items[-2].id  # off by one: the next page repeats this page's last item
        next_cursor = encode_cursor(collection, continue_after) if continue_after else None
        return JSONResponse({"items": [shown(request, obj) for obj in items], "next_cursor": next_cursor})

    def shown(request: Request, obj: SourceObject) -> dict[str, Any]:
        body = _dump(obj)
        if "unit_price" in body and _broken(request, ContractRule.OBJECT_SHAPE):
            body["unit_price"] = float(body["unit_price"])  # money as a JSON number
        return body

    async def list_or_create(request: Request) -> Response:
        name = str(request.path_params["collection"])
        if name in REFERENCE_KINDS:
            if request.method != "GET":
                raise HTTPException(405, f"{name} is read-only")
            return JSONResponse({"items": _reference_items(state, request, name), "next_cursor": None})
        collection = _collection(request)
        if request.method == "GET":
            return page_of(request, collection)
        if collection not in _CREATABLE:
            raise HTTPException(405, f"{collection} cannot be created through the source API")
        return await _create(state, outbox, request, collection)

    async def read_or_update(request: Request) -> Response:
        collection = _collection(request)
        if request.method == "GET":
            obj = state.get(request.path_params["tenant_id"], collection, request.path_params["object_id"])
            return JSONResponse(shown(request, obj))
        if collection not in _PATCHABLE:
            raise HTTPException(405, f"{collection} cannot be changed through the source API")
        return await _patch_customer(state, outbox, request)

    async def void(request: Request) -> Response:
        collection = _collection(request)
        if collection not in _VOIDABLE_BY_API:
            raise HTTPException(405, f"{collection} cannot be voided through the source API")
        obj, change = state.void_idempotently(
            request.path_params["tenant_id"], collection, request.path_params["object_id"]
        )
        if change is not None:
            outbox.record(change)
        return JSONResponse(_dump(obj))

    def collection_label(request: Request) -> str:
        return f"{request.method} /tenants/{{tenant_id}}/{request.path_params['collection']}"

    def object_label(request: Request) -> str:
        return f"{request.method} /tenants/{{tenant_id}}/{request.path_params['collection']}/{{id}}"

    def void_label(request: Request) -> str:
        return f"{object_label(request)}/void"

    return [
        Route(
            "/tenants/{tenant_id}/{collection}",
            _guarded(state, collection_label, list_or_create),
            methods=["GET", "POST"],
        ),
        Route(
            "/tenants/{tenant_id}/{collection}/{object_id}",
            _guarded(state, object_label, read_or_update),
            methods=["GET", "PATCH"],
        ),
        Route(
            "/tenants/{tenant_id}/{collection}/{object_id}/void",
            _guarded(state, void_label, void),
            methods=["POST"],
        ),
    ]


def _guarded(state: SandboxState, label: Callable[[Request], str], endpoint: Endpoint) -> Endpoint:
    """``endpoint`` behind what every public route does first: count the request by ``label``,
    check the tenant's API key, then answer with an injected fault if one is pending."""

    async def guarded(request: Request) -> Response:
        state.requests[label(request)] += 1
        _authorized_tenant(state, request)
        fault = _injected_fault(state, request)
        if fault is not None:
            return fault
        return await endpoint(request)

    return guarded


async def _create(state: SandboxState, outbox: WebhookOutbox, request: Request, collection: str) -> Response:
    """``POST /tenants/{t}/{collection}`` with an Idempotency-Key: 201, replayed or not."""
    key = request.headers.get("idempotency-key", "").strip()
    if not key and _broken(request, ContractRule.CREATE_KEY_REQUIRED):
        key = f"sandbox-unkeyed-{uuid.uuid4().hex}"
    if not key:
        raise PreconditionRequired("send an Idempotency-Key header", code="idempotency_key_required")
    if len(key) > _MAX_IDEMPOTENCY_KEY:
        raise BadRequest(
            f"Idempotency-Key is longer than {_MAX_IDEMPOTENCY_KEY}", code="invalid_idempotency_key"
        )
    body = await _json_body(request)
    obj, change = state.create_idempotently(request.path_params["tenant_id"], collection, body, key)
    if change is not None:
        outbox.record(change)
    replayed = {"Idempotent-Replayed": "true" if change is None else "false"}
    return JSONResponse(_dump(obj), status_code=201, headers=replayed)


async def _patch_customer(state: SandboxState, outbox: WebhookOutbox, request: Request) -> Response:
    """``PATCH /tenants/{t}/customers/{id}``: 200 with the customer, changed or (a no-op) not."""
    body = await _json_body(request)
    customer, change = state.update_customer(
        request.path_params["tenant_id"], request.path_params["object_id"], body
    )
    if change is not None and not _broken(request, ContractRule.WEBHOOK_EMITTED):
        outbox.record(change)
    if change is None and _broken(request, ContractRule.WEBHOOK_NOOP_SILENT):
        tenant_id = str(request.path_params["tenant_id"])
        noise = Change(tenant_id, "customer", customer.id, customer.version, "updated", customer.updated_at)
        outbox.record(noise)
    return JSONResponse(_dump(customer))


# -- the control API -------------------------------------------------------------------------------


def _control_routes(state: SandboxState, outbox: WebhookOutbox) -> list[Route]:
    """Changes to a tenant's data; each one bumps a version and emits a webhook."""

    def emit(change: Change, request: Request, body: Any = None) -> None:
        deliver = _flag(request, "deliver", default=True)
        if isinstance(body, dict) and "deliver" in body:
            if not isinstance(body["deliver"], bool):
                raise BadRequest("deliver must be true or false", code="invalid_deliver")
            deliver = deliver and body["deliver"]
        outbox.record(change, deliver=deliver)

    def without_deliver(body: Any) -> Any:
        return {k: v for k, v in body.items() if k != "deliver"} if isinstance(body, dict) else body

    async def create(request: Request) -> Response:
        collection = _collection(request)
        body = await _json_body(request)
        obj, change = state.create(request.path_params["tenant_id"], collection, without_deliver(body))
        emit(change, request, body)
        return JSONResponse(_dump(obj), status_code=201)

    async def update_or_delete(request: Request) -> Response:
        collection = _collection(request)
        tenant_id, object_id = request.path_params["tenant_id"], request.path_params["object_id"]
        if request.method == "DELETE":
            obj, change = state.delete(tenant_id, collection, object_id)
            emit(change, request)
            return JSONResponse(_dump(obj))
        body = await _json_body(request)
        obj, change = state.update(tenant_id, collection, object_id, without_deliver(body))
        emit(change, request, body)
        return JSONResponse(_dump(obj))

    async def void(request: Request) -> Response:
        collection = _collection(request)
        obj, change = state.void(
            request.path_params["tenant_id"], collection, request.path_params["object_id"]
        )
        emit(change, request)
        return JSONResponse(_dump(obj))

    return [
        Route("/_sandbox/tenants/{tenant_id}/{collection}", create, methods=["POST"]),
        Route(
            "/_sandbox/tenants/{tenant_id}/{collection}/{object_id}",
            update_or_delete,
            methods=["PUT", "DELETE"],
        ),
        Route("/_sandbox/tenants/{tenant_id}/{collection}/{object_id}/void", void, methods=["POST"]),
    ]


def _operations_routes(state: SandboxState, outbox: WebhookOutbox) -> list[Route]:
    """Webhook delivery control, counters, fault injection, snapshots."""

    async def list_deliveries(request: Request) -> Response:
        status = request.query_params.get("status")
        tenant_id = request.query_params.get("tenant_id")
        found = [
            d.describe()
            for d in outbox.deliveries
            if (status is None or d.status == status)
            and (tenant_id is None or d.event.tenant_id == tenant_id)
        ]
        return JSONResponse({"items": found})

    async def flush(request: Request) -> Response:
        options = validate_input(FlushRequest, await _optional_json_body(request))
        assert isinstance(options, FlushRequest)
        flushed = await outbox.flush(
            shuffle=options.shuffle, seed=options.seed, copies=options.copies, wait=options.wait
        )
        return JSONResponse({"items": [d.describe() for d in flushed]})

    async def webhook_config(request: Request) -> Response:
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object", code="body_not_object")
            updated = validate_input(WebhookConfig, {**outbox.config.model_dump(), **body})
            assert isinstance(updated, WebhookConfig)
            outbox.config = updated
        return JSONResponse(outbox.config.model_dump())

    async def stats(_: Request) -> Response:
        return JSONResponse(
            {
                "requests": dict(sorted(state.requests.items())),
                "created": {name: state.created[name] for name in sorted(_CREATABLE)},
                "updated": {name: state.updated[name] for name in sorted(_PATCHABLE)},
                "voided": {name: state.voided[name] for name in sorted(_VOIDABLE_BY_API)},
                "idempotent_replays": state.idempotent_replays,
                "webhooks": dict(Counter(d.status for d in outbox.deliveries)),
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults = []
        else:
            rule = validate_input(FaultRequest, await _json_body(request))
            assert isinstance(rule, FaultRequest)
            state.faults.append(FaultRule(rule.status, rule.count, rule.path_contains))
        return JSONResponse({"items": [vars(rule) for rule in state.faults]})

    async def snapshot(_: Request) -> Response:
        if state.config.snapshot_path is None:
            raise BadRequest("this sandbox was started without a snapshot file", code="no_snapshot_path")
        state.save_snapshot(state.config.snapshot_path)
        return JSONResponse({"saved": True})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "tenants": sorted(state.tenants)})

    return [
        Route("/_sandbox/health", health),
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/faults", faults, methods=["POST", "DELETE"]),
        Route("/_sandbox/snapshot", snapshot, methods=["POST"]),
        Route("/_sandbox/webhooks", list_deliveries),
        Route("/_sandbox/webhooks/flush", flush, methods=["POST"]),
        Route("/_sandbox/webhooks/config", webhook_config, methods=["GET", "PUT"]),
    ]
