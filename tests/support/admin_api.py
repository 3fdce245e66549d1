"""Shared pieces of the admin API tests (no tests here): a QBO company and a source as small honest
in-memory fakes, tenants and connections, a moto table built from template.yaml, and v2 events."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from functions.api.app import lambda_handler
from local.qbo_sandbox.app import build_app
from local.source_sandbox.inprocess import in_process_client
from qbosync.api.dependencies import ApiDependencies
from qbosync.source.errors import SourceNotFound
from qbosync.source.models import (
    Page,
    ReferenceEntry,
    SourceAccount,
    SourceInvoice,
    SourceProduct,
    SourceTaxCode,
)
from qbosync.store.tenants import Tenant, TenantRepository
from tests.support.connection_world import SANDBOX_BASE, SettableClock, build_world, sandbox_config
from tests.support.lambda_context import LambdaContextStub
from tests.support.template import create_table_from_template

ROOT = Path(__file__).resolve().parents[2]
TENANT_A = "acme-law"
TENANT_B = "globex-msp"
ADMIN = "admin-7f3c"

ACCOUNTS = [
    {
        "Id": "1",
        "Name": "Services",
        "AccountType": "Income",
        "AccountSubType": "ServiceFeeIncome",
        "Classification": "Revenue",
        "Active": True,
    },
    {
        "Id": "2",
        "Name": "Sales of Product Income",
        "AccountType": "Income",
        "AccountSubType": "SalesOfProductIncome",
        "Classification": "Revenue",
        "Active": True,
    },
    {
        "Id": "3",
        "Name": "Consulting Income",
        "AccountType": "Income",
        "AccountSubType": "ServiceFeeIncome",
        "Classification": "Revenue",
        "Active": False,
    },
    {
        "Id": "35",
        "Name": "Checking",
        "AccountType": "Bank",
        "AccountSubType": "Checking",
        "Classification": "Asset",
        "Active": True,
    },
    {
        "Id": "84",
        "Name": "Accounts Receivable (A/R)",
        "AccountType": "Accounts Receivable",
        "AccountSubType": "AccountsReceivable",
        "Classification": "Asset",
        "Active": True,
    },
    {
        "Id": "4",
        "Name": "Undeposited Funds",
        "AccountType": "Other Current Asset",
        "AccountSubType": "UndepositedFunds",
        "Classification": "Asset",
        "Active": True,
    },
    {
        "Id": "12",
        "Name": "Legal & Professional Fees",
        "AccountType": "Expense",
        "AccountSubType": "LegalProfessionalFees",
        "Classification": "Expense",
        "Active": True,
    },
]
ITEMS = [
    {"Id": "1", "Name": "Services", "Type": "Service", "Active": True},
    {"Id": "10", "Name": "Hours", "Type": "Service", "Active": True},
    {"Id": "11", "Name": "Hardware", "Type": "NonInventory", "Active": True},
    {"Id": "12", "Name": "Widgets", "Type": "Inventory", "Active": True},
    {"Id": "13", "Name": "Support Bundle", "Type": "Group", "Active": True},
    {"Id": "14", "Name": "Retired Service", "Type": "Service", "Active": False},
    {"Id": "15", "Name": "Professional Fees", "Type": "Service", "Active": True},
    {"Id": "16", "Name": "Disbursements", "Type": "NonInventory", "Active": True},
    {"Id": "17", "Name": "Consulting", "Type": "Category", "Active": True},
]
TAX_RATES = [
    {"Id": "1", "Name": "California", "RateValue": 8, "Active": True},
    {"Id": "2", "Name": "No tax", "RateValue": 0, "Active": True},
]
TAX_CODES = [
    {"Id": "TAX", "Name": "TAX", "Active": True, "Taxable": True},
    {"Id": "NON", "Name": "NON", "Active": True, "Taxable": False},
    {
        "Id": "2",
        "Name": "California",
        "Active": True,
        "Taxable": True,
        "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "1"}}]},
    },
    {
        "Id": "3",
        "Name": "Old County",
        "Active": False,
        "Taxable": True,
        "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "1"}}]},
    },
]
CLASSES = [
    {"Id": "100", "Name": "Consulting", "FullyQualifiedName": "Consulting", "Active": True},
    {"Id": "101", "Name": "Managed Services", "FullyQualifiedName": "Managed Services", "Active": True},
    {"Id": "102", "Name": "Legacy", "FullyQualifiedName": "Legacy", "Active": False},
]
PAYMENT_METHODS = [
    {"Id": "1", "Name": "Cash", "Type": "NON_CREDIT_CARD", "Active": True},
    {"Id": "2", "Name": "Check", "Type": "NON_CREDIT_CARD", "Active": True},
    {"Id": "3", "Name": "Visa", "Type": "CREDIT_CARD", "Active": True},
    {"Id": "4", "Name": "MasterCard", "Type": "CREDIT_CARD", "Active": True},
    {"Id": "5", "Name": "Diners Club", "Type": "CREDIT_CARD", "Active": False},
]
TERMS = [
    {"Id": "3", "Name": "Net 30", "Type": "STANDARD", "DueDays": 30, "Active": True},
    {"Id": "1", "Name": "Due on receipt", "Type": "STANDARD", "DueDays": 0, "Active": True},
]


@dataclass
class FakeQboCompany:
    """A QBO company's reference data answering queries as QBO does: active entries only, unless the
    query asks for inactive ones too."""

    entities: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: copy.deepcopy(
            {
                "Account": ACCOUNTS,
                "Item": ITEMS,
                "TaxCode": TAX_CODES,
                "TaxRate": TAX_RATES,
                "Class": CLASSES,
                "PaymentMethod": PAYMENT_METHODS,
                "Term": TERMS,
            }
        )
    )
    report_basis: str = "Accrual"
    queries: list[str] = field(default_factory=list)
    currency_prefs: dict[str, Any] = field(
        default_factory=lambda: {"HomeCurrency": {"value": "USD"}, "MultiCurrencyEnabled": False}
    )

    def query_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        self.queries.append(entity)
        rows = self.entities.get(entity, [])
        if "active in (true, false)" in where.lower():
            return copy.deepcopy(rows)
        return [copy.deepcopy(row) for row in rows if row.get("Active", True)]

    def company_info(self) -> dict[str, Any]:
        return {"CompanyInfo": {"CompanyName": "Sandbox Company_US_1", "Country": "US"}}

    def preferences(self) -> dict[str, Any]:
        return {
            "Preferences": {
                "ReportPrefs": {"ReportBasis": self.report_basis},
                "AccountingInfoPrefs": {"ClassTrackingPerLine": True},
                "CurrencyPrefs": self.currency_prefs,
            }
        }

    def deactivate(self, entity: str, qbo_id: str) -> None:
        for row in self.entities[entity]:
            if row["Id"] == qbo_id:
                row["Active"] = False


def make_product(product_id: str, name: str, product_type: str, **codes: str) -> SourceProduct:
    return SourceProduct(
        id=product_id,
        version=1,
        updated_at=datetime(2026, 11, 1, tzinfo=UTC),
        name=name,
        product_type=product_type,
        **codes,
    )


def make_invoice(invoice_id: str, currency: str) -> SourceInvoice:
    return SourceInvoice(
        id=invoice_id,
        version=1,
        updated_at=datetime(2026, 11, 1, tzinfo=UTC),
        number=invoice_id,
        customer_id="C-1",
        issue_date=datetime(2026, 11, 1, tzinfo=UTC).date(),
        currency=currency,
        lines=[],
        total=Decimal("10.00"),
        status="open",
    )


@dataclass
class FakeSourceReference:
    """A source's reference lists, as the first seed's Rev.io and the second's Actionstep show them."""

    payment_methods: list[ReferenceEntry] = field(
        default_factory=lambda: [
            ReferenceEntry(code="CC", name="Credit card"),
            ReferenceEntry(code="CHECK", name="Check"),
        ]
    )
    gl_codes: list[ReferenceEntry] = field(
        default_factory=lambda: [
            ReferenceEntry(code="4000", name="Service revenue"),
            ReferenceEntry(code="4100", name="Hardware sales"),
        ]
    )
    product_types: list[ReferenceEntry] = field(
        default_factory=lambda: [
            ReferenceEntry(code="service", name="Service"),
            ReferenceEntry(code="hardware", name="Hardware"),
        ]
    )
    accounts: list[SourceAccount] = field(
        default_factory=lambda: [
            SourceAccount(code="4-1000", name="Fee Income", account_type="income"),
            SourceAccount(code="5-2000", name="Disbursements", account_type="expense"),
            SourceAccount(code="1-1100", name="Operating Bank", account_type="asset"),
        ]
    )
    tax_codes: list[SourceTaxCode] = field(
        default_factory=lambda: [
            SourceTaxCode(code="EXEMPT", name="Exempt", rate=0),
            SourceTaxCode(code="CA", name="California", rate=8),
        ]
    )
    bill_profiles: list[ReferenceEntry] = field(
        default_factory=lambda: [
            ReferenceEntry(code="BP-MONTHLY", name="Monthly"),
        ]
    )

    products: list[SourceProduct] = field(
        default_factory=lambda: [
            make_product("P-1", "Managed service", "service", gl_code="4000", tax_code="EXEMPT"),
            make_product("P-2", "Router", "hardware", gl_code="4100", tax_code="CA"),
        ]
    )

    invoice_currencies: list[str] = field(default_factory=lambda: ["USD"])

    def list_invoices(self, cursor: str | None = None, limit: int = 100) -> Page[SourceInvoice]:
        """One invoice per currency in ``invoice_currencies`` (what the currency check reads)."""
        return Page(items=[make_invoice(f"I-{n}", code) for n, code in enumerate(self.invoice_currencies)])

    def list_products(self, cursor: str | None = None, limit: int = 100) -> Page[SourceProduct]:
        start = int(cursor or 0)
        end = start + limit
        return Page(
            items=self.products[start:end], next_cursor=str(end) if end < len(self.products) else None
        )

    def get_product(self, product_id: str) -> SourceProduct:
        found = next((product for product in self.products if product.id == product_id), None)
        if found is None:
            raise SourceNotFound(f"no product {product_id!r}")
        return found

    def list_payment_methods(self) -> list[ReferenceEntry]:
        return self.payment_methods

    def list_gl_codes(self) -> list[ReferenceEntry]:
        return self.gl_codes

    def list_product_types(self) -> list[ReferenceEntry]:
        return self.product_types

    def list_accounts(self) -> list[SourceAccount]:
        return self.accounts

    def list_tax_codes(self) -> list[SourceTaxCode]:
        return self.tax_codes

    def list_bill_profiles(self) -> list[ReferenceEntry]:
        return self.bill_profiles


