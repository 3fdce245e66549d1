"""Retry Lambda (EventBridge schedule): re-queue failed and parked sync events whose backoff has passed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, tracer
from qbosync.sync.pull.retry_schedule import EventRetrySchedule


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, schedule: EventRetrySchedule | None = None
) -> dict[str, Any]:
    """One retry pass; ``schedule`` lets tests pass their collaborators."""
    return (schedule or EventRetrySchedule()).run().model_dump()
