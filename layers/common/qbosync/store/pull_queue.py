"""The pull queue (SQS standard): QBO change notifications waiting for the pull worker.

Only this module talks to SQS for the pull flow. Order does not matter here (the worker re-reads each
entity from QBO and acts on what it holds now), so a standard queue and batched sends keep the QBO
webhook well inside Intuit's 3-second budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from qbosync.settings import Settings
from qbosync.store.queues import SqsQueue
from qbosync.store.table import StoreUnavailable, translate_client_error

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SQS_BATCH_LIMIT = 10


class PullQueue(SqsQueue):
    """Sends pull messages to the queue named by ``PULL_QUEUE_URL``."""

    setting_name = "PULL_QUEUE_URL"

    def _configured_url(self, settings: Settings) -> str | None:
        return settings.pull_queue_url

    def send_all(self, bodies: Sequence[str]) -> None:
        """Enqueue every body, ten a request; raises ``StoreUnavailable`` unless all were accepted."""
        for start in range(0, len(bodies), SQS_BATCH_LIMIT):
            chunk = bodies[start : start + SQS_BATCH_LIMIT]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)
            ]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                raise translate_client_error(exc, "SendMessageBatch to the pull queue") from exc
            failed = response.get("Failed", [])
            if failed:
                raise StoreUnavailable(
                    "the pull queue refused some messages",
                    details=[{"aws_error_code": entry.get("Code", "")} for entry in failed],
                )
