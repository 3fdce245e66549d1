"""The public webhook routes: ``POST /webhooks/source/{tenant_id}`` and
``POST /webhooks/revio/{tenant_id}/{token}`` (the source webhook function), ``POST /webhooks/qbo``.

Each is a Powertools resolver like the admin API: the shared body checks (``api.body_checks``: size 413,
media type 415, UTF-8 400) run before routing, the receivers (``sync/push/receiver.py``,
``sync/pull/receiver.py``) verify signatures and queue, and ``api.errors`` alone turns their typed
errors into replies. Receivers are built on a request, never at import.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types

from qbosync.api.body_checks import BodyRules, CheckedBodyResolver, raw_body
from qbosync.api.errors import register_error_handlers
from qbosync.sync.pull.receiver import QBO_MEDIA_TYPES, QboWebhookReceiver
from qbosync.sync.push.receiver import WebhookReceiver

if TYPE_CHECKING:
    from qbosync.sync.push.revio_receiver import RevioReceiver

SOURCE_WEBHOOK_BODY = BodyRules(max_bytes=256 * 1024)
"""Source notifications name an object and are well under 1 KiB; anything near this is not one."""

QBO_WEBHOOK_BODY = BodyRules(max_bytes=2 * 1024 * 1024, media_types=QBO_MEDIA_TYPES)
"""Intuit sends at most about 100 events and about 1 MB a POST."""


def _revio_receiver() -> RevioReceiver:
    from qbosync.sync.push.revio_receiver import RevioReceiver

    return RevioReceiver()


def source_webhook_resolver(
    receiver: Callable[[], WebhookReceiver] | None = None,
    revio_receiver: Callable[[], RevioReceiver] | None = None,
) -> CheckedBodyResolver:
    """``POST /webhooks/source/{tenant_id}``: verified and queued for the push worker, 202; and
    ``POST /webhooks/revio/{tenant_id}/{token}``: Rev.io's handshake answered, notifications queued."""
    app = CheckedBodyResolver(SOURCE_WEBHOOK_BODY)
    register_error_handlers(app)
    receiver_for = receiver or cache(WebhookReceiver)
    revio_for = revio_receiver or cache(_revio_receiver)

    @app.post("/webhooks/revio/<tenant_id>/<token>")
    def receive_revio_notification(tenant_id: str, token: str) -> Response[Any]:
        from qbosync.sync.push.revio_receiver import Confirmed, Ignored

        event = app.current_event
        outcome = revio_for().receive(tenant_id, token, dict(event.headers or {}), raw_body(event.raw_event))
        if isinstance(outcome, Confirmed):
            return Response(status_code=200, headers=outcome.headers, body="")
        if isinstance(outcome, Ignored):
            body: dict[str, Any] = {"accepted": False, "ignored": outcome.event_type}
            return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body={"accepted": True, "event_id": outcome.event_id},
        )

    @app.post("/webhooks/source/<tenant_id>")
    def receive_source_webhook(tenant_id: str) -> Response[Any]:
        event = app.current_event
        message = receiver_for().receive(tenant_id, dict(event.headers or {}), raw_body(event.raw_event))
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body={"accepted": True, "event_id": message.event_id},
        )

    return app


def qbo_webhook_resolver(receiver: Callable[[], QboWebhookReceiver] | None = None) -> CheckedBodyResolver:
    """``POST /webhooks/qbo``: Intuit's notifications, verified and queued for the pull worker, 200."""
    app = CheckedBodyResolver(QBO_WEBHOOK_BODY)
    register_error_handlers(app)
    # One receiver a request, as before: its collaborators cache what they read themselves.
    receiver_for = receiver or QboWebhookReceiver

    @app.post("/webhooks/qbo")
    def receive_qbo_webhook() -> Response[Any]:
        event = app.current_event
        receipt = receiver_for().receive(dict(event.headers or {}), raw_body(event.raw_event))
        return Response(
            status_code=200, content_type=content_types.APPLICATION_JSON, body=receipt.model_dump()
        )

    return app
