"""Shared test configuration: markers by folder, no sockets in unit tests, fake AWS credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_socket

from qbosync.settings import (
    get_qbo_limits,
    get_read_budget_settings,
    get_retention,
    get_schedule_fan_out,
    get_settings,
    get_sync_tuning,
    get_token_refresh_budget,
)
from qbosync.store.aws import reset_clients
from qbosync.sync import wiring

_TESTS = Path(__file__).parent
_MARKER_BY_FOLDER = {
    "unit": "unit",
    "integration": "integration",
    "e2e": "e2e",
    "conformance": "conformance",
    "browser": "browser",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is marked by the folder it lives in, so `-m unit` and friends need no decorators."""
    for item in items:
        folder = Path(str(item.fspath)).relative_to(_TESTS).parts[0]
        marker = _MARKER_BY_FOLDER.get(folder)
        if marker:
            item.add_marker(getattr(pytest.mark, marker))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("unit"):
        pytest_socket.disable_socket(allow_unix_socket=True)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a fixed region, and fresh settings, clients and services for every test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "qbosync")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    get_qbo_limits.cache_clear()
    get_sync_tuning.cache_clear()
    get_token_refresh_budget.cache_clear()
    get_read_budget_settings.cache_clear()
    get_schedule_fan_out.cache_clear()
    get_retention.cache_clear()
    reset_clients()
    wiring.reset()
    yield
    get_settings.cache_clear()
    get_qbo_limits.cache_clear()
    get_sync_tuning.cache_clear()
    get_token_refresh_budget.cache_clear()
    get_read_budget_settings.cache_clear()
    get_schedule_fan_out.cache_clear()
    get_retention.cache_clear()
    reset_clients()
    wiring.reset()
