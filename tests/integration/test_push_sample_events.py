"""The sample events in events/ (also for ``sam local invoke -e``) run through the real handlers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.push_worker.app import lambda_handler as push_worker_handler
from functions.source_webhook.app import lambda_handler as source_webhook_handler
from qbosync.source.signing import sign
from tests.support.push_world import FakeLambdaContext, PushWorld, push_world

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=3, products=2) as built:
        built.configure()
        created = built.new_invoice(lines=1)
        assert created["id"] == "inv_000001"  # the id the samples name
        built.held_webhooks()
        yield built


def test_given_the_sample_webhook_signed_now_when_received_then_202_and_queued(world: PushWorld) -> None:
    event = _sample("source_webhook_invoice_created.json")
    now = int(time.time())
    event["headers"]["x-source-timestamp"] = str(now)
    event["headers"]["x-source-signature"] = sign(world.webhook_secret, now, event["body"].encode())

    answer = source_webhook_handler(event, FakeLambdaContext(), receiver=world.receiver)

    assert answer["statusCode"] == 202
    assert json.loads(answer["body"]) == {"accepted": True, "event_id": "evt_sample_0001"}
    assert world.queued() == 1


def test_given_the_sample_webhook_as_recorded_when_received_then_its_old_timestamp_is_refused(
    world: PushWorld,
) -> None:
    answer = source_webhook_handler(
        _sample("source_webhook_invoice_created.json"), FakeLambdaContext(), receiver=world.receiver
    )

    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "timestamp_out_of_window"


def test_given_the_sample_fifo_batch_when_the_worker_runs_then_the_invoice_reaches_qbo(
    world: PushWorld,
) -> None:
    answer = push_worker_handler(
        _sample("push_worker_fifo_batch.json"),
        FakeLambdaContext(),
        service=world.service,
        idempotency_store=world.idempotency,
    )

    assert answer == {"batchItemFailures": []}
    link = world.links.get(world.tenant_id, "Invoice", "inv_000001")
    assert link is not None
    assert world.qbo.read("Invoice", link.qbo_id)["DocNumber"].startswith("INV-")
