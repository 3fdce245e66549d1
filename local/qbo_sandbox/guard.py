"""What stands in front of the accounting API: injected faults, bearer-token checks and QBO's limits.

Order per request: forced 401 → token (401) → realm (403) → concurrency, request and batch limits (429)
→ latency → injected 5xx → the accounting app → optional "drop after commit".

Choices where Intuit is not documented:
- A token used on another realm's path gets 403 code 3100 whether or not that realm exists, so an
  unknown realm also answers 403 (it does not reveal which realms exist).
- Refused requests (401/403/429) do not use up the rate window; only admitted ones count.
- "Drop after commit": the accounting app fully processes the request, then the response headers are
  sent and `ConnectionDropped` is raised before the body. Under uvicorn the connection is closed with the
  body missing (clients raise a protocol/connection error); through `httpx.ASGITransport` the exception
  reaches the caller. Either way the write happened and the client never saw its result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from local.qbo_sandbox.faultbody import QboFaultError, fault_response
from local.qbo_sandbox.oauth import TokenRejected

if TYPE_CHECKING:
    from local.qbo_sandbox.app import Sandbox
    from local.qbo_sandbox.config import SandboxConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("qbo_sandbox.guard")


class ConnectionDropped(Exception):
    """Raised after a committed write so the server drops the connection instead of answering."""


@dataclass
class _RealmUsage:
    requests: deque[float] = field(default_factory=deque)
    batches: deque[float] = field(default_factory=deque)
    window_index: int = -1
    window_requests: int = 0
    window_batches: int = 0
    in_flight: int = 0


class RealmLimiter:
    """Per-realm request, batch and concurrency limits, sliding or fixed windows on the sandbox clock."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._now = clock
        self._usage: dict[str, _RealmUsage] = {}

    def try_admit(self, realm_id: str, *, is_batch: bool) -> tuple[str | None, int]:
        """(refusal reason or None, in-flight count after admission). Admission takes a concurrency slot."""
        config = self._config
        usage = self._usage.setdefault(realm_id, _RealmUsage())
        if usage.in_flight >= config.max_concurrent:
            return "concurrency", usage.in_flight
        now = self._now()
        if config.rate_window_mode == "fixed":
            index = int(now // config.rate_window_seconds)
            if index != usage.window_index:
                usage.window_index, usage.window_requests, usage.window_batches = index, 0, 0
            requests, batches = usage.window_requests, usage.window_batches
        else:
            horizon = now - config.rate_window_seconds
            for log in (usage.requests, usage.batches):
                while log and log[0] <= horizon:
                    log.popleft()
            requests, batches = len(usage.requests), len(usage.batches)
        if requests >= config.requests_per_window:
            return "requests_per_window", usage.in_flight
        if is_batch and batches >= config.batch_requests_per_window:
            return "batch_requests_per_window", usage.in_flight
        usage.window_requests += 1
        usage.requests.append(now)
        if is_batch:
            usage.window_batches += 1
            usage.batches.append(now)
        usage.in_flight += 1
        return None, usage.in_flight

    def release(self, realm_id: str) -> None:
        usage = self._usage.get(realm_id)
        if usage is not None and usage.in_flight > 0:
            usage.in_flight -= 1


def authentication_failure(detail: str, tid: str) -> Response:
    """QBO's 401: the lowercase `fault` variant with code 3200 and an epoch-millisecond `time`."""
    body: dict[str, Any] = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }
    return JSONResponse(body, status_code=401, headers={"intuit_tid": tid})


def authorization_failure() -> Response:
    return fault_response(
        QboFaultError(
            403,
            "3100",
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            "",
            fault_type="AuthorizationFault",
        )
    )


def throttled(retry_after: int | None) -> Response:
    response = fault_response(
        QboFaultError(
            429,
            "3001",
            "message=ThrottleExceeded; errorCode=003001; statusCode=429",
            "The request limit was reached.  Try again later",
            fault_type="SERVICE",
        )
    )
    if retry_after is not None:
        response.headers["retry-after"] = str(retry_after)
    return response


