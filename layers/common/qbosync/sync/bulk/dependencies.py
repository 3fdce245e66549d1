"""What the bulk-sync tasks need, passed in; ``qbosync.sync.wiring`` builds the deployed ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from qbosync.clock import utc_now
from qbosync.qbo.client import QboClient
from qbosync.source.port import SourcePort
from qbosync.store.config import (
    AuditRepository,
    MappingRepository,
    ReferenceCacheRepository,
    SettingsRepository,
)
from qbosync.store.links import LinkRepository
from qbosync.store.onboarding import PlanRepository, SuggestionRepository
from qbosync.store.runs import RunRepository
from qbosync.sync.configuration import ConfigurationService
from qbosync.sync.reference import ConnectionReader


def _connections() -> ConnectionReader:
    from qbosync.store.connections import ConnectionRepository

    return ConnectionRepository()


@dataclass
class BulkSyncDependencies:
    qbo_for: Callable[[str], QboClient]
    source_for: Callable[[str], SourcePort]
    links: LinkRepository = field(default_factory=LinkRepository)
    runs: RunRepository = field(default_factory=RunRepository)
    connections: ConnectionReader = field(default_factory=_connections)
    settings: SettingsRepository = field(default_factory=SettingsRepository)
    mappings: MappingRepository = field(default_factory=MappingRepository)
    reference_cache: ReferenceCacheRepository = field(default_factory=ReferenceCacheRepository)
    clock: Callable[[], datetime] = utc_now
    epoch_clock: Callable[[], float] = field(default_factory=lambda: lambda: utc_now().timestamp())
    batch_size: int = 30
    suggestions: SuggestionRepository = field(default_factory=SuggestionRepository)
    plans: PlanRepository = field(default_factory=PlanRepository)

    def configuration(self) -> ConfigurationService:
        return ConfigurationService(self.settings, self.mappings, AuditRepository(), self.clock)
