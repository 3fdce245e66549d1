"""QboClient: the Accounting API v3 for one realm, with retries, token refresh and the rate governor.

Over 400 lines on purpose: every QBO call shares one retry, token-refresh and governor path, kept in
one place so no call can skip it.

Retries. 429, 5xx and connection failures are retried after the shared ``BackoffPolicy``
(exponential, capped, full jitter, as the source adapter waits; ``Retry-After`` wins when QBO sends
it, and a 429 also penalises the whole realm through the governor). Validation faults are never
retried: the same body fails the same way.

Writes and lost responses. Every write carries a ``requestid``. QBO remembers it per company and
answers a repeated requestid with the original response instead of writing again, so a write whose
request may have reached QBO (read timeout, connection dropped after sending, protocol error, 5xx)
is retried with the *same* requestid: either the first attempt never landed and this one writes, or
it did and QBO replays its answer. If every attempt fails that way, ``QboUncertainOutcome`` tells
the caller to look before writing again under a new requestid.

Bodies (which hold customer and financial data) and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from qbosync.backoff import BackoffPolicy
from qbosync.observability import logger, tracer
from qbosync.qbo.faults import (
    QboAuthenticationFault,
    QboFault,
    QboServerFault,
    QboThrottled,
    QboUncertainOutcome,
    QboUnreachable,
    fault_from_payload,
    fault_from_response,
)
from qbosync.qbo.governor import RealmGovernor
from qbosync.qbo.http import shared_http_client
from qbosync.qbo.read_budget import ReadKind
from qbosync.settings import Settings, get_settings

if TYPE_CHECKING:
    import httpx

MAX_REQUEST_ID_LENGTH = 50
MAX_BATCH_REQUEST_ID_LENGTH = 36
MAX_BATCH_ID_LENGTH = 10
QUERY_PAGE_SIZE = 1000
CDC_MAX_LOOKBACK = timedelta(days=30)


class AccessTokenProvider(Protocol):
    """Where the client gets its bearer token (``store.tokens.TokenVault`` implements it)."""

    def access_token(self) -> str:
        """A token valid for at least a minute."""
        ...

    def refresh_after_unauthorized(self, rejected: str) -> str:
        """A fresh token after QBO rejected ``rejected`` (single-flight: one refresh per realm)."""
        ...


class ReadMeter(Protocol):
    """Where the client counts its reads (``qbo.read_budget.TenantReads``: the app-wide read budget)."""

    def draw(self, kind: ReadKind, *, retry: bool = False) -> None:
        """Count one metered request; may refuse (raise) a first attempt, never a retry."""
        ...


class QboRequestInvalid(ValueError):
    """The caller asked for something QBO would refuse; nothing was sent."""


class BatchTooLarge(QboRequestInvalid):
    """More items than QBO accepts in one batch request."""


class CdcWindowExceeded(QboRequestInvalid):
    """CDC looks back at most 30 days; older changes must be read with queries."""


class InvalidRequestId(QboRequestInvalid):
    """A requestid (or batch id) that is empty or longer than QBO allows."""


def request_id_for(tenant_id: str, entity: str, source_id: str, source_version: str, operation: str) -> str:
    """The deterministic requestid of one write: the same source change always gets the same id.

    32 hex characters (128 bits of sha256), short enough for batch requests too (36 at most).
    """
    material = json.dumps([tenant_id, entity, source_id, source_version, operation], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def qbo_literal(value: str) -> str:
    """``value`` as a quoted literal of QBO's query language (backslash escapes quote and backslash)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


@dataclass(frozen=True)
class BatchItem:
    """One operation of a batch request: a create/update/delete of ``entity`` with ``body``, or a query."""

    bid: str
    entity: str | None = None
    body: Mapping[str, Any] | None = None
    operation: Literal["create", "update", "delete"] | None = None
    query: str | None = None
    options_data: str | None = None
    """``"void"`` to void a transaction through an update."""

    def to_wire(self) -> dict[str, Any]:
        if self.query is not None:
            return {"bId": self.bid, "Query": self.query}
        if self.entity is None or self.body is None or self.operation is None:
            raise QboRequestInvalid(
                f"batch item {self.bid} needs an entity, a body and an operation, or a query"
            )
        wire: dict[str, Any] = {"bId": self.bid, "operation": self.operation, self.entity: dict(self.body)}
        if self.options_data:
            wire["optionsData"] = self.options_data
        return wire


