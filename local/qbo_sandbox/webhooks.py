"""QBO webhooks, emulated: change events batched per realm, signed, POSTed and retried in order.

Each company's change events are collected per realm for the batch window, then cut into deliveries of at
most `webhook_max_events_per_post` events. A delivery keeps its body (and CloudEvent ids) across retries;
a realm's later deliveries wait until its earlier one got a 200, as Intuit queues them in order. Only a
200 counts as acknowledged (conservative: Intuit asks for "HTTP 200 within 3 s"). Timing follows the
sandbox clock, so tests can advance it instead of waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, Field

from local.qbo_sandbox.faultbody import intuit_tid

if TYPE_CHECKING:
    from local.qbo_sandbox.company import ChangeEvent, Company
    from local.qbo_sandbox.config import SandboxConfig
    from local.qbo_sandbox.control import SandboxStats

logger = logging.getLogger("qbo_sandbox.webhooks")

_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Emailed": "emailed",
}
_TICK_SECONDS = 0.05


def sign(verifier_token: str, body: bytes) -> str:
    """Intuit's `intuit-signature`: base64(HMAC-SHA256(verifier token, raw body))."""
    return base64.b64encode(hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()).decode()


def _utc_text(moment: datetime, *, digits: int = 3) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    fraction = f"{utc.microsecond:06d}"[:digits]
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


class PendingEvent(BaseModel):
    """A change waiting for its realm's batch window to close."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str
    last_updated: datetime
    deleted_id: str | None = None
    received_at: float


class DeliveryAttempt(BaseModel):
    at: float
    status_code: int | None = None
    error: str | None = None


class WebhookDelivery(BaseModel):
    """One POST to the app's webhook URL and every attempt to make it."""

    delivery_id: str
    realm_id: str
    content_type: str
    body: str
    event_count: int
    created_at: float
    tid: str
    next_attempt_at: float
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    delivered: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "realm_id": self.realm_id,
            "content_type": self.content_type,
            "event_count": self.event_count,
            "created_at": _utc_text(datetime.fromtimestamp(self.created_at, UTC)),
            "delivered": self.delivered,
            "next_attempt_at": None
            if self.delivered
            else _utc_text(datetime.fromtimestamp(self.next_attempt_at, UTC)),
            "attempts": [
                {
                    "at": _utc_text(datetime.fromtimestamp(a.at, UTC)),
                    "status_code": a.status_code,
                    "error": a.error,
                }
                for a in self.attempts
            ],
            "body": json.loads(self.body),
        }


