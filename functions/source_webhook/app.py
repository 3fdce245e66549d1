"""Source webhook Lambda: verify the signature (or, for a Rev.io tenant, the receiver URL), queue the change,
answer 202. The work happens later."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.push.receiver import WebhookReceiver


@lru_cache(maxsize=1)
def resolver() -> APIGatewayHttpResolver:
    """Built on the first request, so importing the handler does no work."""
    from qbosync.api.routes.webhooks import source_webhook_resolver

    return source_webhook_resolver()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, receiver: WebhookReceiver | None = None
) -> dict[str, Any]:
    """One webhook delivery; ``receiver`` lets tests pass their collaborators."""
    from qbosync.api.routes.webhooks import source_webhook_resolver

    app = resolver() if receiver is None else source_webhook_resolver(lambda: receiver)
    return app.resolve(event, context)
