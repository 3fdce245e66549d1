"""The scheduled work queue (SQS standard): one message per tenant and job, sent by the dispatcher.

Messages go out with SendMessageBatch, ten a request (SQS's limit); entries SQS refuses in a batch are
sent again a few times, and any still refused are reported, never dropped silently. Order does not
matter here: each message stands alone, and the worker's claim makes a duplicate a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from qbosync.settings import Settings
from qbosync.store.queues import SqsQueue
from qbosync.store.table import StoreUnavailable, translate_client_error

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SEND_BATCH_LIMIT = 10
_SEND_ATTEMPTS = 4


class ScheduledWorkQueue(SqsQueue):
    """Sends per-tenant work to the queue named by ``SCHEDULED_WORK_QUEUE_URL``."""

    setting_name = "SCHEDULED_WORK_QUEUE_URL"

    def _configured_url(self, settings: Settings) -> str | None:
        return settings.scheduled_work_queue_url

    def send_all(self, bodies: Sequence[str], *, sleep: Callable[[float], None]) -> int:
        """Send every body, ten a request; returns how many SendMessageBatch requests it took."""
        requests = 0
        for start in range(0, len(bodies), SEND_BATCH_LIMIT):
            pending: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(index), "MessageBody": body}
                for index, body in enumerate(bodies[start : start + SEND_BATCH_LIMIT])
            ]
            for attempt in range(_SEND_ATTEMPTS):
                requests += 1
                failed = self._send_batch(pending)
                pending = [entry for entry in pending if entry["Id"] in failed]
                if not pending:
                    break
                sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise StoreUnavailable(
                    "SendMessageBatch left messages unsent", details=[{"count": len(pending)}]
                )
        return requests

    def _send_batch(self, entries: list[SendMessageBatchRequestEntryTypeDef]) -> set[str]:
        try:
            response: Any = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except ClientError as exc:
            raise translate_client_error(exc, "SendMessageBatch to the scheduled work queue") from exc
        return {str(failure["Id"]) for failure in response.get("Failed", [])}
