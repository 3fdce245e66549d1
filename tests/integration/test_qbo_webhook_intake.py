"""The QBO webhook intake on moto: a request cut off mid-way leaves nothing that swallows the resend."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr

from qbosync.store.checkpoints import WebhookMarks
from qbosync.store.connections import ConnectionRepository
from qbosync.sync.pull.receiver import QboWebhookReceiver, expected_signature
from qbosync.sync.records.messages import PullMessage

VERIFIER = "intake-verifier-token"
REALM = "9341453050108822"
NOW = 1_795_150_800.0


class LambdaTimedOut(BaseException):
    """Stands for the Lambda runtime killing the request: no ``except Exception`` or ``finally`` cleans up."""


class FakeSecrets:
    def webhook_verifier_token(self) -> SecretStr:
        return SecretStr(VERIFIER)


class OneTenantRealms:
    def get_by_realm(self, realm_id: str) -> object | None:
        return type("Connection", (), {"tenant_id": "acme"})() if realm_id == REALM else None


@dataclass
class RecordingQueue:
    """Accepts every message, or, with ``die_on_send``, is where the request is cut off."""

    sent: list[str] = field(default_factory=list)
    die_on_send: bool = False

    def send_all(self, bodies: Sequence[str]) -> None:
        if self.die_on_send:
            raise LambdaTimedOut
        self.sent.extend(bodies)


def notification(changes: int) -> bytes:
    entities = [
        {"name": "Customer", "id": str(100 + n), "operation": "Update", "lastUpdated": "2026-11-22T04:00:00Z"}
        for n in range(changes)
    ]
    document = {"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": entities}}]}
    return json.dumps(document).encode()


def headers(body: bytes) -> dict[str, str]:
    return {"intuit-signature": expected_signature(VERIFIER, body), "content-type": "application/json"}


def receiver(queue: RecordingQueue) -> QboWebhookReceiver:
    return QboWebhookReceiver(
        secrets=FakeSecrets(), realms=OneTenantRealms(), marks=WebhookMarks(), queue=queue, clock=lambda: NOW
    )


def test_given_the_lambda_times_out_before_enqueueing_when_intuit_resends_then_every_change_is_queued(
    main_table: str,
) -> None:
    body = notification(3)
    with pytest.raises(LambdaTimedOut):
        receiver(RecordingQueue(die_on_send=True)).receive(headers(body), body)
    queue = RecordingQueue()

    receipt = receiver(queue).receive(headers(body), body)

    assert (receipt.queued, receipt.duplicates) == (3, 0)
    assert sorted(PullMessage.model_validate_json(sent).change.entity_id for sent in queue.sent) == [
        "100",
        "101",
        "102",
    ]


def test_given_a_delivery_was_queued_when_intuit_resends_it_then_nothing_is_queued_twice(
    main_table: str,
) -> None:
    body = notification(3)
    receiver(RecordingQueue()).receive(headers(body), body)
    queue = RecordingQueue()

    receipt = receiver(queue).receive(headers(body), body)

    assert (receipt.queued, receipt.duplicates) == (0, 3)
    assert queue.sent == []


def test_given_a_signed_notification_for_a_realm_with_a_hash_when_received_then_it_is_acknowledged_not_a_500(
    main_table: str,
) -> None:
    body = notification(1).replace(REALM.encode(), b"9341#OWNER")
    queue = RecordingQueue()
    hook = QboWebhookReceiver(
        secrets=FakeSecrets(),
        realms=ConnectionRepository(),
        marks=WebhookMarks(),
        queue=queue,
        clock=lambda: NOW,
    )

    receipt = hook.receive(headers(body), body)

    assert (receipt.unknown_realm, receipt.queued) == (1, 0)
    assert queue.sent == []
