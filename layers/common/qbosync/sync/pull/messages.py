"""What travels on the pull queue: one QBO entity change, routed to its tenant."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from qbosync.sync.pull.notifications import EntityChange


class PullMessage(BaseModel):
    """One change for the pull worker. ``redelivery`` grows when the retry schedule re-queues it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1)
    change: EntityChange
    received_at: datetime
    redelivery: int = Field(0, ge=0)
