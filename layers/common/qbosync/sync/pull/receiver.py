"""Receiving a QBO webhook: verify, split into changes, queue them. Intuit wants a 200 within 3 s.

Size and content type are checked before this, by the route's shared body checks
(``qbosync.api.routes.webhooks``). Here: ``intuit-signature`` (401: missing or not the base64
HMAC-SHA256 of the raw body under the app's verifier token, compared in constant time), then JSON and
shape (400). Nothing is queued unless every check passes. Then each change is
routed by realm to its tenant; a realm no tenant owns is acknowledged and logged (Intuit would
otherwise resend it for days); a change already queued (Intuit resends until it gets a 200) is
dropped. The messages are sent before any dedupe mark is written, and only queued changes are
marked, so a request the Lambda timeout cuts off leaves nothing that would swallow Intuit's resend.
Store calls are batched (one read per 100 changes, one SQS call per 10, one mark write per 25), so
Intuit's largest batches are answered well inside its 3 seconds. Neither the verifier token nor the
signature is ever logged.

Two gap signals start here (``sync/backstop.py`` has the rules): a body whose signature does not verify is
still refused with its 401, but the realms it names (digits only, at most ten; nothing else of it is
read) that a tenant owns get an ``unverified_webhook`` gap; a verified change announced later than
``QBOSYNC_WEBHOOK_LATE_SECONDS`` after QBO made it gives its tenant a ``late_webhook`` gap. A gap that
cannot be sent is logged, never turned into an error: the reply stays what it would have been.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, SecretStr

from qbosync.errors import BadRequest, QbosyncError, Unauthorized
from qbosync.observability import logger
from qbosync.store.reconcile_signals import GapReason
from qbosync.store.table import StoreUnavailable
from qbosync.sync.pull.gaps import GapSignals, QueuedGapSignals, claimed_realms, is_late
from qbosync.sync.pull.notifications import parse_notifications
from qbosync.sync.records.messages import EntityChange, PullMessage

SIGNATURE_HEADER = "intuit-signature"

QBO_MEDIA_TYPES = frozenset({"application/json", "application/cloudevents+json"})
"""Intuit's legacy and CloudEvents payloads."""

# Entities the pull worker acts on; other name-list or transaction changes are acknowledged only.
PULLED_ENTITIES = frozenset({"Customer", "Item", "Payment", "Invoice", "CreditMemo"})


class WebhookVerifierSecret(Protocol):
    def webhook_verifier_token(self) -> SecretStr: ...


class RealmDirectory(Protocol):
    def get_by_realm(self, realm_id: str) -> object | None:
        """The active connection of a realm (with a ``tenant_id``), or None."""
        ...


class ChangeMarks(Protocol):
    def already_queued(self, dedupe_keys: Sequence[str], now: float) -> set[str]: ...
    def mark_queued(self, dedupe_keys: Sequence[str], now: float) -> None: ...


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
    late: int = 0


def _default_secrets() -> WebhookVerifierSecret:
    from qbosync.store.app_secrets import AppSecrets, shared_secret_box

    # The receiver is built per request; the verifier token is cached per container, not per request.
    return AppSecrets(shared_secret_box())


def _default_realms() -> RealmDirectory:
    from qbosync.store.connections import ConnectionRepository

    return ConnectionRepository()


def _default_marks() -> ChangeMarks:
    from qbosync.store.checkpoints import WebhookMarks

    return WebhookMarks()


def _default_queue() -> BatchQueue:
    from qbosync.store.pull_queue import PullQueue

    return PullQueue()


def _default_late_after() -> timedelta:
    from qbosync.settings import get_read_budget_settings

    return get_read_budget_settings().webhook_late_after


