"""Retry Lambda (EventBridge schedule): re-queue failed and parked sync events whose backoff has passed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbosync.observability import logger, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.pull.retry_schedule import EventRetrySchedule


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, schedule: EventRetrySchedule | None = None
) -> dict[str, Any]:
    """One retry pass; ``schedule`` lets tests pass their collaborators."""
    from qbosync.sync.pull.retry_schedule import EventRetrySchedule

    return (schedule or EventRetrySchedule()).run().model_dump()
