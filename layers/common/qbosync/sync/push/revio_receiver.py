"""Receiving a Rev.io notification in the deployed service: ``POST /webhooks/revio/{tenant}/{token}``.

Rev.io signs nothing (developers.rev.io/docs/webhook-notifications), so the receiver URL itself is the
secret: its last segment is derived from the app's source webhook key, the tenant and its
``webhook_secret_version`` (``derive_revio_receiver_token``) and compared in constant time. A wrong
token, an unknown tenant and a tenant that is not a Rev.io one get the same bare 404, after the same
work, so the URL tells nobody who is a tenant.

A request carrying ``X-Hook-Secret`` is Rev.io's confirmation of a new receiver: it is echoed with 200.
Anything else is a notification, of which only the event type and the object id are used. It is queued
as the same ``PushMessage`` a contract webhook becomes; the push worker then re-reads the object through
the Rev.io adapter (``source_for_tenant``), which gives it its version. So this public function holds no
tenant secret and never calls Rev.io. The version in the message is the one qbosync last recorded for
the object (1 before its first read): it is what the event log shows until the worker's re-read.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr, ValidationError

from qbosync.errors import BadRequest, NotFound
from qbosync.observability import logger
from qbosync.source.config import SourceAdapterKind, TenantSourceConfig
from qbosync.store.app_secrets import SecretMissing
from qbosync.store.tenants import UnknownTenant
from qbosync.sync.push.receiver import MessageQueue
from qbosync.sync.records.messages import PushMessage

if TYPE_CHECKING:
    from qbosync.source.models import ObjectKind
    from qbosync.source.revio.versions import ObservedVersion

# Compared against when the tenant is unknown or not a Rev.io one, so every refusal costs the same.
_DECOY_TOKEN = "qbosync-decoy-revio-receiver-token"  # noqa: S105 - public by design, never accepted


class ReceiverNotFound(NotFound):
    """No receiver at this URL; says nothing about why (unknown tenant, wrong token, other adapter)."""

    code = "not_found"


class RevioTenant(Protocol):
    @property
    def webhook_secret_version(self) -> int: ...

    @property
    def source(self) -> TenantSourceConfig | None: ...


class RevioTenants(Protocol):
    def get(self, tenant_id: str) -> RevioTenant:
        """The tenant; raises ``UnknownTenant`` when it is not registered."""
        ...


class ReceiverTokens(Protocol):
    def revio_receiver_token(self, tenant_id: str, version: int) -> SecretStr: ...


class RecordedVersions(Protocol):
    def read(self, kind: ObjectKind, object_id: str) -> ObservedVersion | None: ...


@dataclass(frozen=True)
class Confirmed:
    """The handshake's answer: ``X-Hook-Secret`` echoed with 200."""

    headers: dict[str, str]


@dataclass(frozen=True)
class Ignored:
    """A notification about nothing qbosync syncs (or naming no object): answered 200, nothing queued."""

    event_type: str


def _default_tenants() -> RevioTenants:
    from qbosync.store.tenants import TenantRepository

    return TenantRepository()


def _default_tokens() -> ReceiverTokens:
    from qbosync.store.app_secrets import AppSecrets

    return AppSecrets()


def _default_queue() -> MessageQueue:
    from qbosync.store.queues import PushQueue

    return PushQueue()


def _default_versions(tenant_id: str) -> RecordedVersions:
    from qbosync.store.source_versions import SourceVersionStore

    return SourceVersionStore(tenant_id)


@dataclass
class RevioReceiver:
    """Checks a tenant's Rev.io receiver URL, answers the handshake, queues notifications."""

    tenants: RevioTenants = field(default_factory=_default_tenants)
    tokens: ReceiverTokens = field(default_factory=_default_tokens)
    queue: MessageQueue = field(default_factory=_default_queue)
    versions_for: Callable[[str], RecordedVersions] = _default_versions
    clock: Callable[[], float] = time.time

    def receive(
        self, tenant_id: str, token: str, headers: Mapping[str, str], body: bytes
    ) -> Confirmed | Ignored | PushMessage:
        """The handshake's answer, an ignored event, or the message queued; ``ReceiverNotFound`` (404)
        or ``BadRequest`` (400, a body that is not a notification) otherwise."""
        from qbosync.source.revio.webhooks import answer_handshake

        expected = self._expected_token(tenant_id)
        matches = hmac.compare_digest((expected or _DECOY_TOKEN).encode(), token.encode())
        if expected is None or not matches:
            raise ReceiverNotFound("Not found.")
        lowered = {name.lower(): value for name, value in headers.items()}
        handshake = answer_handshake(lowered)
        if handshake is not None:
            logger.info("revio receiver confirmed", extra={"tenant_id": tenant_id})
            return Confirmed(handshake.headers)
        return self._notification(tenant_id, body)

    def _expected_token(self, tenant_id: str) -> str | None:
        """The tenant's token; None for an unknown tenant, a tenant of another adapter, or a stack
        without its source webhook key (a deployment fault, logged). A token is derived in every case,
        so a refusal costs what an acceptance does."""
        try:
            tenant = self.tenants.get(tenant_id)
            version = tenant.webhook_secret_version
            is_revio = tenant.source is not None and tenant.source.adapter is SourceAdapterKind.REVIO
        except UnknownTenant:
            version, is_revio = 1, False
        try:
            token = self.tokens.revio_receiver_token(tenant_id, version).get_secret_value()
        except SecretMissing:
            logger.error("source webhook key not provisioned", extra={"tenant_id": tenant_id})
            return None
        return token if is_revio else None

    def _notification(self, tenant_id: str, body: bytes) -> Ignored | PushMessage:
        from qbosync.source.revio.webhooks import change_of
        from qbosync.source.revio.wire import RevioNotification

        try:
            notification = RevioNotification.model_validate_json(body)
        except ValidationError:
            raise BadRequest(
                "the body is not a Rev.io notification (event_id, event_type, object_id)",
                code="malformed_notification",
            ) from None
        change = change_of(notification.event_type)
        if change is None or notification.object_id is None:
            logger.info(
                "revio notification ignored",
                extra={"tenant_id": tenant_id, "webhook_type": notification.event_type},
            )
            return Ignored(notification.event_type)
        kind, action = change
        source_id = str(notification.object_id)
        recorded = self.versions_for(tenant_id).read(kind, source_id)
        received_at = datetime.fromtimestamp(self.clock(), UTC)
        try:
            message = PushMessage(
                event_id=f"revio-{notification.event_id}",
                tenant_id=tenant_id,
                kind=kind,
                action=action,
                source_id=source_id,
                source_version=1 if recorded is None else recorded.version,
                # Rev.io's own time when it sends one; not used for ordering (the re-read's version is).
                occurred_at=notification.created_date or received_at,
                received_at=received_at,
            )
        except ValidationError:  # an event id longer than a queue message may carry
            raise BadRequest(
                "the notification's event_id is too long", code="malformed_notification"
            ) from None
        self.queue.send(
            message.model_dump_json(), group_id=message.group_id, deduplication_id=message.deduplication_id
        )
        logger.info(
            "revio notification queued",
            extra={
                "tenant_id": tenant_id,
                "event_id": message.event_id,
                "webhook_type": notification.event_type,
                "source_id": source_id,
            },
        )
        return message
