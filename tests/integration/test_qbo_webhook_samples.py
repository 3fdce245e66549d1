"""The sample QBO webhook events in ``events/`` through the real handler, into moto SQS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.pull_worker.app import lambda_handler as pull_worker_handler
from functions.qbo_webhook.app import lambda_handler as qbo_webhook_handler
from local.qbo_sandbox.config import LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, LOCAL_VERIFIER_TOKEN
from qbosync.settings import get_settings
from qbosync.store.app_secrets import AppSecrets
from qbosync.store.aws import sqs_client
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import EventRepository
from qbosync.sync.pull.receiver import expected_signature
from tests.support.pull_world import (  # noqa: F401 (fixture)
    LambdaContextStub,
    PullWorld,
    pull_world_fixture,
    sample_event,
)

SAMPLE_REALM = "9341453050108822"


@pytest.fixture
def pull_queue(main_table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Moto with the pull queue, the sample's Intuit app and a tenant owning the sample's realm."""
    url = sqs_client().create_queue(QueueName="pull-samples")["QueueUrl"]
    monkeypatch.setenv("PULL_QUEUE_URL", url)
    get_settings.cache_clear()
    AppSecrets().put_intuit_app(LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, LOCAL_VERIFIER_TOKEN)
    ConnectionRepository().record_connected(
        Connection(
            tenant_id="acme",
            realm_id=SAMPLE_REALM,
            connected_by="admin-1",
            connected_at="2026-11-01T00:00:00Z",  # type: ignore[arg-type]
        )
    )
    return url


def _queued(url: str) -> list[dict[str, Any]]:
    messages = sqs_client().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@pytest.mark.parametrize("sample", ["qbo_webhook_legacy.json", "qbo_webhook_cloudevents.json"])
def test_given_a_sample_webhook_when_handled_then_200_and_each_change_is_queued_for_its_tenant(
    pull_queue: str, sample: str
) -> None:
    reply = qbo_webhook_handler(sample_event(sample), LambdaContextStub())

    assert reply["statusCode"] == 200
    assert json.loads(reply["body"])["queued"] == 2
    assert {message["tenant_id"] for message in _queued(pull_queue)} == {"acme"}


def test_given_a_sample_without_its_signature_when_handled_then_401_and_nothing_is_queued(
    pull_queue: str,
) -> None:
    event = sample_event("qbo_webhook_legacy.json")
    del event["headers"]["intuit-signature"]

    reply = qbo_webhook_handler(event, LambdaContextStub())

    assert reply["statusCode"] == 401
    assert json.loads(reply["body"])["error"]["code"] == "signature_missing"
    assert _queued(pull_queue) == []


def test_given_a_sample_whose_body_was_altered_when_handled_then_401_and_only_a_gap_notice_is_queued(
    pull_queue: str,
) -> None:
    event = sample_event("qbo_webhook_legacy.json")
    event["body"] = event["body"].replace('"id":"58"', '"id":"59"')

    reply = qbo_webhook_handler(event, LambdaContextStub())

    assert reply["statusCode"] == 401
    assert json.loads(reply["body"])["error"]["code"] == "signature_invalid"
    # No change of the refused body is queued; its realm is acme's, so acme's backstop CDC is due.
    assert [(m["kind"], m["tenant_id"], m["reason"]) for m in _queued(pull_queue)] == [
        ("gap", "acme", "unverified_webhook")
    ]


def test_given_a_signed_malformed_body_when_handled_then_400_and_nothing_is_queued(pull_queue: str) -> None:
    event = sample_event("qbo_webhook_legacy.json")
    event["body"] = '{"eventNotifications": [{"realmId": "1"}]}'
    event["headers"]["intuit-signature"] = expected_signature(LOCAL_VERIFIER_TOKEN, event["body"].encode())

    reply = qbo_webhook_handler(event, LambdaContextStub())

    assert reply["statusCode"] == 400
    assert _queued(pull_queue) == []


def test_given_the_sample_pull_message_when_the_worker_runs_then_the_change_is_recorded_as_a_sync_event(
    pull_world: PullWorld,
) -> None:
    event = sample_event("pull_worker_customer_created.json")

    reply = pull_worker_handler(event, LambdaContextStub(), service=pull_world.pull_service())

    assert reply == {"batchItemFailures": []}
    [recorded] = [e for status in ("done", "failed") for e in EventRepository().list("acme", status).items]  # type: ignore[arg-type]
    assert (recorded.kind, recorded.source_object_id) == ("qbo.customer", "58")
