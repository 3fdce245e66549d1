"""Receiving a source webhook: check it, then queue it. Nothing is queued unless every check passes.

Checks, cheapest first: size (413), content type (415), tenant (404), signature and timestamp
window (401), JSON (400), schema and tenant match (422). The reply is sent as soon as the message is
on the FIFO queue; the work happens in the push worker. Neither the secret nor the signature is
ever logged or echoed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from qbosync.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from qbosync.observability import logger
from qbosync.source.models import SourceWebhook
from qbosync.source.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from qbosync.store.app_secrets import SourceCredentials
from qbosync.sync.records.messages import PushMessage

MAX_WEBHOOK_BYTES = 256 * 1024
"""Source notifications name an object and are well under 1 KiB; anything near this is not one."""


class TenantDirectory(Protocol):
    def get(self, tenant_id: str) -> object:
        """The tenant; raises a 404 ``UnknownTenant`` when it is not registered."""
        ...


class SourceCredentialStore(Protocol):
    def source_credentials(self, tenant_id: str) -> SourceCredentials: ...


class MessageQueue(Protocol):
    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str: ...


class TenantMismatch(ValidationFailed):
    code = "tenant_mismatch"


def _default_tenants() -> TenantDirectory:
    from qbosync.store.tenants import TenantRepository

    return TenantRepository()


def _default_secrets() -> SourceCredentialStore:
    from qbosync.store.app_secrets import TenantSecrets

    return TenantSecrets()


def _default_queue() -> MessageQueue:
    from qbosync.store.queues import PushQueue

    return PushQueue()


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


@dataclass
class WebhookReceiver:
    """Verifies one tenant's webhooks and queues them for the push worker."""

    tenants: TenantDirectory = field(default_factory=_default_tenants)
    secrets: SourceCredentialStore = field(default_factory=_default_secrets)
    queue: MessageQueue = field(default_factory=_default_queue)
    clock: Callable[[], float] = time.time

    def receive(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> PushMessage:
        """Queue the webhook and return what was queued; a ``QbosyncError`` (4xx) otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if len(body) > MAX_WEBHOOK_BYTES:
            raise PayloadTooLarge(f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
        if not _is_json(lowered.get("content-type")):
            raise UnsupportedMediaType("webhooks must be sent as application/json")
        self.tenants.get(tenant_id)
        secret = self.secrets.source_credentials(tenant_id).webhook_secret.get_secret_value()
        verify(
            secret,
            lowered.get(TIMESTAMP_HEADER.lower()),
            lowered.get(SIGNATURE_HEADER.lower()),
            body,
            self.clock(),
        )
        webhook = _parse(body)
        if webhook.tenant_id != tenant_id:
            raise TenantMismatch("the webhook names another tenant than its URL")
        message = PushMessage.from_webhook(webhook, received_at=datetime.fromtimestamp(self.clock(), UTC))
        self.queue.send(
            message.model_dump_json(), group_id=message.group_id, deduplication_id=message.deduplication_id
        )
        logger.info(
            "source webhook queued",
            extra={
                "tenant_id": tenant_id,
                "event_id": webhook.event_id,
                "webhook_type": webhook.type,
                "source_id": webhook.object.id,
                "source_version": webhook.object.version,
            },
        )
        return message


def _parse(body: bytes) -> SourceWebhook:
    try:
        document = json.loads(body)
    except ValueError:
        raise BadRequest("the webhook body is not valid JSON", code="malformed_json") from None
    try:
        return SourceWebhook.model_validate(document)
    except ValidationError as exc:
        details = [
            {
                "loc": ".".join(str(part) for part in problem["loc"]),
                "type": problem["type"],
                "message": problem["msg"],
            }
            for problem in exc.errors(include_input=False, include_url=False)
        ]
        raise ValidationFailed("the webhook does not follow the source contract", details=details) from None
