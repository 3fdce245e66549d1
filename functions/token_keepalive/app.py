"""Token keep-alive Lambda (EventBridge schedule): refresh idle QBO grants, report expiring ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.keepalive import TokenKeepAlive


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, keepalive: TokenKeepAlive | None = None
) -> dict[str, Any]:
    """One keep-alive pass; ``keepalive`` lets tests pass their collaborators."""
    from qbosync.sync import wiring

    results = (keepalive or wiring.token_keepalive()).run()
    return {"tenants": [result.model_dump(mode="json") for result in results]}
