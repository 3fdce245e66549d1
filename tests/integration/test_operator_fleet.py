"""Operator actions on moto: register, source credentials, rotation, fleet listing, offboard and purge."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from qbosync.operator.__main__ import run
from qbosync.operator.fleet import FleetOperator, TenantOffboarded
from qbosync.settings import get_settings
from qbosync.store.app_secrets import (
    AppSecrets,
    SecretBox,
    SecretMissing,
    TenantSecrets,
    derive_source_webhook_secret,
)
from qbosync.store.aws import secrets_client
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import EventFailure, EventRepository, ReasonCode, SyncEvent
from qbosync.store.source_credentials import SOURCE_CREDENTIALS_SK, SourceCredentialsStore
from qbosync.store.table import MainTable, governor_pk, realm_pk, tenant_pk
from qbosync.store.tenants import TenantRepository, UnknownTenant

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP_WEBHOOK_KEY = "app-source-webhook-key-for-tests"


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class RecordingDisconnect:
    """Stands for the connection service's disconnect (revoke at Intuit, delete tokens, mark disconnected)."""

    def __init__(self, connections: ConnectionRepository) -> None:
        self.calls: list[tuple[str, str]] = []
        self.forced: list[bool] = []
        self._connections = connections

    def __call__(self, tenant_id: str, operator: str, *, force: bool = False) -> None:
        self.calls.append((tenant_id, operator))
        self.forced.append(force)
        self._connections.mark_disconnected(tenant_id, operator, NOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def disconnect(main_table: str) -> RecordingDisconnect:
    return RecordingDisconnect(ConnectionRepository())


@pytest.fixture
def operator(main_table: str, clock: FakeClock, disconnect: RecordingDisconnect) -> FleetOperator:
    AppSecrets().put_source_webhook_key(APP_WEBHOOK_KEY)
    return FleetOperator(disconnect=disconnect, clock=clock)


def _connect(tenant_id: str, realm_id: str) -> None:
    ConnectionRepository().record_connected(
        Connection(tenant_id=tenant_id, realm_id=realm_id, connected_by="admin", connected_at=NOW)
    )


def _secret_names() -> set[str]:
    return {entry["Name"] for entry in secrets_client().list_secrets()["SecretList"]}


def test_given_an_intuit_app_set_through_the_cli_when_read_then_the_stack_secret_holds_it(
    operator: FleetOperator,
) -> None:
    code = run(["intuit-app", "--client-id", "ABC"], operator=operator, stdin=io.StringIO("s3cr3t\nverif\n"))

    secrets = AppSecrets(SecretBox(max_age_seconds=0))
    app = secrets.intuit_app()
    assert code == 0
    assert (app.client_id, app.client_secret.get_secret_value()) == ("ABC", "s3cr3t")
    assert secrets.webhook_verifier_token().get_secret_value() == "verif"


def test_given_an_intuit_app_when_stored_then_the_verifier_token_has_a_secret_of_its_own(
    operator: FleetOperator,
) -> None:
    operator.set_intuit_app("ABC", "s3cr3t", "verif")

    settings = get_settings()
    verifier = secrets_client().get_secret_value(SecretId=settings.intuit_webhook_verifier_secret_name)
    app = secrets_client().get_secret_value(SecretId=settings.intuit_app_secret_name)
    assert json.loads(verifier["SecretString"]) == {"verifier_token": "verif"}
    assert "verif" not in app["SecretString"]


def test_given_a_missing_verifier_token_when_setting_the_intuit_app_then_it_is_refused_and_nothing_stored(
    operator: FleetOperator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["intuit-app", "--client-id", "ABC"], operator=operator, stdin=io.StringIO("s3cr3t\n"))

    assert code == 2
    assert "required" in capsys.readouterr().err
    with pytest.raises(SecretMissing):
        AppSecrets(SecretBox(max_age_seconds=0)).intuit_app()


def test_given_a_registered_tenant_when_source_credentials_are_provisioned_then_a_webhook_secret_is_made(
    operator: FleetOperator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["register", "acme", "--name", "Acme PSA"], operator=operator) == 0
    capsys.readouterr()

    code = run(["source-credentials", "acme"], operator=operator, stdin=io.StringIO("api-key-1\n"))

    printed = json.loads(capsys.readouterr().out)
    item = MainTable().get(tenant_pk("acme"), SOURCE_CREDENTIALS_SK)
    assert code == 0
    assert printed == {
        "tenant_id": "acme",
        "webhook_secret": derive_source_webhook_secret(APP_WEBHOOK_KEY, "acme", 1),
    }
    # Only the API key is stored per tenant, sealed in its item: no secret of its own; the webhook
    # secret is derived from the app key.
    assert item is not None and "api-key-1" not in json.dumps(item)
    assert SourceCredentialsStore().get("acme") == {"api_key": "api-key-1"}
    assert not any("/tenants/acme/" in name for name in _secret_names())


def test_given_two_tenants_when_their_webhook_secrets_are_printed_then_each_has_its_own(
    operator: FleetOperator, capsys: pytest.CaptureFixture[str]
) -> None:
    operator.register("acme", "Acme PSA")
    operator.register("globex", "Globex")

    assert run(["webhook-secret", "acme"], operator=operator) == 0
    acme = json.loads(capsys.readouterr().out)["webhook_secret"]
    assert run(["webhook-secret", "globex"], operator=operator) == 0
    globex = json.loads(capsys.readouterr().out)["webhook_secret"]

    assert acme == derive_source_webhook_secret(APP_WEBHOOK_KEY, "acme", 1)
    assert globex == derive_source_webhook_secret(APP_WEBHOOK_KEY, "globex", 1)
    assert acme != globex


def test_given_source_credentials_when_the_webhook_secret_is_rotated_then_the_next_version_signs(
    operator: FleetOperator,
) -> None:
    operator.register("acme", "Acme PSA")
    before = operator.provision_source("acme", "api-key-1")

    rotated = operator.rotate_webhook_secret("acme")

    stored = TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("acme")
    assert rotated != before
    assert rotated == derive_source_webhook_secret(APP_WEBHOOK_KEY, "acme", 2)
    assert operator.webhook_secret("acme") == rotated
    assert stored.api_key.get_secret_value() == "api-key-1"


def test_given_an_unregistered_tenant_when_provisioning_then_the_cli_refuses_and_stores_nothing(
    operator: FleetOperator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["source-credentials", "ghost"], operator=operator, stdin=io.StringIO("api-key\n"))

    assert code == 2
    assert "not registered" in capsys.readouterr().err
    assert get_settings().tenant_source_secret_name("ghost") not in _secret_names()
    assert MainTable().get(tenant_pk("ghost"), SOURCE_CREDENTIALS_SK) is None


def test_given_a_fleet_when_listed_then_each_tenant_shows_connection_checkpoints_and_failures(
    operator: FleetOperator,
) -> None:
    operator.register("acme", "Acme PSA")
    operator.register("beta", "Beta Books")
    _connect("acme", "9130001")
    CheckpointRepository().put("acme", "qbo", NOW - timedelta(minutes=15))
    events = EventRepository()
    for number in range(3):
        event = SyncEvent(
            tenant_id="acme",
            event_id=f"evt-{number}",
            kind="invoice.created",
            source_object_id=f"inv-{number}",
            source_version=1,
            received_at=NOW,
            updated_at=NOW,
        )
        events.record_received(event)
        events.mark_failed(
            "acme", f"evt-{number}", EventFailure.of(ReasonCode.MISSING_MAPPING, "no GL code mapped"), NOW
        )

    fleet = {summary.tenant_id: summary for summary in operator.list_fleet()}

    assert set(fleet) == {"acme", "beta"}
    assert fleet["acme"].connection == "connected"
    assert fleet["acme"].realm_id == "9130001"
    assert fleet["acme"].last_qbo_reconcile == NOW - timedelta(minutes=15)
    assert fleet["acme"].failed_events == 3
    assert fleet["beta"].connection == "not_connected"
    assert fleet["beta"].failed_events == 0


def test_given_a_connected_tenant_when_offboarded_then_it_is_revoked_its_secrets_go_and_routes_refuse_it(
    operator: FleetOperator, disconnect: RecordingDisconnect
) -> None:
    operator.register("acme", "Acme PSA")
    operator.provision_source("acme", "api-key")
    _connect("acme", "9130001")

    report = operator.offboard("acme", "ops@vendor", retention_days=30)

    assert disconnect.calls == [("acme", "ops@vendor")]
    assert report.disconnected is True
    assert report.purge_after == NOW + timedelta(days=30)
    assert MainTable().get(tenant_pk("acme"), SOURCE_CREDENTIALS_SK) is None
    with pytest.raises(SecretMissing):
        TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("acme")
    with pytest.raises(UnknownTenant):
        TenantRepository().get("acme")
    with pytest.raises(TenantOffboarded):
        operator.register("acme", "Acme again")


def test_given_an_offboarded_tenant_when_purged_before_and_after_its_retention_then_data_goes_only_after(
    operator: FleetOperator, clock: FakeClock
) -> None:
    operator.register("acme", "Acme PSA")
    operator.register("beta", "Beta Books")
    _connect("acme", "9130001")
    _connect("beta", "9130002")
    table = MainTable()
    table.put({"pk": governor_pk("9130001"), "sk": "PENALTY", "until": 1})
    operator.offboard("acme", "ops@vendor", retention_days=30)

    early = operator.purge()
    clock.now = NOW + timedelta(days=30)
    purged = operator.purge()

    assert early == []
    assert [report.tenant_id for report in purged] == ["acme"]
    assert list(table.query_all(tenant_pk("acme"))) == []
    assert list(table.query_all(realm_pk("9130001"))) == []
    assert list(table.query_all(governor_pk("9130001"))) == []
    assert TenantRepository().profile("acme") is None
    assert TenantRepository().get("beta").name == "Beta Books"
    assert list(table.query_all(realm_pk("9130002")))
    operator.register("acme", "Acme PSA, new contract")  # purged: the id is free again


def test_given_a_company_another_tenant_connected_since_when_purging_then_its_realm_items_are_kept(
    operator: FleetOperator, clock: FakeClock
) -> None:
    operator.register("acme", "Acme PSA")
    operator.register("beta", "Beta Books")
    _connect("acme", "9130001")
    operator.offboard("acme", "ops@vendor", retention_days=0)
    _connect("beta", "9130001")

    purged = operator.purge("acme")

    assert [report.tenant_id for report in purged] == ["acme"]
    owner = MainTable().get(realm_pk("9130001"), "OWNER")
    assert owner is not None
    assert owner["tenant_id"] == "beta"


def _legacy_source_secret(tenant_id: str, api_key: str) -> None:
    """Source credentials as versions before the sealed item kept them: a secret per tenant."""
    secrets_client().create_secret(
        Name=get_settings().tenant_source_secret_name(tenant_id),
        SecretString=json.dumps({"api_key": api_key, "webhook_secret": "stored-before"}),
    )


def test_given_tenants_with_source_secrets_of_an_older_version_when_migrated_then_sealed_and_secrets_deleted(
    operator: FleetOperator, capsys: pytest.CaptureFixture[str]
) -> None:
    operator.register("acme", "Acme PSA")
    operator.register("globex", "Globex")
    operator.register("initech", "Initech")
    _legacy_source_secret("acme", "acme-key")
    _legacy_source_secret("globex", "globex-old-key")
    operator.provision_source("globex", "globex-new-key")  # written after the upgrade: it wins
    with pytest.raises(SecretMissing):
        TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("acme")

    code = run(["migrate-source-credentials"], operator=operator)

    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"source_secrets_migrated": 2}
    secrets = TenantSecrets(SecretBox(max_age_seconds=0))
    assert secrets.source_credentials("acme").api_key.get_secret_value() == "acme-key"
    assert secrets.source_credentials("globex").api_key.get_secret_value() == "globex-new-key"
    assert not any(name.endswith("/source") for name in _secret_names())
    assert operator.migrate_source_credentials() == {"source_secrets_migrated": 0}


def test_given_an_unmigrated_tenant_when_offboarded_then_its_old_source_secret_goes_too(
    operator: FleetOperator,
) -> None:
    operator.register("acme", "Acme PSA")
    _legacy_source_secret("acme", "acme-key")

    operator.offboard("acme", "ops@vendor")

    assert get_settings().tenant_source_secret_name("acme") not in _secret_names()


def test_given_sealed_source_credentials_when_the_tenant_is_purged_then_the_item_goes(
    operator: FleetOperator, clock: FakeClock
) -> None:
    operator.register("acme", "Acme PSA")
    operator.provision_source("acme", "api-key")
    operator.offboard("acme", "ops@vendor", retention_days=0)
    MainTable().put(
        {
            "pk": tenant_pk("acme"),
            "sk": SOURCE_CREDENTIALS_SK,
            "item_type": "source_credentials",
            "sealed": "x",
        }
    )  # as if a provisioning raced the offboarding

    operator.purge("acme")

    assert MainTable().get(tenant_pk("acme"), SOURCE_CREDENTIALS_SK) is None
