"""What travels on the push queue, and how its SQS group and deduplication ids are chosen."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from qbosync.source.models import ChangeAction, ObjectKind, SourceWebhook

# SQS accepts these characters in a deduplication id, at most 128 of them.
_SQS_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")


class PushMessage(BaseModel):
    """One source change to push: which object, which version the source announced, and when.

    ``redelivery`` is 0 for the webhook itself and grows with every re-queue (a parked payment
    released, a failed event retried), so each re-queue is processed once more, and only once.
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

    @property
    def group_id(self) -> str:
        """One FIFO group per tenant: customer → item → invoice → payment order holds tenant-wide."""
        return self.tenant_id

    @property
    def deduplication_id(self) -> str:
        """The source's event id for the webhook; a digest for re-queues or ids SQS would refuse."""
        if self.redelivery == 0 and _SQS_ID.match(self.event_id):
            return self.event_id
        return hashlib.sha256(f"{self.event_id}#{self.redelivery}".encode()).hexdigest()

    def redelivered(self, redelivery: int) -> PushMessage:
        return self.model_copy(update={"redelivery": redelivery})
