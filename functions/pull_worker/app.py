"""Pull worker Lambda: applies queued QBO changes to the source (SQS, partial batch failures)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported before anything loads pydantic: Powertools' batch utility builds its 24 parser models
# (about 130 ms of the first request) only when pydantic is already loaded, and this handler never
# parses records into models.
import aws_lambda_powertools.utilities.batch  # noqa: F401  # isort: skip

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.pull.service import PullService


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, service: PullService | None = None
) -> dict[str, Any]:
    """Process one SQS batch; ``service`` lets tests pass their collaborators."""
    from qbosync.sync import wiring
    from qbosync.sync.pull.worker import process_pull_batch

    return process_pull_batch(
        event, context, service or wiring.pull_service(), gaps=wiring.reconcile_signals()
    )
