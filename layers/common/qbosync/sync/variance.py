"""Accepting a variance: an admin agrees that QBO's total of a pushed document stands (QBO computed the tax,
or rounded a discount, its own way). The event becomes ``done``; once no variance is left open, the pushes
a ``pause`` policy held back (parked on ``variance``) are queued again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from qbosync.errors import Conflict
from qbosync.store.events import VARIANCE_PAUSE_KEY, EventNotFound, EventRepository


class VarianceNotOpen(Conflict):
    code = "variance_not_open"


class AcceptedVariance(BaseModel):
    event_id: str
    status: str
    released: int
    """Pushes held back by the pause and queued again (0 while other variances are still open)."""


def accept_variance(
    events: EventRepository,
    release: Callable[[str, str], int],
    tenant_id: str,
    event_id: str,
    at: datetime,
) -> AcceptedVariance:
    """Mark one ``done_with_variance`` event done; release the paused pushes when none is left open."""
    event = events.get(tenant_id, event_id)
    if event is None:
        raise EventNotFound("no such sync event", details=[{"event_id": event_id}])
    if event.status != "done_with_variance" or event.variance_totals is None:
        raise VarianceNotOpen(
            f"event {event_id} is {event.status}, not done_with_variance; there is no variance to accept",
            details=[{"event_id": event_id, "status": event.status}],
        )
    totals = event.variance_totals
    note = (
        f"variance accepted: QBO's total {totals.qbo_total} {totals.currency} stands"
        f" (the source's is {totals.source_total})"
    )
    events.mark_done(tenant_id, event_id, at, note=note)
    still_open = events.list(tenant_id, "done_with_variance", limit=1).items
    released = 0 if still_open else release(tenant_id, VARIANCE_PAUSE_KEY)
    return AcceptedVariance(event_id=event_id, status="done", released=released)