class WebhookDispatcher:
    """Listens to every company, and delivers their changes to `webhook_url` on QBO's schedule."""

    def __init__(
        self,
        config: SandboxConfig,
        clock: Callable[[], float],
        stats: SandboxStats,
        transport: httpx.AsyncBaseTransport | None = None,
        finished_kept: int = 1000,
    ) -> None:
        self._config = config
        self._now = clock
        self._stats = stats
        self._transport = transport
        self._finished_kept = finished_kept
        self.pending: dict[str, list[PendingEvent]] = {}
        self.outbox: dict[str, deque[WebhookDelivery]] = {}
        self.finished: deque[WebhookDelivery] = deque(maxlen=finished_kept)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._config.webhook_url)

    def watch(self, company: Company) -> None:
        company.listeners.append(self.on_change)

    def on_change(self, event: ChangeEvent) -> None:
        if not self.enabled:
            return
        self.pending.setdefault(event.realm_id, []).append(
            PendingEvent(
                realm_id=event.realm_id,
                entity=event.entity,
                entity_id=event.entity_id,
                operation=event.operation,
                last_updated=event.last_updated,
                deleted_id=event.deleted_id,
                received_at=self._now(),
            )
        )

    async def deliver_due(self, *, flush: bool = False) -> None:
        """Close batch windows that have passed (all of them with flush) and attempt every due delivery."""
        if not self.enabled:
            return
        async with self._lock:
            self._cut_batches(flush=flush)
            due = [realm for realm, queue in self.outbox.items() if queue and self._is_due(queue[0])]
            if not due:
                return
            async with httpx.AsyncClient(transport=self._transport) as client:
                await asyncio.gather(*(self._drain(client, realm) for realm in due))

    async def start(self) -> None:
        """Run delivery in the background of the server's event loop."""
        if self._task is None and self.enabled:
            self._task = asyncio.create_task(self._run(), name="qbo-sandbox-webhooks")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:
                logger.exception("webhook delivery round failed")
            await asyncio.sleep(_TICK_SECONDS)

    def _is_due(self, delivery: WebhookDelivery) -> bool:
        return delivery.next_attempt_at <= self._now()

    def _cut_batches(self, *, flush: bool) -> None:
        now = self._now()
        window = self._config.webhook_batch_window_seconds
        size = self._config.webhook_max_events_per_post
        for realm, events in list(self.pending.items()):
            if not events or (not flush and now - events[0].received_at < window):
                continue
            self.pending[realm] = []
            queue = self.outbox.setdefault(realm, deque())
            for start in range(0, len(events), size):
                queue.append(self._delivery(realm, events[start : start + size], now))

    def _delivery(self, realm: str, events: list[PendingEvent], now: float) -> WebhookDelivery:
        if self._config.webhook_format == "cloudevents":
            content_type = "application/cloudevents+json"
            payload: Any = [self._cloud_event(e) for e in events]
        else:
            content_type = "application/json"
            payload = {
                "eventNotifications": [
                    {
                        "realmId": realm,
                        "dataChangeEvent": {"entities": [self._legacy_entity(e) for e in events]},
                    }
                ]
            }
        return WebhookDelivery(
            delivery_id=uuid.uuid4().hex,
            realm_id=realm,
            content_type=content_type,
            body=json.dumps(payload, separators=(",", ":")),
            event_count=len(events),
            created_at=now,
            tid=intuit_tid(),
            next_attempt_at=now + self._config.webhook_delay(0),
        )

    @staticmethod
    def _legacy_entity(event: PendingEvent) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "name": event.entity,
            "id": event.entity_id,
            "operation": event.operation,
            "lastUpdated": _utc_text(event.last_updated),
        }
        if event.deleted_id is not None:
            entity["deletedId"] = event.deleted_id
        return entity

    def _cloud_event(self, event: PendingEvent) -> dict[str, Any]:
        verb = self._config.webhook_void_verb if event.operation == "Void" else _VERBS.get(event.operation)
        data: dict[str, Any] = {}
        if event.deleted_id is not None:
            data["deletedId"] = event.deleted_id
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.sandbox-" + hashlib.sha256(self._config.client_id.encode()).hexdigest()[:16],
            "type": f"qbo.{event.entity.lower()}.{verb or event.operation.lower()}.v1",
            "datacontenttype": "application/json",
            "time": _utc_text(event.last_updated, digits=6),
            "intuitentityid": event.entity_id,
            "intuitaccountid": event.realm_id,
            "data": data,
        }

    async def _drain(self, client: httpx.AsyncClient, realm: str) -> None:
        """Deliver a realm's queue head first; stop at the first failure (later ones wait their turn)."""
        queue = self.outbox[realm]
        while queue and self._is_due(queue[0]):
            head = queue[0]
            if not await self._attempt(client, head):
                return
            queue.popleft()
            self.finished.append(head)

    async def _attempt(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> bool:
        body = delivery.body.encode("utf-8")
        headers = {
            "content-type": delivery.content_type,
            "intuit-signature": sign(self._config.verifier_token, body),
            "intuit-created-time": _utc_text(datetime.fromtimestamp(delivery.created_at, UTC)),
            "intuit-t-id": delivery.tid,
            "intuit-notification-schema-version": "0.1",
            "user-agent": "intuit_notification_server/0.1",
        }
        attempt = DeliveryAttempt(at=self._now())
        deadline = self._config.webhook_timeout_seconds
        try:
            # wait_for holds the deadline for any transport (in-process ones ignore httpx timeouts).
            response = await asyncio.wait_for(
                client.post(str(self._config.webhook_url), content=body, headers=headers, timeout=deadline),
                timeout=deadline,
            )
            attempt.status_code = response.status_code
        except TimeoutError:
            attempt.error = f"no answer within {deadline:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"[:300]
        delivery.attempts.append(attempt)
        delivered = attempt.status_code == 200
        self._stats.record_webhook_attempt(delivered=delivered)
        if delivered:
            delivery.delivered = True
        else:
            delivery.next_attempt_at = self._now() + self._config.webhook_delay(len(delivery.attempts))
        return delivered

    def describe(self) -> dict[str, Any]:
        deliveries = [*self.finished, *(d for queue in self.outbox.values() for d in queue)]
        deliveries.sort(key=lambda d: d.created_at)
        return {
            "enabled": self.enabled,
            "url": self._config.webhook_url,
            "format": self._config.webhook_format,
            "pending_events": sum(len(events) for events in self.pending.values()),
            "deliveries": [d.describe() for d in deliveries],
        }

    def to_snapshot(self) -> dict[str, Any]:
        """Undelivered work survives a restart; the delivered log does not."""
        return {
            "pending": [e.model_dump(mode="json") for events in self.pending.values() for e in events],
            "outbox": [d.model_dump(mode="json") for queue in self.outbox.values() for d in queue],
        }

    def load_snapshot(self, data: dict[str, Any]) -> None:
        self.pending = {}
        for raw in data.get("pending", []):
            event = PendingEvent.model_validate(raw)
            self.pending.setdefault(event.realm_id, []).append(event)
        self.outbox = {}
        for raw in data.get("outbox", []):
            delivery = WebhookDelivery.model_validate(raw)
            self.outbox.setdefault(delivery.realm_id, deque()).append(delivery)
