"""Tenant registry and application secrets under moto."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from qbosync.settings import get_settings
from qbosync.store.app_secrets import (
    AppSecrets,
    SecretBox,
    SecretMissing,
    TenantSecrets,
    derive_source_webhook_secret,
)
from qbosync.store.aws import secrets_client
from qbosync.store.source_credentials import SOURCE_CREDENTIALS_SK, SourceCredentialsStore
from qbosync.store.table import MainTable, tenant_pk
from qbosync.store.tenants import Tenant, TenantRepository, UnknownTenant
from qbosync.store.token_backup import SealingUnavailable


@pytest.fixture
def tenants() -> Iterator[TenantRepository]:
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="qbosync-local",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield TenantRepository()


def test_given_a_registered_tenant_when_it_is_read_then_it_comes_back(tenants: TenantRepository) -> None:
    tenants.register(Tenant(tenant_id="acme-psa", name="Acme PSA"))
    assert tenants.get("acme-psa").name == "Acme PSA"
    assert tenants.exists("acme-psa")


def test_given_a_tenant_registered_twice_then_its_creation_time_is_kept(tenants: TenantRepository) -> None:
    first = Tenant(tenant_id="acme-psa", name="Acme PSA")
    tenants.register(first)
    tenants.register(Tenant(tenant_id="acme-psa", name="Acme PSA (renamed)"))
    stored = tenants.get("acme-psa")
    assert stored.name == "Acme PSA (renamed)"
    assert stored.created_at == first.created_at


def test_given_an_unknown_tenant_when_it_is_read_then_a_404_error_is_raised(
    tenants: TenantRepository,
) -> None:
    with pytest.raises(UnknownTenant) as raised:
        tenants.get("nobody")
    assert raised.value.status == 404
    assert not tenants.exists("nobody")


def test_given_a_malformed_tenant_id_then_the_model_refuses_it() -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        Tenant(tenant_id="../etc", name="x")


def test_given_provisioned_secrets_when_read_then_values_are_secret_strings(main_table: str) -> None:
    app = AppSecrets()
    app.put_intuit_app("client-1", "s3cr3t-value", "verifier-value")
    app.put_state_signing_key()
    app.put_source_webhook_key("app-webhook-key")
    TenantSecrets().put_source_credentials("acme-psa", "api-key-value")

    intuit = AppSecrets(SecretBox()).intuit_app()
    assert intuit.client_id == "client-1"
    assert intuit.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(intuit)
    assert len(AppSecrets().state_signing_key().get_secret_value()) >= 32
    creds = TenantSecrets().source_credentials("acme-psa")
    assert creds.api_key.get_secret_value() == "api-key-value"
    assert "api-key-value" not in repr(creds)
    assert AppSecrets().webhook_verifier_token().get_secret_value() == "verifier-value"
    derived = AppSecrets().source_webhook_secret("acme-psa", 1)
    assert derived.get_secret_value() == derive_source_webhook_secret("app-webhook-key", "acme-psa", 1)


def test_given_a_source_secret_of_an_older_version_when_migrated_then_its_webhook_secret_is_dropped(
    main_table: str,
) -> None:
    secrets_client().create_secret(
        Name=get_settings().tenant_source_secret_name("acme-psa"),
        SecretString='{"api_key": "api-key-value", "webhook_secret": "stored-before"}',
    )

    migrated = TenantSecrets().migrate_source_credentials("acme-psa")

    creds = TenantSecrets().source_credentials("acme-psa")
    assert migrated is True
    assert SourceCredentialsStore().get("acme-psa") == {"api_key": "api-key-value"}

    assert creds.api_key.get_secret_value() == "api-key-value"
    assert "webhook_secret" not in creds.model_dump()


def test_given_one_app_key_when_secrets_are_derived_then_they_differ_by_tenant_and_by_version() -> None:
    derived = {
        derive_source_webhook_secret("app-key", tenant, version)
        for tenant in ("acme", "globex")
        for version in (1, 2)
    }

    assert len(derived) == 4
    assert derive_source_webhook_secret("other-key", "acme", 1) not in derived


def test_given_a_missing_secret_when_read_then_a_typed_error_is_raised(main_table: str) -> None:
    with pytest.raises(SecretMissing):
        TenantSecrets().source_credentials("nobody")


@mock_aws
def test_given_a_cached_secret_when_it_changes_then_a_fresh_read_sees_the_new_value() -> None:
    box = SecretBox(max_age_seconds=3600)
    box.write("qbosync/local/x", {"v": 1})
    boto3.client("secretsmanager").put_secret_value(SecretId="qbosync/local/x", SecretString='{"v": 2}')
    assert box.read("qbosync/local/x") == {"v": 1}
    assert box.read("qbosync/local/x", fresh=True) == {"v": 2}
    box.delete("qbosync/local/x")
    with pytest.raises(SecretMissing):
        box.read("qbosync/local/x", fresh=True)


def test_given_sealed_source_credentials_when_stored_then_the_item_holds_only_ciphertext(
    main_table: str,
) -> None:
    TenantSecrets().put_source_credentials("acme", "api-key-value")

    item = MainTable().get(tenant_pk("acme"), SOURCE_CREDENTIALS_SK)

    assert item is not None
    assert set(item) == {"pk", "sk", "item_type", "schema_version", "sealed", "written_at"}
    assert "api-key-value" not in str(item)
    assert SourceCredentialsStore().get("acme") == {"api_key": "api-key-value"}
    assert not secrets_client().list_secrets()["SecretList"]  # no secret for the tenant


def test_given_one_tenants_ciphertext_copied_into_anothers_item_when_read_then_kms_refuses_it(
    main_table: str,
) -> None:
    store = SourceCredentialsStore()
    store.put("acme", {"api_key": "acme-key"})
    store.put("globex", {"api_key": "globex-key"})
    table = MainTable()
    acme_item = table.get(tenant_pk("acme"), SOURCE_CREDENTIALS_SK)
    assert acme_item is not None
    table.put({**acme_item, "pk": tenant_pk("globex")})

    with pytest.raises(SealingUnavailable) as refused:
        TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("globex")

    assert refused.value.transient is False
    assert store.get("acme") == {"api_key": "acme-key"}


def test_given_no_source_credentials_key_when_provisioning_then_it_fails_for_good_and_stores_nothing(
    main_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_CREDENTIALS_KEY_ID", "alias/qbosync/nowhere")
    get_settings.cache_clear()

    with pytest.raises(SealingUnavailable) as failed:
        TenantSecrets().put_source_credentials("acme", "api-key-value")

    assert failed.value.transient is False
    assert MainTable().get(tenant_pk("acme"), SOURCE_CREDENTIALS_SK) is None


def test_given_cached_source_credentials_when_replaced_elsewhere_then_a_fresh_read_sees_the_new_key(
    main_table: str,
) -> None:
    ticks = [0.0]
    reader = TenantSecrets(SecretBox(max_age_seconds=300, clock=lambda: ticks[0]))
    TenantSecrets().put_source_credentials("acme", "key-1")
    assert reader.source_credentials("acme").api_key.get_secret_value() == "key-1"

    TenantSecrets().put_source_credentials("acme", "key-2")

    assert reader.source_credentials("acme").api_key.get_secret_value() == "key-1"
    assert reader.source_credentials("acme", fresh=True).api_key.get_secret_value() == "key-2"
    TenantSecrets().put_source_credentials("acme", "key-3")
    ticks[0] = 301.0
    assert reader.source_credentials("acme").api_key.get_secret_value() == "key-3"
