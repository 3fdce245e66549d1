"""The dead-letter queues: push and pull messages that failed ``maxReceiveCount`` times, per tenant.

Only this module reads the DLQs. SQS has no "peek", so a listing receives every message with a short
visibility timeout, reads each body with the queue's ``MessageReader`` (the API passes readers built on
``PushMessage`` and ``PullMessage``, so the store does not import the sync layer) to learn its tenant,
and then makes every message it did not redrive visible again at once (``ChangeMessageVisibility`` 0),
whatever happened in between: nothing is ever deleted except a message that was just sent back to its
source queue. A message no reader understands belongs to no tenant; it is left where it is and only
its id is logged. A DLQ whose URL is not configured is skipped (and logged).

Redriving sends the body back unchanged to the queue it came from (the FIFO push queue with its group,
the tenant, and a fresh deduplication id derived from the original one and a redrive counter, carried
as the ``qbosync-redrives`` message attribute), then deletes it from the DLQ. A crash between the two
sends it twice at most; the workers' idempotency and the links make that harmless.

Limits that come from SQS itself: while a listing runs, the DLQ's messages are in flight, so a second
listing at the same moment sees fewer of them (for ``visibility_timeout`` seconds at most, if the first
one died half-way); and a FIFO DLQ shows at most one receive (ten) of a message group at a time, so a
tenant with more push dead letters sees the oldest ten, flagged incomplete, and the next ones once
earlier ones are redriven.

Each peek receives the messages once, so SQS's ``ApproximateReceiveCount`` grows with every listing;
``receive_count`` discounts the current peek only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from qbosync.errors import NotFound
from qbosync.observability import logger
from qbosync.settings import get_settings
from qbosync.store.aws import sqs_client
from qbosync.store.table import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
    )

QueueKind = Literal["push", "pull"]
QUEUE_KINDS: tuple[QueueKind, ...] = ("push", "pull")
REDRIVES_ATTRIBUTE = "qbosync-redrives"
SQS_BATCH_LIMIT = 10
DEFAULT_VISIBILITY_SECONDS = 30
DEFAULT_MAX_MESSAGES = 1000
_EMPTY_POLLS = 3


class DeadLetterQueueNotConfigured(StoreUnavailable):
    """The deployment does not name a dead-letter queue or its source queue."""

    code = "dead_letter_queue_not_configured"


class DeadLetterNotFound(NotFound):
    """The tenant has no dead-lettered message with that id (or it is not this tenant's)."""

    code = "dead_letter_not_found"


class DeadLetter(BaseModel):
    """One dead-lettered message, as read from its DLQ."""

    model_config = ConfigDict(frozen=True)

    queue: QueueKind
    message_id: str
    tenant_id: str
    event_id: str
    kind: str
    object_id: str
    receive_count: int
    """SQS's receive count less this listing's own receive (the worker's, then earlier listings')."""
    first_received_at: datetime | None = None
    sent_at: datetime | None = None
    redrives: int = 0
    """How many times an admin has redriven this message before."""


class LetterIdentity(BaseModel):
    """What a message body says about itself: whose it is, which event, and (push) its FIFO ids."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    event_id: str
    kind: str
    object_id: str
    group_id: str | None = None
    deduplication_id: str | None = None


MessageReader = Callable[[str], LetterIdentity | None]
"""Reads a body of one queue (``None``: not a message of that queue). The sync layer's message
models are passed in (``qbosync.api.dead_letters``), so the store does not import the sync layer."""


class DeadLetterListing(BaseModel):
    """One tenant's dead letters; ``complete`` is false when some of its messages could not be read
    (more than ten in the FIFO push DLQ: the next ones show once earlier ones are redriven)."""

    model_config = ConfigDict(frozen=True)

    items: list[DeadLetter]
    complete: bool


@dataclass
class _Held:
    """A message this peek received: what it says, and the receipt handle that releases it."""

    letter: DeadLetter | None
    identity: LetterIdentity | None
    body: str
    receipt_handle: str
    group_id: str | None = None
    removed: bool = False


@dataclass
class _Peek:
    entries: list[_Held]
    complete: bool
    fifo: bool
    cut_groups: set[str]


def _epoch_ms(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except ValueError:
        return None


def _redrives(message: MessageTypeDef) -> int:
    attribute = message.get("MessageAttributes", {}).get(REDRIVES_ATTRIBUTE)
    raw = attribute.get("StringValue", "0") if attribute is not None else "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def read_dead_letter(queue: QueueKind, message: MessageTypeDef, identity: LetterIdentity) -> DeadLetter:
    """A received DLQ message, whose body ``identity`` describes, as a ``DeadLetter``."""
    attributes = message.get("Attributes", {})
    count = int(attributes.get("ApproximateReceiveCount", "1") or "1")
    return DeadLetter(
        queue=queue,
        message_id=message["MessageId"],
        tenant_id=identity.tenant_id,
        event_id=identity.event_id,
        kind=identity.kind,
        object_id=identity.object_id,
        receive_count=max(0, count - 1),
        first_received_at=_epoch_ms(attributes.get("ApproximateFirstReceiveTimestamp")),
        sent_at=_epoch_ms(attributes.get("SentTimestamp")),
        redrives=_redrives(message),
    )


def redrive_deduplication_id(original: str, redrive: int) -> str:
    """A FIFO deduplication id for the ``redrive``-th redrive of a message first sent with ``original``:
    the two hashed, so a redrive is never swallowed as a duplicate of an earlier delivery."""
    return hashlib.sha256(f"{original}#redrive#{redrive}".encode()).hexdigest()


@dataclass
class DeadLetterQueues:
    """Lists and redrives the dead-lettered messages of one tenant; URLs default to the settings.

    ``readers`` reads the bodies of each queue (push, pull); a queue without one is not read.
    """

    readers: Mapping[QueueKind, MessageReader]
    client: SQSClient | None = None
    push_dlq_url: str | None = None
    pull_dlq_url: str | None = None
    push_queue_url: str | None = None
    pull_queue_url: str | None = None
    visibility_timeout: int = DEFAULT_VISIBILITY_SECONDS
    max_messages: int = DEFAULT_MAX_MESSAGES

    @property
    def sqs(self) -> SQSClient:
        return self.client or sqs_client()

    def _configured(self, name: str) -> str | None:
        url = getattr(self, name) or getattr(get_settings(), name)
        return str(url) if url else None

    def _url(self, name: str, env: str) -> str:
        url = self._configured(name)
        if url is None:
            raise DeadLetterQueueNotConfigured(f"{env} is not set")
        return url

    def dlq_url(self, queue: QueueKind) -> str:
        return (
            self._url("push_dlq_url", "PUSH_DLQ_URL")
            if queue == "push"
            else self._url("pull_dlq_url", "PULL_DLQ_URL")
        )

    def source_url(self, queue: QueueKind) -> str:
        return (
            self._url("push_queue_url", "PUSH_QUEUE_URL")
            if queue == "push"
            else self._url("pull_queue_url", "PULL_QUEUE_URL")
        )

    # --- reading -------------------------------------------------------------------------------------

    def list(self, tenant_id: str) -> DeadLetterListing:
        """The tenant's dead-lettered messages in both DLQs, oldest first; all are left in place."""
        found: list[DeadLetter] = []
        complete = True
        for queue in self._queues():
            with self._peeked(queue) as peek:
                mine = [h for h in peek.entries if h.letter is not None and h.letter.tenant_id == tenant_id]
                found.extend(h.letter for h in mine if h.letter is not None)
                # A FIFO DLQ hides the rest of a group while some of it is in flight: only a group
                # whose receive was cut short may have more, behind the ones seen.
                if not peek.complete and (not peek.fifo or any(h.group_id in peek.cut_groups for h in mine)):
                    complete = False
        found.sort(key=lambda letter: letter.sent_at or datetime.min.replace(tzinfo=UTC))
        return DeadLetterListing(items=found, complete=complete)

    def redrive(self, tenant_id: str, message_id: str) -> DeadLetter:
        """Send one of the tenant's dead letters back to its source queue and delete it from the DLQ.

        ``DeadLetterNotFound`` when the tenant has no such message (another tenant's is not found either).
        """
        for queue in self._queues():
            with self._peeked(queue) as peek:
                for entry in peek.entries:
                    letter, identity = entry.letter, entry.identity
                    if letter is None or identity is None:
                        continue
                    if letter.message_id != message_id or letter.tenant_id != tenant_id:
                        continue
                    self._send_back(queue, entry.body, letter, identity)
                    self._delete(queue, entry)
                    logger.info(
                        "dead letter redriven",
                        extra={
                            "tenant_id": tenant_id,
                            "queue": queue,
                            "message_id": message_id,
                            "event_id": letter.event_id,
                            "redrive": letter.redrives + 1,
                        },
                    )
                    return letter
        raise DeadLetterNotFound("no such dead-lettered message", details=[{"message_id": message_id}])

    def _queues(self) -> tuple[QueueKind, ...]:
        """The DLQs to read: those with a reader and a URL (a deployment without a DLQ has no dead
        letters in it; that is logged, not refused)."""
        queues: list[QueueKind] = []
        for queue in QUEUE_KINDS:
            if queue not in self.readers:
                continue
            if self._configured(f"{queue}_dlq_url") is None:
                logger.warning("no dead-letter queue configured", extra={"queue": queue})
                continue
            queues.append(queue)
        return tuple(queues)

    @contextmanager
    def _peeked(self, queue: QueueKind) -> Iterator[_Peek]:
        """Every message of one DLQ it can reach, received; on the way out, the ones not removed are
        made visible again."""
        url = self.dlq_url(queue)
        held: dict[str, _Held] = {}
        cut_groups: set[str] = set()
        try:
            complete = self._receive_all(queue, url, held, cut_groups)
            fifo = url.endswith(".fifo")
            yield _Peek(list(held.values()), complete=complete, fifo=fifo, cut_groups=cut_groups)
        finally:
            self._release(url, [entry for entry in held.values() if not entry.removed])

    def _receive_all(self, queue: QueueKind, url: str, held: dict[str, _Held], cut_groups: set[str]) -> bool:
        """Receive into ``held`` until the DLQ answers empty; whether every message counted was seen.

        A FIFO queue hands out no more of a message group while some of it is in flight, and fills a
        receive with one group's messages before the next: so a peek sees a group in one receive, and
        only the last group of a full receive (ten) may have more waiting; ``cut_groups`` gets those.
        """
        try:
            waiting = int(
                self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                    "Attributes"
                ].get("ApproximateNumberOfMessages", "0")
            )
            empty_polls = 0
            while len(held) < self.max_messages:
                messages = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=SQS_BATCH_LIMIT,
                    VisibilityTimeout=self.visibility_timeout,
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    # A short poll samples some of SQS's servers: an empty answer ends the peek only
                    # once every message counted at the start was seen, or after a few empty answers.
                    empty_polls += 1
                    if len(held) >= waiting:
                        return True
                    if empty_polls >= _EMPTY_POLLS:
                        return False
                    continue
                for message in messages:
                    identity = self.readers[queue](message.get("Body", ""))
                    letter = None if identity is None else read_dead_letter(queue, message, identity)
                    if letter is None:
                        logger.warning(
                            "a dead letter that is no qbosync message was left in place",
                            extra={"queue": queue, "message_id": message["MessageId"]},
                        )
                    # Seen twice (its visibility lapsed during a long peek): the latest handle counts.
                    held[message["MessageId"]] = _Held(
                        letter,
                        identity,
                        message.get("Body", ""),
                        message["ReceiptHandle"],
                        message.get("Attributes", {}).get("MessageGroupId"),
                    )
                last_group = messages[-1].get("Attributes", {}).get("MessageGroupId")
                if len(messages) >= SQS_BATCH_LIMIT and last_group is not None:
                    cut_groups.add(last_group)
            return False  # the cap: a listing reads at most ``max_messages`` of one DLQ
        except ClientError as exc:
            raise _unavailable("the dead-letter queue could not be read", exc) from exc

    # --- writing -------------------------------------------------------------------------------------

    def _send_back(self, queue: QueueKind, body: str, letter: DeadLetter, identity: LetterIdentity) -> None:
        redrive = letter.redrives + 1
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            REDRIVES_ATTRIBUTE: {"DataType": "Number", "StringValue": str(redrive)}
        }
        url = self.source_url(queue)
        try:
            if identity.group_id is not None:
                original = identity.deduplication_id or letter.message_id
                self.sqs.send_message(
                    QueueUrl=url,
                    MessageBody=body,
                    MessageGroupId=identity.group_id,
                    MessageDeduplicationId=redrive_deduplication_id(original, redrive),
                    MessageAttributes=attributes,
                )
            else:
                self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
        except ClientError as exc:
            raise _unavailable(f"the {queue} queue refused the redriven message", exc) from exc

    def _delete(self, queue: QueueKind, entry: _Held) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.dlq_url(queue), ReceiptHandle=entry.receipt_handle)
        except ClientError as exc:
            # Already back on its source queue; left in the DLQ it is listed again, and a second
            # redrive is harmless (the workers are idempotent).
            logger.warning(
                "a redriven dead letter could not be deleted",
                extra={"queue": queue, "message_id": entry.letter.message_id if entry.letter else ""},
            )
            raise _unavailable(
                "the redriven message could not be removed from the dead-letter queue", exc
            ) from exc
        entry.removed = True

    def _release(self, url: str, entries: Sequence[_Held]) -> None:
        """Make messages visible again now, rather than when the peek's visibility timeout lapses."""
        for start in range(0, len(entries), SQS_BATCH_LIMIT):
            chunk = entries[start : start + SQS_BATCH_LIMIT]
            batch: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": entry.receipt_handle, "VisibilityTimeout": 0}
                for index, entry in enumerate(chunk)
            ]
            try:
                failed = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=batch).get(
                    "Failed", []
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                logger.warning("dead letters not released early", extra={"aws_error_code": code})
                continue
            if failed:
                # Not lost: they come back when the peek's visibility timeout lapses.
                logger.warning(
                    "dead letters not released early",
                    extra={"aws_error_codes": sorted({entry.get("Code", "") for entry in failed})},
                )


def _unavailable(message: str, exc: ClientError) -> StoreUnavailable:
    code = exc.response.get("Error", {}).get("Code", "")
    return StoreUnavailable(message, details=[{"aws_error_code": code}])
