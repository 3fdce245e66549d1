"""Sync events: what the push (and pull) flows did with each change, and replaying the ones that failed.

``GET  /tenants/{tenant_id}/sync/events?status=done|done_with_warnings|parked|failed|stuck``
(also ``&warning=&limit=&cursor=``)
(newest first; parked ones grouped by what they wait for; stuck ones, oldest first, are events a worker
took and never finished, older than ``STUCK_AFTER`` (15 min), with their age; ``done_with_warnings``:
done events where qbosync improvised, ``warning=<code>`` narrowing them to one ``WarningCode``) and
``POST /tenants/{tenant_id}/sync/events/{event_id}/retry``
(202 and re-queued; 404 unknown; 409 when already done). The lead includes ``events_router`` in the
admin API resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from qbosync.api.auth import require_tenant
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import error_responses
from qbosync.errors import ValidationFailed
from qbosync.store.events import (
    STUCK_AFTER,
    EventOutcome,
    EventVariance,
    EventWarning,
    MissingMappingRef,
    QboFaultInfo,
    ReasonCode,
    SyncEvent,
    WarningCode,
)
from qbosync.sync import wiring
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.replay import EventReplay
from qbosync.sync.variance import AcceptedVariance, accept_variance

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
EventId = Annotated[str, Path(min_length=1, max_length=128)]
ListedStatus = Literal[
    "done", "done_with_warnings", "done_with_variance", "parked", "failed", "stuck", "superseded"
]


class EventView(BaseModel):
    """One event as an admin sees it: what changed, what became of it, and why."""

    event_id: str
    kind: str
    source_object_id: str
    source_version: int
    status: str
    reason_code: ReasonCode | None = None
    reason: str | None = None
    retryable: bool = True
    mapping: MissingMappingRef | None = None
    qbo_fault: QboFaultInfo | None = None
    variance_totals: EventVariance | None = None
    """``done_with_variance``: the source's and QBO's totals."""
    parked_on: str | None = None
    outcome: EventOutcome
    """The status, or ``done_with_warnings`` for a done event where qbosync improvised."""
    warnings: list[EventWarning] = []
    superseded_by: str | None = None
    """A failure a later event of the same document replaced (a document is listed as failed once)."""
    attempts: int
    received_at: datetime
    updated_at: datetime
    age_seconds: int | None = None
    """Stuck events: how long since a worker took the event."""

    @classmethod
    def of(cls, event: SyncEvent, now: datetime | None = None) -> EventView:
        view = cls.model_validate(
            {**event.model_dump(exclude={"payload", "tenant_id"}), "outcome": event.outcome}
        )
        if now is not None:
            view.age_seconds = int((now - event.updated_at).total_seconds())
        return view


class EventPage(BaseModel):
    items: list[EventView]
    next_cursor: str | None = None


class RetryAccepted(BaseModel):
    event_id: str
    status: Literal["queued"] = "queued"


def events_router(
    deps: ApiDependencies, replay: Callable[[], EventReplay] | None = None
) -> APIGatewayHttpRouter:
    """The events routes; ``replay`` builds the event store and queue (lazily, on the first request)."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    replayer = replay or wiring.event_replay  # a cached factory: built on the first request

    @router.get(
        "/tenants/<tenant_id>/sync/events",
        summary="List sync events by status",
        description=(
            "status is done, done_with_warnings, done_with_variance (QBO's total differs from the source's:"
            " both amounts), parked, failed (default) or stuck, each with its reason"
            " code, reason and QBO fault; a done event's reason says what was done, or why nothing had"
            " to be, and its warnings where qbosync improvised (default item used, name suffixed or"
            " shortened, number shortened): done_with_warnings lists only those (warning= narrows them"
            " to one code; a page may then hold fewer than limit); a stuck event is one a worker took"
            " and never finished (it died), listed with its age; superseded: failures a later event of"
            " the same document replaced (a document is listed as failed once, under its latest event)."
        ),
        responses={200: {"description": "One page of events"}, **error_responses(401, 403, 404, 422)},
        tags=["events"],
    )
    def list_events(
        tenant_id: TenantId,
        status: Annotated[ListedStatus, Query()] = "failed",
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
        warning: Annotated[WarningCode | None, Query()] = None,
    ) -> EventPage:
        require_tenant(router, tenant_id, deps.tenants)
        events = replayer().events
        if status == "done_with_warnings" or warning is not None:
            if status not in ("done", "done_with_warnings"):
                raise ValidationFailed(
                    "warning= filters done events only",
                    details=[{"loc": ["query", "warning"], "status": status}],
                )
            warned = events.list_with_warnings(tenant_id, code=warning, limit=limit, cursor=cursor)
            return EventPage(items=[EventView.of(e) for e in warned.items], next_cursor=warned.cursor)
        if status == "stuck":
            now = deps.clock()
            cutoff = now - STUCK_AFTER
            stuck = events.list_stuck(tenant_id, cutoff, limit=limit, cursor=cursor)
            return EventPage(items=[EventView.of(e, now) for e in stuck.items], next_cursor=stuck.cursor)
        page = events.list(tenant_id, status, limit=limit, cursor=cursor)
        return EventPage(items=[EventView.of(event) for event in page.items], next_cursor=page.cursor)

    @router.post(
        "/tenants/<tenant_id>/sync/events/<event_id>/retry",
        summary="Retry a parked or failed event",
        description="Re-queues the event for the push worker, which reads the source again.",
        responses={202: {"description": "Queued"}, **error_responses(401, 403, 404, 409)},
        tags=["events"],
    )
    def retry_event(tenant_id: TenantId, event_id: EventId) -> Response[Any]:
        require_tenant(router, tenant_id, deps.tenants)
        event = replayer().retry(tenant_id, event_id)
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body=RetryAccepted(event_id=event.event_id).model_dump(mode="json"),
        )

    @router.post(
        "/tenants/<tenant_id>/sync/events/<event_id>/accept-variance",
        summary="Accept a variance: QBO's total stands",
        description=(
            "Marks a done_with_variance event done. With money.variance_policy pause, once no variance is"
            " left open the pushes it held back (parked, paused_for_variance) are queued again."
        ),
        responses={200: {"description": "Accepted"}, **error_responses(401, 403, 404, 409)},
        tags=["events"],
    )
    def accept_event_variance(tenant_id: TenantId, event_id: EventId) -> AcceptedVariance:
        require_tenant(router, tenant_id, deps.tenants)
        replay = replayer()
        release = ParkedRelease(replay.events, replay.requeue).release
        return accept_variance(replay.events, release, tenant_id, event_id, deps.clock())

    return router
