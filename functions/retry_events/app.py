"""Retry Lambda (EventBridge schedule): re-queue failed and parked sync events whose backoff has passed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.retry.schedule import EventRetrySchedule


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, schedule: EventRetrySchedule | None = None
) -> dict[str, Any]:
    """One retry pass; ``schedule`` lets tests pass their collaborators."""
    from qbosync.sync import wiring

    return (schedule or wiring.retry_schedule()).run().model_dump()