@dataclass(frozen=True)
class Connection:
    status: str
    realm_id: str
    company_name: str | None = None


class InMemoryConnections:
    def __init__(self, **connections: Connection) -> None:
        self.by_tenant = dict(connections)

    def get(self, tenant_id: str) -> Connection | None:
        return self.by_tenant.get(tenant_id)


def create_main_table() -> str:
    """The main table as template.yaml declares it, in the current moto."""
    name = "qbosync-test"
    create_table_from_template("MainTable", name)
    return name


@dataclass
class AdminApi:
    """Calls the Lambda handler with HTTP API v2 events, as API Gateway would after its JWT check."""

    deps: ApiDependencies
    qbo: FakeQboCompany
    source: FakeSourceReference
    connections: InMemoryConnections

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw_body: str | None = None,
        binary_body: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        tenants: str | None = TENANT_A,
        sub: str = ADMIN,
    ) -> tuple[int, dict[str, str], Any]:
        event = http_event(
            method, path, body=body, raw_body=raw_body, headers=headers, query=query, tenants=tenants, sub=sub
        )
        if binary_body is not None:  # API Gateway base64-encodes a body that is not valid UTF-8
            event.update(body=base64.b64encode(binary_body).decode(), isBase64Encoded=True)
        reply = lambda_handler(event, LambdaContextStub(), deps=self.deps)
        text = reply.get("body") or ""
        if reply.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        lowered = {key.lower(): value for key, value in (reply.get("headers") or {}).items()}
        parsed = json.loads(text) if text and "json" in lowered.get("content-type", "") else text
        return reply["statusCode"], lowered, parsed

    def read(self, path: str, **kwargs: Any) -> tuple[Any, str]:
        status, headers, body = self.call("GET", path, **kwargs)
        assert status == 200, body
        return body, headers.get("etag", "")


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    tenants: str | None = TENANT_A,
    sub: str = ADMIN,
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event; ``tenants=None`` means no JWT claims at all."""
    all_headers = {"content-type": "application/json", "host": "api.example.test"}
    all_headers.update({key.lower(): value for key, value in (headers or {}).items()})
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.test",
        "domainPrefix": "api",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "pytest",
        },
        "requestId": "req-1",
        "routeKey": "ANY /tenants/{tenant_id}/{proxy+}",
        "stage": "$default",
        "time": "22/Nov/2026:05:00:00 +0000",
        "timeEpoch": 1795150800000,
    }
    if tenants is not None:
        request_context["authorizer"] = {
            "jwt": {"claims": {"sub": sub, "qbosync_tenants": tenants}, "scopes": None}
        }
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /tenants/{tenant_id}/{proxy+}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": all_headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if text is not None:
        event["body"] = text
    return event


@pytest.fixture
def admin_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminApi]:
    """The admin API over moto: tenants A and B registered, A connected to a fake QBO company."""
    with mock_aws():
        table = create_main_table()
        monkeypatch.setenv("TABLE_NAME", table)
        from qbosync.settings import get_settings

        get_settings.cache_clear()
        tenants = TenantRepository()
        tenants.register(Tenant(tenant_id=TENANT_A, name="Acme Law"))
        tenants.register(Tenant(tenant_id=TENANT_B, name="Globex MSP"))
        qbo = FakeQboCompany()
        source = FakeSourceReference()
        connections = InMemoryConnections(
            **{TENANT_A: Connection("connected", "9130350000000001", "Acme Law")}
        )
        # The connection routes run the real flows against an in-process QBO sandbox.
        sandbox_settings = sandbox_config()
        sandbox_app = build_app(sandbox_settings)
        with in_process_client(sandbox_app, base_url=SANDBOX_BASE) as http:
            world = build_world(sandbox_settings, sandbox_app.state.sandbox, http, SettableClock())
            deps = ApiDependencies(
                tenants=tenants,
                connections=connections,
                qbo_reader_for=lambda tenant_id: qbo,
                source_reader_for=lambda tenant_id: source,
                connection_flows=lambda: world.service,
            )
            yield AdminApi(deps=deps, qbo=qbo, source=source, connections=connections)
