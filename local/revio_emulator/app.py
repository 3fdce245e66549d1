"""The Rev.io emulator as a Starlette app: the REST endpoints the adapter uses under ``/v1``, and a
control API under ``/_emulator`` that changes data (emitting notifications), injects faults and counts
requests. Where it knowingly differs from Rev.io, or assumes, is listed in ``docs/revio.md``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.revio_emulator.state import (
    COLLECTIONS,
    EMULATOR_EPOCH,
    EmulatorState,
    Fault,
    create_bill,
    replace_bill_lines,
    seed,
)

HOOK_SECRET = "X-Hook-Secret"  # noqa: S105 - a header name
_CREATABLE = frozenset({"Customers", "Products", "Payments"})
_MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class EmulatorConfig:
    """One Rev.io client: its API user, client code, password and subscription key, and its seed."""

    username: str = "qbosync"
    client_code: str = "demo"
    password: str = "revio-emulator-password"  # noqa: S105 - a fixed local test credential
    subscription_key: str = "revio-emulator-subscription-key"
    customers: int = 20
    products: int = 12
    bills: int = 8
    seed: int = 7
    deliver_immediately: bool = True
    clock_start: datetime = EMULATOR_EPOCH
    """Where the emulator's deterministic clock starts (record times move one second per change)."""


