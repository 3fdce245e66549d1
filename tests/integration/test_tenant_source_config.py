"""A tenant record names its source adapter and base URL (moto), and the registry builds it."""

from __future__ import annotations

import pytest

from qbosync.source.config import SourceAdapterCredentials, SourceAdapterKind, TenantSourceConfig
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.registry import default_registry
from qbosync.store.tenants import Tenant, TenantRepository


@pytest.fixture
def tenants(main_table: str) -> TenantRepository:
    """The tenant registry on the main table as template.yaml declares it (moto)."""
    return TenantRepository()


SOURCE = TenantSourceConfig(
    adapter=SourceAdapterKind.HTTP_CONTRACT,
    base_url="https://billing.acme.example/api",
    options={"region": "us"},
)


def test_given_a_tenant_with_a_source_config_when_it_is_read_then_the_config_comes_back(
    tenants: TenantRepository,
) -> None:
    tenants.register(Tenant(tenant_id="acme", name="Acme", source=SOURCE))

    assert tenants.get("acme").source == SOURCE


def test_given_a_tenant_registered_again_with_a_source_config_then_the_config_is_set(
    tenants: TenantRepository,
) -> None:
    tenants.register(Tenant(tenant_id="acme", name="Acme"))
    assert tenants.get("acme").source is None

    tenants.register(Tenant(tenant_id="acme", name="Acme", source=SOURCE))
    tenants.register(Tenant(tenant_id="acme", name="Acme (renamed)"))

    assert tenants.get("acme").source == SOURCE  # registering without one keeps it


def test_given_a_stored_tenant_when_its_adapter_is_built_then_it_reaches_the_tenants_base_url(
    tenants: TenantRepository,
) -> None:
    tenants.register(Tenant(tenant_id="acme", name="Acme", source=SOURCE))
    credentials = SourceAdapterCredentials.model_validate({"api_key": "sk_acme", "webhook_secret": "w"})

    adapter = default_registry().build(
        "acme", tenants.get("acme").source, credentials, default_base_url="http://127.0.0.1:8766"
    )

    assert isinstance(adapter, HttpSourceAdapter)
    assert adapter._tenant_root == "https://billing.acme.example/api/tenants/acme"
