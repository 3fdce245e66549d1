"""What a done event says after a plain write to QBO."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.sync.push.summaries import written_summary
from qbosync.sync.records.messages import PushMessage

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _message(kind: Any, action: Any) -> PushMessage:
    return PushMessage(
        event_id="evt-1",
        tenant_id="acme",
        kind=kind,
        action=action,
        source_id="src_42",
        source_version=3,
        occurred_at=AT,
        received_at=AT,
    )


@pytest.mark.parametrize(
    ("kind", "action", "qbo_id", "expected"),
    [
        ("invoice", "created", "148", "created QBO Invoice 148 from source invoice src_42 version 3"),
        ("payment", "updated", "77", "updated QBO Payment 77 to match source payment src_42 version 3"),
        (
            "credit_note",
            "created",
            None,
            "created the QBO CreditMemo from source credit note src_42 version 3",
        ),
    ],
)
def test_given_a_plain_write_when_summarised_then_it_names_the_qbo_record_and_the_source_version(
    kind: str, action: str, qbo_id: str | None, expected: str
) -> None:
    assert written_summary(_message(kind, action), qbo_id) == expected
