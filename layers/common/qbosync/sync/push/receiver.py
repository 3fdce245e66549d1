"""Receiving a source webhook: check it, then queue it. Nothing is queued unless every check passes.

Size and content type are checked before this, by the route's shared body checks
(``qbosync.api.routes.webhooks``). Here: signature and timestamp window (401), JSON (400), schema and
tenant match (422). The tenant's signing secret is derived from the one app key
(``AppSecrets.source_webhook_secret``) and the tenant's ``webhook_secret_version``, so this public function
reads no per-tenant secret. The URL is public, so it must not tell who is a tenant: an
unknown tenant, or a stack whose source webhook key is missing (a deployment fault, logged), is
checked against a throw-away secret and answered exactly as a known tenant with a wrong signature.
The reply is sent as soon as the message is on the FIFO queue; the work happens in the push worker.
Nothing is written before the message is queued, so a request cut off mid-way leaves nothing that
would refuse the source's resend. Neither the secret nor the signature is ever logged or echoed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import SecretStr, ValidationError

from qbosync.errors import BadRequest, ValidationFailed, validation_details
from qbosync.observability import logger
from qbosync.source.errors import SignatureInvalid
from qbosync.source.models import SourceWebhook
from qbosync.source.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from qbosync.store.app_secrets import SecretMissing
from qbosync.store.tenants import UnknownTenant
from qbosync.sync.records.messages import PushMessage

# Checked against when the tenant has no secret, so the answer and its cost match a wrong signature.
# It is public (this file is), so a body signed with it is refused after the check, below.
_DECOY_SECRET = "qbosync-decoy-webhook-secret-for-unknown-tenants"  # noqa: S105 - public by design


class RegisteredTenant(Protocol):
    @property
    def webhook_secret_version(self) -> int: ...


class TenantDirectory(Protocol):
    def get(self, tenant_id: str) -> RegisteredTenant:
        """The tenant; raises ``UnknownTenant`` when it is not registered."""
        ...


class WebhookSecrets(Protocol):
    def source_webhook_secret(self, tenant_id: str, version: int) -> SecretStr: ...


class MessageQueue(Protocol):
    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str: ...


class TenantMismatch(ValidationFailed):
    code = "tenant_mismatch"


def _default_tenants() -> TenantDirectory:
    from qbosync.store.tenants import TenantRepository

    return TenantRepository()


def _default_secrets() -> WebhookSecrets:
    from qbosync.store.app_secrets import AppSecrets

    return AppSecrets()


def _default_queue() -> MessageQueue:
    from qbosync.store.queues import PushQueue

    return PushQueue()


@dataclass
class WebhookReceiver:
    """Verifies one tenant's webhooks and queues them for the push worker."""

    tenants: TenantDirectory = field(default_factory=_default_tenants)
    secrets: WebhookSecrets = field(default_factory=_default_secrets)
    queue: MessageQueue = field(default_factory=_default_queue)
    clock: Callable[[], float] = time.time

    def receive(self, tenant_id: str, headers: Mapping[str, str], body: bytes) -> PushMessage:
        """Queue the webhook and return what was queued; a ``QbosyncError`` (4xx) otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        secret = self._webhook_secret(tenant_id)
        verify(
            secret or _DECOY_SECRET,
            lowered.get(TIMESTAMP_HEADER.lower()),
            lowered.get(SIGNATURE_HEADER.lower()),
            body,
            self.clock(),
        )
        if secret is None:  # someone signed with the public decoy: same answer as any wrong signature
            raise SignatureInvalid("the webhook signature does not match its body")
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

    def _webhook_secret(self, tenant_id: str) -> str | None:
        """The tenant's webhook secret; None for an unknown tenant or a stack without its webhook key."""
        try:
            version = self.tenants.get(tenant_id).webhook_secret_version
            return self.secrets.source_webhook_secret(tenant_id, version).get_secret_value()
        except UnknownTenant:
            return None
        except SecretMissing:
            logger.error("source webhook key not provisioned", extra={"tenant_id": tenant_id})
            return None


def _parse(body: bytes) -> SourceWebhook:
    try:
        document = json.loads(body)
    except ValueError:
        raise BadRequest("the webhook body is not valid JSON", code="malformed_json") from None
    try:
        return SourceWebhook.model_validate(document)
    except ValidationError as exc:
        raise ValidationFailed(
            "the webhook does not follow the source contract",
            details=validation_details(exc.errors(include_input=False, include_url=False)),
        ) from None
