"""Token keep-alive: refresh idle connections so their refresh token never lapses unnoticed.

Intuit's refresh token lives about 100 days from its last use and rotates on use; a tenant with no
sync traffic would lose its connection silently. Every connected tenant whose tokens were last
refreshed more than ``idle_after`` ago is refreshed through its vault (single-flight per realm,
stored before use, ``invalid_grant`` → ``needs_reauth``). A connection whose refresh token (or the
grant's hard limit) runs out within ``expiry_warning`` is reported: it needs an admin soon.
Both default to the deployment settings ``QBOSYNC_KEEPALIVE_IDLE_DAYS`` (7) and
``QBOSYNC_KEEPALIVE_EXPIRY_WARNING_DAYS`` (14), read when the service is constructed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel

from qbosync.clock import utc_now
from qbosync.errors import NotConnected, QbosyncError
from qbosync.observability import logger
from qbosync.settings import get_sync_tuning
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import EventFailure, EventRepository, ReasonCode, SyncEvent
from qbosync.store.tokens import StoredTokens

KeepAliveAction = Literal["refreshed", "fresh", "needs_reauth", "failed"]
EXPIRY_EVENT_KIND = "connection.expiring"


class Vault(Protocol):
    def read(self, *, fresh: bool = False) -> StoredTokens: ...
    def refresh_after_unauthorized(self, rejected: str) -> str: ...


class KeepAliveResult(BaseModel):
    tenant_id: str
    action: KeepAliveAction
    expiring: bool = False
    reason: str | None = None


@dataclass
class TokenKeepAlive:
    """Keeps every connected tenant's QBO grant alive; ``qbosync.sync.wiring`` builds the deployed one."""

    vault_for: Callable[[str], Vault]
    connections: ConnectionRepository = field(default_factory=ConnectionRepository)
    events: EventRepository = field(default_factory=EventRepository)
    clock: Callable[[], datetime] = utc_now
    idle_after: timedelta = field(default_factory=lambda: get_sync_tuning().keepalive_idle_after)
    expiry_warning: timedelta = field(default_factory=lambda: get_sync_tuning().keepalive_expiry_warning)

    def run(self) -> list[KeepAliveResult]:
        """One pass over every connected tenant; one tenant's failure does not stop the others."""
        return [self.keep_alive(connection) for connection in self.connections.list_connected()]

    def keep_alive_tenant(self, tenant_id: str) -> KeepAliveResult:
        """One tenant (the scheduled worker's unit of work); ``NotConnected`` when it left ``connected``."""
        connection = self.connections.get(tenant_id)
        if connection is None or connection.status != "connected":
            raise NotConnected(f"Tenant '{tenant_id}' has no working QuickBooks connection.")
        return self.keep_alive(connection)

    def keep_alive(self, connection: Connection) -> KeepAliveResult:
        tenant_id = connection.tenant_id
        vault = self.vault_for(tenant_id)
        try:
            tokens = vault.read(fresh=True)
            action: KeepAliveAction = "fresh"
            if self.clock() - tokens.refreshed_at >= self.idle_after:
                # The vault refreshes when the token it is told was rejected is still the current one.
                vault.refresh_after_unauthorized(tokens.access_token.get_secret_value())
                tokens = vault.read(fresh=True)
                action = "refreshed"
        except NotConnected as exc:
            logger.warning(
                "keep-alive found a dead grant", extra={"tenant_id": tenant_id, "error_code": exc.code}
            )
            return KeepAliveResult(tenant_id=tenant_id, action="needs_reauth", reason=exc.message)
        except QbosyncError as exc:
            logger.warning(
                "keep-alive refresh failed", extra={"tenant_id": tenant_id, "error_code": exc.code}
            )
            return KeepAliveResult(tenant_id=tenant_id, action="failed", reason=exc.message)
        expires_at = self._earliest_expiry(connection, tokens)
        expiring = expires_at is not None and expires_at - self.clock() <= self.expiry_warning
        if expiring and expires_at is not None:
            self._report_expiring(tenant_id, expires_at)
        logger.info("keep-alive", extra={"tenant_id": tenant_id, "action": action, "expiring": expiring})
        return KeepAliveResult(tenant_id=tenant_id, action=action, expiring=expiring)

    @staticmethod
    def _earliest_expiry(connection: Connection, tokens: StoredTokens) -> datetime | None:
        candidates = [
            moment
            for moment in (tokens.refresh_token_expires_at, connection.hard_expires_at)
            if moment is not None
        ]
        return min(candidates) if candidates else None

    def _report_expiring(self, tenant_id: str, expires_at: datetime) -> None:
        """A failed event the admin sees in the events API: one per tenant and expiry date."""
        now = self.clock()
        event_id = f"connection-expiring-{expires_at.date().isoformat()}"
        expiring = EventFailure.of(
            ReasonCode.CONNECTION_EXPIRING,
            f"the QuickBooks grant expires at {expires_at.isoformat()}; connect QuickBooks again before then",
        )
        self.events.record_received(
            SyncEvent(
                event_id=event_id,
                tenant_id=tenant_id,
                kind=EXPIRY_EVENT_KIND,
                source_object_id=tenant_id,
                source_version=int(expires_at.timestamp()),
                received_at=now,
                updated_at=now,
            )
        )
        current = self.events.get(tenant_id, event_id)
        if current is not None and current.status != "failed":
            self.events.mark_failed(tenant_id, event_id, expiring, now)
