"""Bulk-sync task Lambda: every Task state of the bulk-sync state machine calls it with ``{"task": ...}``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, tracer
from qbosync.sync.bulk.tasks import run_task


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@tracks_remaining_time
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one task; its errors reach Step Functions as BulkSyncThrottled, BulkSyncTransient..."""
    return run_task(event)