@dataclass(frozen=True)
class BatchItemResult:
    """QBO's answer to one batch item: the entity (or query response), or a typed fault."""

    bid: str
    entity: dict[str, Any] | None = None
    query_response: dict[str, Any] | None = None
    fault: QboFault | None = None

    @property
    def ok(self) -> bool:
        return self.fault is None


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # QBO amounts have at most 15 significant digits; a double prints them back exactly.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, default=_json_default, separators=(",", ":")).encode()


def _decode(content: bytes) -> dict[str, Any]:
    # Amounts come back as Decimal: exact, and what DynamoDB needs anyway.
    try:
        payload = json.loads(content, parse_float=Decimal)
    except ValueError:
        raise QboServerFault("QBO answered with a body that is not JSON") from None
    if not isinstance(payload, dict):
        raise QboServerFault("QBO answered with a JSON body that is not an object")
    return payload


def _read_kind(path: str) -> ReadKind:
    """The metered kind of a read request by its path (a batch of queries is a query)."""
    if path == "cdc":
        return ReadKind.CDC
    if path in ("query", "batch"):
        return ReadKind.QUERY
    if path.startswith("reports/"):
        return ReadKind.REPORT
    return ReadKind.READ


def _validate_request_id(request_id: str, *, limit: int = MAX_REQUEST_ID_LENGTH) -> None:
    if not request_id or len(request_id) > limit:
        raise InvalidRequestId(f"requestid must be 1 to {limit} characters, got {len(request_id)}")


class _Attempt:
    """What one logical call has seen so far, to decide between retry, raise and uncertain outcome."""

    def __init__(self) -> None:
        self.number = 0
        self.may_have_landed = False
        self.refreshed_token = False


