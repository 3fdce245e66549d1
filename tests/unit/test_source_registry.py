"""Adapters per tenant: the registry builds the adapter the tenant's source config names."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from qbosync.source.config import SourceAdapterCredentials, SourceAdapterKind, TenantSourceConfig
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.port import SourcePort
from qbosync.source.registry import (
    SourceAdapterMisconfigured,
    SourceAdapterRegistry,
    SourceConnection,
    default_registry,
)

KEYED = SourceAdapterCredentials.model_validate({"api_key": "sk_acme"})
DEFAULT_BASE_URL = "http://source.example"


def test_given_no_source_config_when_built_then_the_contract_adapter_uses_the_deployment_base_url() -> None:
    adapter = default_registry().build("acme", None, KEYED, default_base_url=DEFAULT_BASE_URL)

    assert isinstance(adapter, HttpSourceAdapter)
    assert adapter._tenant_root == "http://source.example/tenants/acme"


def test_given_a_tenant_base_url_when_built_then_the_adapter_sends_its_key_there() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    config = TenantSourceConfig(base_url="https://billing.acme.example/v2")
    adapter = default_registry().build("acme", config, KEYED, default_base_url=DEFAULT_BASE_URL)
    assert isinstance(adapter, HttpSourceAdapter)
    adapter._http = httpx.Client(transport=httpx.MockTransport(answer))

    adapter.list_customers(limit=5)

    assert str(seen[0].url).startswith("https://billing.acme.example/v2/tenants/acme/customers")
    assert seen[0].headers["Authorization"] == "Bearer sk_acme"


def test_given_the_contract_adapter_without_an_api_key_when_built_then_it_is_a_misconfiguration() -> None:
    with pytest.raises(SourceAdapterMisconfigured) as raised:
        default_registry().build("acme", None, SourceAdapterCredentials(), default_base_url=DEFAULT_BASE_URL)

    assert raised.value.status == 409
    assert raised.value.details == [{"adapter": "http_contract", "missing": "api_key"}]


def test_given_a_kind_without_a_factory_when_built_then_the_error_lists_what_is_available() -> None:
    with pytest.raises(SourceAdapterMisconfigured) as raised:
        SourceAdapterRegistry().build("acme", None, KEYED, default_base_url=DEFAULT_BASE_URL)

    assert raised.value.details == [{"adapter": "http_contract", "available": []}]


def test_given_a_registered_factory_when_built_then_it_gets_the_tenants_connection() -> None:
    received: list[SourceConnection] = []
    fake = object()

    def factory(connection: SourceConnection) -> SourcePort:
        received.append(connection)
        return fake  # type: ignore[return-value]

    registry = SourceAdapterRegistry()
    registry.register(SourceAdapterKind.HTTP_CONTRACT, factory)
    config = TenantSourceConfig(options={"client_code": "acme01"})

    built = registry.build("acme", config, KEYED, default_base_url=DEFAULT_BASE_URL)

    assert built is fake
    assert received == [SourceConnection("acme", DEFAULT_BASE_URL, KEYED, {"client_code": "acme01"})]


@pytest.mark.parametrize(
    "bad",
    [
        {"adapter": "carrier_pigeon"},
        {"base_url": "ftp://billing.example"},
        {"options": {"Bad Name": "x"}},
        {"api_key": "sk"},
    ],
)
def test_given_a_bad_source_config_then_the_model_refuses_it(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TenantSourceConfig.model_validate(bad)


def test_given_credentials_when_printed_then_no_secret_shows() -> None:
    assert "sk_acme" not in repr(KEYED)
