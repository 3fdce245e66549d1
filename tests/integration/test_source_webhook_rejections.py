"""Bad source webhooks get a clear 4xx with the error shape, and nothing is queued."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qbosync.settings import get_settings
from qbosync.source.signing import sign
from qbosync.store.app_secrets import AppSecrets
from qbosync.store.aws import secrets_client
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync.wiring import reset
from tests.support.push_world import Delivery, PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=2, products=1) as built:
        yield built


def _event(world: PushWorld) -> dict[str, Any]:
    world.new_invoice(lines=1)
    (event,) = world.held_webhooks()
    return event


def _stale(world: PushWorld, event: dict[str, Any]) -> Delivery:
    body = json.dumps(event).encode()
    old = int(time.time()) - 3600
    return world.post_webhook(
        event,
        body=body,
        headers={"X-Source-Timestamp": str(old), "X-Source-Signature": sign(world.webhook_secret, old, body)},
    )


CASES: dict[str, tuple[Callable[[PushWorld, dict[str, Any]], Delivery], int, str]] = {
    "unknown tenant": (
        lambda w, e: w.post_webhook({**e, "tenant_id": "ghost"}, tenant_id="ghost"),
        401,
        "signature_invalid",
    ),
    "wrong content type": (
        lambda w, e: w.post_webhook(e, headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    ),
    "oversize body": (
        lambda w, e: w.post_webhook(e, body=b"{" + b" " * (256 * 1024) + b"}"),
        413,
        "payload_too_large",
    ),
    "bad signature": (
        lambda w, e: w.post_webhook(e, headers={"X-Source-Signature": "v1=" + "0" * 64}),
        401,
        "signature_invalid",
    ),
    "missing signature": (
        lambda w, e: w.post_webhook(e, headers={"X-Source-Signature": ""}),
        401,
        "signature_missing",
    ),
    "stale timestamp": (_stale, 401, "timestamp_out_of_window"),
    "malformed json": (lambda w, e: w.post_webhook(e, body=b'{"event_id": '), 400, "malformed_json"),
    "schema violation": (
        lambda w, e: w.post_webhook({**e, "type": "invoice.exploded"}),
        422,
        "validation_failed",
    ),
    "tenant mismatch": (
        lambda w, e: w.post_webhook({**e, "tenant_id": "someone-else"}),
        422,
        "tenant_mismatch",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_given_a_bad_webhook_when_received_then_it_gets_a_4xx_and_nothing_is_queued(
    world: PushWorld, case: str
) -> None:
    send, status, code = CASES[case]

    delivery = send(world, _event(world))

    assert delivery.status == status
    assert delivery.body["error"]["code"] == code
    assert set(delivery.body["error"]) == {"code", "message", "details"}
    assert world.queued() == 0


def test_given_a_valid_webhook_when_received_then_it_is_queued_and_answered_202(world: PushWorld) -> None:
    delivery = world.post_webhook(_event(world))

    assert delivery.status == 202
    assert world.queued() == 1


def test_given_any_webhook_when_logged_then_neither_the_secret_nor_the_signature_appears(
    world: PushWorld, caplog: pytest.LogCaptureFixture
) -> None:
    event = _event(world)
    body = json.dumps(event).encode()
    now = int(time.time())
    signature = sign(world.webhook_secret, now, body)

    world.post_webhook(
        event, body=body, headers={"X-Source-Timestamp": str(now), "X-Source-Signature": signature}
    )
    world.post_webhook(event, body=body, headers={"X-Source-Signature": "v1=" + "f" * 64})

    logged = " ".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "source webhook queued" in logged
    for secret in (world.webhook_secret, signature.removeprefix("v1="), "f" * 64):
        assert secret not in logged


def test_given_a_registered_tenant_when_a_webhook_signed_with_another_tenants_secret_arrives_then_401(
    world: PushWorld,
) -> None:
    TenantRepository().register(Tenant(tenant_id="newco", name="New Co"))
    event = _event(world)

    delivery = world.post_webhook({**event, "tenant_id": "newco"}, tenant_id="newco")

    assert (delivery.status, delivery.body["error"]["code"]) == (401, "signature_invalid")
    assert "newco" not in json.dumps(delivery.body)
    assert world.queued() == 0


def test_given_an_unknown_tenant_when_a_webhook_arrives_then_the_answer_is_that_of_a_wrong_signature(
    world: PushWorld,
) -> None:
    event = _event(world)

    unknown = world.post_webhook({**event, "tenant_id": "ghost"}, tenant_id="ghost")
    wrong_signature = world.post_webhook(event, headers={"X-Source-Signature": "v1=" + "0" * 64})

    assert (unknown.status, unknown.body) == (wrong_signature.status, wrong_signature.body)


def test_given_a_stack_without_its_source_webhook_key_when_a_webhook_arrives_then_401_not_500(
    world: PushWorld,
) -> None:
    event = _event(world)
    secrets_client().delete_secret(
        SecretId=get_settings().source_webhook_key_secret_name, ForceDeleteWithoutRecovery=True
    )
    reset()  # a new container: nothing cached from the world's set-up

    delivery = world.post_webhook(event)

    assert (delivery.status, delivery.body["error"]["code"]) == (401, "signature_invalid")
    assert world.queued() == 0


def test_given_a_rotated_webhook_secret_when_a_webhook_signed_with_the_old_one_arrives_then_401(
    world: PushWorld,
) -> None:
    event = _event(world)
    TenantRepository().next_webhook_secret_version(world.tenant_id)

    refused = world.post_webhook(event)
    world.webhook_secret = AppSecrets().source_webhook_secret(world.tenant_id, 2).get_secret_value()
    accepted = world.post_webhook(event)

    assert (refused.status, refused.body["error"]["code"]) == (401, "signature_invalid")
    assert accepted.status == 202
    assert world.queued() == 1
