"""The push queue (SQS FIFO): where verified source webhooks wait, in order, for the push worker.

Only this module talks to SQS for the push flow. A message's group keeps one tenant's changes in
order; its deduplication id makes a re-sent webhook (the source delivers at least once) a no-op
within SQS's five-minute window, and the worker's idempotency covers the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from qbosync.settings import Settings, get_settings
from qbosync.store.aws import sqs_client
from qbosync.store.table import StoreUnavailable, translate_client_error

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class QueueNotConfigured(StoreUnavailable):
    """The deployment does not name the queue (its URL setting is empty)."""

    code = "queue_not_configured"


class SqsQueue:
    """A queue whose URL comes from a deployment setting; the SQS client is created on first use."""

    setting_name = ""

    def __init__(self, client: SQSClient | None = None, queue_url: str | None = None) -> None:
        self._client = client
        self._queue_url = queue_url

    @property
    def client(self) -> SQSClient:
        return self._client or sqs_client()

    @property
    def queue_url(self) -> str:
        url = self._queue_url or self._configured_url(get_settings())
        if not url:
            raise QueueNotConfigured(f"{self.setting_name} is not set")
        return url

    def _configured_url(self, settings: Settings) -> str | None:
        raise NotImplementedError


class PushQueue(SqsQueue):
    """Sends push messages to the FIFO queue named by ``PUSH_QUEUE_URL``."""

    setting_name = "PUSH_QUEUE_URL"

    def _configured_url(self, settings: Settings) -> str | None:
        return settings.push_queue_url

    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str:
        """Enqueue one message; returns its SQS message id (a duplicate within 5 min gets the first's)."""
        try:
            response = self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body,
                MessageGroupId=group_id,
                MessageDeduplicationId=deduplication_id,
            )
        except ClientError as exc:
            raise translate_client_error(exc, "SendMessage to the push queue") from exc
        return response["MessageId"]
