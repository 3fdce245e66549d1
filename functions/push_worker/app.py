"""Push worker Lambda: a batch of queued source changes, applied to QBO in order, each exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Imported before anything loads pydantic: Powertools' batch utility builds its 24 parser models
# (about 130 ms of the first request) only when pydantic is already loaded, and this handler never
# parses records into models.
import aws_lambda_powertools.utilities.batch  # noqa: F401  # isort: skip

from qbosync.invocation import tracks_remaining_time
from qbosync.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from qbosync.sync.push.service import PushService


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@tracks_remaining_time
def lambda_handler(
    event: dict[str, Any],
    context: LambdaContext,
    service: PushService | None = None,
    idempotency_store: BasePersistenceLayer | None = None,
) -> dict[str, Any]:
    """SQS FIFO batch in, ``batchItemFailures`` out; tests pass their own service and store."""
    from qbosync.sync import wiring
    from qbosync.sync.push.worker import push_batch

    return push_batch(
        event, context, service or wiring.push_service(), idempotency_store or wiring.idempotency_store()
    )
