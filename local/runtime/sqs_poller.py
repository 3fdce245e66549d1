"""Feeds SQS messages to their consumer function as Lambda's event source mapping does.

One thread per SQS event of the template long-polls its queue, hands each batch to the function as a
real SQS event, and deletes what succeeded. With ``ReportBatchItemFailures`` the messages named in
``batchItemFailures`` stay on the queue (they come back once their visibility timeout lapses); a
response naming an unknown or empty ``itemIdentifier`` fails the whole batch, as in AWS; a handler that
raises leaves the whole batch. Moving a message to the dead-letter queue after ``maxReceiveCount``
receives is moto's job: its ``receive_message`` applies the redrive policy (checked in
tests/integration/test_runtime_sqs_poller.py). Batches of one queue are handled one after another,
so FIFO order within a message group holds.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.runtime.loops import BackgroundLoops
from local.template_model import LOCAL_REGION

LOGGER = logging.getLogger("local.runtime.sqs_poller")
InvokeFunction = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class SqsSubscription:
    """An SQS event of the template, resolved to the local queue."""

    function_id: str
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


def _message_attributes_for_lambda(attributes: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        converted[name] = entry
    return converted


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, from a ``ReceiveMessage`` message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": _message_attributes_for_lambda(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message.get("Body", "").encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": LOCAL_REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def message_ids_to_keep(subscription: SqsSubscription, message_ids: list[str], result: Any) -> set[str]:
    """Which messages of a successfully invoked batch stay on the queue, by Lambda's rules."""
    if not subscription.report_batch_item_failures:
        return set()
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return set(message_ids)
    keep: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            LOGGER.warning("invalid batchItemFailures entry %r: the whole batch is retried", failure)
            return set(message_ids)
        keep.add(identifier)
    return keep


class SqsPoller(BackgroundLoops):
    """One polling thread per subscription; ``stop()`` ends them within a poll interval."""

    def __init__(
        self,
        sqs_client: Any,
        subscriptions: list[SqsSubscription],
        invoke: InvokeFunction,
        wait_seconds: int = 1,
    ) -> None:
        self._sqs = sqs_client
        self._subscriptions = subscriptions
        self._invoke = invoke
        self._wait_seconds = wait_seconds
        super().__init__()

    def start(self) -> None:
        self._start_loops(
            self._run, self._subscriptions, lambda subscription: f"sqs-{subscription.function_id}"
        )

    def _run(self, subscription: SqsSubscription) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once(subscription)
            except Exception:
                if self._stopping.is_set():
                    return
                LOGGER.exception("polling %s failed", subscription.queue_url)
                self._stopping.wait(1.0)

    def poll_once(self, subscription: SqsSubscription) -> int:
        """Receive one batch and deliver it; the number of messages received."""
        response = self._sqs.receive_message(
            QueueUrl=subscription.queue_url,
            MaxNumberOfMessages=max(1, min(subscription.batch_size, 10)),
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(message, subscription.queue_arn) for message in messages]}
        message_ids = [message["MessageId"] for message in messages]
        try:
            result = self._invoke(subscription.function_id, event)
        except Exception:
            LOGGER.warning(
                "%s failed on a batch of %d: left on the queue", subscription.function_id, len(messages)
            )
            return len(messages)
        keep = message_ids_to_keep(subscription, message_ids, result)
        done = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
            for index, message in enumerate(messages)
            if message["MessageId"] not in keep
        ]
        if done:
            self._sqs.delete_message_batch(QueueUrl=subscription.queue_url, Entries=done)
        return len(messages)
