"""The pull worker: one SQS batch of pull messages, each applied on its own (partial batch failures).

A message whose change failed for a transient reason (QBO or source unavailable, throttled) is
reported as a batch item failure, so SQS redelivers it (and after five receives parks it in the DLQ);
every other outcome, failed ones included, is recorded as a sync event and the message is consumed.
A message failing on its last receive is about to be dead-lettered: its change is then recorded as a gap,
so the tenant's backstop CDC runs at the next scheduled reconciliation instead of a day later.
A gap notice the webhook receiver queued (``sync/pull/gaps.py``) is recorded the same way, and consumed.
Records that several changes of the batch name are read from QBO with one query
(``PullService.reading_together``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from qbosync.clock import utc_now
from qbosync.metrics import count_gap
from qbosync.observability import logger
from qbosync.store.reconcile_signals import GapReason
from qbosync.sync.pull.gaps import gap_notice_of
from qbosync.sync.pull.service import PullService
from qbosync.sync.records.messages import PullMessage

# The pull queue's redrive policy (template.yaml): SQS dead-letters a message after this many receives.
PULL_MAX_RECEIVES = 5


class GapRecorder(Protocol):
    """Where a suspected missed change is recorded (``store.reconcile_signals.ReconcileSignalRepository``)."""

    def mark_gap(self, tenant_id: str, reason: GapReason, at: datetime) -> None: ...


def process_pull_batch(
    event: dict[str, Any],
    context: LambdaContext,
    service: PullService,
    gaps: GapRecorder | None = None,
    max_receives: int = PULL_MAX_RECEIVES,
) -> dict[str, Any]:
    """Apply every message of the batch; returns ``{"batchItemFailures": [...]}`` for SQS."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        notice = gap_notice_of(record.body)
        if notice is not None:
            if gaps is not None:
                gaps.mark_gap(notice.tenant_id, notice.reason, notice.detected_at)
                count_gap(notice.reason.value)
            return
        message = PullMessage.model_validate_json(record.body)
        logger.append_keys(tenant_id=message.tenant_id)
        try:
            service.apply(message)
        except Exception:
            if gaps is not None and int(record.attributes.approximate_receive_count) >= max_receives:
                logger.warning("pull message dead-lettered; the backstop reconciliation is due")
                gaps.mark_gap(message.tenant_id, GapReason.PULL_DEAD_LETTER, utc_now())
                count_gap(GapReason.PULL_DEAD_LETTER.value)
            raise

    messages = _pull_messages(event)
    together: AbstractContextManager[object] = (
        service.reading_together(messages) if messages else nullcontext()
    )
    with together:
        response = process_partial_response(
            event=event, record_handler=handle, processor=processor, context=context
        )
    return dict(response)


def _pull_messages(event: dict[str, Any]) -> list[PullMessage]:
    """The batch's changes (gap notices and bodies that do not parse are left to the record handler)."""
    messages: list[PullMessage] = []
    for record in event.get("Records", []):
        body = str(record.get("body", ""))
        if gap_notice_of(body) is not None:
            continue
        try:
            messages.append(PullMessage.model_validate_json(body))
        except ValidationError:
            continue
    return messages
