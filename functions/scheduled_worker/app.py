"""Scheduled worker Lambda (SQS): one tenant's reconcile, keep-alive or retry pass per message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported before anything loads pydantic: Powertools' batch utility builds its 24 parser models
# (about half as long as ``import boto3``) only when pydantic is already loaded, and this handler never
# parses records into models.
import aws_lambda_powertools.utilities.batch  # noqa: F401  # isort: skip

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.fanout import ScheduledWorker


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, worker: ScheduledWorker | None = None
) -> dict[str, Any]:
    """Process one SQS batch (partial failures reported); ``worker`` lets tests pass their collaborators."""
    from qbosync.sync import wiring
    from qbosync.sync.fanout import process_scheduled_batch

    return process_scheduled_batch(event, context, worker or wiring.scheduled_worker())
