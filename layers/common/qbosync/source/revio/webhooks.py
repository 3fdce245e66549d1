"""Rev.io webhook intake: receiver registration, the ``X-Hook-Secret`` handshake, and notifications.

Rev.io (developers.rev.io/docs/webhook-receivers) registers a receiver URL, then POSTs a confirmation
carrying a code in ``X-Hook-Secret``; the receiver is activated by answering ``200`` with the same header,
or later by ``POST WebhookReceivers/{id}/activate``. Notifications are not signed (as far as documented),
so qbosync trusts only a notification's event type and object id: ``RevioNotificationIntake`` re-reads
the object through the API and turns it into a contract ``SourceWebhook`` whose version comes from the
version ledger, so the push and pull flows handle it like any other source's event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from qbosync.source.errors import SourceInvalidResponse, SourceNotFound
from qbosync.source.models import ChangeAction, ObjectKind, SourceObject, SourceWebhook
from qbosync.source.revio.wire import RevioCreated, RevioNotification

if TYPE_CHECKING:  # the public receiver route uses the parsing here without loading the HTTP client
    from qbosync.source.revio.adapter import RevioAdapter
    from qbosync.source.revio.client import RevioClient

HOOK_SECRET_HEADER = "X-Hook-Secret"  # noqa: S105 - a header name, not a secret
SUBSCRIBED_EVENTS = (
    "customer created",
    "customer updated",
    "product created",
    "product updated",
    "bill created",
    "bill updated",
    "bill voided",
    "bill deleted",
    "payment created",
    "payment voided",
    "credit created",
    "credit voided",
)
"""The event types qbosync subscribes to; "bill created" is Rev.io's documented example, the others
follow its pattern (assumed)."""

_KINDS: dict[str, ObjectKind] = {
    "customer": "customer",
    "product": "product",
    "bill": "invoice",
    "payment": "payment",
    "credit": "credit_note",
}
_ACTIONS: dict[str, ChangeAction] = {
    "created": "created",
    "updated": "updated",
    "deleted": "deleted",
    "voided": "voided",
}


@dataclass(frozen=True)
class HandshakeAnswer:
    """What the receiver answers to Rev.io's confirmation request."""

    status: int
    headers: dict[str, str]


def answer_handshake(headers: dict[str, str]) -> HandshakeAnswer | None:
    """The answer to a confirmation request (``X-Hook-Secret`` echoed with ``200``); None when the
    request carries no ``X-Hook-Secret`` and so is a notification. ``headers`` have lower-case names."""
    secret = headers.get(HOOK_SECRET_HEADER.lower())
    if secret is None:
        return None
    return HandshakeAnswer(200, {HOOK_SECRET_HEADER: secret})


def change_of(event_type: str) -> tuple[ObjectKind, ChangeAction] | None:
    """The contract kind and action an event type names; None for events about no object qbosync syncs
    (e.g. "rating completed")."""
    words = [word for word in re.split(r"[\s._-]+", event_type.strip().lower()) if word]
    if len(words) != 2 or words[0] not in _KINDS or words[1] not in _ACTIONS:
        return None
    return _KINDS[words[0]], _ACTIONS[words[1]]


class _Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_receiver_id: int
    event_type: str


class RevioWebhookRegistration:
    """Registers a tenant's receiver URL with Rev.io and subscribes it to the events qbosync needs."""

    def __init__(self, client: RevioClient) -> None:
        self._client = client

    def register(self, receiver_url: str, description: str = "qbosync") -> int:
        """Create the receiver; Rev.io then sends the confirmation request to ``receiver_url``."""
        created = self._client.send(
            "POST", "/WebhookReceivers", RevioCreated, json={"url": receiver_url, "description": description}
        )
        receiver_id = (created.model_extra or {}).get("webhook_receiver_id")
        if not isinstance(receiver_id, int):
            raise SourceInvalidResponse(
                "Rev.io's answer to a receiver registration has no webhook_receiver_id"
            )
        return receiver_id

    def activate(self, receiver_id: int) -> None:
        """Activate a receiver that did not echo the code (e.g. it was not reachable yet)."""
        self._client.request("POST", f"/WebhookReceivers/{receiver_id}/activate")

    def subscribe(self, receiver_id: int, event_types: tuple[str, ...] = SUBSCRIBED_EVENTS) -> None:
        for event_type in event_types:
            body = _Subscription(webhook_receiver_id=receiver_id, event_type=event_type).model_dump()
            self._client.request("POST", "/WebhookSubscriptions", json=body)


class RevioNotificationIntake:
    """Turns a Rev.io notification into a contract event by re-reading the object it names."""

    def __init__(self, tenant_id: str, adapter: RevioAdapter) -> None:
        self._tenant_id = tenant_id
        self._adapter = adapter

    def parse(self, body: bytes) -> RevioNotification | None:
        """The notification, or None for a body that is not one (answered 400 by the receiver)."""
        try:
            return RevioNotification.model_validate_json(body)
        except ValidationError:
            return None

    def resolve(self, notification: RevioNotification) -> SourceWebhook | None:
        """The contract event for the object as Rev.io has it now; None when the event is about no
        synced object, or the object is gone (nothing to re-read)."""
        change = change_of(notification.event_type)
        if change is None or notification.object_id is None:
            return None
        kind, action = change
        try:
            current = self._read(kind, str(notification.object_id))
        except SourceNotFound:
            return None
        return SourceWebhook(
            event_id=f"revio-{notification.event_id}",
            tenant_id=self._tenant_id,
            type=f"{kind}.{action}",
            object={"kind": kind, "id": current.id, "version": current.version},  # type: ignore[arg-type]
            occurred_at=notification.created_date or datetime.now(UTC),
        )

    def _read(self, kind: ObjectKind, object_id: str) -> SourceObject:
        readers = {
            "customer": self._adapter.get_customer,
            "product": self._adapter.get_product,
            "invoice": self._adapter.get_invoice,
            "payment": self._adapter.get_payment,
            "credit_note": self._adapter.get_credit_note,
        }
        return readers[kind](object_id)
