"""The webhook receiver with fakes: what it queues, and that it queues nothing it refused."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from qbosync.source.errors import SignatureInvalid
from qbosync.source.signing import sign
from qbosync.store.tenants import UnknownTenant
from qbosync.sync.push.receiver import _DECOY_SECRET, WebhookReceiver

NOW = 1_767_225_600
SECRET = "whsec_unit"
EVENT = {
    "event_id": "evt_1",
    "tenant_id": "acme",
    "type": "payment.created",
    "object": {"kind": "payment", "id": "pay_1", "version": 1},
    "occurred_at": "2026-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class RegisteredTenant:
    webhook_secret_version: int = 1


class Tenants:
    def get(self, tenant_id: str) -> RegisteredTenant:
        if tenant_id != "acme":
            raise UnknownTenant("no such tenant")
        return RegisteredTenant()


class Secrets:
    def __init__(self) -> None:
        self.reads = 0

    def source_webhook_secret(self, tenant_id: str, version: int) -> SecretStr:
        self.reads += 1
        return SecretStr(SECRET)


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str:
        self.sent.append((body, group_id, deduplication_id))
        return "m-1"


def _receiver() -> tuple[WebhookReceiver, Secrets, Queue]:
    secrets, queue = Secrets(), Queue()
    return (
        WebhookReceiver(tenants=Tenants(), secrets=secrets, queue=queue, clock=lambda: float(NOW)),
        secrets,
        queue,
    )


def _headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Source-Timestamp": str(NOW),
        "X-Source-Signature": sign(SECRET, NOW, body),
    }


def test_given_a_signed_webhook_when_received_then_one_message_is_queued_in_the_tenants_group() -> None:
    receiver, _secrets, queue = _receiver()
    body = json.dumps(EVENT).encode()

    message = receiver.receive("acme", _headers(body), body)

    assert queue.sent == [(message.model_dump_json(), "acme", "evt_1")]
    assert (message.kind, message.source_id, message.action) == ("payment", "pay_1", "created")


def test_given_a_body_changed_after_signing_when_received_then_signature_invalid_and_nothing_queued() -> None:
    receiver, _secrets, queue = _receiver()
    body = json.dumps(EVENT).encode()
    tampered = body.replace(b"pay_1", b"pay_2")

    with pytest.raises(SignatureInvalid):
        receiver.receive("acme", _headers(body), tampered)

    assert queue.sent == []


class LambdaTimedOut(BaseException):
    """Stands for the runtime killing the request: no ``except Exception`` or ``finally`` runs."""


class CutOffQueue:
    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str:
        raise LambdaTimedOut


def test_given_the_request_is_cut_off_while_queueing_when_the_source_resends_then_the_resend_is_queued() -> (
    None
):
    receiver, _secrets, queue = _receiver()
    body = json.dumps(EVENT).encode()
    cut_off = WebhookReceiver(
        tenants=Tenants(), secrets=Secrets(), queue=CutOffQueue(), clock=lambda: float(NOW)
    )
    with pytest.raises(LambdaTimedOut):
        cut_off.receive("acme", _headers(body), body)

    receiver.receive("acme", _headers(body), body)

    assert [deduplication_id for _body, _group, deduplication_id in queue.sent] == ["evt_1"]


def test_given_a_body_signed_with_the_public_decoy_for_an_unknown_tenant_then_401_and_nothing_queued() -> (
    None
):
    receiver, _secrets, queue = _receiver()
    body = json.dumps({**EVENT, "tenant_id": "ghost"}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Source-Timestamp": str(NOW),
        "X-Source-Signature": sign(_DECOY_SECRET, NOW, body),
    }

    with pytest.raises(SignatureInvalid):
        receiver.receive("ghost", headers, body)

    assert queue.sent == []
