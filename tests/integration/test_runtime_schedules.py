"""Schedule expressions and the ticker that fires the template's schedules on a faster clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.runtime.schedules import ScheduleExpressionError, ScheduleTicker, next_occurrence, scheduled_event
from local.template_model import ScheduleModel

T0 = datetime(2026, 11, 20, 10, 7, 30, tzinfo=UTC)  # a Friday


def test_given_a_rate_when_asked_for_the_next_occurrence_then_it_is_one_period_after_creation() -> None:
    assert next_occurrence("rate(5 minutes)", T0, T0) == datetime(2026, 11, 20, 10, 12, 30, tzinfo=UTC)


def test_given_a_weekday_cron_when_asked_on_friday_evening_then_it_is_monday_morning() -> None:
    after = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    assert next_occurrence("cron(15 6 ? * MON-FRI *)", after, after) == datetime(
        2026, 11, 23, 6, 15, tzinfo=UTC
    )


def test_given_a_stepped_cron_when_asked_then_it_is_the_next_step() -> None:
    assert next_occurrence("cron(0/15 * * * ? *)", T0, T0) == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression", ["rate(0 minutes)", "rate(5 fortnights)", "cron(* * * * *)", "every 5m"]
)
def test_given_an_invalid_expression_when_parsed_then_it_is_refused(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        next_occurrence(expression, T0, T0)


def test_given_no_input_when_building_the_event_then_it_is_an_eventbridge_scheduled_event() -> None:
    schedule = ScheduleModel("Reconcile", "Every15", "Schedule", "rate(15 minutes)", None)
    event = scheduled_event(schedule, "ReconcileEvery15", T0)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/ReconcileEvery15"]
    assert event["time"] == "2026-11-20T10:07:30Z"


def test_given_an_input_when_building_the_event_then_the_input_is_the_event() -> None:
    schedule = ScheduleModel("Refresh", "Tokens", "ScheduleV2", "rate(1 hour)", '{"job": "refresh"}')
    assert scheduled_event(schedule, "x", T0) == {"job": "refresh"}


def test_given_an_input_with_the_scheduled_time_attribute_when_building_the_event_then_it_is_filled() -> None:
    schedule = ScheduleModel(
        "Dispatcher",
        "Reconcile",
        "ScheduleV2",
        "rate(15 minutes)",
        '{"job": "reconcile", "scheduled_time": "<aws.scheduler.scheduled-time>"}',
    )
    assert scheduled_event(schedule, "x", T0) == {
        "job": "reconcile",
        "scheduled_time": "2026-11-20T10:07:30Z",
    }


def test_given_a_speedup_when_the_ticker_runs_then_a_one_minute_rate_fires_repeatedly_within_seconds() -> (
    None
):
    calls: list[tuple[str, dict[str, Any]]] = []
    schedule = ScheduleModel("Reconcile", "Tick", "Schedule", "rate(1 minute)", None)
    disabled = ScheduleModel("Other", "Off", "Schedule", "rate(1 minute)", None, enabled=False)
    ticker = ScheduleTicker(
        [schedule, disabled], lambda function_id, event: calls.append((function_id, event)), 300
    )
    ticker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(calls) < 3:
            time.sleep(0.05)
    finally:
        ticker.stop()
    assert len(calls) >= 3
    assert {function_id for function_id, _ in calls} == {"Reconcile"}


def test_given_a_failing_target_when_a_one_time_schedule_fires_then_it_is_retried_per_the_retry_policy() -> (
    None
):
    calls: list[str] = []

    def failing(function_id: str, event: dict[str, Any]) -> None:
        calls.append(function_id)
        raise RuntimeError("target down")

    soon = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
    schedule = ScheduleModel("Keepalive", "Once", "ScheduleV2", f"at({soon})", None, retry_attempts=1)
    ticker = ScheduleTicker([schedule], failing, speedup=100)
    ticker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(calls) < 2:
            time.sleep(0.05)
    finally:
        ticker.stop()
    assert calls == ["Keepalive", "Keepalive"]
