"""Bulk-sync task Lambda: every Task state of the bulk-sync state machine calls it with ``{"task": ...}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one task; its errors reach Step Functions as BulkSyncThrottled, BulkSyncTransient..."""
    from qbosync.sync import wiring
    from qbosync.sync.bulk.tasks import run_task

    return run_task(event, wiring.bulk_sync_dependencies())
