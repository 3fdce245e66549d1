"""Schedule dispatcher Lambda (EventBridge Scheduler): one queued unit of work per connected tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported before anything loads pydantic: Powertools' batch utility builds its 24 parser models
# (about half as long as ``import boto3``) only when pydantic is already loaded, and the dispatcher's module
# (``qbosync.sync.fanout``) holds the scheduled worker's batch processing too.
import aws_lambda_powertools.utilities.batch  # noqa: F401  # isort: skip

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.fanout import ScheduleDispatcher


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, dispatcher: ScheduleDispatcher | None = None
) -> dict[str, Any]:
    """``{"job": "reconcile"|"keepalive"|"retry", "scheduled_time": ...}`` → messages on the work queue."""
    from qbosync.sync import wiring
    from qbosync.sync.fanout import DispatchRequest

    request = DispatchRequest.model_validate(event)
    return (dispatcher or wiring.schedule_dispatcher()).dispatch(request).model_dump(mode="json")
