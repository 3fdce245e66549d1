"""Adapters per tenant: the tenant's ``TenantSourceConfig`` names an adapter kind, the registry
builds that adapter. The push, pull, bulk and reconcile flows only ever see the ``SourcePort``.

The composition root calls ``default_registry().build(...)`` once per tenant; tests and new
adapters ``register`` their own factory for a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from qbosync.errors import Conflict
from qbosync.source.config import (
    SourceAdapterCredentials,
    SourceAdapterKind,
    TenantSourceConfig,
    missing_options,
)
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.port import SourcePort

if TYPE_CHECKING:
    from qbosync.source.revio.client import RevioClient
    from qbosync.source.revio.versions import VersionStore
    from qbosync.source.revio.write_keys import WriteKeyStore


class SourceAdapterMisconfigured(Conflict):
    """The tenant's source connection cannot be built as configured (unknown adapter, missing secret)."""

    code = "source_adapter_misconfigured"


@dataclass(frozen=True)
class SourceConnection:
    """Everything an adapter factory gets for one tenant."""

    tenant_id: str
    base_url: str
    credentials: SourceAdapterCredentials
    options: Mapping[str, str] = field(default_factory=dict)
    version_store: VersionStore | None = None
    """Where an adapter for a source without versions keeps its counters (``versions.py``); None: in
    this process only."""
    write_keys: WriteKeyStore | None = None
    """Where an adapter for a source without idempotency keys claims them (``write_keys.py``); None: in
    this process only."""


SourceAdapterFactory = Callable[[SourceConnection], SourcePort]


def http_contract_adapter(connection: SourceConnection) -> SourcePort:
    """``HttpSourceAdapter`` for a system that speaks the source contract; needs ``api_key``."""
    if connection.credentials.api_key is None:
        raise SourceAdapterMisconfigured(
            f"tenant {connection.tenant_id!r}: the http_contract adapter needs an api_key secret",
            details=[{"adapter": SourceAdapterKind.HTTP_CONTRACT.value, "missing": "api_key"}],
        )
    return HttpSourceAdapter(
        connection.base_url, connection.tenant_id, connection.credentials.api_key.get_secret_value()
    )


def revio_adapter(connection: SourceConnection) -> SourcePort:
    """``RevioAdapter`` for a Rev.io billing client (``revio_client`` says what it needs). Versions and
    idempotency keys are kept in the connection's ``version_store`` and ``write_keys`` (DynamoDB:
    ``qbosync.store.source_versions``, ``qbosync.store.source_write_keys``), else in this process."""
    from qbosync.source.revio.adapter import RevioAdapter
    from qbosync.source.revio.versions import VersionLedger, shared_version_store
    from qbosync.source.revio.write_keys import shared_write_keys

    return RevioAdapter(
        connection.tenant_id,
        revio_client(connection),
        versions=VersionLedger(
            connection.version_store or shared_version_store(connection.tenant_id), _utc_now
        ),
        write_keys=connection.write_keys or shared_write_keys(connection.tenant_id),
    )


def revio_client(connection: SourceConnection) -> RevioClient:
    """The Rev.io API client of one tenant; needs ``username``, ``password`` and ``subscription_key``
    secrets and the ``client_code`` option (``SourceAdapterMisconfigured`` naming each one missing)."""
    from qbosync.source.revio.client import RevioClient, RevioCredentials

    secrets = connection.credentials
    missing = secrets.missing_for(SourceAdapterKind.REVIO) + missing_options(
        TenantSourceConfig(adapter=SourceAdapterKind.REVIO, options=dict(connection.options))
    )
    if missing or secrets.username is None or secrets.password is None or secrets.subscription_key is None:
        raise SourceAdapterMisconfigured(
            f"tenant {connection.tenant_id!r}: the revio adapter needs {', '.join(missing)}",
            details=[{"adapter": SourceAdapterKind.REVIO.value, "missing": name} for name in missing],
        )
    credentials = RevioCredentials(
        username=secrets.username.get_secret_value(),
        client_code=connection.options["client_code"],
        password=secrets.password.get_secret_value(),
        subscription_key=secrets.subscription_key.get_secret_value(),
    )
    return RevioClient(credentials, base_url=connection.base_url)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SourceAdapterRegistry:
    """Adapter kind → factory."""

    def __init__(self, factories: Mapping[SourceAdapterKind, SourceAdapterFactory] | None = None) -> None:
        self._factories: dict[SourceAdapterKind, SourceAdapterFactory] = dict(factories or {})

    def register(self, kind: SourceAdapterKind, factory: SourceAdapterFactory) -> None:
        self._factories[kind] = factory

    def kinds(self) -> list[SourceAdapterKind]:
        return sorted(self._factories)

    def build(
        self,
        tenant_id: str,
        config: TenantSourceConfig | None,
        credentials: SourceAdapterCredentials,
        *,
        default_base_url: str,
        version_store: VersionStore | None = None,
        write_keys: WriteKeyStore | None = None,
    ) -> SourcePort:
        """The tenant's adapter; a tenant without a source config uses the contract adapter at the
        deployment's base URL (what every tenant did before adapters were chosen per tenant)."""
        chosen = config or TenantSourceConfig()
        factory = self._factories.get(chosen.adapter)
        if factory is None:
            raise SourceAdapterMisconfigured(
                f"tenant {tenant_id!r}: no adapter {chosen.adapter.value!r} in this deployment",
                details=[{"adapter": chosen.adapter.value, "available": [k.value for k in self.kinds()]}],
            )
        base_url = chosen.base_url or default_base_url
        return factory(
            SourceConnection(
                tenant_id, base_url, credentials, dict(chosen.options), version_store, write_keys
            )
        )


def default_registry() -> SourceAdapterRegistry:
    """Every adapter qbosync ships."""
    return SourceAdapterRegistry(
        {SourceAdapterKind.HTTP_CONTRACT: http_contract_adapter, SourceAdapterKind.REVIO: revio_adapter}
    )
