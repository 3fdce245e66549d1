"""Shared set-up for the bulk-sync tests (no tests here): in-process sandboxes, clients and run config.

The QBO and source sandboxes run in this process behind ``in_process_client`` (no socket), so the same
helpers serve unit tests (sockets disabled) and the integration tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from moto import mock_aws

from local.qbo_sandbox import SandboxConfig as QboSandboxConfig
from local.qbo_sandbox import build_app as build_qbo_app
from local.qbo_sandbox.app import Sandbox
from local.source_sandbox.app import build_app as build_source_app
from local.source_sandbox.config import SandboxConfig as SourceSandboxConfig
from local.source_sandbox.inprocess import in_process_client
from qbosync.qbo.client import QboClient
from qbosync.settings import get_settings
from qbosync.source.http import HttpSourceAdapter
from qbosync.store.links import LinkRepository
from qbosync.sync.bulk.models import RunConfig
from qbosync.sync.configuration import SyncToggles, TenantSettings
from tests.integration.conftest import create_table_from_template
from tests.support.fakes import StaticToken

QBO_BASE_URL = "http://qbo-sandbox"
SOURCE_BASE_URL = "http://source-sandbox"
REDIRECT_URI = "http://127.0.0.1:8080/oauth/callback"
SOURCE_API_KEY = "sk_bulk_test_key"
SOURCE_WEBHOOK_SECRET = "whsec_bulk_test_secret"
GENEROUS_LIMITS: dict[str, Any] = {
    "requests_per_window": 5000,
    "batch_requests_per_window": 1000,
    "max_concurrent": 20,
}


SEEDED_PRODUCT_TYPES = {
    "service": "Service",
    "hardware": "NonInventory",
    "software": "Service",
    "labor": "Service",
    "recurring-fee": "Service",
    "usage": "Service",
    "fee": "Service",
}
"""The source sandbox's seeded product types (but ``discount``) → QBO item types a bulk sync can create."""
SEEDED_GL_CODES = ("4000-MS", "4100-HW", "4200-SW", "4300-PS", "4400-TEL", "4500-FEE", "4900-MISC")
"""The source sandbox's seeded GL codes."""


def issue_access_token(sandbox: Sandbox, realm_id: str) -> Any:
    """Tokens for ``realm_id`` straight from the sandbox's token store (the OAuth dance is not under test)."""
    config = sandbox.config
    code = sandbox.tokens.issue_code(
        config.client_id, config.redirect_uris[0], realm_id, ["com.intuit.quickbooks.accounting"]
    )
    return sandbox.tokens.exchange_code(config.client_id, code, config.redirect_uris[0], sandbox.user_sub)


@dataclass
class QboWorld:
    sandbox: Sandbox
    http: httpx.Client

    @property
    def realms(self) -> list[str]:
        return list(self.sandbox.companies)

    def age_existing_records(self) -> None:
        """Move the sandbox's clock on, so what exists now was created before any run starts
        (QBO stamps CreateTime in whole seconds, which a bulk run compares with its start)."""
        self.sandbox.clock.advance(2.0)

    def client(self, realm_id: str, **options: Any) -> QboClient:
        token = issue_access_token(self.sandbox, realm_id).access_token
        return QboClient(
            realm_id, StaticToken(token), None, QBO_BASE_URL, http=self.http, sleep=lambda _s: None, **options
        )

    def all_rows(self, realm_id: str, entity: str) -> list[dict[str, Any]]:
        """Every record of ``entity`` in the company, straight from the sandbox's state."""
        return list(self.sandbox.companies[realm_id].records[entity].values())


@contextmanager
def qbo_world(**config: Any) -> Iterator[QboWorld]:
    app = build_qbo_app(QboSandboxConfig(**{**GENEROUS_LIMITS, **config}))
    with in_process_client(app, base_url=QBO_BASE_URL) as http:
        yield QboWorld(app.state.sandbox, http)


@dataclass
class SourceWorld:
    app: Any
    http: httpx.Client

    def adapter(self, tenant_id: str) -> HttpSourceAdapter:
        return HttpSourceAdapter(
            SOURCE_BASE_URL, tenant_id, SOURCE_API_KEY, http=self.http, sleep=lambda _s: None
        )

    def customers(self, tenant_id: str) -> list[Any]:
        return list(self.app.state.sandbox.iter_objects(tenant_id, "customers"))

    def products(self, tenant_id: str) -> list[Any]:
        return list(self.app.state.sandbox.iter_objects(tenant_id, "products"))


@contextmanager
def source_world(
    tenant_ids: list[str], customers: int, products: int, seed: int = 7
) -> Iterator[SourceWorld]:
    config = SourceSandboxConfig.for_tenants(
        tenant_ids,
        api_key=SOURCE_API_KEY,
        webhook_secret=SOURCE_WEBHOOK_SECRET,
        customers=customers,
        products=products,
        invoices=0,
        seed=seed,
    )
    app = build_source_app(config)
    with in_process_client(app, base_url=SOURCE_BASE_URL) as http:
        yield SourceWorld(app, http)


@pytest.fixture(name="links")
def links_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkRepository]:
    """The link repository on an in-process moto table (no sockets)."""
    with mock_aws():
        monkeypatch.setenv("TABLE_NAME", "bulk-unit")
        get_settings.cache_clear()
        create_table_from_template("MainTable", "bulk-unit")
        yield LinkRepository(sleep=lambda _s: None)


@pytest.fixture(name="qbo")
def qbo_fixture() -> Iterator[QboWorld]:
    with qbo_world() as world:
        yield world


def income_account_ids(qbo: QboClient) -> list[str]:
    return [str(row["Id"]) for row in qbo.query_all("Account", "AccountType = 'Income'")]


def run_config(
    qbo: QboClient,
    *,
    started_at: datetime | None = None,
    page_size: int = 50,
    **settings: Any,
) -> RunConfig:
    """A frozen run config mapping every seeded product type except ``discount`` and every GL code."""
    accounts = income_account_ids(qbo)
    product_types = dict(SEEDED_PRODUCT_TYPES)
    gl_codes = list(SEEDED_GL_CODES)
    settings.setdefault("sync", SyncToggles(invoices=False, payments=False, credit_notes=False))
    return RunConfig(
        settings=TenantSettings.model_validate(settings),
        product_types=product_types,
        gl_codes={code: accounts[index % len(accounts)] for index, code in enumerate(gl_codes)},
        run_started_at=started_at or datetime.now(UTC),
        page_size=page_size,
    )
