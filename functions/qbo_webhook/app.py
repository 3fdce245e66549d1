"""QBO webhook Lambda: verify ``intuit-signature``, queue one pull message per change, answer 200.

Intuit allows 3 seconds, so nothing here reads QBO or the source; the pull worker does the work.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbosync.errors import QbosyncError
from qbosync.observability import logger, metrics, tracer
from qbosync.sync.pull.receiver import QboWebhookReceiver


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, receiver: QboWebhookReceiver | None = None
) -> dict[str, Any]:
    """Receive one QBO webhook POST; ``receiver`` lets tests pass their collaborators."""
    try:
        receipt = (receiver or QboWebhookReceiver()).receive(event.get("headers") or {}, _raw_body(event))
    except QbosyncError as exc:
        if exc.status >= 500:
            logger.exception("qbo webhook not queued", extra={"error_code": exc.code})
        else:
            logger.warning("qbo webhook refused", extra={"error_code": exc.code, "status": exc.status})
        return _reply(exc.status, exc.to_body())
    return _reply(200, receipt.model_dump())
