"""Pure pull-side rules: change identity across channels, CDC rows as changes, the retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qbosync.store.events import ReasonCode, SyncEvent
from qbosync.sync.pull.notifications import parse_notifications
from qbosync.sync.reconcile import change_of_row
from qbosync.sync.retry.schedule import EventRetrySchedule

REALM = "9341453050108822"
NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


class _Unused:
    """A collaborator the rule under test never calls."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was not expected to be called")


def _schedule() -> EventRetrySchedule:
    unused: Any = _Unused()
    return EventRetrySchedule(events=unused, connections=unused, requeue=unused, clock=lambda: NOW)


def _event(attempts: int, quiet: timedelta, code: ReasonCode = ReasonCode.UPSTREAM_UNAVAILABLE) -> SyncEvent:
    return SyncEvent(
        event_id="e1",
        tenant_id="acme",
        kind="qbo.customer",
        source_object_id="58",
        source_version=1,
        status="failed",
        reason_code=code,
        reason="QBO or the source was unavailable",
        attempts=attempts,
        received_at=NOW - quiet,
        updated_at=NOW - quiet,
    )


def test_given_a_cdc_row_and_a_webhook_of_the_same_change_when_identified_then_they_share_an_event_id() -> (
    None
):
    [from_webhook] = parse_notifications(
        {
            "eventNotifications": [
                {
                    "realmId": REALM,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Customer",
                                "id": "58",
                                "operation": "Update",
                                "lastUpdated": "2026-11-22T04:00:00Z",
                            }
                        ]
                    },
                }
            ]
        }
    )
    row = {"Id": "58", "SyncToken": "3", "MetaData": {"LastUpdatedTime": "2026-11-21T20:00:00-08:00"}}

    from_cdc = change_of_row(REALM, "Customer", row)

    assert from_cdc.event_id == from_webhook.event_id


def test_given_a_deleted_cdc_row_when_read_as_a_change_then_it_is_a_delete() -> None:
    row = {
        "Id": "979",
        "status": "Deleted",
        "domain": "QBO",
        "MetaData": {"LastUpdatedTime": "2015-12-23T12:55:50-08:00"},
    }

    change = change_of_row(REALM, "Invoice", row)

    assert (change.operation, change.entity_id) == ("Delete", "979")


@pytest.mark.parametrize(
    ("attempts", "quiet_minutes", "due"),
    [
        (1, 4, False),
        (1, 5, True),
        (2, 9, False),
        (2, 10, True),
        (4, 39, False),
        (4, 40, True),
        (12, 359, False),
    ],
)
def test_given_a_failed_event_when_its_quiet_time_is_compared_with_the_backoff_then_it_is_due_only_after_it(
    attempts: int, quiet_minutes: int, due: bool
) -> None:
    event = _event(attempts, timedelta(minutes=quiet_minutes))

    assert (_schedule().due_in(event) <= timedelta(0)) is due


def test_given_a_push_event_its_queue_still_retries_when_considered_then_it_waits_for_the_dlq_time() -> None:
    event = _event(1, timedelta(minutes=30), code=ReasonCode.RETRYING)

    assert _schedule().due_in(event) == timedelta(minutes=30)
