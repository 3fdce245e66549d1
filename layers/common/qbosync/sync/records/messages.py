"""What travels on the queues: push messages (source changes, heals) and pull messages (QBO changes).

Every flow that queues work (webhooks, reconciliation, the pull's heal, the retry schedule) builds these,
so they live here rather than in one flow. The push message also says how its SQS group and
deduplication ids are chosen."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from qbosync.source.models import ChangeAction, ObjectKind, SourceWebhook

# SQS accepts these characters in a deduplication id, at most 128 of them.
_SQS_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")
_HEAL_PREFIX = "heal-"

Operation = Literal["Create", "Update", "Delete", "Merge", "Void", "Emailed"]


class MessageQueue(Protocol):
    """A FIFO queue (``qbosync.store.queues.PushQueue`` in production)."""

    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str: ...


class BatchQueue(Protocol):
    """A standard queue taking many bodies at once (``qbosync.store.pull_queue.PullQueue``)."""

    def send_all(self, bodies: Sequence[str]) -> None: ...


HealKind = Literal["invoice", "payment", "credit_note"]
"""The source documents a heal can re-push: the ones qbosync writes to QBO and the pull checks for drift."""

HEAL_KIND_OF_LINK_ENTITY: Mapping[str, HealKind] = {
    "Invoice": "invoice",
    "Payment": "payment",
    "CreditMemo": "credit_note",
    "CreditApplication": "credit_note",
}
"""Which source document to heal for a drifted link, by the link's entity (a credit note owns both its
CreditMemo and the zero payment applying it)."""


def heal_event_id(cause: str) -> str:
    """``heal-<cause>``: SQS-safe and at most 128 characters, else ``heal-`` and a digest of ``cause``."""
    event_id = f"{_HEAL_PREFIX}{cause}"
    if _SQS_ID.fullmatch(event_id):
        return event_id
    return _HEAL_PREFIX + hashlib.sha256(cause.encode()).hexdigest()


class PushMessage(BaseModel):
    """One source change to push: which object, which version the source announced, and when.

    ``redelivery`` is 0 for the webhook itself and grows with every re-queue (a parked payment
    released, a failed event retried), so each re-queue is processed once more, and only once.

    ``heal`` asks for the source's current version to be written to QBO again even though the link says
    QBO has it: the pull found QBO drifted from it (deleted there, or its total changed), and the
    tenant chose to heal drift.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    tenant_id: str
    kind: ObjectKind
    action: ChangeAction
    source_id: str
    source_version: int = Field(ge=1)
    occurred_at: datetime
    received_at: datetime
    redelivery: int = Field(0, ge=0)
    heal: bool = False
    """Re-apply the source's current version even if the link says QBO has it: QBO drifted."""

    @classmethod
    def from_webhook(cls, webhook: SourceWebhook, received_at: datetime) -> PushMessage:
        return cls(
            event_id=webhook.event_id,
            tenant_id=webhook.tenant_id,
            kind=webhook.object.kind,
            action=webhook.action,
            source_id=webhook.object.id,
            source_version=webhook.object.version,
            occurred_at=webhook.occurred_at,
            received_at=received_at,
        )

    @classmethod
    def heal_of(  # noqa: PLR0917 - what a heal names: whose, which document, which version, why, when
        cls,
        tenant_id: str,
        kind: HealKind,
        source_id: str,
        source_version: int,
        cause: str,
        now: datetime,
    ) -> PushMessage:
        """A request to write a source document to QBO again; ``cause``: the pull event that found the drift.

        The event id is ``heal-<cause>`` (see ``heal_event_id``), so the same finding queued twice is
        deduplicated by SQS and applied once, while a later finding heals again.
        """
        return cls(
            event_id=heal_event_id(cause),
            tenant_id=tenant_id,
            kind=kind,
            action="updated",
            source_id=source_id,
            source_version=source_version,
            occurred_at=now,
            received_at=now,
            heal=True,
        )

    @property
    def group_id(self) -> str:
        """One FIFO group per tenant: customer → item → invoice → payment order holds tenant-wide."""
        return self.tenant_id

    @property
    def deduplication_id(self) -> str:
        """The source's event id for the webhook; a digest for re-queues or ids SQS would refuse."""
        if self.redelivery == 0 and _SQS_ID.fullmatch(self.event_id):
            return self.event_id
        return hashlib.sha256(f"{self.event_id}#{self.redelivery}".encode()).hexdigest()

    def redelivered(self, redelivery: int) -> PushMessage:
        return self.model_copy(update={"redelivery": redelivery})


class EntityChange(BaseModel):
    """One entity change in one realm, as a notification announced it (the data is read later)."""

    model_config = ConfigDict(frozen=True)

    realm_id: str
    entity: str
    entity_id: str
    operation: Operation
    last_updated: datetime | None = None
    deleted_id: str | None = None
    dedupe_key: str

    @property
    def event_id(self) -> str:
        """The sync event id of this change: the same whichever way it arrived (legacy or CloudEvents
        webhook, or reconciliation), so one QBO change is applied and reported once."""
        if self.last_updated is None:
            identity = self.dedupe_key
        else:
            stamp = int(self.last_updated.timestamp() * 1000)
            identity = f"{self.realm_id}|{self.entity}|{self.entity_id}|{stamp}"
        return "qbo-" + hashlib.sha256(identity.encode()).hexdigest()[:40]


class PullMessage(BaseModel):
    """One change for the pull worker. ``redelivery`` grows when the retry schedule re-queues it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1)
    change: EntityChange
    received_at: datetime
    redelivery: int = Field(0, ge=0)
