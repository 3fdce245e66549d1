"""The worker's batch semantics: a transient failure stops the batch, and order is kept on retry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.push_worker.app import lambda_handler as push_worker_handler
from local.runtime.sqs_poller import sqs_record
from qbosync.store.aws import sqs_client
from qbosync.store.events import ReasonCode
from tests.support.push_world import FakeLambdaContext, PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=3, products=2) as built:
        built.configure()
        yield built


def test_given_the_source_fails_on_the_first_record_when_a_batch_runs_then_it_and_the_rest_are_handed_back(
    world: PushWorld,
) -> None:
    first = world.new_invoice(lines=1)
    second = world.new_invoice(lines=1)
    world.deliver_all()
    world.source_http.post(
        "/_sandbox/faults", json={"status": 503, "count": 4, "path_contains": first["id"]}
    ).raise_for_status()
    messages = sqs_client().receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10)["Messages"]

    answer = push_worker_handler(
        {"Records": [sqs_record(dict(message), world.queue_arn) for message in messages]},
        FakeLambdaContext(),
        service=world.service,
        idempotency_store=world.idempotency,
    )

    assert [failure["itemIdentifier"] for failure in answer["batchItemFailures"]] == [
        m["MessageId"] for m in messages
    ]
    assert world.links.get(world.tenant_id, "Invoice", second["id"]) is None
    retrying = world.events.get(world.tenant_id, _event_id(dict(messages[0])))
    assert (
        retrying is not None
        and retrying.status == "failed"
        and retrying.reason_code is ReasonCode.RETRYING
        and "SourceUnavailable" in (retrying.reason or "")
    )


def test_given_a_batch_handed_back_when_delivered_again_then_both_invoices_land(world: PushWorld) -> None:
    first = world.new_invoice(lines=1)
    second = world.new_invoice(lines=1)
    world.deliver_all()
    world.source_http.post(
        "/_sandbox/faults", json={"status": 503, "count": 4, "path_contains": first["id"]}
    ).raise_for_status()

    world.drain()

    for invoice in (first, second):
        link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
        assert link is not None and link.source_version == 1


def _event_id(message: dict[str, Any]) -> str:
    return str(json.loads(str(message["Body"]))["event_id"])
