"""Push messages: one FIFO group per tenant, the event id as SQS deduplication id, new ids for re-queues,
and heal messages (write the source's version to QBO again) named after the drift finding."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from qbosync.source.models import SourceWebhook
from qbosync.sync.records.messages import HEAL_KIND_OF_LINK_ENTITY, HealKind, PushMessage

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


def _heal(cause: str = "qbo-0123456789abcdef", kind: HealKind = "invoice") -> PushMessage:
    return PushMessage.heal_of("acme", kind, "inv_1", 4, cause, NOW)


def test_given_a_drift_finding_when_a_heal_is_built_then_it_asks_to_reapply_the_source_version() -> None:
    message = _heal()

    assert message.heal is True
    assert (message.event_id, message.kind, message.action, message.source_id, message.source_version) == (
        "heal-qbo-0123456789abcdef",
        "invoice",
        "updated",
        "inv_1",
        4,
    )
    assert (message.occurred_at, message.received_at, message.redelivery) == (NOW, NOW, 0)
    assert message.group_id == "acme"


def test_given_a_webhook_when_turned_into_a_message_then_it_is_no_heal() -> None:
    assert _message().heal is False


def test_given_a_cause_sqs_would_refuse_when_a_heal_is_built_then_its_event_id_is_a_safe_digest() -> None:
    for cause in ("cause with spaces é", "x" * 124):
        event_id = _heal(cause).event_id

        assert event_id.startswith("heal-") and len(event_id) <= 128
        assert event_id == _heal(cause).event_id
        assert event_id.removeprefix("heal-").isalnum()
    assert _heal("x" * 123).event_id == "heal-" + "x" * 123


def test_given_heals_of_two_findings_and_their_requeues_then_every_deduplication_id_differs() -> None:
    first, second = _heal("qbo-aaa"), _heal("qbo-bbb")
    ids = [
        message.redelivered(redelivery).deduplication_id
        for message in (first, second)
        for redelivery in range(3)
    ]

    assert len(set(ids)) == len(ids)
    assert first.deduplication_id == "heal-qbo-aaa" == _heal("qbo-aaa").deduplication_id


def test_given_a_heal_when_it_travels_through_the_queue_then_it_is_still_a_heal() -> None:
    message = _heal(kind="credit_note").redelivered(2)

    travelled = PushMessage.model_validate_json(message.model_dump_json())

    assert travelled == message and travelled.heal and travelled.kind == "credit_note"


def test_given_a_drifted_link_when_its_document_is_named_then_memo_and_application_heal_the_note() -> None:
    assert dict(HEAL_KIND_OF_LINK_ENTITY) == {
        "Invoice": "invoice",
        "Payment": "payment",
        "CreditMemo": "credit_note",
        "CreditApplication": "credit_note",
    }


def test_given_an_id_ending_in_a_newline_when_queued_then_a_digest_is_used_not_the_id() -> None:
    assert _message("evt_1\n").deduplication_id == hashlib.sha256(b"evt_1\n#0").hexdigest()
    assert _heal("qbo-1\n").event_id == "heal-" + hashlib.sha256(b"qbo-1\n").hexdigest()