class QboClient:
    """The QBO Accounting API for one realm."""

    def __init__(
        self,
        realm_id: str,
        tokens: AccessTokenProvider,
        governor: RealmGovernor | None,
        base_url: str,
        *,
        minor_version: int = 75,
        http: httpx.Client | None = None,
        max_attempts: int = 5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 20.0,
        batch_max_items: int = 30,
        reads: ReadMeter | None = None,
    ) -> None:
        self.realm_id = realm_id
        self._reads = reads
        self._tokens = tokens
        self._governor = governor
        self._company_url = f"{base_url.rstrip('/')}/v3/company/{realm_id}"
        self._minor_version = minor_version
        self._http = http
        self._max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._backoff = BackoffPolicy(
            backoff_base_seconds,
            backoff_cap_seconds,
            rng or random.Random(),  # noqa: S311 - jitter needs no cryptographic randomness
        )
        self._batch_max_items = batch_max_items

    @classmethod
    def for_realm(
        cls,
        realm_id: str,
        tokens: AccessTokenProvider,
        governor: RealmGovernor | None = None,
        settings: Settings | None = None,
        reads: ReadMeter | None = None,
    ) -> QboClient:
        """A client for one realm, configured from the deployment settings (base URL, minor version);
        ``reads`` counts its reads against the app's read budget."""
        settings = settings or get_settings()
        return cls(
            realm_id,
            tokens,
            governor,
            str(settings.qbo_base_url),
            minor_version=settings.qbo_minor_version,
            reads=reads,
        )

    @property
    def http(self) -> httpx.Client:
        return self._http or shared_http_client()

    # Reads

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        """One entity by id (raises ``QboNotFound`` if there is none)."""
        payload = self._call("GET", f"{entity.lower()}/{entity_id}", entity=entity)
        return self._entity_from(payload, entity)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """One page of a query (at most MAXRESULTS rows, QBO's default is 100)."""
        response = self._query_response(sql)
        return next((rows for rows in response.values() if isinstance(rows, list)), [])

    def iter_query(
        self, entity: str, where: str = "", order_by: str = "Id", page_size: int = QUERY_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``entity`` matching ``where``, read lazily page by page until a short page."""
        if not 1 <= page_size <= QUERY_PAGE_SIZE:
            raise QboRequestInvalid(f"page_size must be 1 to {QUERY_PAGE_SIZE}")
        start = 1
        while True:
            # QBO's query language, not SQL: callers quote values with qbo_literal().
            sql = f"SELECT * FROM {entity}{self._where(where)} ORDERBY {order_by} "  # noqa: S608
            sql += f"STARTPOSITION {start} MAXRESULTS {page_size}"
            rows = self.query(sql)
            yield from rows
            if len(rows) < page_size:
                return
            start += page_size

    def query_all(
        self, entity: str, where: str = "", order_by: str = "Id", page_size: int = QUERY_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """Every row of ``entity`` matching ``where`` (all pages), as one list."""
        return list(self.iter_query(entity, where, order_by, page_size))

    def count(self, entity: str, where: str = "") -> int:
        """How many rows of ``entity`` match ``where``."""
        sql = f"SELECT COUNT(*) FROM {entity}{self._where(where)}"  # noqa: S608 - QBO query language
        response = self._query_response(sql)
        return int(response.get("totalCount", 0))

    def company_info(self) -> dict[str, Any]:
        payload = self._call("GET", f"companyinfo/{self.realm_id}", entity="CompanyInfo")
        return self._entity_from(payload, "CompanyInfo")

    def preferences(self) -> dict[str, Any]:
        payload = self._call("GET", "preferences", entity="Preferences")
        return self._entity_from(payload, "Preferences")

    def exchange_rate(self, currency: str, as_of: date) -> dict[str, Any]:
        """QBO's ExchangeRate of ``currency`` on ``as_of``: ``Rate`` is home units per one foreign unit."""
        payload = self._call(
            "GET",
            "exchangerate",
            entity="ExchangeRate",
            params={"sourcecurrencycode": currency, "asofdate": as_of.isoformat()},
        )
        return self._entity_from(payload, "ExchangeRate")

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> dict[str, list[dict[str, Any]]]:
        """Entities changed since ``changed_since`` (deleted ones carry ``status: "Deleted"``), by type."""
        if changed_since.tzinfo is None:
            raise QboRequestInvalid("changed_since must be timezone-aware")
        oldest_allowed = self._clock() - CDC_MAX_LOOKBACK.total_seconds()
        if changed_since.timestamp() < oldest_allowed:
            raise CdcWindowExceeded("QBO CDC looks back at most 30 days; read older changes with queries")
        if not entities:
            raise QboRequestInvalid("cdc needs at least one entity")
        payload = self._call(
            "GET",
            "cdc",
            entity="CDC",
            params={"entities": ",".join(entities), "changedSince": changed_since.isoformat()},
        )
        changes: dict[str, list[dict[str, Any]]] = {name: [] for name in entities}
        for block in payload.get("CDCResponse", []):
            for query_response in block.get("QueryResponse", []):
                for name, rows in query_response.items():
                    if isinstance(rows, list):
                        changes.setdefault(name, []).extend(rows)
        return changes

    # Writes

    def create(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Create an entity; the response carries its Id and SyncToken."""
        return self._write(entity, body, request_id)

    def update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Full update: writable fields left out are cleared by QBO. Needs the current SyncToken."""
        self._require_identity(entity, body)
        return self._write(entity, {key: value for key, value in body.items() if key != "sparse"}, request_id)

    def sparse_update(self, entity: str, body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """Sparse update: only the fields sent change. Needs the current SyncToken."""
        self._require_identity(entity, body)
        return self._write(entity, {**body, "sparse": True}, request_id)

    def delete(self, entity: str, entity_id: str, sync_token: str, request_id: str) -> dict[str, Any]:
        """Delete a transaction (name-list entities are deactivated with an update instead)."""
        body = {"Id": entity_id, "SyncToken": sync_token}
        return self._write(entity, body, request_id, params={"operation": "delete"})

    def void(self, entity: str, entity_id: str, sync_token: str, request_id: str) -> dict[str, Any]:
        """Void a transaction: the record stays, with zero amounts and "Voided" in its note."""
        if entity == "Invoice":
            body: dict[str, Any] = {"Id": entity_id, "SyncToken": sync_token}
            return self._write(entity, body, request_id, params={"operation": "void"})
        if entity in {"Payment", "SalesReceipt"}:
            body = {"Id": entity_id, "SyncToken": sync_token, "sparse": True}
            return self._write(entity, body, request_id, params={"operation": "update", "include": "void"})
        raise QboRequestInvalid(f"QBO cannot void a {entity} through this client")

    def batch(self, items: Sequence[BatchItem], request_id: str | None) -> list[BatchItemResult]:
        """Up to ``batch_max_items`` operations in one request; each item succeeds or faults on its own.

        Results come back in the order of ``items``.
        """
        if not items:
            return []
        if len(items) > self._batch_max_items:
            raise BatchTooLarge(f"a batch holds at most {self._batch_max_items} items, got {len(items)}")
        bids = [item.bid for item in items]
        if len(set(bids)) != len(bids):
            raise QboRequestInvalid("batch ids must be unique within a batch")
        if request_id is not None:
            _validate_request_id(request_id, limit=MAX_BATCH_REQUEST_ID_LENGTH)
            for bid in bids:
                _validate_request_id(bid, limit=MAX_BATCH_ID_LENGTH)
        payload = self._call(
            "POST",
            "batch",
            entity="Batch",
            body={"BatchItemRequest": [item.to_wire() for item in items]},
            request_id=request_id,
            batch=True,
            write=any(item.operation is not None for item in items),
        )
        by_bid = {
            str(answer.get("bId")): answer
            for answer in payload.get("BatchItemResponse", [])
            if isinstance(answer, dict)
        }
        return [self._batch_result(item, by_bid.get(item.bid)) for item in items]

    # Plumbing

    @staticmethod
    def _where(where: str) -> str:
        return f" WHERE {where}" if where.strip() else ""

    @staticmethod
    def _require_identity(entity: str, body: Mapping[str, Any]) -> None:
        if not body.get("Id") or body.get("SyncToken") in (None, ""):
            raise QboRequestInvalid(f"an update of a {entity} needs its Id and current SyncToken")

    @staticmethod
    def _entity_from(payload: Mapping[str, Any], entity: str) -> dict[str, Any]:
        found = payload.get(entity)
        if not isinstance(found, dict):
            raise QboServerFault(f"QBO answered without a {entity} object")
        return found

    def _query_response(self, sql: str) -> dict[str, Any]:
        payload = self._call("GET", "query", entity=self._entity_of_query(sql), params={"query": sql})
        response = payload.get("QueryResponse", {})
        return response if isinstance(response, dict) else {}

    @staticmethod
    def _entity_of_query(sql: str) -> str:
        words = sql.split()
        upper = [word.upper() for word in words]
        return words[upper.index("FROM") + 1] if "FROM" in upper[:-1] else "Query"

    def _write(
        self,
        entity: str,
        body: Mapping[str, Any],
        request_id: str,
        *,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        _validate_request_id(request_id)
        payload = self._call(
            "POST", entity.lower(), entity=entity, body=body, params=params, request_id=request_id, write=True
        )
        return self._entity_from(payload, entity)

    def _batch_result(self, item: BatchItem, answer: Mapping[str, Any] | None) -> BatchItemResult:
        if answer is None:
            return BatchItemResult(bid=item.bid, fault=QboServerFault("QBO returned no answer for this item"))
        fault = fault_from_payload(answer)
        if fault is not None:
            return BatchItemResult(bid=item.bid, fault=fault)
        if isinstance(answer.get("QueryResponse"), dict):
            return BatchItemResult(bid=item.bid, query_response=answer["QueryResponse"])
        entity = answer.get(item.entity) if item.entity else None
        if entity is None:
            entity = next(
                (value for key, value in answer.items() if key != "bId" and isinstance(value, dict)), None
            )
        return BatchItemResult(bid=item.bid, entity=entity)

    def _admission(self, batch: bool) -> AbstractContextManager[None]:
        if self._governor is None:
            return nullcontext()
        return self._governor.request(self.realm_id, batch=batch)

    def _call(
        self,
        method: str,
        path: str,
        *,
        entity: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        batch: bool = False,
        write: bool = False,
    ) -> dict[str, Any]:
        import httpx  # on the first call, not at import: most cold starts never call QBO

        query: dict[str, str] = {**(params or {}), "minorversion": str(self._minor_version)}
        if request_id is not None:
            query["requestid"] = request_id
        content = _encode(body) if body is not None else None
        url = f"{self._company_url}/{path}"
        state = _Attempt()
        read_kind = None if write else _read_kind(path)
        token = self._tokens.access_token()
        while True:
            state.number += 1
            if read_kind is not None and self._reads is not None:
                # Intuit meters every request that carries data out, retries included; writes are free.
                self._reads.draw(read_kind, retry=state.number > 1)
            outcome = self._send(
                method, url, query, content, token, entity=entity, attempt=state.number, batch=batch
            )
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return self._success_payload(outcome, token)
            if isinstance(outcome, httpx.Response):
                failure = fault_from_response(
                    outcome.status_code, outcome.content, outcome.headers, now=self._clock()
                )
                failure.redact([token])
                if isinstance(failure, QboAuthenticationFault) and not state.refreshed_token:
                    state.refreshed_token = True
                    token = self._tokens.refresh_after_unauthorized(token)
                    state.number -= 1  # the refresh is not a failed attempt
                    continue
                # A 5xx may come after QBO committed the write.
                landed = isinstance(failure, QboServerFault)
            else:
                failure = QboUnreachable(f"QBO could not be reached ({type(outcome).__name__})")
                landed = not _not_sent(outcome)
            state.may_have_landed = state.may_have_landed or (write and landed)
            self._sleep(self._delay_before_retry(failure, state, entity=entity, request_id=request_id))

    def _success_payload(self, response: httpx.Response, token: str) -> dict[str, Any]:
        payload = _decode(response.content)
        fault = fault_from_payload(payload, intuit_tid=response.headers.get("intuit_tid"))
        if fault is not None:
            fault.redact([token])
            raise fault
        return payload

    def _delay_before_retry(
        self, failure: QboFault, state: _Attempt, *, entity: str, request_id: str | None
    ) -> float:
        """How long to wait before the next attempt, or raise when there must not be one."""
        if isinstance(failure, QboThrottled) and self._governor is not None:
            # Told even on the last attempt: the penalty protects every other caller of the realm.
            self._governor.throttled(self.realm_id, failure.retry_after)
        if not failure.retryable:
            raise failure
        if state.may_have_landed and request_id is None:
            # Without a requestid QBO cannot recognise a repeat, so a retry could write twice.
            raise self._uncertain(entity, request_id, state, failure)
        if state.number >= self._max_attempts:
            if state.may_have_landed:
                raise self._uncertain(entity, request_id, state, failure)
            raise failure
        if isinstance(failure, QboThrottled) and failure.retry_after is not None:
            return failure.retry_after
        return self._backoff.delay(state.number)

    @staticmethod
    def _uncertain(
        entity: str, request_id: str | None, state: _Attempt, failure: QboFault
    ) -> QboUncertainOutcome:
        uncertain = QboUncertainOutcome(
            f"the outcome of this {entity} write is unknown after {state.number} attempt(s); "
            "look before writing again",
            request_id=request_id,
            entity=entity,
            status=failure.status,
            intuit_tid=failure.intuit_tid,
        )
        uncertain.__cause__ = failure
        return uncertain

    def _send(
        self,
        method: str,
        url: str,
        query: Mapping[str, str],
        content: bytes | None,
        token: str,
        *,
        entity: str,
        attempt: int,
        batch: bool,
    ) -> httpx.Response | httpx.TransportError:
        import httpx  # on the first call, not at import: most cold starts never call QBO

        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        started = self._clock()
        log = {"method": method, "entity": entity, "attempt": attempt, "realm_id": self.realm_id}
        try:
            with (
                self._admission(batch),
                tracer.subsegment("qbo", realm_id=self.realm_id, entity=entity, method=method),
            ):
                response = self.http.request(method, url, params=query, content=content, headers=headers)
        except httpx.TransportError as exc:
            logger.warning(
                "qbo call failed",
                extra={**log, "error": type(exc).__name__, "duration_ms": self._elapsed_ms(started)},
            )
            return exc
        level = logger.info if response.is_success else logger.warning
        level(
            "qbo call",
            extra={
                **log,
                "status": response.status_code,
                "intuit_tid": response.headers.get("intuit_tid"),
                "duration_ms": self._elapsed_ms(started),
            },
        )
        return response

    def _elapsed_ms(self, started: float) -> int:
        return round((self._clock() - started) * 1000)


def _not_sent(outcome: object) -> bool:
    """Raised before anything was sent: retrying is safe and the request certainly did not land."""
    import httpx

    return isinstance(outcome, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
