"""Source webhook Lambda: verify the signature, queue the change, answer 202. The work happens later."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbosync.api.errors import register_error_handlers
from qbosync.observability import logger, metrics, tracer
from qbosync.sync.push.receiver import WebhookReceiver


def build_resolver(receiver: WebhookReceiver) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    register_error_handlers(app)

    @app.post("/webhooks/source/<tenant_id>")
    def receive(tenant_id: str) -> Response[Any]:
        event = app.current_event
        raw = event.body or ""
        body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
        message = receiver.receive(tenant_id, dict(event.headers or {}), body)
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body={"accepted": True, "event_id": message.event_id},
        )

    return app


@lru_cache(maxsize=1)
def resolver() -> APIGatewayHttpResolver:
    """Built on the first request, so importing the handler does no work."""
    return build_resolver(WebhookReceiver())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, receiver: WebhookReceiver | None = None
) -> dict[str, Any]:
    """One webhook delivery; ``receiver`` lets tests pass their collaborators."""
    app = resolver() if receiver is None else build_resolver(receiver)
    return app.resolve(event, context)
