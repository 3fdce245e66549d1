"""Both webhook routes: the shared body checks refuse before any receiver runs; the receivers' replies."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from qbosync.api.routes.webhooks import (
    QBO_WEBHOOK_BODY,
    SOURCE_WEBHOOK_BODY,
    qbo_webhook_resolver,
    source_webhook_resolver,
)
from qbosync.sync.pull.receiver import WebhookReceipt
from qbosync.sync.records.messages import PushMessage
from tests.support.lambda_context import LambdaContextStub


@dataclass
class RecordingReceiver:
    """Stands for either receiver: remembers what reached it."""

    bodies: list[bytes] = field(default_factory=list)

    def receive(self, *args: Any) -> Any:
        self.bodies.append(args[-1])
        if len(args) == 3:  # the source receiver: tenant, headers, body
            return PushMessage.model_construct(event_id="evt_1")
        return WebhookReceipt(queued=1)


def event(path: str, body: bytes, content_type: str | None = "application/json") -> dict[str, Any]:
    headers = {} if content_type is None else {"content-type": content_type}
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r",
            "routeKey": f"POST {path}",
            "stage": "$default",
        },
        "isBase64Encoded": True,
        "body": base64.b64encode(body).decode(),
    }


ROUTES = {
    "source": ("/webhooks/source/acme", source_webhook_resolver, SOURCE_WEBHOOK_BODY.max_bytes, 202),
    "qbo": ("/webhooks/qbo", qbo_webhook_resolver, QBO_WEBHOOK_BODY.max_bytes, 200),
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (None, "application/json", 413, "payload_too_large"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b"{}", None, 415, "unsupported_media_type"),
        (b'{"a": "\xff"}', "application/json", 400, "malformed_json"),
    ],
    ids=["oversize", "text-plain", "no-content-type", "not-utf8"],
)
def test_given_a_body_the_shared_checks_refuse_when_posted_then_the_4xx_comes_before_any_receiver(
    route: str, body: bytes | None, content_type: str | None, status: int, code: str
) -> None:
    path, build, max_bytes, _ok = ROUTES[route]
    receiver = RecordingReceiver()
    sent = body if body is not None else b"{" + b" " * max_bytes + b"}"

    reply = build(lambda: receiver).resolve(event(path, sent, content_type), LambdaContextStub())  # type: ignore[arg-type, return-value]

    assert (reply["statusCode"], json.loads(reply["body"])["error"]["code"]) == (status, code)
    assert receiver.bodies == []


@pytest.mark.parametrize("route", list(ROUTES))
def test_given_an_acceptable_body_when_posted_then_the_receiver_gets_its_exact_bytes(route: str) -> None:
    path, build, _max_bytes, ok = ROUTES[route]
    receiver = RecordingReceiver()

    reply = build(lambda: receiver).resolve(event(path, b'{"x": 1}'), LambdaContextStub())  # type: ignore[arg-type, return-value]

    assert reply["statusCode"] == ok
    assert receiver.bodies == [b'{"x": 1}']


def test_given_cloud_events_when_posted_to_the_qbo_route_then_their_media_type_is_accepted() -> None:
    receiver = RecordingReceiver()

    reply = qbo_webhook_resolver(lambda: receiver).resolve(  # type: ignore[arg-type, return-value]
        event("/webhooks/qbo", b"[]", "application/cloudevents+json; charset=utf-8"), LambdaContextStub()
    )

    assert reply["statusCode"] == 200


def test_given_a_body_flagged_base64_that_is_not_when_posted_then_400_before_any_receiver() -> None:
    receiver = RecordingReceiver()
    broken = {**event("/webhooks/qbo", b"{}"), "body": "not base64!"}

    reply = qbo_webhook_resolver(lambda: receiver).resolve(broken, LambdaContextStub())  # type: ignore[arg-type, return-value]

    assert (reply["statusCode"], json.loads(reply["body"])["error"]["code"]) == (400, "malformed_body")
    assert receiver.bodies == []
