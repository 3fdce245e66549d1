"""The admin API's collaborators in one container, so tests pass fakes and moto-backed stores.

Defaults are created lazily (on first use, never at import) from ``qbosync.sync.wiring``, the
composition root.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qbosync.clock import utc_now
from qbosync.sync import wiring

# Stores and services are imported where they are first built: a request imports what its route uses.
if TYPE_CHECKING:
    from datetime import datetime

    from qbosync.api.auth import TenantLookup
    from qbosync.qbo.read_budget import ReadBudget
    from qbosync.store.checkpoints import CheckpointRepository
    from qbosync.store.config import (
        AuditRepository,
        MappingRepository,
        ReferenceCacheRepository,
        SettingsRepository,
    )
    from qbosync.store.reconcile_signals import ReconcileSignalRepository
    from qbosync.sync.backstop import ReconcileCadence
    from qbosync.sync.configuration import ConfigurationService
    from qbosync.sync.reference import ConnectionReader, ReferenceCatalog, ReferenceReader
    from qbosync.sync.source_reference import SourceCatalog, SourceReferenceReader


def _default_tenants() -> TenantLookup:
    from qbosync.store.tenants import TenantRepository

    return TenantRepository()


def _default_connections() -> ConnectionReader:
    from qbosync.store.connections import ConnectionRepository

    return ConnectionRepository()


def _default_settings() -> SettingsRepository:
    from qbosync.store.config import SettingsRepository

    return SettingsRepository()


def _default_mappings() -> MappingRepository:
    from qbosync.store.config import MappingRepository

    return MappingRepository()


def _default_audit() -> AuditRepository:
    from qbosync.store.config import AuditRepository

    return AuditRepository()


def _default_reference_cache() -> ReferenceCacheRepository:
    from qbosync.store.config import ReferenceCacheRepository

    return ReferenceCacheRepository()


def _default_reconcile_signals() -> ReconcileSignalRepository:
    from qbosync.store.reconcile_signals import ReconcileSignalRepository

    return ReconcileSignalRepository()


def _default_checkpoints() -> CheckpointRepository:
    from qbosync.store.checkpoints import CheckpointRepository

    return CheckpointRepository()


def _reference_ttl_seconds() -> float:
    from qbosync.settings import get_read_budget_settings

    return float(get_read_budget_settings().reference_cache_seconds)


@dataclass
class ApiDependencies:
    """Everything the admin API routes call."""

    tenants: TenantLookup = field(default_factory=_default_tenants)
    connections: ConnectionReader = field(default_factory=_default_connections)
    qbo_reader_for: Callable[[str], ReferenceReader] = wiring.qbo_client_for_tenant
    source_reader_for: Callable[[str], SourceReferenceReader] = wiring.source_for_tenant
    settings: SettingsRepository = field(default_factory=_default_settings)
    mappings: MappingRepository = field(default_factory=_default_mappings)
    audit: AuditRepository = field(default_factory=_default_audit)
    reference_cache: ReferenceCacheRepository = field(default_factory=_default_reference_cache)
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
    reconcile_signals: ReconcileSignalRepository = field(default_factory=_default_reconcile_signals)
    checkpoints: CheckpointRepository = field(default_factory=_default_checkpoints)
    reference_ttl_seconds: float = field(default_factory=_reference_ttl_seconds)

    def configuration(self) -> ConfigurationService:
        from qbosync.sync.configuration import ConfigurationService

        return ConfigurationService(self.settings, self.mappings, self.audit, self.clock)

    def connected_qbo(self, tenant_id: str) -> tuple[ReferenceReader, ReferenceCatalog]:
        """A QBO reader and reference catalog for a connected tenant; ``NotConnected`` otherwise."""
        from qbosync.sync.reference import ReferenceCatalog, require_connected

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
        from qbosync.sync.source_reference import SourceCatalog

        return SourceCatalog(
            tenant_id, self.source_reader_for(tenant_id), self.reference_cache, self.epoch_clock
        )

    def source_catalog_for(self, tenant_id: str) -> Callable[[], SourceCatalog]:
        """A deferred source catalog: built only if a change names source keys."""

        def build() -> SourceCatalog:
            return self.source_catalog(tenant_id)

        return build
