"""The accounting API of one company, as mounted under `/v3/company/{realm_id}`.

Routes are relative (`/customer`, `/query`, `/batch`, `/cdc` ...). Each handler takes the company
from `request.scope["qbo.company"]` (put there by the app that mounts this one) and answers every
refusal, including malformed input and unexpected errors, with QBO's Fault envelope.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.qbo_sandbox.company import REQUEST_ID_LIMIT, Company, unsupported_operation
from local.qbo_sandbox.entities import ENTITY_SPECS, SPECS_BY_PATH, EntitySpec, required_missing
from local.qbo_sandbox.faultbody import (
    COMPANY_TIMEZONE,
    QboFaultError,
    fault_object,
    fault_response,
    intuit_tid,
    response_time,
)

logger = logging.getLogger(__name__)

BATCH_ITEM_LIMIT = 30
BATCH_REQUEST_ID_LIMIT = 36
BATCH_ID_LIMIT_WITH_REQUEST_ID = 10
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Handler = Callable[[Request], Awaitable[Response]]


def bad_request(detail: str, element: str = "") -> QboFaultError:
    """QBO's code 2010: a request it cannot read (malformed JSON, a bad parameter)."""
    return QboFaultError(400, "2010", "Request has invalid or unsupported property", detail, element=element)


def qbo_json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={"intuit_tid": intuit_tid()})


def company_of(request: Request) -> Company:
    company = request.scope.get("qbo.company")
    if not isinstance(company, Company):
        raise QboFaultError(
            500,
            "10000",
            "An application error has occurred",
            "No company is bound to this request.",
            "SystemFault",
        )
    return company


def fault_guarded(handler: Handler) -> Handler:
    """Every outcome is QBO-shaped: faults as Fault envelopes, and a bug as a SystemFault, not HTML."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except QboFaultError as err:
            return fault_response(err)
        except Exception:
            logger.exception("accounting handler failed for %s %s", request.method, request.url.path)
            return fault_response(
                QboFaultError(
                    500,
                    "10000",
                    "An application error has occurred while processing your request",
                    "System Failure Error: An unexpected error occurred in the sandbox.",
                    "SystemFault",
                )
            )

    return guarded


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number QBO accepts")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as err:
        raise bad_request(
            f"Property Name:Unexpected content in the body ({err}) specified is unsupported or invalid"
        ) from None


def spec_for_path(segment: str) -> EntitySpec:
    spec = SPECS_BY_PATH.get(segment.lower())
    if spec is None:
        raise unsupported_operation(f"Operation on resource '{segment}' is not supported.")
    return spec


def checked_request_id(request: Request, limit: int) -> str | None:
    request_id = request.query_params.get("requestid")
    if request_id is None or request_id == "":
        return None
    if len(request_id) > limit:
        raise bad_request(
            f"requestid can be at most {limit} characters, supplied {len(request_id)}.", "requestid"
        )
    return request_id


def include_options(request: Request) -> set[str]:
    return {
        part.strip().lower() for part in request.query_params.get("include", "").split(",") if part.strip()
    }


def perform_write(
    company: Company, spec: EntitySpec, body: Any, operation: str, options: set[str]
) -> dict[str, Any]:
    """Dispatch one write the way QBO reads `operation`/`include` (and batch's `optionsData`)."""
    allow_duplicates = "allowduplicatedocnum" in options
    if spec.name == "CompanyCurrency" and operation in ("", "create"):
        return company.add_currency(body)
    if operation == "delete":
        return company.delete(spec.name, body)
    if operation == "void" or (operation == "update" and "void" in options):
        return company.void(spec.name, body)
    has_id = isinstance(body, dict) and body.get("Id") not in (None, "")
    if operation == "update" or (operation == "" and has_id):
        return company.update(spec.name, body, allow_duplicate_doc_number=allow_duplicates)
    if operation in ("", "create"):
        return company.create(spec.name, body, allow_duplicate_doc_number=allow_duplicates)
    raise unsupported_operation(f"Operation {operation} is not supported.")


@fault_guarded
async def write_entity(request: Request) -> Response:
    company = company_of(request)
    spec = spec_for_path(request.path_params["entity"])
    request_id = checked_request_id(request, REQUEST_ID_LIMIT)
    body = await json_body(request)
    operation = request.query_params.get("operation", "").strip().lower()
    with company.lock:
        if request_id is not None and (replayed := company.replay(request_id)) is not None:
            return qbo_json(replayed[1], replayed[0])
        result = perform_write(company, spec, body, operation, include_options(request))
        answer = {spec.name: result, "time": response_time(company.clock())}
        if request_id is not None:
            company.remember(request_id, 200, answer)
    return qbo_json(answer)


@fault_guarded
async def read_entity(request: Request) -> Response:
    company = company_of(request)
    spec = spec_for_path(request.path_params["entity"])
    if spec.name == "Preferences":
        raise unsupported_operation("Preferences are read with GET /preferences.")
    with company.lock:
        record = company.read(spec.name, request.path_params["entity_id"])
    return qbo_json({spec.name: record, "time": response_time(company.clock())})


@fault_guarded
async def read_preferences(request: Request) -> Response:
    company = company_of(request)
    with company.lock:
        record = company.settings("Preferences")
    return qbo_json({"Preferences": record, "time": response_time(company.clock())})


@fault_guarded
async def run_query(request: Request) -> Response:
    company = company_of(request)
    text = request.query_params.get("query", "")
    if request.method == "POST":
        raw = await request.body()
        try:
            posted = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("The query is not UTF-8 text.") from None
        text = posted or text
    if not text.strip():
        raise required_missing("query")
    with company.lock:
        answer = company.query(text)
    return qbo_json({"QueryResponse": answer, "time": response_time(company.clock())})


def parse_changed_since(text: str) -> datetime:
    """A date (midnight, company time) or a date-time; without an offset it is company time."""
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time(), COMPANY_TIMEZONE)
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_request(f"changedSince '{text}' is not a date or a date-time.", "changedSince") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=COMPANY_TIMEZONE)


