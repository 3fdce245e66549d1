"""The admin API's collaborators in one container, so tests pass fakes and moto-backed stores.

Defaults are created lazily (on first use, never at import), and the modules other parts of qbosync
own are imported by name inside the factories, so this module imports without them.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from qbosync.api.auth import TenantLookup
from qbosync.clock import utc_now
from qbosync.store.config import (
    AuditRepository,
    MappingRepository,
    ReferenceCacheRepository,
    SettingsRepository,
)
from qbosync.sync.configuration import ConfigurationService
from qbosync.sync.preflight import SourceReferenceReader
from qbosync.sync.reference import (
    ConnectionReader,
    ReferenceCatalog,
    ReferenceReader,
    require_connected,
)


def _attribute(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _default_tenants() -> TenantLookup:
    return cast(TenantLookup, _attribute("qbosync.store.tenants", "TenantRepository")())


def _default_connections() -> ConnectionReader:
    return cast(ConnectionReader, _attribute("qbosync.store.connections", "ConnectionRepository")())


def _default_qbo_reader_for() -> Callable[[str], ReferenceReader]:
    return cast(Callable[[str], ReferenceReader], _attribute("qbosync.sync.wiring", "qbo_client_for_tenant"))


def _default_source_reader_for() -> Callable[[str], SourceReferenceReader]:
    return cast(
        Callable[[str], SourceReferenceReader], _attribute("qbosync.sync.wiring", "source_for_tenant")
    )


def _default_mappings_added() -> Callable[[str, str, list[str]], int]:
    return cast(
        Callable[[str, str, list[str]], int],
        _attribute("qbosync.sync.push.replay", "release_events_waiting_for_mappings"),
    )


@dataclass
class ApiDependencies:
    """Everything the admin API routes call."""

    tenants: TenantLookup = field(default_factory=_default_tenants)
    connections: ConnectionReader = field(default_factory=_default_connections)
    qbo_reader_for: Callable[[str], ReferenceReader] = field(default_factory=_default_qbo_reader_for)
    source_reader_for: Callable[[str], SourceReferenceReader] = field(
        default_factory=_default_source_reader_for
    )
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
    mappings_added: Callable[[str, str, list[str]], int] = field(default_factory=_default_mappings_added)

    def configuration(self) -> ConfigurationService:
        return ConfigurationService(self.settings, self.mappings, self.audit, self.clock)

    def connected_qbo(self, tenant_id: str) -> tuple[ReferenceReader, ReferenceCatalog]:
        """A QBO reader and reference catalog for a connected tenant; ``NotConnected`` otherwise."""
        require_connected(self.connections.get(tenant_id))
        reader = self.qbo_reader_for(tenant_id)
        return reader, ReferenceCatalog(tenant_id, reader, self.reference_cache, self.epoch_clock)

    def catalog_for(self, tenant_id: str) -> Callable[[], ReferenceCatalog]:
        """A deferred catalog: built (and the connection checked) only if a change needs live QBO data."""

        def build() -> ReferenceCatalog:
            return self.connected_qbo(tenant_id)[1]

        return build
