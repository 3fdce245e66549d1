"""The admin API's collaborators in one container, so tests pass fakes and moto-backed stores.

Defaults are created lazily (on first use, never at import) from ``qbosync.sync.wiring``, the
composition root.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbosync.api.auth import TenantLookup
from qbosync.clock import utc_now
from qbosync.qbo.read_budget import ReadBudget
from qbosync.settings import get_read_budget_settings
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.config import (
    AuditRepository,
    MappingRepository,
    ReferenceCacheRepository,
    SettingsRepository,
)
from qbosync.store.connections import ConnectionRepository
from qbosync.store.reconcile_signals import ReconcileSignalRepository
from qbosync.store.tenants import TenantRepository
from qbosync.sync import wiring
from qbosync.sync.backstop import ReconcileCadence
from qbosync.sync.configuration import ConfigurationService
from qbosync.sync.reference import (
    ConnectionReader,
    ReferenceCatalog,
    ReferenceReader,
    require_connected,
)
from qbosync.sync.source_reference import SourceCatalog, SourceReferenceReader


def _default_tenants() -> TenantLookup:
    return TenantRepository()


def _default_connections() -> ConnectionReader:
    return ConnectionRepository()


@dataclass
class ApiDependencies:
    """Everything the admin API routes call."""

    tenants: TenantLookup = field(default_factory=_default_tenants)
    connections: ConnectionReader = field(default_factory=_default_connections)
    qbo_reader_for: Callable[[str], ReferenceReader] = wiring.qbo_client_for_tenant
    source_reader_for: Callable[[str], SourceReferenceReader] = wiring.source_for_tenant
    settings: SettingsRepository = field(default_factory=SettingsRepository)
    mappings: MappingRepository = field(default_factory=MappingRepository)
    audit: AuditRepository = field(default_factory=AuditRepository)
    reference_cache: ReferenceCacheRepository = field(default_factory=ReferenceCacheRepository)
    clock: Callable[[], datetime] = utc_now
    epoch_clock: Callable[[], float] = time.time
    # The connect / callback / disconnect flows (``qbosync.sync.connection.ConnectionService``); built
    # from ``qbosync.sync.wiring`` on first use when not given.
    connection_flows: Callable[[], Any] | None = None
    # Called with (tenant, kind, source keys) after a mappings change: events that failed for want of
    # one of those mappings are queued again. Returns how many.
    mappings_added: Callable[[str, str, list[str]], int] = wiring.release_events_waiting_for_mappings
    # Called with the tenant after a settings save that has a go-live date: document pushes parked for
    # want of one are queued again. Returns how many.
    go_live_set: Callable[[str], int] = wiring.release_events_waiting_for_go_live
    # The app-wide read budget and when reconciliation reads (GET /budget, /tenants/{t}/read-budget,
    # POST /tenants/{t}/reconcile).
    read_budget: Callable[[], ReadBudget] = wiring.read_budget
    reconcile_cadence: Callable[[], ReconcileCadence] = wiring.reconcile_cadence
    reconcile_signals: ReconcileSignalRepository = field(default_factory=ReconcileSignalRepository)
    checkpoints: CheckpointRepository = field(default_factory=CheckpointRepository)
    reference_ttl_seconds: float = field(
        default_factory=lambda: float(get_read_budget_settings().reference_cache_seconds)
    )

    def configuration(self) -> ConfigurationService:
        return ConfigurationService(self.settings, self.mappings, self.audit, self.clock)

    def connected_qbo(self, tenant_id: str) -> tuple[ReferenceReader, ReferenceCatalog]:
        """A QBO reader and reference catalog for a connected tenant; ``NotConnected`` otherwise."""
        require_connected(self.connections.get(tenant_id))
        reader = self.qbo_reader_for(tenant_id)
        catalog = ReferenceCatalog(
            tenant_id, reader, self.reference_cache, self.epoch_clock, ttl_seconds=self.reference_ttl_seconds
        )
        return reader, catalog

    def catalog_for(self, tenant_id: str) -> Callable[[], ReferenceCatalog]:
        """A deferred catalog: built (and the connection checked) only if a change needs live QBO data."""

        def build() -> ReferenceCatalog:
            return self.connected_qbo(tenant_id)[1]

        return build

    def source_catalog(self, tenant_id: str) -> SourceCatalog:
        """The tenant's source reference lists, cached in the same store as the QBO side's."""
        return SourceCatalog(
            tenant_id, self.source_reader_for(tenant_id), self.reference_cache, self.epoch_clock
        )

    def source_catalog_for(self, tenant_id: str) -> Callable[[], SourceCatalog]:
        """A deferred source catalog: built only if a change names source keys."""

        def build() -> SourceCatalog:
            return self.source_catalog(tenant_id)

        return build
