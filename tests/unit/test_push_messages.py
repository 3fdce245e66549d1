"""Push messages: one FIFO group per tenant, the event id as SQS deduplication id, new ids for re-queues."""

from __future__ import annotations

from datetime import UTC, datetime

from qbosync.source.models import SourceWebhook
from qbosync.sync.push.messages import PushMessage

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _message(event_id: str = "evt_1") -> PushMessage:
    webhook = SourceWebhook.model_validate(
        {
            "event_id": event_id,
            "tenant_id": "acme",
            "type": "invoice.voided",
            "object": {"kind": "invoice", "id": "inv_1", "version": 4},
            "occurred_at": "2026-03-01T10:00:00Z",
        }
    )
    return PushMessage.from_webhook(webhook, received_at=NOW)


def test_given_a_webhook_when_turned_into_a_message_then_it_names_the_object_version_and_action() -> None:
    message = _message()

    assert (message.kind, message.action, message.source_id, message.source_version) == (
        "invoice",
        "voided",
        "inv_1",
        4,
    )
    assert message.group_id == "acme"


def test_given_a_first_delivery_when_queued_then_the_source_event_id_deduplicates_it() -> None:
    assert _message().deduplication_id == "evt_1"


def test_given_a_requeue_when_queued_then_it_gets_a_new_deduplication_id_per_redelivery() -> None:
    first = _message().redelivered(1)
    second = _message().redelivered(2)

    assert len({_message().deduplication_id, first.deduplication_id, second.deduplication_id}) == 3
    assert first.deduplication_id == _message().redelivered(1).deduplication_id


def test_given_an_event_id_sqs_would_refuse_when_queued_then_a_digest_is_used() -> None:
    message = _message("evt with spaces é")

    assert message.deduplication_id != message.event_id
    assert len(message.deduplication_id) == 64
