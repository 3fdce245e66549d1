"""The sandbox's own control plane under `/_sandbox/`: stats, run-time faults, webhook log, clock.

None of this exists at Intuit; tests and the demo use it to observe and steer the sandbox.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.qbo_sandbox.company import SettingRefusedError
from local.qbo_sandbox.config import FaultSettings
from local.qbo_sandbox.faultbody import QboFaultError

if TYPE_CHECKING:
    from local.qbo_sandbox.app import Sandbox


class SandboxStats:
    """Counters of what clients did and what the sandbox answered; reset through the control plane."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests_by_endpoint: Counter[str] = Counter()
        self.requests_by_realm: Counter[str] = Counter()
        self.throttled_by_realm: Counter[str] = Counter()
        self.throttled_by_reason: Counter[str] = Counter()
        self.peak_concurrency_by_realm: dict[str, int] = {}
        self.auth_failures_by_status: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.token_calls_by_grant_type: Counter[str] = Counter()
        self.token_errors: Counter[str] = Counter()
        self.revocations = 0
        self.webhook_attempts = 0
        self.webhooks_delivered = 0
        self.webhooks_failed = 0

    def record_request(self, realm_id: str, endpoint: str) -> None:
        self.requests_by_endpoint[endpoint] += 1
        self.requests_by_realm[realm_id] += 1

    def record_throttled(self, realm_id: str, reason: str) -> None:
        self.throttled_by_realm[realm_id] += 1
        self.throttled_by_reason[reason] += 1

    def record_in_flight(self, realm_id: str, in_flight: int) -> None:
        if in_flight > self.peak_concurrency_by_realm.get(realm_id, 0):
            self.peak_concurrency_by_realm[realm_id] = in_flight

    def record_auth_failure(self, status: int) -> None:
        self.auth_failures_by_status[str(status)] += 1

    def record_fault(self, kind: str) -> None:
        self.faults_injected[kind] += 1

    def record_token_call(self, grant_type: str, error: str | None) -> None:
        self.token_calls_by_grant_type[grant_type] += 1
        if error is not None:
            self.token_errors[error] += 1

    def record_revoke(self) -> None:
        self.revocations += 1

    def record_webhook_attempt(self, *, delivered: bool) -> None:
        self.webhook_attempts += 1
        if delivered:
            self.webhooks_delivered += 1
        else:
            self.webhooks_failed += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests_total": sum(self.requests_by_realm.values()),
            "requests_by_endpoint": dict(self.requests_by_endpoint),
            "requests_by_realm": dict(self.requests_by_realm),
            "throttled_total": sum(self.throttled_by_realm.values()),
            "throttled_by_realm": dict(self.throttled_by_realm),
            "throttled_by_reason": dict(self.throttled_by_reason),
            "peak_concurrency_by_realm": dict(self.peak_concurrency_by_realm),
            "auth_failures_by_status": dict(self.auth_failures_by_status),
            "faults_injected": dict(self.faults_injected),
            "token_calls_by_grant_type": dict(self.token_calls_by_grant_type),
            "token_errors": dict(self.token_errors),
            "invalid_grant_total": self.token_errors.get("invalid_grant", 0),
            "revocations": self.revocations,
            "webhook_attempts": self.webhook_attempts,
            "webhooks_delivered": self.webhooks_delivered,
            "webhooks_failed": self.webhooks_failed,
        }


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance_seconds: float = Field(ge=0, le=10 * 365 * 86_400)


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _bad_request(message: str, details: Any = None) -> JSONResponse:
    return JSONResponse({"error": {"code": "bad_request", "message": message, "details": details or []}}, 400)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        parsed = await request.json()
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


async def health(request: Request) -> Response:
    sandbox = _sandbox(request)
    return JSONResponse({"status": "ok", "realms": list(sandbox.companies)})


async def realms(request: Request) -> Response:
    sandbox = _sandbox(request)
    return JSONResponse(
        {"realms": [{"realm_id": r, "company_name": c.company_name} for r, c in sandbox.companies.items()]}
    )


async def stats(request: Request) -> Response:
    return JSONResponse(_sandbox(request).stats.to_dict())


async def reset_stats(request: Request) -> Response:
    sandbox = _sandbox(request)
    sandbox.stats.reset()
    return JSONResponse(sandbox.stats.to_dict())


