"""Receiving a QBO webhook: verify, split into changes, queue them. Intuit wants a 200 within 3 s.

Checks, cheapest first: size (413), ``intuit-signature`` (401: missing or not the base64
HMAC-SHA256 of the raw body under the app's verifier token, compared in constant time), content
type (415), JSON and shape (400). Nothing is queued unless every check passes. Then each change is
routed by realm to its tenant; a realm no tenant owns is acknowledged and logged (Intuit would
otherwise resend it for days); a change already queued (Intuit resends until it gets a 200) is
dropped. Neither the verifier token nor the signature is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel

from qbosync.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from qbosync.observability import logger
from qbosync.store.app_secrets import IntuitApp
from qbosync.sync.pull.notifications import parse_notifications
from qbosync.sync.records.messages import EntityChange, PullMessage

SIGNATURE_HEADER = "intuit-signature"
MAX_WEBHOOK_BYTES = 2 * 1024 * 1024
"""Intuit sends at most about 100 events and about 1 MB a POST."""

JSON_MEDIA_TYPES = frozenset({"application/json", "application/cloudevents+json"})

# Entities the pull worker acts on; other name-list or transaction changes are acknowledged only.
PULLED_ENTITIES = frozenset({"Customer", "Item", "Payment", "Invoice", "CreditMemo"})


class IntuitAppSecrets(Protocol):
    def intuit_app(self) -> IntuitApp: ...


class RealmDirectory(Protocol):
    def get_by_realm(self, realm_id: str) -> object | None:
        """The active connection of a realm (with a ``tenant_id``), or None."""
        ...


class ChangeMarks(Protocol):
    def claim(self, dedupe_key: str, now: float) -> bool: ...
    def release(self, dedupe_key: str) -> None: ...


class BatchQueue(Protocol):
    def send_all(self, bodies: Sequence[str]) -> None: ...


class SignatureMissing(Unauthorized):
    code = "signature_missing"


class SignatureInvalid(Unauthorized):
    code = "signature_invalid"


class WebhookReceipt(BaseModel):
    """What one POST led to (counts only: safe to log and to answer with)."""

    queued: int = 0
    duplicates: int = 0
    unknown_realm: int = 0
    ignored: int = 0


def _default_secrets() -> IntuitAppSecrets:
    from qbosync.store.app_secrets import AppSecrets

    return AppSecrets()


def _default_realms() -> RealmDirectory:
    from qbosync.store.connections import ConnectionRepository

    return ConnectionRepository()


def _default_marks() -> ChangeMarks:
    from qbosync.store.checkpoints import WebhookMarks

    return WebhookMarks()


def _default_queue() -> BatchQueue:
    from qbosync.store.pull_queue import PullQueue

    return PullQueue()


def expected_signature(verifier_token: str, body: bytes) -> str:
    """Intuit's ``intuit-signature``: base64(HMAC-SHA256(verifier token, raw body))."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass
class QboWebhookReceiver:
    """Verifies QBO webhooks and queues one pull message per entity change."""

    secrets: IntuitAppSecrets = field(default_factory=_default_secrets)
    realms: RealmDirectory = field(default_factory=_default_realms)
    marks: ChangeMarks = field(default_factory=_default_marks)
    queue: BatchQueue = field(default_factory=_default_queue)
    clock: Callable[[], float] = time.time

    def receive(self, headers: Mapping[str, str], body: bytes) -> WebhookReceipt:
        """Queue the notification's changes; a ``QbosyncError`` (4xx) when the POST is refused."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if len(body) > MAX_WEBHOOK_BYTES:
            raise PayloadTooLarge(f"a QBO webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
        self._verify(lowered.get(SIGNATURE_HEADER), body)
        if _media_type(lowered.get("content-type")) not in JSON_MEDIA_TYPES:
            raise UnsupportedMediaType("QBO webhooks are application/json or application/cloudevents+json")
        try:
            document = json.loads(body)
        except ValueError:
            raise BadRequest("the webhook body is not valid JSON", code="malformed_json") from None
        changes = parse_notifications(document)
        return self._queue(changes)

    def _verify(self, signature: str | None, body: bytes) -> None:
        if not signature:
            raise SignatureMissing("the intuit-signature header is missing")
        verifier = self.secrets.intuit_app().verifier_token.get_secret_value()
        if not hmac.compare_digest(signature.strip().encode(), expected_signature(verifier, body).encode()):
            raise SignatureInvalid("the intuit-signature does not match the body")

    def _queue(self, changes: list[EntityChange]) -> WebhookReceipt:
        receipt = WebhookReceipt()
        now = self.clock()
        received_at = datetime.fromtimestamp(now, UTC)
        tenants: dict[str, str | None] = {}
        claimed: list[str] = []
        bodies: list[str] = []
        for change in changes:
            if change.entity not in PULLED_ENTITIES or change.operation == "Emailed":
                receipt.ignored += 1
                continue
            if change.realm_id not in tenants:
                connection = self.realms.get_by_realm(change.realm_id)
                tenants[change.realm_id] = getattr(connection, "tenant_id", None)
            tenant_id = tenants[change.realm_id]
            if tenant_id is None:
                receipt.unknown_realm += 1
                logger.warning("qbo webhook for a realm no tenant owns", extra={"realm_id": change.realm_id})
                continue
            if not self.marks.claim(change.dedupe_key, now):
                receipt.duplicates += 1
                continue
            claimed.append(change.dedupe_key)
            bodies.append(
                PullMessage(tenant_id=tenant_id, change=change, received_at=received_at).model_dump_json()
            )
        try:
            self.queue.send_all(bodies)
        except Exception:
            for key in claimed:
                self.marks.release(key)
            raise
        receipt.queued = len(bodies)
        logger.info("qbo webhook queued", extra=receipt.model_dump())
        return receipt
