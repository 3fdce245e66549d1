"""The deployed Rev.io receiver with fakes: its URL token, the handshake, and what a notification queues."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from qbosync.api.routes.webhooks import source_webhook_resolver
from qbosync.errors import BadRequest
from qbosync.source.config import SourceAdapterKind, TenantSourceConfig
from qbosync.source.revio.versions import ObservedVersion
from qbosync.store.app_secrets import SecretMissing, derive_revio_receiver_token
from qbosync.store.tenants import UnknownTenant
from qbosync.sync.push.revio_receiver import Confirmed, Ignored, ReceiverNotFound, RevioReceiver
from qbosync.sync.records.messages import PushMessage
from tests.support.lambda_context import LambdaContextStub

NOW = 1_767_225_600
APP_KEY = "unit-app-key"
REVIO = TenantSourceConfig(adapter=SourceAdapterKind.REVIO, options={"client_code": "acme"})


@dataclass(frozen=True)
class Profile:
    source: TenantSourceConfig | None
    webhook_secret_version: int = 1


class Tenants:
    profiles = {"acme": Profile(REVIO), "contract-co": Profile(None)}

    def get(self, tenant_id: str) -> Profile:
        if tenant_id not in self.profiles:
            raise UnknownTenant("no such tenant")
        return self.profiles[tenant_id]


@dataclass
class Tokens:
    missing: bool = False
    reads: int = 0

    def revio_receiver_token(self, tenant_id: str, version: int) -> SecretStr:
        self.reads += 1
        if self.missing:
            raise SecretMissing("no source webhook key")
        return SecretStr(derive_revio_receiver_token(APP_KEY, tenant_id, version))


@dataclass
class Queue:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str:
        self.sent.append((body, group_id, deduplication_id))
        return "m-1"


@dataclass
class Versions:
    recorded: dict[tuple[str, str], int] = field(default_factory=dict)

    def read(self, kind: str, object_id: str) -> ObservedVersion | None:
        version = self.recorded.get((kind, object_id))
        if version is None:
            return None
        return ObservedVersion(version=version, content_hash="h", updated_at=datetime(2026, 1, 1, tzinfo=UTC))


def receiver(tokens: Tokens | None = None, versions: Versions | None = None) -> tuple[RevioReceiver, Queue]:
    queue = Queue()
    recorded = versions or Versions()
    return (
        RevioReceiver(
            tenants=Tenants(),
            tokens=tokens or Tokens(),
            queue=queue,
            versions_for=lambda tenant_id: recorded,
            clock=lambda: float(NOW),
        ),
        queue,
    )


def token(tenant_id: str = "acme", version: int = 1) -> str:
    return derive_revio_receiver_token(APP_KEY, tenant_id, version)


def notification(**fields: Any) -> bytes:
    document = {
        "event_id": 41,
        "event_type": "bill created",
        "object_id": 7,
        "created_date": "2026-01-02T03:04:05Z",
    }
    return json.dumps({**document, **fields}).encode()


def test_given_two_tenants_when_their_tokens_are_derived_then_they_differ_and_change_with_the_version() -> (
    None
):
    assert token("acme") != token("globex")
    assert token("acme", 1) != token("acme", 2)
    assert len(token()) >= 43  # 256 bits, URL-safe base64 without padding


def test_given_the_handshake_with_the_right_token_when_received_then_the_code_is_echoed() -> None:
    rev, queue = receiver()

    answer = rev.receive("acme", token(), {"X-Hook-Secret": "code-123"}, b"{}")

    assert answer == Confirmed({"X-Hook-Secret": "code-123"})
    assert queue.sent == []


@pytest.mark.parametrize(
    ("tenant_id", "path_token"),
    [
        ("acme", token("acme")[:-1] + ("A" if token("acme")[-1] != "A" else "B")),
        ("acme", token("globex")),
        ("acme", token("acme", 2)),
        ("nobody", token("nobody")),
        ("contract-co", token("contract-co")),
    ],
    ids=[
        "one-character-off",
        "another-tenants-token",
        "rotated-away",
        "unknown-tenant",
        "not-a-revio-tenant",
    ],
)
def test_given_a_bad_receiver_url_when_posted_then_it_is_a_bare_404_and_nothing_is_queued(
    tenant_id: str, path_token: str
) -> None:
    tokens = Tokens()
    rev, queue = receiver(tokens)

    with pytest.raises(ReceiverNotFound) as refused:
        rev.receive(tenant_id, path_token, {"X-Hook-Secret": "code"}, notification())

    assert tokens.reads == 1  # derived whoever asks: a refusal costs what an acceptance does
    assert refused.value.status == 404
    assert refused.value.details == []
    assert queue.sent == []


def test_given_a_stack_without_its_webhook_key_when_posted_then_it_is_the_same_404() -> None:
    rev, queue = receiver(Tokens(missing=True))

    with pytest.raises(ReceiverNotFound):
        rev.receive("acme", token(), {}, notification())
    assert queue.sent == []


def test_given_a_notification_when_received_then_the_object_is_queued_for_the_worker_to_re_read() -> None:
    rev, queue = receiver(versions=Versions({("invoice", "7"): 3}))

    message = rev.receive("acme", token(), {"content-type": "application/json"}, notification())

    assert isinstance(message, PushMessage)
    [(body, group_id, deduplication_id)] = queue.sent
    queued = PushMessage.model_validate_json(body)
    assert queued == message
    assert (queued.event_id, queued.kind, queued.action, queued.source_id) == (
        "revio-41",
        "invoice",
        "created",
        "7",
    )
    assert queued.source_version == 3  # the version last recorded; the worker's re-read decides
    assert queued.occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (group_id, deduplication_id) == ("acme", "revio-41")


def test_given_a_notification_of_an_object_never_read_when_received_then_it_is_queued_as_version_1() -> None:
    rev, _queue = receiver()

    message = rev.receive("acme", token(), {}, notification(event_type="payment voided", object_id=12))

    assert isinstance(message, PushMessage)
    assert (message.kind, message.action, message.source_id, message.source_version) == (
        "payment",
        "voided",
        "12",
        1,
    )


@pytest.mark.parametrize(
    "body",
    [notification(event_type="rating completed"), notification(object_id=None)],
    ids=["event-about-nothing-synced", "no-object-id"],
)
def test_given_a_notification_about_nothing_synced_when_received_then_it_is_ignored(body: bytes) -> None:
    rev, queue = receiver()

    outcome = rev.receive("acme", token(), {}, body)

    assert isinstance(outcome, Ignored)
    assert queue.sent == []


@pytest.mark.parametrize(
    "body", [b"not json", b'{"event_type": "bill created"}', notification(event_id="x" * 200)]
)
def test_given_a_body_that_is_not_a_notification_when_received_then_400_and_nothing_queued(
    body: bytes,
) -> None:
    rev, queue = receiver()

    with pytest.raises(BadRequest) as refused:
        rev.receive("acme", token(), {}, body)

    assert refused.value.code == "malformed_notification"
    assert queue.sent == []


def event(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/revio/{tenant_id}/{token}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r",
            "routeKey": "POST /webhooks/revio/{tenant_id}/{token}",
            "stage": "$default",
        },
        "isBase64Encoded": True,
        "body": base64.b64encode(body).decode(),
    }


def resolve(path: str, body: bytes, headers: dict[str, str]) -> tuple[dict[str, Any], Queue]:
    rev, queue = receiver()
    app = source_webhook_resolver(revio_receiver=lambda: rev)
    return app.resolve(event(path, body, headers), LambdaContextStub()), queue  # type: ignore[arg-type]


def test_given_the_route_when_rev_io_confirms_then_200_echoes_x_hook_secret() -> None:
    reply, _queue = resolve(
        f"/webhooks/revio/acme/{token()}", b"{}", {"content-type": "application/json", "x-hook-secret": "c-9"}
    )

    assert reply["statusCode"] == 200
    assert reply["headers"]["X-Hook-Secret"] == "c-9"


def test_given_the_route_when_a_notification_arrives_then_202_names_the_queued_event() -> None:
    reply, queue = resolve(
        f"/webhooks/revio/acme/{token()}", notification(), {"content-type": "application/json"}
    )

    assert reply["statusCode"] == 202
    assert json.loads(reply["body"]) == {"accepted": True, "event_id": "revio-41"}
    assert len(queue.sent) == 1


def test_given_the_route_with_a_wrong_token_when_posted_then_404_leaks_no_detail() -> None:
    reply, queue = resolve(
        "/webhooks/revio/acme/wrong-token",
        notification(),
        {"content-type": "application/json", "x-hook-secret": "c"},
    )

    assert reply["statusCode"] == 404
    error = json.loads(reply["body"])["error"]
    assert error["details"] == []
    assert "acme" not in reply["body"] and "token" not in error["message"].lower()
    assert "X-Hook-Secret" not in reply.get("headers", {})
    assert queue.sent == []
