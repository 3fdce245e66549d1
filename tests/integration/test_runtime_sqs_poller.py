"""The SQS poller delivers batches as Lambda's event source mapping does: partial failures, DLQ, FIFO."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.runtime.sqs_poller import SqsPoller, SqsSubscription, message_ids_to_keep


class Consumer:
    """A consumer function: records bodies, reports the ones in ``failing`` as failed items."""

    def __init__(self, failing: set[str] | None = None, raises: bool = False) -> None:
        self.failing = failing or set()
        self.raises = raises
        self.events: list[dict[str, Any]] = []

    @property
    def bodies(self) -> list[str]:
        return [record["body"] for event in self.events for record in event["Records"]]

    def __call__(self, function_id: str, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self.raises:
            raise RuntimeError("consumer crashed")
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.failing]
        return {"batchItemFailures": failures}


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _queue_with_dlq(sqs: Any, fifo: bool = False, max_receive_count: int = 2) -> tuple[SqsSubscription, str]:
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dlq_url = sqs.create_queue(QueueName=f"dlq{suffix}", Attributes=fifo_attributes)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(
        QueueName=f"work{suffix}",
        Attributes={**fifo_attributes, "VisibilityTimeout": "1", "RedrivePolicy": redrive},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return SqsSubscription("Worker", url, arn, 10, True), dlq_url


def _count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _poll_until(
    poller: SqsPoller, subscription: SqsSubscription, condition: Any, seconds: float = 15
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        poller.poll_once(subscription)
    raise AssertionError("condition not reached before the deadline")


def test_given_a_batch_when_delivered_then_records_look_like_lambdas_sqs_event(sqs: Any) -> None:
    subscription, _ = _queue_with_dlq(sqs, fifo=True)
    sqs.send_message(
        QueueUrl=subscription.queue_url,
        MessageBody="hello",
        MessageGroupId="tenant-a",
        MessageDeduplicationId="d1",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "invoice"}},
    )
    consumer = Consumer()
    SqsPoller(sqs, [subscription], consumer, wait_seconds=0).poll_once(subscription)
    record = consumer.events[0]["Records"][0]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == subscription.queue_arn
    assert record["attributes"]["MessageGroupId"] == "tenant-a"
    assert record["attributes"]["MessageDeduplicationId"] == "d1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert "SequenceNumber" in record["attributes"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "invoice"
    assert record["receiptHandle"] and record["messageId"] and record["md5OfBody"]


def test_given_a_partial_batch_failure_when_delivered_then_only_the_successes_are_deleted(sqs: Any) -> None:
    subscription, _ = _queue_with_dlq(sqs, max_receive_count=10)
    for body in ("ok-1", "bad", "ok-2"):
        sqs.send_message(QueueUrl=subscription.queue_url, MessageBody=body)
    consumer = Consumer(failing={"bad"})
    poller = SqsPoller(sqs, [subscription], consumer, wait_seconds=0)
    _poll_until(poller, subscription, lambda: {"ok-1", "ok-2", "bad"} <= set(consumer.bodies))
    assert _count(sqs, subscription.queue_url) == 1
    _poll_until(
        poller, subscription, lambda: consumer.bodies.count("bad") >= 2
    )  # back after the visibility timeout
    assert consumer.bodies.count("ok-1") == 1


def test_given_a_message_that_always_fails_when_polled_then_it_reaches_the_dlq_after_max_receive_count(
    sqs: Any,
) -> None:
    subscription, dlq_url = _queue_with_dlq(sqs, max_receive_count=2)
    sqs.send_message(QueueUrl=subscription.queue_url, MessageBody="poison")
    consumer = Consumer(failing={"poison"})
    poller = SqsPoller(sqs, [subscription], consumer, wait_seconds=1)
    _poll_until(poller, subscription, lambda: _count(sqs, dlq_url) == 1)
    assert consumer.bodies == ["poison", "poison"]
    assert _count(sqs, subscription.queue_url) == 0


def test_given_a_consumer_that_raises_when_delivered_then_the_whole_batch_stays(sqs: Any) -> None:
    subscription, _ = _queue_with_dlq(sqs, max_receive_count=10)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=subscription.queue_url, MessageBody=body)
    SqsPoller(sqs, [subscription], Consumer(raises=True), wait_seconds=0).poll_once(subscription)
    assert _count(sqs, subscription.queue_url) == 2


def test_given_an_unknown_item_identifier_when_reported_then_the_whole_batch_is_kept() -> None:
    subscription = SqsSubscription("Worker", "url", "arn", 10, True)
    assert message_ids_to_keep(
        subscription, ["m1", "m2"], {"batchItemFailures": [{"itemIdentifier": "zz"}]}
    ) == {
        "m1",
        "m2",
    }
    assert message_ids_to_keep(subscription, ["m1", "m2"], {"batchItemFailures": []}) == set()


def test_given_a_fifo_group_with_a_failure_when_polled_then_its_messages_are_delivered_in_order(
    sqs: Any,
) -> None:
    subscription, _ = _queue_with_dlq(sqs, fifo=True, max_receive_count=10)
    for index in range(1, 6):
        sqs.send_message(
            QueueUrl=subscription.queue_url,
            MessageBody=f"g1-{index}",
            MessageGroupId="g1",
            MessageDeduplicationId=f"d{index}",
        )
    subscription = SqsSubscription("Worker", subscription.queue_url, subscription.queue_arn, 2, True)
    consumer = Consumer(failing=set())
    poller = SqsPoller(sqs, [subscription], consumer, wait_seconds=0)
    _poll_until(poller, subscription, lambda: _count(sqs, subscription.queue_url) == 0)
    assert consumer.bodies == [f"g1-{index}" for index in range(1, 6)]
    assert all(len(event["Records"]) <= 2 for event in consumer.events)


def test_given_a_started_poller_when_messages_arrive_then_its_thread_delivers_them_and_stops_cleanly(
    sqs: Any,
) -> None:
    subscription, _ = _queue_with_dlq(sqs, max_receive_count=10)
    consumer = Consumer()
    poller = SqsPoller(sqs, [subscription], consumer, wait_seconds=1)
    poller.start()
    try:
        sqs.send_message(QueueUrl=subscription.queue_url, MessageBody="async")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and consumer.bodies != ["async"]:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert consumer.bodies == ["async"]