@fault_guarded
async def change_data_capture(request: Request) -> Response:
    company = company_of(request)
    entities_param = request.query_params.get("entities", "")
    since_param = request.query_params.get("changedSince", "")
    if not entities_param.strip():
        raise required_missing("entities")
    if not since_param.strip():
        raise required_missing("changedSince")
    by_lower = {name.lower(): name for name in ENTITY_SPECS}
    names = []
    for part in entities_param.split(","):
        name = by_lower.get(part.strip().lower())
        if name is None:
            raise bad_request(f"entities: '{part.strip()}' is not a QBO entity.", "entities")
        if name not in names:
            names.append(name)
    since = parse_changed_since(since_param)
    with company.lock:
        answer = company.changes_since(names, since)
    return qbo_json({"CDCResponse": [{"QueryResponse": answer}], "time": response_time(company.clock())})


def batch_items(body: Any, request_id: str | None) -> list[dict[str, Any]]:
    """The items of a batch, after the checks that refuse the whole request."""
    if not isinstance(body, dict) or not isinstance(body.get("BatchItemRequest"), list):
        raise bad_request("BatchItemRequest must be an array of batch items.", "BatchItemRequest")
    items: list[dict[str, Any]] = body["BatchItemRequest"]
    if len(items) > BATCH_ITEM_LIMIT:
        raise QboFaultError(
            400,
            "1040",
            "Batch size exceeds allowed limit",
            f"Batch request can contain at most {BATCH_ITEM_LIMIT} items, supplied {len(items)}.",
            element="BatchItemRequest",
        )
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"BatchItemRequest[{index}] must be an object.", f"BatchItemRequest[{index}]")
        batch_id = item.get("bId")
        if not isinstance(batch_id, str) or not batch_id:
            raise required_missing(f"BatchItemRequest[{index}].bId")
        if batch_id in seen:
            raise bad_request(f"bId '{batch_id}' is used twice.", "bId")
        if request_id is not None and len(batch_id) > BATCH_ID_LIMIT_WITH_REQUEST_ID:
            raise bad_request(
                f"With a requestid, a bId can be at most {BATCH_ID_LIMIT_WITH_REQUEST_ID} characters.", "bId"
            )
        seen.add(batch_id)
    return items


