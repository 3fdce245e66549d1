"""The pull worker: one SQS batch of pull messages, each applied on its own (partial batch failures).

A message whose change failed for a transient reason (QBO or source unavailable, throttled) is
reported as a batch item failure, so SQS redelivers it (and after five receives parks it in the DLQ);
every other outcome, failed ones included, is recorded as a sync event and the message is consumed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbosync.observability import logger
from qbosync.sync.pull.service import PullService
from qbosync.sync.records.messages import PullMessage


def process_pull_batch(event: dict[str, Any], context: LambdaContext, service: PullService) -> dict[str, Any]:
    """Apply every message of the batch; returns ``{"batchItemFailures": [...]}`` for SQS."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        message = PullMessage.model_validate_json(record.body)
        logger.append_keys(tenant_id=message.tenant_id)
        service.apply(message)

    response = process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
    return dict(response)
