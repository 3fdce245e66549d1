"""A pull message failing on its last receive (SQS dead-letters it next) makes the backstop due: a gap; so
does a gap notice the webhook receiver queued."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.qbo.faults import QboServerFault
from qbosync.store.reconcile_signals import GapReason
from qbosync.sync.pull.gaps import GapNotice
from qbosync.sync.pull.worker import PULL_MAX_RECEIVES, process_pull_batch
from qbosync.sync.records.messages import EntityChange, PullMessage
from tests.support.lambda_context import LambdaContextStub


class FailingPull:
    """A pull service that cannot read customer 7 from QBO (503) and applies every other change."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def reading_together(self, messages: Any) -> Any:
        return nullcontext()

    def apply(self, message: PullMessage, row: Any = None) -> Any:
        if message.change.entity_id == "7":
            raise QboServerFault("QBO answered 503")
        self.applied.append(message.change.entity_id)
        return None


class RecordedGaps:
    def __init__(self) -> None:
        self.gaps: list[tuple[str, GapReason]] = []

    def mark_gap(self, tenant_id: str, reason: GapReason, at: datetime) -> None:
        self.gaps.append((tenant_id, reason))


def _record(entity_id: str, receive_count: int, body: str | None = None) -> dict[str, Any]:
    message = PullMessage(
        tenant_id="acme",
        change=EntityChange(
            realm_id="9130",
            entity="Customer",
            entity_id=entity_id,
            operation="Update",
            dedupe_key=f"k-{entity_id}",
        ),
        received_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
    return {
        "messageId": f"m-{entity_id}",
        "receiptHandle": f"r-{entity_id}",
        "body": body or message.model_dump_json(),
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:pull",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    ("receives", "gaps"),
    [(1, []), (PULL_MAX_RECEIVES - 1, []), (PULL_MAX_RECEIVES, [("acme", GapReason.PULL_DEAD_LETTER)])],
)
def test_given_a_failing_pull_message_when_it_is_on_its_last_receive_then_a_gap_is_recorded(
    receives: int, gaps: list[tuple[str, GapReason]]
) -> None:
    recorded, service = RecordedGaps(), FailingPull()
    event = {"Records": [_record("7", receives), _record("8", PULL_MAX_RECEIVES)]}

    reply = process_pull_batch(event, LambdaContextStub(), service, gaps=recorded)  # type: ignore[arg-type]

    assert reply["batchItemFailures"] == [{"itemIdentifier": "m-7"}]
    assert service.applied == ["8"]
    assert recorded.gaps == gaps


def test_given_a_receivers_gap_notice_when_processed_then_the_gap_is_recorded_and_consumed() -> None:
    recorded, service = RecordedGaps(), FailingPull()
    at = datetime(2026, 12, 2, 9, tzinfo=UTC)
    notice = GapNotice(tenant_id="acme", reason=GapReason.UNVERIFIED_WEBHOOK, detected_at=at)
    event = {"Records": [_record("n", 1, notice.model_dump_json()), _record("8", 1)]}

    reply = process_pull_batch(event, LambdaContextStub(), service, gaps=recorded)  # type: ignore[arg-type]

    assert reply["batchItemFailures"] == []
    assert recorded.gaps == [("acme", GapReason.UNVERIFIED_WEBHOOK)]
    assert service.applied == ["8"]  # the notice is not a change: nothing else is applied for it


def test_given_a_gap_notice_when_recorded_then_it_is_counted_by_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    at = datetime(2026, 12, 2, 9, tzinfo=UTC)
    notice = GapNotice(tenant_id="acme", reason=GapReason.LATE_WEBHOOK, detected_at=at)
    event = {"Records": [_record("n", 1, notice.model_dump_json())]}

    process_pull_batch(event, LambdaContextStub(), FailingPull(), gaps=RecordedGaps())  # type: ignore[arg-type]

    [line] = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if "ReconcileGapsSignalled" in line
    ]
    assert (line["reason"], line["ReconcileGapsSignalled"]) == ("late_webhook", [1.0])
    assert "acme" not in json.dumps(line)  # never a tenant dimension