def run_batch_item(company: Company, item: dict[str, Any]) -> dict[str, Any]:
    """One batch item; its fault stays inside its own response item."""
    batch_id = item["bId"]
    try:
        if "Query" in item:
            if not isinstance(item["Query"], str):
                raise bad_request("Query must be a string.", "Query")
            return {"bId": batch_id, "QueryResponse": company.query(item["Query"])}
        payload_keys = [key for key in item if key not in ("bId", "operation", "optionsData")]
        if len(payload_keys) != 1 or payload_keys[0] not in ENTITY_SPECS:
            raise unsupported_operation(f"Batch item {batch_id} must carry exactly one supported entity.")
        spec = ENTITY_SPECS[payload_keys[0]]
        operation = str(item.get("operation", "")).lower()
        if operation not in ("create", "update", "delete"):
            raise bad_request(
                f"operation '{item.get('operation')}' must be create, update or delete.", "operation"
            )
        options = {str(item.get("optionsData", "")).lower()} - {""}
        result = perform_write(company, spec, item[spec.name], operation, options)
        return {"bId": batch_id, spec.name: result}
    except QboFaultError as err:
        return {"bId": batch_id, "Fault": fault_object(err)}


@fault_guarded
async def run_batch(request: Request) -> Response:
    company = company_of(request)
    request_id = checked_request_id(request, BATCH_REQUEST_ID_LIMIT)
    body = await json_body(request)
    with company.lock:
        if request_id is not None and (replayed := company.replay(request_id)) is not None:
            return qbo_json(replayed[1], replayed[0])
        items = batch_items(body, request_id)
        responses = [run_batch_item(company, item) for item in items]
        answer = {"BatchItemResponse": responses, "time": response_time(company.clock())}
        if request_id is not None:
            company.remember(request_id, 200, answer)
    return qbo_json(answer)


@fault_guarded
async def read_company_info(request: Request) -> Response:
    company = company_of(request)
    with company.lock:
        record = company.read("CompanyInfo", request.path_params["entity_id"])
    return qbo_json({"CompanyInfo": record, "time": response_time(company.clock())})


def _as_of(text: str | None, company: Company, element: str) -> date:
    if not text:
        return company.now().date()
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise bad_request(f"{element} '{text}' is not a date (yyyy-mm-dd).", element) from None


@fault_guarded
async def read_exchange_rate(request: Request) -> Response:
    """GET /exchangerate?sourcecurrencycode=EUR&asofdate=yyyy-mm-dd (Intuit's ExchangeRate page)."""
    company = company_of(request)
    code = request.query_params.get("sourcecurrencycode", "").strip().upper()
    if not code:
        raise required_missing("sourcecurrencycode")
    with company.lock:
        as_of = _as_of(request.query_params.get("asofdate"), company, "asofdate")
        record = company.exchange_rate(code, as_of)
    return qbo_json({"ExchangeRate": record, "time": response_time(company.clock())})


@fault_guarded
async def write_exchange_rate(request: Request) -> Response:
    """POST /exchangerate with an ExchangeRate body: sets the rate in force from its AsOfDate."""
    company = company_of(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("The body must be an ExchangeRate object.", "ExchangeRate")
    code = str(body.get("SourceCurrencyCode") or "").strip().upper()
    if not code:
        raise required_missing("SourceCurrencyCode")
    if body.get("Rate") in (None, ""):
        raise required_missing("Rate")
    with company.lock:
        as_of = _as_of(body.get("AsOfDate"), company, "AsOfDate")
        record = company.set_exchange_rate(code, as_of, body["Rate"])
    return qbo_json({"ExchangeRate": record, "time": response_time(company.clock())})


@fault_guarded
async def unsupported(request: Request) -> Response:
    raise unsupported_operation(
        f"Operation {request.method} /{request.path_params.get('path', '')} is not supported."
    )


def build_accounting_app() -> Starlette:
    """The per-company accounting API; the mounting app sets scope["qbo.company"]."""
    return Starlette(
        routes=[
            Route("/query", run_query, methods=["GET", "POST"]),
            Route("/batch", run_batch, methods=["POST"]),
            Route("/cdc", change_data_capture, methods=["GET"]),
            Route("/companyinfo/{entity_id}", read_company_info, methods=["GET"]),
            Route("/preferences", read_preferences, methods=["GET"]),
            Route("/exchangerate", read_exchange_rate, methods=["GET"]),
            Route("/exchangerate", write_exchange_rate, methods=["POST"]),
            Route("/{entity}", write_entity, methods=["POST"]),
            Route("/{entity}/{entity_id}", read_entity, methods=["GET"]),
            Route("/{path:path}", unsupported, methods=ALL_METHODS),
        ]
    )
