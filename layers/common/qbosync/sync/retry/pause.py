"""Pausing and resuming a tenant's sync.

While paused, webhooks are still accepted and queued; the push and pull workers park what they take on
``PAUSED_KEY`` (reason code ``tenant_paused``) before reading or writing anything, and the reconciliation
skips the tenant without moving its checkpoints. Resuming clears the pause first, so new messages flow
again, then re-queues every held event oldest first: each lands once (it keeps its event id, and the
push's requestid and links make a repeat a no-op).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from qbosync.observability import logger
from qbosync.store.events import PAUSED_KEY
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync.retry.parked import ParkedRelease


class PauseState(BaseModel):
    """A tenant's pause as the API and the CLI show it."""

    tenant_id: str
    sync_paused: bool
    paused_at: datetime | None = None
    paused_by: str | None = None
    released: int = 0
    """Resume only: how many held events were queued again."""

    @classmethod
    def of(cls, tenant: Tenant, released: int = 0) -> PauseState:
        return cls(
            tenant_id=tenant.tenant_id,
            sync_paused=tenant.sync_paused,
            paused_at=tenant.paused_at,
            paused_by=tenant.paused_by,
            released=released,
        )


@dataclass
class TenantPause:
    """Pauses and resumes one tenant's sync; ``wiring.tenant_pause()`` builds the deployed one."""

    tenants: TenantRepository
    release: ParkedRelease
    clock: Callable[[], datetime]

    def pause(self, tenant_id: str, by: str) -> PauseState:
        """Hold the tenant's pushes and pulls (pausing again changes nothing)."""
        paused = self.tenants.pause(tenant_id, by, self.clock())
        logger.info("tenant sync paused", extra={"tenant_id": tenant_id, "paused_by": paused.paused_by})
        return PauseState.of(paused)

    def resume(self, tenant_id: str, by: str) -> PauseState:
        """Let the tenant's sync run again and re-queue what was held while it was paused."""
        resumed = self.tenants.resume(tenant_id)
        released = self.release.release(tenant_id, PAUSED_KEY)
        logger.info(
            "tenant sync resumed", extra={"tenant_id": tenant_id, "resumed_by": by, "released": released}
        )
        return PauseState.of(resumed, released)

    def state(self, tenant_id: str) -> PauseState:
        return PauseState.of(self.tenants.get(tenant_id))
