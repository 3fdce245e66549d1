"""The dead-letter world: the push and pull queues and their DLQs created in moto as template.yaml
declares them, a consumer that fails every message as a broken worker would, and the dead-letters
routes behind a resolver. No tests live here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dead_letters import MESSAGE_READERS, dead_letters_router
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.settings import get_settings
from qbosync.store.aws import sqs_client
from qbosync.store.dead_letters import DeadLetterQueues
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync.pull.notifications import EntityChange
from qbosync.sync.records.messages import PullMessage, PushMessage
from tests.integration.conftest import template
from tests.support.push_world import FakeLambdaContext

TENANT_A = "acme"
TENANT_B = "globex"
MAX_RECEIVES = int(template()["Resources"]["PushQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])


@dataclass(frozen=True)
class Queues:
    push: str
    push_dlq: str
    pull: str
    pull_dlq: str

    def url(self, name: str) -> str:
        url: str = getattr(self, name)
        return url


def _create(logical_id: str, name: str, arns: dict[str, str]) -> tuple[str, str]:
    """One queue as template.yaml declares it (FIFO flags, visibility, redrive policy to its DLQ)."""
    props: dict[str, Any] = template()["Resources"][logical_id]["Properties"]
    attributes: dict[str, str] = {}
    if props.get("FifoQueue"):
        attributes["FifoQueue"] = "true"
        name += ".fifo"
    for key in ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"):
        if key in props:
            value = props[key]
            attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
    for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
        if key in props:
            attributes[key] = str(props[key])
    policy = props.get("RedrivePolicy")
    if policy:
        target = policy["deadLetterTargetArn"]["GetAtt"].split(".")[0]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arns[target], "maxReceiveCount": int(policy["maxReceiveCount"])}
        )
    url = sqs_client().create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    arn = sqs_client().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    arns[logical_id] = arn
    return url, arn


def create_queues() -> Queues:
    """The four queues of template.yaml, dead-letter queues first so the redrive policies resolve."""
    arns: dict[str, str] = {}
    push_dlq, _ = _create("PushDeadLetterQueue", "qbosync-push-dlq-test", arns)
    pull_dlq, _ = _create("PullDeadLetterQueue", "qbosync-pull-dlq-test", arns)
    push, _ = _create("PushQueue", "qbosync-push-test", arns)
    pull, _ = _create("PullQueue", "qbosync-pull-test", arns)
    return Queues(push=push, push_dlq=push_dlq, pull=pull, pull_dlq=pull_dlq)


def push_message(
    tenant_id: str, event_id: str, *, kind: str = "invoice", source_id: str = "inv-1"
) -> PushMessage:
    now = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    return PushMessage.model_validate(
        {
            "event_id": event_id,
            "tenant_id": tenant_id,
            "kind": kind,
            "action": "created",
            "source_id": source_id,
            "source_version": 1,
            "occurred_at": now,
            "received_at": now,
        }
    )


def pull_message(tenant_id: str, entity_id: str) -> PullMessage:
    change = EntityChange(
        realm_id=f"realm-{tenant_id}",
        entity="Customer",
        entity_id=entity_id,
        operation="Create",
        last_updated=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        dedupe_key=f"dk-{tenant_id}-{entity_id}",
    )
    return PullMessage(
        tenant_id=tenant_id, change=change, received_at=datetime(2026, 11, 1, 9, 1, tzinfo=UTC)
    )


def send_push(queues: Queues, message: PushMessage) -> str:
    return sqs_client().send_message(
        QueueUrl=queues.push,
        MessageBody=message.model_dump_json(),
        MessageGroupId=message.group_id,
        MessageDeduplicationId=message.deduplication_id,
    )["MessageId"]


def send_pull(queues: Queues, message: PullMessage) -> str:
    return sqs_client().send_message(QueueUrl=queues.pull, MessageBody=message.model_dump_json())["MessageId"]


def fail_everything(queue_url: str, rounds: int = MAX_RECEIVES + 1) -> list[str]:
    """A worker that fails every record: each round receives what is visible, reports every record in
    ``batchItemFailures`` (nothing is deleted) and lets the visibility timeout lapse at once. SQS (moto)
    moves a message to the DLQ on the receive after its ``maxReceiveCount``-th. Returns the ids seen."""
    seen: list[str] = []
    for _ in range(rounds):
        while True:
            messages = (
                sqs_client()
                .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
                .get("Messages", [])
            )
            if not messages:
                break
            seen.extend(message["MessageId"] for message in messages)
            sqs_client().change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for index, message in enumerate(messages)
                ],
            )
            # One receive per round and message, so each round counts once towards maxReceiveCount.
            break
    return seen


def count(queue_url: str) -> int:
    """Messages on a queue, visible or in flight."""
    attributes = sqs_client().get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def visible(queue_url: str) -> int:
    attributes = sqs_client().get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def take_all(queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete everything on a queue (the worker succeeding), with attributes."""
    taken: list[dict[str, Any]] = []
    while True:
        messages = (
            sqs_client()
            .receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            .get("Messages", [])
        )
        if not messages:
            return taken
        for message in messages:
            taken.append(dict(message))
            sqs_client().delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def set_up_queues(monkeypatch: pytest.MonkeyPatch) -> Queues:
    """The four queues in moto (inside the ``main_table`` fixture's mock), their URLs in the settings,
    and two registered tenants."""
    created = create_queues()
    monkeypatch.setenv("PUSH_QUEUE_URL", created.push)
    monkeypatch.setenv("PULL_QUEUE_URL", created.pull)
    monkeypatch.setenv("PUSH_DLQ_URL", created.push_dlq)
    monkeypatch.setenv("PULL_DLQ_URL", created.pull_dlq)
    get_settings.cache_clear()
    tenants = TenantRepository()
    for tenant_id in (TENANT_A, TENANT_B):
        tenants.register(Tenant(tenant_id=tenant_id, name=tenant_id.title()))
    return created


def build_api() -> APIGatewayHttpResolver:
    """The dead-letters routes with the deployed defaults (DLQ URLs from the settings)."""
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    app.include_router(dead_letters_router(ApiDependencies(tenants=TenantRepository())))
    return app


def dead_letter_queues() -> DeadLetterQueues:
    return DeadLetterQueues(readers=MESSAGE_READERS)


def call(api: APIGatewayHttpResolver, method: str, path: str, *, tenants: str) -> tuple[int, Any]:
    """One request as API Gateway hands it over, with a token granting ``tenants``."""
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "authorizer": {"jwt": {"claims": {"sub": "admin-1", "qbosync_tenants": tenants}, "scopes": []}},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    answer = api.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]
    return int(answer["statusCode"]), json.loads(answer["body"])
