"""The connection routes on their own: redirects, the public callback, status and disconnect, with the
connection flows and the tenant registry as small in-memory fakes (the real ones run in integration)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.connection import callback_params, connection_router
from qbosync.errors import NotConnected
from qbosync.store.connections import Connection
from qbosync.store.tenants import Tenant, UnknownTenant
from qbosync.sync.connection import (
    BROWSER_COOKIE,
    CallbackOutcome,
    CallbackParams,
    CallbackResult,
    ConnectStart,
)
from tests.support.lambda_context import LambdaContextStub

ROOT = Path(__file__).resolve().parents[2]
TENANT = "acme-law"
ADMIN = "admin-7f3c"
AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2?client_id=c&state=v1.n.1.s"
RETURN_URL = "https://admin.example.test/qbo/connected?qbo_connection=connected&tenant_id=acme-law"


class Tenants:
    def get(self, tenant_id: str) -> Tenant:
        if tenant_id != TENANT:
            raise UnknownTenant(f"Tenant '{tenant_id}' is not registered with qbosync.")
        return Tenant(tenant_id=TENANT, name="Acme Law")


@dataclass
class RecordingFlows:
    """Answers like ``ConnectionService`` for one tenant, remembering what it was asked."""

    connection: Connection | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    browser_keys: list[str | None] = field(default_factory=list)

    def start(self, tenant_id: str, admin_sub: str) -> ConnectStart:
        self.calls.append(("start", (tenant_id, admin_sub)))
        return ConnectStart(AUTHORIZE_URL, "browser-key", "/oauth/callback", cookie_secure=True)

    def complete(self, params: CallbackParams, browser_key: str | None = None) -> CallbackResult:
        self.calls.append(("complete", params))
        self.browser_keys.append(browser_key)
        return CallbackResult(CallbackOutcome.CONNECTED, RETURN_URL, TENANT, "9130")

    def status(self, tenant_id: str) -> Connection:
        self.calls.append(("status", tenant_id))
        if self.connection is None:
            raise NotConnected(f"Tenant '{tenant_id}' has never connected a QuickBooks company.")
        return self.connection

    def disconnect(self, tenant_id: str, admin_sub: str, *, force: bool = False) -> Connection:
        self.calls.append(("disconnect", (tenant_id, admin_sub, force) if force else (tenant_id, admin_sub)))
        current = self.status(tenant_id)
        return current.model_copy(update={"status": "disconnected", "disconnected_by": admin_sub})


def a_connection() -> Connection:
    at = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    return Connection(
        tenant_id=TENANT,
        realm_id="9130",
        company_name="Acme Law LLP",
        connected_by=ADMIN,
        connected_at=at,
        last_refreshed_at=at,
        prerequisites=[{"id": "accrual_basis", "status": "pass", "reason": "accrual", "fix": ""}],
    )


class CompanySettings:
    """A connected company's CompanyInfo and Preferences, counting reads."""

    def __init__(self, preferences: dict[str, Any]) -> None:
        self.preferences_document = preferences
        self.reads = 0

    def query_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        raise AssertionError("plan details need no query")

    def company_info(self) -> dict[str, Any]:
        self.reads += 1
        return {"CompanyInfo": {"NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}]}}

    def preferences(self) -> dict[str, Any]:
        return {"Preferences": self.preferences_document}


class MemoryCache:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[list[dict[str, Any]], float]] = {}

    def get(self, tenant_id: str, kind: str, now: float) -> list[dict[str, Any]] | None:
        entries, expires_at = self.items.get((tenant_id, kind), ([], 0.0))
        return entries if expires_at > now else None

    def put(self, tenant_id: str, kind: str, entries: list[dict[str, Any]], expires_at: float) -> None:
        self.items[(tenant_id, kind)] = (entries, expires_at)


def unreadable_company(_tenant_id: str) -> Any:
    raise NotConnected("no tokens in this test")


def resolver(flows: RecordingFlows, deps: ApiDependencies | None = None) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    dependencies = deps or ApiDependencies(
        tenants=Tenants(),
        qbo_reader_for=unreadable_company,
        reference_cache=MemoryCache(),  # type: ignore[arg-type]
    )
    app.include_router(connection_router(dependencies, flows=lambda: flows))
    return app


def call(
    flows: RecordingFlows,
    sample: str,
    *,
    path: str | None = None,
    tenants: str | None = TENANT,
    deps: ApiDependencies | None = None,
) -> tuple[int, dict[str, str], Any]:
    event = json.loads((ROOT / "events" / sample).read_text())
    if path is not None:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if tenants is None:
        event["requestContext"].pop("authorizer", None)
    elif "authorizer" in event["requestContext"]:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["qbosync_tenants"] = tenants
    reply = resolver(flows, deps).resolve(event, LambdaContextStub())
    headers = {key.lower(): value for key, value in (reply.get("headers") or {}).items()}
    text = reply.get("body") or ""
    body = json.loads(text) if "json" in headers.get("content-type", "") and text else text
    return reply["statusCode"], headers, body


def test_given_a_granted_admin_when_connecting_then_302_to_the_authorize_url_not_cached() -> None:
    flows = RecordingFlows()

    status, headers, body = call(flows, "api_connect.json")

    assert (status, headers["location"], headers["cache-control"]) == (302, AUTHORIZE_URL, "no-store")
    assert body == {"authorize_url": AUTHORIZE_URL}
    assert flows.calls == [("start", (TENANT, ADMIN))]


def test_given_the_callback_sample_when_called_without_a_token_then_the_flow_gets_intuits_parameters() -> (
    None
):
    flows = RecordingFlows()

    status, headers, _body = call(flows, "api_oauth_callback.json", tenants=None)

    assert (status, headers["location"]) == (302, RETURN_URL)
    assert headers["referrer-policy"] == "no-referrer"
    ((name, params),) = flows.calls
    assert name == "complete" and isinstance(params, CallbackParams)
    assert (params.realmId, params.error) == ("9341453908178241", None)
    assert params.code and params.state


def test_given_the_denied_sample_when_called_then_the_flow_gets_the_error() -> None:
    flows = RecordingFlows()

    call(flows, "api_oauth_callback_denied.json", tenants=None)

    ((_name, params),) = flows.calls
    assert (params.error, params.code) == ("access_denied", None)


def test_given_an_oversized_parameter_when_parsed_then_the_callback_is_treated_as_carrying_nothing() -> None:
    assert callback_params({"code": "A" * 2049, "state": "v1.n.1.s"}) is None
    assert callback_params({"code": "A" * 2048}) == CallbackParams(code="A" * 2048)
    assert callback_params(None) == CallbackParams()


def test_given_a_connection_when_its_status_is_read_then_the_view_has_no_field_beyond_the_contract() -> None:
    flows = RecordingFlows(connection=a_connection())

    status, _headers, body = call(flows, "api_connection_get.json")

    assert status == 200
    assert set(body) == {
        "tenant_id",
        "realm_id",
        "company_name",
        "status",
        "connected_by",
        "connected_at",
        "disconnected_by",
        "disconnected_at",
        "needs_reauth_since",
        "needs_reauth_reason",
        "last_refreshed_at",
        "last_reconciled_at",
        "refresh_token_expires_at",
        "hard_expires_at",
        "prerequisites",
        "plan",
        "plan_unavailable_reason",
        "sync_paused",
        "paused_at",
        "paused_by",
    }
    assert (body["plan"], body["plan_unavailable_reason"]) == (
        None,
        "QuickBooks Online's company settings could not be read (NotConnected)",
    )
    assert (body["sync_paused"], body["paused_at"]) == (False, None)
    assert body["prerequisites"] == [
        {"id": "accrual_basis", "status": "pass", "reason": "accrual", "fix": ""}
    ]


def test_given_no_connection_when_its_status_is_read_then_409_not_connected() -> None:
    status, _headers, body = call(RecordingFlows(), "api_connection_get.json")

    assert (status, body["error"]["code"]) == (409, "not_connected")


def test_given_a_connection_when_deleted_then_the_admin_is_recorded_and_the_record_returned() -> None:
    flows = RecordingFlows(connection=a_connection())

    status, _headers, body = call(flows, "api_connection_delete.json")

    assert (status, body["status"], body["disconnected_by"]) == (200, "disconnected", ADMIN)
    assert flows.calls[0] == ("disconnect", (TENANT, ADMIN))


@pytest.mark.parametrize(
    "sample", ["api_connect.json", "api_connection_get.json", "api_connection_delete.json"]
)
def test_given_a_token_without_the_tenant_when_any_tenant_route_is_called_then_403_and_no_flow_runs(
    sample: str,
) -> None:
    flows = RecordingFlows(connection=a_connection())

    status, _headers, body = call(flows, sample, tenants="globex-msp")

    assert (status, body["error"]["code"]) == (403, "tenant_forbidden")
    assert flows.calls == []


def test_given_an_unknown_tenant_when_connecting_then_404_and_no_flow_runs() -> None:
    flows = RecordingFlows()

    status, _headers, body = call(
        flows, "api_connect.json", path="/tenants/ghost/qbo/connect", tenants="ghost"
    )

    assert (status, body["error"]["code"]) == (404, "unknown_tenant")
    assert flows.calls == []


def test_given_a_router_when_built_then_the_flows_are_not_created_until_a_request_needs_them() -> None:
    built: list[RecordingFlows] = []

    def factory() -> RecordingFlows:
        built.append(RecordingFlows())
        return built[-1]

    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    app.include_router(connection_router(ApiDependencies(tenants=Tenants()), flows=factory))
    assert built == []

    event = json.loads((ROOT / "events" / "api_connect.json").read_text())
    app.resolve(event, LambdaContextStub())
    app.resolve(event, LambdaContextStub())

    assert len(built) == 1


def test_given_a_connect_redirect_then_its_browser_cookie_reaches_the_flow_at_the_callback() -> None:
    flows = RecordingFlows()
    connect = json.loads((ROOT / "events" / "api_connect.json").read_text())
    connect_reply = resolver(flows).resolve(connect, LambdaContextStub())
    [set_cookie] = connect_reply["cookies"]
    callback = json.loads((ROOT / "events" / "api_oauth_callback.json").read_text())
    callback["requestContext"].pop("authorizer", None)
    callback["cookies"] = ["theme=dark", set_cookie.split(";", 1)[0]]

    resolver(flows).resolve(callback, LambdaContextStub())

    assert set_cookie.startswith(f"{BROWSER_COOKIE}=browser-key;")
    assert "HttpOnly" in set_cookie and "Secure" in set_cookie
    assert flows.browser_keys == ["browser-key"]


def test_given_redirect_false_when_connecting_then_200_with_the_authorize_url_for_a_browser_app() -> None:
    flows = RecordingFlows()
    event = json.loads((ROOT / "events" / "api_connect.json").read_text())
    event["queryStringParameters"] = {"redirect": "false"}
    event["rawQueryString"] = "redirect=false"

    reply = resolver(flows).resolve(event, LambdaContextStub())

    headers = {key.lower(): value for key, value in (reply.get("headers") or {}).items()}
    assert (reply["statusCode"], "location" in headers, headers["cache-control"]) == (200, False, "no-store")
    assert json.loads(reply["body"]) == {"authorize_url": AUTHORIZE_URL}
    assert flows.calls == [("start", (TENANT, ADMIN))]
    [set_cookie] = reply["cookies"]
    assert set_cookie.startswith(f"{BROWSER_COOKIE}=browser-key;")


def test_given_a_connected_company_when_its_status_is_read_twice_then_plan_details_come_from_one_read() -> (
    None
):
    company = CompanySettings(
        {
            "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "CAD"}},
            "ProductAndServicesPrefs": {"QuantityOnHand": False},
            "AccountingInfoPrefs": {"UseAccountNumbers": True},
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
        }
    )
    deps = ApiDependencies(
        tenants=Tenants(),
        qbo_reader_for=lambda _tenant: company,
        reference_cache=MemoryCache(),  # type: ignore[arg-type]
        epoch_clock=lambda: 1_000.0,
    )
    flows = RecordingFlows(connection=a_connection())

    call(flows, "api_connection_get.json", deps=deps)
    status, _headers, body = call(flows, "api_connection_get.json", deps=deps)

    assert (status, company.reads) == (200, 1)
    assert body["plan"] == {
        "edition": "QuickBooks Online Plus",
        "multi_currency": True,
        "home_currency": "CAD",
        "track_inventory": False,
        "account_numbers": True,
        "automated_sales_tax": True,
        "automated_sales_tax_set_up": False,
    }


def test_given_a_disconnected_company_when_its_status_is_read_then_no_plan_is_read() -> None:
    connection = a_connection().model_copy(update={"status": "disconnected"})

    status, _headers, body = call(RecordingFlows(connection=connection), "api_connection_get.json")

    assert (status, body["plan"], body["plan_unavailable_reason"]) == (200, None, None)
