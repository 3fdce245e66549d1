"""Signed change notifications from the sandbox to qbosync, delivered at least once.

Every change becomes one ``Delivery``. In ``immediate`` mode a single background worker sends them
in order, retrying failures with backoff; in ``hold`` mode they wait for ``flush``, which can
shuffle them and send each one up to three times, so tests can exercise out-of-order and duplicate
delivery on purpose. A change made with ``deliver: false`` is recorded as ``dropped`` and never sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from local.source_sandbox.config import TenantConfig, WebhookConfig
from local.source_sandbox.state import Change
from qbosync.source.models import SourceWebhook, WebhookObject
from qbosync.source.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

DeliveryStatus = Literal["held", "queued", "delivering", "delivered", "failed", "dropped"]


@dataclass
class Attempt:
    at: float
    status_code: int | None
    error: str | None


@dataclass
class Delivery:
    delivery_id: str
    event: SourceWebhook
    status: DeliveryStatus
    copies: int
    delivered_copies: int = 0
    attempts: list[Attempt] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "event": self.event.model_dump(mode="json"),
            "status": self.status,
            "copies": self.copies,
            "delivered_copies": self.delivered_copies,
            "attempts": [{"at": a.at, "status_code": a.status_code, "error": a.error} for a in self.attempts],
        }


class WebhookOutbox:
    """Records every change notification and delivers it to the configured URL."""

    def __init__(
        self,
        config: WebhookConfig,
        tenants: dict[str, TenantConfig],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._tenants = tenants
        self._transport = transport
        self._wall_clock = wall_clock
        self._sleep = sleep
        self.deliveries: list[Delivery] = []
        self._queue: asyncio.Queue[Delivery] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def record(self, change: Change, *, deliver: bool = True) -> Delivery:
        """Turn ``change`` into a webhook event and send, hold or drop it per the configuration."""
        event = SourceWebhook(
            event_id=f"evt_{uuid.uuid4().hex}",
            tenant_id=change.tenant_id,
            type=f"{change.kind}.{change.action}",
            object=WebhookObject(kind=change.kind, id=change.object_id, version=change.version),
            occurred_at=change.occurred_at,
        )
        delivery = Delivery(f"dlv_{len(self.deliveries) + 1:06d}", event, "held", self.config.copies)
        self.deliveries.append(delivery)
        if not deliver:
            delivery.status = "dropped"
        elif self.config.mode == "immediate" and self.config.url:
            self._enqueue(delivery)
        return delivery

    async def flush(
        self, *, shuffle: bool, seed: int | None, copies: int | None, wait: bool
    ) -> list[Delivery]:
        """Send every held delivery, optionally shuffled and repeated; with ``wait``, before returning."""
        held = [d for d in self.deliveries if d.status == "held"]
        if shuffle:
            random.Random(seed).shuffle(held)
        for delivery in held:
            if copies is not None:
                delivery.copies = copies
            if wait:
                await self._deliver(delivery)
            else:
                self._enqueue(delivery)
        return held

    async def close(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._worker = None
        self._queue = None

    def _enqueue(self, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run_worker(self._queue))
        delivery.status = "queued"
        self._queue.put_nowait(delivery)

    async def _run_worker(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            finally:
                queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        url_template = self.config.url
        if not url_template:
            delivery.status = "held"
            return
        delivery.status = "delivering"
        tenant = self._tenants[delivery.event.tenant_id]
        url = url_template.replace("{tenant_id}", tenant.id)
        body = json.dumps(delivery.event.model_dump(mode="json"), separators=(",", ":")).encode()
        async with httpx.AsyncClient(
            transport=self._transport, timeout=self.config.timeout_seconds
        ) as client:
            for _ in range(delivery.copies):
                if not await self._send_with_retries(client, url, body, tenant.webhook_secret, delivery):
                    delivery.status = "failed"
                    return
                delivery.delivered_copies += 1
        delivery.status = "delivered"

    async def _send_with_retries(
        self, client: httpx.AsyncClient, url: str, body: bytes, secret: str, delivery: Delivery
    ) -> bool:
        for attempt in range(self.config.max_attempts):
            if attempt:
                await self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            timestamp = int(self._wall_clock())  # signed per attempt, so a late retry is still in window
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(secret, timestamp, body),
                "User-Agent": "qbosync-source-sandbox",
            }
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                delivery.attempts.append(Attempt(self._wall_clock(), None, type(exc).__name__))
                continue
            delivery.attempts.append(Attempt(self._wall_clock(), response.status_code, None))
            if response.is_success:
                return True
        return False