def build_app(  # noqa: PLR0915 - one closure per endpoint over one client's state, in the order of the routes
    config: EmulatorConfig | None = None, *, webhook_transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The emulator, seeded from ``config``; ``app.state.emulator`` is its ``EmulatorState``."""
    config = config or EmulatorConfig()
    state = EmulatorState(clock_start=config.clock_start)
    seed(
        state,
        customers=config.customers,
        products=config.products,
        bills=config.bills,
        seed_value=config.seed,
    )
    delivered = {"count": len(state.notifications)}
    outbound = httpx.AsyncClient(transport=webhook_transport, timeout=5.0)

    async def deliver() -> None:
        """Send every notification not yet sent to each active receiver subscribed to its type."""
        pending = state.notifications[delivered["count"] :]
        delivered["count"] = len(state.notifications)
        for note in pending:
            for subscription in state.subscriptions:
                receiver = state.receivers.get(subscription["webhook_receiver_id"])
                if (
                    receiver is None
                    or not receiver["active"]
                    or subscription["event_type"] != note.event_type
                ):
                    continue
                with contextlib.suppress(httpx.HTTPError):
                    await outbound.post(receiver["url"], json=asdict(note))
                state.requests["webhook deliveries"] += 1

    async def after_change() -> None:
        if config.deliver_immediately:
            await deliver()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await outbound.aclose()

    expected_auth = "Basic " + base64.b64encode(
        f"{config.username}@{config.client_code}:{config.password}".encode()
    ).decode("ascii")

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # counted by route, not URL: ids would split the counts
            state.requests[f"{request.method} {re.sub(r'/[0-9]+', '/{id}', request.url.path)}"] += 1
            if not secrets.compare_digest(request.headers.get("authorization", ""), expected_auth):
                return _error(401, "invalid credentials")
            if not secrets.compare_digest(
                request.headers.get("ocp-apim-subscription-key", ""), config.subscription_key
            ):
                return _error(401, "missing or invalid subscription key")
            fault = state.take_fault(request.url.path)
            if fault is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return _error(fault.status, "injected fault", headers=headers)
            return await handler(request)

        return endpoint

    async def list_records(request: Request) -> Response:
        collection = _collection(request)
        if collection is None:
            return _error(404, "no such resource")
        params = request.query_params
        try:
            page = int(params.get("search.page", "1"))
            size = int(params.get("search.page_size", "10"))
        except ValueError:
            return _error(400, "search.page and search.page_size are whole numbers")
        if page < 1 or not 1 <= size <= _MAX_PAGE_SIZE:
            return _error(400, "search.page_size is 1 to 500 and search.page at least 1")
        filters = {
            key.removeprefix("search."): value
            for key, value in params.items()
            if key.startswith("search.") and key not in {"search.page", "search.page_size", "search.sort"}
        }
        rows = state.listing(collection, filters)
        chunk = rows[(page - 1) * size : page * size]
        return JSONResponse(
            {"ok": True, "has_more": page * size < len(rows), "record_count": len(chunk), "records": chunk}
        )

    async def get_record(request: Request) -> Response:
        row = _find(state, request)
        return _error(404, "not found") if row is None else JSONResponse({"ok": True, **row})

    async def create_record(request: Request) -> Response:
        collection = _collection(request)
        if collection is None or collection not in _CREATABLE:
            return _error(405, f"{collection} cannot be created here")
        body = await _json_object(request)
        if body is None:
            return _error(400, "the body is not a JSON object")
        problem = _create_problem(state, collection, body)
        if problem:
            return _error(422, problem)
        if collection == "Payments":
            body.setdefault("status", "POSTED")
            _settle(state, body)
        if collection == "Customers":
            body.setdefault("finance", {"balance": "0.00"})
        record = state.create(collection, body)
        await after_change()
        return JSONResponse(
            {"ok": True, COLLECTIONS[collection]: record[COLLECTIONS[collection]]}, status_code=201
        )

    async def patch_customer(request: Request) -> Response:
        row = _find(state, request)
        if row is None:
            return _error(404, "not found")
        if request.headers.get("content-type", "").split(";")[0] != "application/json-patch+json":
            return _error(415, "PATCH takes application/json-patch+json")
        try:
            operations = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        changed = False
        for operation in operations if isinstance(operations, list) else []:
            if operation.get("op") != "replace" or not str(operation.get("path", "")).startswith("/"):
                return _error(422, "only replace operations are emulated")
            *parents, leaf = operation["path"].strip("/").split("/")
            target = row
            for name in parents:
                target = target.setdefault(name, {}) or {}
            if target.get(leaf) != operation.get("value"):
                target[leaf] = operation.get("value")
                changed = True
        if changed:
            state.notify("Customers", "updated", row["customer_id"])
            await after_change()
        return JSONResponse({"ok": True, **row})

    async def void_payment(request: Request) -> Response:
        row = _find(state, request)
        if row is None:
            return _error(404, "not found")
        if row["status"] != "VOID":
            state.change("Payments", row["payment_id"], {"status": "VOID"}, "voided")
            _unsettle(state, row)
            await after_change()
        return JSONResponse({"ok": True, **row})

    async def register_receiver(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or not isinstance(body.get("url"), str):
            return _error(422, "a receiver needs a url")
        receiver_id = len(state.receivers) + 1
        code = secrets.token_hex(16)
        receiver = {"webhook_receiver_id": receiver_id, "url": body["url"], "active": False, "code": code}
        state.receivers[receiver_id] = receiver
        # The confirmation request: the receiver is active at once if it echoes the code.
        with contextlib.suppress(httpx.HTTPError):
            answer = await outbound.post(body["url"], headers={HOOK_SECRET: code}, json={})
            receiver["active"] = answer.status_code == 200 and answer.headers.get(HOOK_SECRET) == code
        return JSONResponse({"ok": True, "webhook_receiver_id": receiver_id}, status_code=201)

    async def activate_receiver(request: Request) -> Response:
        receiver = state.receivers.get(_path_id(request))
        if receiver is None:
            return _error(404, "not found")
        receiver["active"] = True
        return JSONResponse({"ok": True, "webhook_receiver_id": receiver["webhook_receiver_id"]})

    async def subscribe(request: Request) -> Response:
        body = await _json_object(request)
        if body is None or body.get("webhook_receiver_id") not in state.receivers:
            return _error(422, "a subscription needs a known webhook_receiver_id")
        subscription = {
            "webhook_subscription_id": len(state.subscriptions) + 1,
            "webhook_receiver_id": body["webhook_receiver_id"],
            "event_type": str(body.get("event_type", "")),
        }
        state.subscriptions.append(subscription)
        return JSONResponse({"ok": True, **subscription}, status_code=201)

    # -- control API (no authentication; loopback only) ---------------------------------------

    async def control_bill(request: Request) -> Response:
        body = await _json_object(request) or {}
        lines = [(int(line["product_id"]), int(line.get("quantity", 1))) for line in body.get("lines", [])]
        bill = create_bill(state, int(body["customer_id"]), lines)
        await after_change()
        return JSONResponse(bill, status_code=201)

    async def control_bill_lines(request: Request) -> Response:
        body = await _json_object(request) or {}
        lines = [(int(line["product_id"]), int(line.get("quantity", 1))) for line in body.get("lines", [])]
        bill = replace_bill_lines(state, _path_id(request), lines)
        await after_change()
        return JSONResponse(bill)

    async def control_create(request: Request) -> Response:
        body = await _json_object(request) or {}
        collection = request.path_params["collection"]
        if collection == "Payments":
            body.setdefault("status", "POSTED")
            _settle(state, body)
        record = state.create(collection, body)
        await after_change()
        return JSONResponse(record, status_code=201)

    async def control_change(request: Request) -> Response:
        body = await _json_object(request) or {}
        collection = request.path_params["collection"]
        action = str(body.pop("_action", "updated"))
        record = state.change(collection, int(request.path_params["record_id"]), body, action)
        await after_change()
        return JSONResponse(record)

    async def control_faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({"faults": 0})
        body = await _json_object(request) or {}
        retry_after = body.get("retry_after")
        state.faults.append(
            Fault(
                int(body.get("status", 429)),
                int(body.get("count", 1)),
                None if retry_after is None else str(retry_after),
                body.get("path_contains"),
            )
        )
        return JSONResponse({"faults": len(state.faults)})

    async def control_stats(_: Request) -> Response:
        api = {route: n for route, n in state.requests.items() if route != "webhook deliveries"}
        return JSONResponse(
            {
                "requests": dict(sorted(api.items())),
                "api_requests": sum(api.values()),
                "webhook_deliveries": state.requests["webhook deliveries"],
                "receivers": [{k: v for k, v in r.items() if k != "code"} for r in state.receivers.values()],
            }
        )

    async def control_flush(_: Request) -> Response:
        await deliver()
        return JSONResponse({"delivered": delivered["count"]})

    async def control_notifications(_: Request) -> Response:
        return JSONResponse({"items": [asdict(note) for note in state.notifications]})

    async def control_receiver_code(request: Request) -> Response:
        receiver = state.receivers.get(_path_id(request))
        return _error(404, "not found") if receiver is None else JSONResponse({"code": receiver["code"]})

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    collections = "{collection:str}"
    routes = [
        Route(f"/v1/{collections}", guarded(list_records), methods=["GET"], name="list"),
        Route("/v1/WebhookReceivers", guarded(register_receiver), methods=["POST"], name="WebhookReceivers"),
        Route("/v1/WebhookSubscriptions", guarded(subscribe), methods=["POST"], name="WebhookSubscriptions"),
        Route(f"/v1/{collections}", guarded(create_record), methods=["POST"], name="create"),
        Route(
            "/v1/WebhookReceivers/{record_id:int}/activate",
            guarded(activate_receiver),
            methods=["POST"],
            name="activate",
        ),
        Route("/v1/Payments/{record_id:int}/void", guarded(void_payment), methods=["POST"], name="void"),
        Route("/v1/Customers/{record_id:int}", guarded(patch_customer), methods=["PATCH"], name="patch"),
        Route(f"/v1/{collections}/{{record_id:int}}", guarded(get_record), methods=["GET"], name="get"),
        Route("/_emulator/bills", control_bill, methods=["POST"]),
        Route("/_emulator/bills/{record_id:int}/lines", control_bill_lines, methods=["PUT"]),
        Route("/_emulator/faults", control_faults, methods=["POST", "DELETE"]),
        Route("/_emulator/stats", control_stats, methods=["GET"]),
        Route("/_emulator/webhooks/flush", control_flush, methods=["POST"]),
        Route("/_emulator/notifications", control_notifications, methods=["GET"]),
        Route("/_emulator/receivers/{record_id:int}/code", control_receiver_code, methods=["GET"]),
        Route("/_emulator/health", health, methods=["GET"]),
        Route(f"/_emulator/{collections}", control_create, methods=["POST"]),
        Route(f"/_emulator/{collections}/{{record_id:int}}", control_change, methods=["PATCH"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = state
    app.state.config = config
    return app


# -- helpers ---------------------------------------------------------------------------------------


def _error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    """Rev.io's error body is not documented; the emulator answers ``{"ok": false, "message"}``."""
    return JSONResponse({"ok": False, "message": message}, status_code=status, headers=headers)


def _collection(request: Request) -> str | None:
    name = request.path_params.get("collection")
    if name is None:  # a fixed route such as /v1/Payments/{id}/void
        name = request.url.path.split("/")[2]
    return name if name in COLLECTIONS else None


def _path_id(request: Request) -> int:
    return int(request.path_params["record_id"])


def _find(state: EmulatorState, request: Request) -> dict[str, Any] | None:
    collection = _collection(request)
    if collection is None:
        return None
    return state.records[collection].get(_path_id(request))


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (ValueError, binascii.Error):
        return None
    return body if isinstance(body, dict) else None


def _create_problem(state: EmulatorState, collection: str, body: dict[str, Any]) -> str | None:
    """The emulator checks only the references the adapter sends; Rev.io's own rules are not known."""
    references = {
        "bill_profile_id": "BillProfiles",
        "product_type_id": "ProductTypes",
        "ledger_code_id": "LedgerCodes",
        "tax_class_id": "TaxClasses",
        "customer_id": "Customers",
        "bill_id": "Bills",
    }
    for name, target in references.items():
        value = body.get(name)
        if value is not None and value not in state.records[target]:
            return f"{name} {value} does not exist"
    if collection == "Payments":
        try:
            amount = Decimal(str(body.get("amount")))
        except ArithmeticError:
            return "amount is not a number"
        if amount <= 0:
            return "amount must be above zero"
    return None


def _settle(state: EmulatorState, payment: dict[str, Any]) -> None:
    """A payment on a bill lowers its amount due (and says so with a notification)."""
    bill = state.records["Bills"].get(payment.get("bill_id") or -1)
    if bill is not None:
        due = max(Decimal(bill["amount_due"]) - Decimal(str(payment["amount"])), Decimal("0"))
        state.change("Bills", bill["bill_id"], {"amount_due": str(due.quantize(Decimal("0.01")))})


def _unsettle(state: EmulatorState, payment: dict[str, Any]) -> None:
    bill = state.records["Bills"].get(payment.get("bill_id") or -1)
    if bill is not None:
        due = min(Decimal(bill["amount_due"]) + Decimal(str(payment["amount"])), Decimal(bill["total"]))
        state.change("Bills", bill["bill_id"], {"amount_due": str(due.quantize(Decimal("0.01")))})
