"""The kit as a pytest plugin: one test per contract rule.

    pytest -p qbosync.source.kit.pytest_plugin --pyargs qbosync.source.kit.contract_suite \
        --source-base-url https://api.example.com --source-tenant acme --source-api-key … \
        --source-webhook-secret …

The kit runs once per session (``source_contract_report``); each rule is its own test, so a vendor's
CI shows which rule broke. Skipped rules (no webhooks, no journal old enough) are reported as skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qbosync.source.kit.checks import KitOptions, KitReport, run_kit
from qbosync.source.kit.inbox import WebhookInbox


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qbosync source contract")
    group.addoption("--source-base-url", help="the source API's base URL")
    group.addoption("--source-tenant", default="demo")
    group.addoption("--source-api-key")
    group.addoption("--source-webhook-secret", help="omit to skip the webhook rules")
    group.addoption(
        "--source-listen", default="127.0.0.1:8899", help="host:port of the kit's webhook receiver"
    )
    group.addoption("--source-journal", type=Path, help="the kit's idempotency-key journal")


@pytest.fixture(scope="session")
def source_contract_report(request: pytest.FixtureRequest) -> Iterator[KitReport]:
    """The kit's report for the source named on the command line."""
    base_url = request.config.getoption("--source-base-url")
    api_key = request.config.getoption("--source-api-key")
    if not base_url or not api_key:
        pytest.skip("pass --source-base-url and --source-api-key to check a source")
    secret = request.config.getoption("--source-webhook-secret")
    inbox = WebhookInbox(secret) if secret else None
    server = None
    if inbox is not None:
        host, _, port = str(request.config.getoption("--source-listen")).rpartition(":")
        server, _ = inbox.serve_on(host or "127.0.0.1", int(port))
    options = KitOptions(
        tenant_id=request.config.getoption("--source-tenant"),
        api_key=api_key,
        inbox=inbox,
        journal=request.config.getoption("--source-journal"),
    )
    try:
        with httpx.Client(base_url=str(base_url).rstrip("/"), timeout=30.0) as http:
            yield run_kit(http, options)
    finally:
        if server is not None:
            server.shutdown()
