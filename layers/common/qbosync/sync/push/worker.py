"""The push worker's batch: SQS FIFO records → ``PushService.apply``, once per event delivery.

``SqsFifoPartialProcessor`` stops at the first record that fails and reports it and every record
after it as failed, so SQS hands them back in the same order (a tenant is one message group).
Powertools Idempotency (DynamoDB, ``IDEMPOTENCY_TABLE_NAME``) keys each record on tenant, event id and
redelivery number, so a webhook the source sent twice is applied once, while a released or retried
event (a new redelivery number) runs again. The links and requestids make the QBO side exactly-once
even beyond the idempotency record's lifetime.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from qbosync.observability import logger
from qbosync.sync.push.service import PushService
from qbosync.sync.records.messages import PushMessage

IDEMPOTENCY_KEY = "[tenant_id, event_id, redelivery]"
IDEMPOTENCY_SECONDS = 24 * 3600
"""Sources retry for hours; past a day the links' source versions still make a repeat a no-op."""


def push_batch(
    event: dict[str, Any],
    context: LambdaContext,
    service: PushService,
    idempotency_store: BasePersistenceLayer,
) -> dict[str, Any]:
    """Apply a batch of push messages; the answer names the records SQS must deliver again."""
    push = service
    push.start_batch()  # a batch sees one configuration; the next batch sees admin changes
    config = IdempotencyConfig(event_key_jmespath=IDEMPOTENCY_KEY, expires_after_seconds=IDEMPOTENCY_SECONDS)
    config.register_lambda_context(context)

    def apply(message: PushMessage) -> dict[str, Any]:
        return push.apply(message).model_dump(mode="json")

    apply_once = idempotent_function(
        apply,
        data_keyword_argument="message",
        persistence_store=idempotency_store,
        config=config,
    )

    def handle_record(record: SQSRecord) -> dict[str, Any] | None:
        try:
            message = PushMessage.model_validate_json(record.body)
        except ValidationError:
            # It can never be applied; keeping it would stop the tenant's queue until the DLQ.
            logger.error("dropped a push message that is not one", extra={"message_id": record.message_id})
            return None
        result: dict[str, Any] = apply_once(message=message)
        return result

    processor = SqsFifoPartialProcessor()
    # A batch that failed as a whole is reported record by record too, so SQS keeps the order either way.
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
    return dict(response)