async def faults(request: Request) -> Response:
    """GET reads the fault settings; POST merges the given fields into them."""
    sandbox = _sandbox(request)
    if request.method == "POST":
        change = await _json_object(request)
        if change is None:
            return _bad_request("body must be a JSON object")
        try:
            updated = FaultSettings.model_validate({**sandbox.faults.model_dump(), **change})
        except ValidationError as exc:
            return _bad_request(
                "invalid fault settings", exc.errors(include_url=False, include_context=False)
            )
        sandbox.faults = updated
    return JSONResponse(sandbox.faults.model_dump())


async def webhooks(request: Request) -> Response:
    return JSONResponse(_sandbox(request).webhooks.describe())


async def flush_webhooks(request: Request) -> Response:
    """Batch whatever is pending now, whatever the batch window, and attempt every due delivery."""
    sandbox = _sandbox(request)
    await sandbox.webhooks.deliver_due(flush=True)
    return JSONResponse(sandbox.webhooks.describe())


async def clock(request: Request) -> Response:
    """GET reads the sandbox clock; POST {"advance_seconds": n} moves it on (tokens expire, windows pass)."""
    sandbox = _sandbox(request)
    if request.method == "POST":
        body = await _json_object(request)
        if body is None:
            return _bad_request("body must be a JSON object")
        try:
            advance = ClockAdvance.model_validate(body)
        except ValidationError as exc:
            return _bad_request("invalid clock change", exc.errors(include_url=False, include_context=False))
        sandbox.clock.advance(advance.advance_seconds)
    now = sandbox.clock.now()
    return JSONResponse(
        {
            "now": datetime.fromtimestamp(now, UTC).isoformat(),
            "epoch_seconds": now,
            "offset_seconds": sandbox.clock.offset_seconds,
        }
    )


class PreferencesChange(BaseModel):
    """What `POST /_sandbox/realms/{realm_id}/preferences` may change (what QBO's UI would)."""

    model_config = ConfigDict(extra="forbid")

    home_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    multi_currency: bool | None = None
    automated_sales_tax: bool | None = None
    exchange_rates: dict[str, Decimal] | None = Field(
        None, description="home-currency units per one foreign unit, in force from today (company time)"
    )


async def company_preferences(request: Request) -> Response:
    """GET the realm's Preferences; POST changes multi-currency, AST, the home currency or exchange rates."""
    sandbox = _sandbox(request)
    realm_id = request.path_params["realm_id"]
    company = sandbox.companies.get(realm_id)
    if company is None:
        return JSONResponse(
            {"error": {"code": "unknown_realm", "message": f"no realm {realm_id}", "details": []}}, 404
        )
    if request.method == "POST":
        body = await _json_object(request)
        if body is None:
            return _bad_request("body must be a JSON object")
        try:
            change = PreferencesChange.model_validate(body)
        except ValidationError as exc:
            return _bad_request("invalid preferences", exc.errors(include_url=False, include_context=False))
        with company.lock:
            try:
                company.configure(
                    home_currency=change.home_currency,
                    multi_currency=change.multi_currency,
                    automated_sales_tax=change.automated_sales_tax,
                )
                for code, rate in (change.exchange_rates or {}).items():
                    company.set_exchange_rate(code, company.now().date(), rate)
            except SettingRefusedError as refused:
                return JSONResponse(
                    {"error": {"code": refused.code, "message": refused.message, "details": []}}, 409
                )
            except QboFaultError as fault:
                return _bad_request(fault.detail)
    with company.lock:
        preferences = company.settings("Preferences")
    return JSONResponse(preferences)


async def forget_request_ids(request: Request) -> Response:
    """Intuit does not say how long it remembers a requestid: this makes every realm forget them all
    now, so a later write with an old requestid is applied as new."""
    sandbox = _sandbox(request)
    forgotten = 0
    for company in sandbox.companies.values():
        with company.lock:
            forgotten += len(company.request_cache)
            company.request_cache.clear()
    return JSONResponse({"forgotten": forgotten})


async def snapshot(request: Request) -> Response:
    sandbox = _sandbox(request)
    if sandbox.config.snapshot_path is None:
        return JSONResponse(
            {"error": {"code": "no_snapshot_path", "message": "start the sandbox with --snapshot FILE"}}, 409
        )
    sandbox.save_snapshot()
    return JSONResponse({"saved": True})


def control_routes() -> list[Route]:
    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/realms", realms, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/stats/reset", reset_stats, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
        Route("/_sandbox/webhooks", webhooks, methods=["GET"]),
        Route("/_sandbox/webhooks/flush", flush_webhooks, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/snapshot", snapshot, methods=["POST"]),
        Route("/_sandbox/requestids/forget", forget_request_ids, methods=["POST"]),
        Route("/_sandbox/realms/{realm_id}/preferences", company_preferences, methods=["GET", "POST"]),
    ]
