"""Putting one sync event back on the queue of the flow that made it.

A re-queued event keeps its event id and gets a new ``redelivery`` number (the count of its status
changes so far), so the worker processes it once more, and a repeated retry is still one retry.
Push events (source kinds) go to the FIFO push queue in their tenant's group; pull events (``qbo.*``)
to the pull queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from qbosync.observability import logger
from qbosync.source.models import ObjectKind
from qbosync.store.events import SyncEvent
from qbosync.sync.records.messages import BatchQueue, MessageQueue, PullMessage, PushMessage

PUSH_KINDS = frozenset(get_args(ObjectKind))
"""Event kinds the push made (one per source object kind); every other replayable event is a pull's."""

Flow = Literal["push", "pull"]


@dataclass
class EventRequeue:
    """Re-queues sync events for the push and pull workers."""

    push_queue: MessageQueue
    pull_queue: BatchQueue

    def requeue(self, event: SyncEvent) -> Flow:
        """Put ``event`` back on its flow's queue now. Raises ``ValidationError`` when its payload is not
        a message of that queue (an event that reports a condition has none)."""
        if event.kind in PUSH_KINDS:
            message = PushMessage.model_validate(event.payload).redelivered(event.attempts)
            self.push_queue.send(
                message.model_dump_json(),
                group_id=message.group_id,
                deduplication_id=message.deduplication_id,
            )
            flow: Flow = "push"
        else:
            pulled = PullMessage.model_validate(event.payload)
            self.pull_queue.send_all(
                [pulled.model_copy(update={"redelivery": event.attempts}).model_dump_json()]
            )
            flow = "pull"
        logger.info(
            "sync event re-queued",
            extra={
                "tenant_id": event.tenant_id,
                "event_id": event.event_id,
                "redelivery": event.attempts,
                "flow": flow,
            },
        )
        return flow