def expected_signature(verifier_token: str, body: bytes) -> str:
    """Intuit's ``intuit-signature``: base64(HMAC-SHA256(verifier token, raw body))."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class QboWebhookReceiver:
    """Verifies QBO webhooks and queues one pull message per entity change."""

    # Only the verifier token's own secret: this public function cannot read the Intuit client secret.
    secrets: WebhookVerifierSecret = field(default_factory=_default_secrets)
    realms: RealmDirectory = field(default_factory=_default_realms)
    marks: ChangeMarks = field(default_factory=_default_marks)
    queue: BatchQueue = field(default_factory=_default_queue)
    clock: Callable[[], float] = time.time
    # Where gap notices go: by default the pull queue above, as notices the pull worker records.
    gaps: GapSignals | None = None
    late_after: timedelta = field(default_factory=_default_late_after)

    def receive(self, headers: Mapping[str, str], body: bytes) -> WebhookReceipt:
        """Queue the notification's changes; a ``QbosyncError`` (4xx) when the POST is refused."""
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            self._verify(lowered.get(SIGNATURE_HEADER), body)
        except SignatureInvalid:
            self._signal_unverified(body)
            raise
        try:
            document = json.loads(body)
        except ValueError:
            raise BadRequest("the webhook body is not valid JSON", code="malformed_json") from None
        changes = parse_notifications(document)
        return self._queue(changes)

    def _verify(self, signature: str | None, body: bytes) -> None:
        if not signature:
            raise SignatureMissing("the intuit-signature header is missing")
        verifier = self.secrets.webhook_verifier_token().get_secret_value()
        if not hmac.compare_digest(signature.strip().encode(), expected_signature(verifier, body).encode()):
            raise SignatureInvalid("the intuit-signature does not match the body")

    def _queue(self, changes: list[EntityChange]) -> WebhookReceipt:
        receipt = WebhookReceipt()
        now = self.clock()
        received_at = datetime.fromtimestamp(now, UTC)
        tenants: dict[str, str | None] = {}
        routed: dict[str, tuple[str, EntityChange]] = {}
        late_tenants: dict[str, None] = {}
        for change in changes:
            if change.entity not in PULLED_ENTITIES or change.operation == "Emailed":
                receipt.ignored += 1
                continue
            tenant_id = self._tenant_of(change.realm_id, tenants)
            if tenant_id is None:
                receipt.unknown_realm += 1
                continue
            if change.dedupe_key in routed:
                receipt.duplicates += 1
                continue
            routed[change.dedupe_key] = (tenant_id, change)
            if is_late(change, received_at, self.late_after):
                receipt.late += 1
                late_tenants.setdefault(tenant_id, None)
        # Enqueue first, mark after: a request cut off in between leaves no mark, so Intuit's resend
        # is queued again (a change applied twice is safe: the pull worker re-reads and checks links).
        seen = self.marks.already_queued(list(routed), now) if routed else set()
        fresh = [key for key in routed if key not in seen]
        receipt.duplicates += len(seen)
        bodies = [
            PullMessage(
                tenant_id=routed[key][0], change=routed[key][1], received_at=received_at
            ).model_dump_json()
            for key in fresh
        ]
        if bodies:
            self.queue.send_all(bodies)
            self._mark(fresh, now)
        receipt.queued = len(bodies)
        if late_tenants:
            self._signal(list(late_tenants), GapReason.LATE_WEBHOOK, received_at)
        logger.info("qbo webhook queued", extra=receipt.model_dump())
        return receipt

    def _signal_unverified(self, body: bytes) -> None:
        """The realms a refused body names that a tenant owns: each tenant gets a gap."""
        try:
            tenants: dict[str, str | None] = {}
            owners = [self._tenant_of(realm, tenants) for realm in claimed_realms(body)]
        except QbosyncError:
            logger.warning("qbo webhook refused; its realms could not be looked up")
            return
        served = [tenant for tenant in owners if tenant is not None]
        logger.warning("qbo webhook signature invalid", extra={"tenants_signalled": len(served)})
        if served:
            self._signal(served, GapReason.UNVERIFIED_WEBHOOK, datetime.fromtimestamp(self.clock(), UTC))

    def _signal(self, tenant_ids: list[str], reason: GapReason, at: datetime) -> None:
        gaps = self.gaps or QueuedGapSignals(self.queue)
        try:
            gaps.signal(tenant_ids, reason, at)
        except QbosyncError:
            logger.warning("qbo webhook gap not signalled", extra={"reason": reason.value})
            return
        for tenant_id in tenant_ids:
            logger.info("reconcile gap signalled", extra={"tenant_id": tenant_id, "reason": reason.value})

    def _tenant_of(self, realm_id: str, tenants: dict[str, str | None]) -> str | None:
        """The tenant owning ``realm_id``, looked up once per request (``tenants`` remembers)."""
        if realm_id not in tenants:
            # '#' separates key parts, so no stored connection has such a realm; asking would fail.
            connection = None if "#" in realm_id else self.realms.get_by_realm(realm_id)
            tenants[realm_id] = getattr(connection, "tenant_id", None)
            if connection is None:
                logger.warning("qbo webhook for a realm no tenant owns", extra={"realm_id": realm_id})
        return tenants[realm_id]

    def _mark(self, dedupe_keys: list[str], now: float) -> None:
        """The messages are queued: a mark that fails to write only costs a duplicate message later."""
        try:
            self.marks.mark_queued(dedupe_keys, now)
        except StoreUnavailable:
            logger.warning("qbo webhook queued but not marked", extra={"changes": len(dedupe_keys)})
