"""The kit's webhook receiver: records every delivery with its signature verdict and answers 204.

It answers 204 even to a bad signature (qbosync itself would answer 401), so a source's retries do
not hide what it sent first; the verdict is judged by the ``webhook.signature`` rule instead.
``asgi_app`` serves it in-process (tests); ``serve_on`` serves it on a local port (the CLI).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from qbosync.source.errors import SignatureInvalid, TimestampOutOfWindow
from qbosync.source.models import SourceWebhook
from qbosync.source.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

ASGIScope = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ReceivedWebhook:
    """One delivery as the kit saw it."""

    event: SourceWebhook | None
    signature_problem: str | None
    shape_problem: str | None


class WebhookInbox:
    """Every webhook delivered to the kit, for one tenant and one secret."""

    def __init__(self, secret: str, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._wall_clock = wall_clock
        self._received: list[ReceivedWebhook] = []
        self._changed = threading.Condition()

    def accept(self, headers: dict[str, str], body: bytes) -> None:
        """Record one delivery (``headers`` with lower-case names)."""
        signature_problem: str | None = None
        try:
            verify(
                self._secret,
                headers.get(TIMESTAMP_HEADER.lower()),
                headers.get(SIGNATURE_HEADER.lower()),
                body,
                self._wall_clock(),
            )
        except (SignatureInvalid, TimestampOutOfWindow) as exc:
            signature_problem = exc.code
        event: SourceWebhook | None = None
        shape_problem: str | None = None
        try:
            event = SourceWebhook.model_validate_json(body)
        except ValidationError as exc:
            shape_problem = f"the body is not a contract event: {exc.error_count()} problem(s)"
        with self._changed:
            self._received.append(ReceivedWebhook(event, signature_problem, shape_problem))
            self._changed.notify_all()

    def received(self) -> list[ReceivedWebhook]:
        with self._changed:
            return list(self._received)

    def wait_until(self, done: Callable[[list[ReceivedWebhook]], bool], timeout_seconds: float) -> bool:
        """Block until ``done(received)`` holds or the timeout passes; whether it held."""
        with self._changed:
            return self._changed.wait_for(lambda: done(list(self._received)), timeout=timeout_seconds)

    def asgi_app(self) -> Callable[[ASGIScope, ASGIReceive, ASGISend], Awaitable[None]]:
        """A bare ASGI app that feeds this inbox (for in-process sources)."""

        async def app(scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
            if scope["type"] != "http":
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.accept(headers, body)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return app

    def serve_on(self, host: str, port: int) -> tuple[ThreadingHTTPServer, str]:
        """Serve this inbox on ``host:port`` in a daemon thread; the server and its base URL."""
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                inbox.accept({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # deliveries are reported by the kit, not logged per request

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        bound_host, bound_port = server.server_address[:2]
        return server, f"http://{bound_host!s}:{bound_port}"


def describe(webhook: ReceivedWebhook) -> str:
    if webhook.event is None:
        return json.dumps({"problem": webhook.shape_problem})
    obj = webhook.event.object
    return f"{webhook.event.type} {obj.id} v{obj.version}"