def injected_server_error(status: int) -> Response:
    message = "An application error has occurred while processing your request"
    if status == 503:
        message = "Service is temporarily unavailable"
    return fault_response(
        QboFaultError(status, "10000", message, "System Failure Error", fault_type="SystemFault")
    )


def _bearer(scope: Scope) -> str | None:
    header = Headers(scope=scope).get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _endpoint_of(scope: Scope) -> str:
    parts = scope.get("path", "").split("/")
    resource = parts[4].lower() if len(parts) > 4 else ""
    return f"{scope.get('method', 'GET')} {resource or '/'}"


class RealmGuard:
    """ASGI wrapper mounted at /v3/company/{realm_id}; hands admitted requests to the accounting app."""

    def __init__(self, inner: ASGIApp, sandbox: Sandbox) -> None:
        self._inner = inner
        self._sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        sandbox = self._sandbox
        tid = sandbox.new_tid()
        send = _with_tid(send, tid)
        realm_id = str(scope.get("path_params", {}).get("realm_id", ""))
        endpoint = _endpoint_of(scope)
        sandbox.stats.record_request(realm_id, endpoint)

        refusal = self._authorize(scope, realm_id, tid)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        reason, in_flight = sandbox.limiter.try_admit(realm_id, is_batch=endpoint == "POST batch")
        if reason is not None:
            sandbox.stats.record_throttled(realm_id, reason)
            await throttled(sandbox.config.retry_after_seconds)(scope, receive, send)
            return
        sandbox.stats.record_in_flight(realm_id, in_flight)
        try:
            await self._admitted(scope, receive, send, realm_id)
        finally:
            sandbox.limiter.release(realm_id)

    def _authorize(self, scope: Scope, realm_id: str, tid: str) -> Response | None:
        sandbox = self._sandbox
        if sandbox.faults.force_401_next > 0:
            sandbox.faults.force_401_next -= 1
            sandbox.stats.record_fault("forced_401")
            sandbox.stats.record_auth_failure(401)
            return authentication_failure("Token expired: injected by the sandbox", tid)
        token = _bearer(scope)
        try:
            if token is None:
                raise TokenRejected("Token missing")
            record = sandbox.tokens.authenticate(token)
        except TokenRejected as rejected:
            sandbox.stats.record_auth_failure(401)
            return authentication_failure(f"{rejected.reason}: the access token is not valid", tid)
        if record.realm_id != realm_id or realm_id not in sandbox.companies:
            sandbox.stats.record_auth_failure(403)
            return authorization_failure()
        scope["qbo.company"] = sandbox.companies[realm_id]
        return None

    async def _admitted(self, scope: Scope, receive: Receive, send: Send, realm_id: str) -> None:
        sandbox = self._sandbox
        faults = sandbox.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.error_rate and sandbox.rng.random() < faults.error_rate:
            status = 503 if sandbox.rng.random() < 0.25 else 500
            sandbox.stats.record_fault(f"http_{status}")
            await injected_server_error(status)(scope, receive, send)
            return
        if faults.drop_after_commit_rate and sandbox.rng.random() < faults.drop_after_commit_rate:
            await self._commit_then_drop(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._inner(scope, receive, tracking_send)
        except Exception:
            # The accounting app already answered (its error middleware sends the 500 first), so the
            # exception is logged here instead of tearing down the client's connection.
            logger.exception("accounting app failed on %s", scope.get("path"))
            if not started:
                await injected_server_error(500)(scope, receive, send)

    async def _commit_then_drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self._inner(scope, receive, capture)
        self._sandbox.stats.record_fault("drop_after_commit")
        start = next((m for m in captured if m["type"] == "http.response.start"), None)
        if start is not None:
            await send(start)
        raise ConnectionDropped("the sandbox dropped the connection after committing the request")


def _with_tid(send: Send, tid: str) -> Send:
    """Adds `intuit_tid` to a response that does not carry one already."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"intuit_tid" for name, _ in headers):
                headers.append((b"intuit_tid", tid.encode("ascii")))
            message = {**message, "headers": headers}
        await send(message)

    return sending
