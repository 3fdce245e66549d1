"""Fires the template's Schedule and ScheduleV2 events, optionally faster than real time.

Nothing fires by itself under moto, so each schedule gets a thread. Time is simulated: with a speed-up
of N, a simulated clock starting now runs N times faster, and the function is called whenever that
clock passes the expression's next occurrence (``rate(...)``, AWS's six-field ``cron(...)``, or a
one-time ``at(...)``). The event is the template's ``Input`` if it has one, else the EventBridge
"Scheduled Event" a rule delivers.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.runtime.loops import BackgroundLoops
from local.template_model import LOCAL_ACCOUNT_ID, LOCAL_REGION, ScheduleModel

LOGGER = logging.getLogger("local.runtime.schedules")
InvokeFunction = Callable[[str, dict[str, Any]], Any]
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleExpressionError(ValueError):
    """The expression is not one EventBridge accepts (or uses cron features not modelled here)."""


def _parse_field(text: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """The values a cron field allows; None for ``*`` or ``?`` (anything)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for item in text.upper().split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleExpressionError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleExpressionError(f"cron value {text!r} is not supported locally (L, W and # are not)")
    return int(text)


@dataclass(frozen=True)
class CronExpression:
    minutes: set[int] | None
    hours: set[int] | None
    days_of_month: set[int] | None
    months: set[int] | None
    days_of_week: set[int] | None  # 1 = Sunday, as in AWS cron
    years: set[int] | None

    @classmethod
    def parse(cls, body: str) -> CronExpression:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"cron({body}) needs six fields")
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(f"cron({body}): exactly one of day-of-month and day-of-week is '?'")
        return cls(
            _parse_field(minutes, 0, 59, {}),
            _parse_field(hours, 0, 23, {}),
            _parse_field(dom, 1, 31, {}),
            _parse_field(month, 1, 12, {name.upper(): i for name, i in _MONTHS.items()}),
            _parse_field(dow, 1, 7, _WEEKDAYS),
            _parse_field(year, 1970, 2199, {}),
        )

    def _day_matches(self, moment: datetime) -> bool:
        aws_weekday = (moment.isoweekday() % 7) + 1
        return (
            (self.years is None or moment.year in self.years)
            and (self.months is None or moment.month in self.months)
            and (self.days_of_month is None or moment.day in self.days_of_month)
            and (self.days_of_week is None or aws_weekday in self.days_of_week)
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment`` (UTC), within five years."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment + timedelta(days=5 * 366)
        while candidate < limit:
            if not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
            elif self.hours is not None and candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
            elif self.minutes is not None and candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate
        raise ScheduleExpressionError("the cron expression never fires in the next five years")


def next_occurrence(expression: str, after: datetime, created: datetime) -> datetime | None:
    """When ``expression`` next fires after ``after``; None when a one-time schedule has passed."""
    found = re.fullmatch(r"(rate|cron|at)\((.+)\)", expression.strip())
    if not found:
        raise ScheduleExpressionError(f"{expression!r} is not rate(...), cron(...) or at(...)")
    kind, body = found.groups()
    if kind == "rate":
        amount_text, _, unit = body.strip().partition(" ")
        if not amount_text.isdigit() or unit not in _UNITS or int(amount_text) < 1:
            raise ScheduleExpressionError(f"rate({body}) is not '<n> minute(s)|hour(s)|day(s)'")
        period = timedelta(seconds=int(amount_text) * _UNITS[unit])
        elapsed = after - created
        return created + period * (int(elapsed / period) + 1)
    if kind == "cron":
        return CronExpression.parse(body).next_after(after)
    when = datetime.fromisoformat(body).replace(tzinfo=UTC)
    return when if when > after else None


SCHEDULED_TIME_ATTRIBUTE = "<aws.scheduler.scheduled-time>"


def scheduled_event(schedule: ScheduleModel, rule_name: str, now: datetime) -> dict[str, Any]:
    """The event the target receives: the configured ``Input``, or EventBridge's scheduled event.

    EventBridge Scheduler fills the context attribute ``<aws.scheduler.scheduled-time>`` in an ``Input``
    with the time the schedule was due (``now`` here), and so does this.
    """
    if schedule.input is not None:
        raw = schedule.input
        if isinstance(raw, str) and schedule.kind == "ScheduleV2":
            raw = raw.replace(SCHEDULED_TIME_ATTRIBUTE, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        parsed: Any = json.loads(raw) if isinstance(raw, str) else raw
        return parsed if isinstance(parsed, dict) else {"input": parsed}
    service = "events" if schedule.kind == "Schedule" else "scheduler"
    resource = "rule" if schedule.kind == "Schedule" else "schedule/default"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events" if schedule.kind == "Schedule" else "aws.scheduler",
        "account": LOCAL_ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:{service}:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{resource}/{rule_name}"],
        "detail": {},
    }


class ScheduleTicker(BackgroundLoops):
    """A thread per enabled schedule, on a simulated clock ``speedup`` times faster than real time."""

    def __init__(self, schedules: list[ScheduleModel], invoke: InvokeFunction, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError("the schedule speed-up must be positive")
        for schedule in schedules:  # refuse bad expressions at start, not at the first tick
            next_occurrence(schedule.expression, datetime.now(UTC), datetime.now(UTC))
        self._schedules = [schedule for schedule in schedules if schedule.enabled]
        self._invoke = invoke
        self._speedup = speedup
        super().__init__()
        self._start_real = time.time()
        self.fired: dict[str, int] = {}

    def simulated_now(self) -> datetime:
        elapsed = (time.time() - self._start_real) * self._speedup
        return datetime.fromtimestamp(self._start_real + elapsed, UTC)

    def start(self) -> None:
        self._start_real = time.time()
        self._start_loops(self._run, self._schedules, lambda schedule: f"schedule-{schedule.event_id}")

    def _fire(self, schedule: ScheduleModel, rule_name: str, due: datetime) -> None:
        """One scheduled invocation, retried up to the schedule's retry attempts (one second apart)."""
        event = scheduled_event(schedule, rule_name, due)
        for attempt in range(1 + max(0, schedule.retry_attempts)):
            if attempt and self._stopping.wait(1.0):
                return
            try:
                self._invoke(schedule.function_id, event)
                return
            except Exception:
                LOGGER.exception(
                    "scheduled %s of %s failed (attempt %d)",
                    schedule.event_id,
                    schedule.function_id,
                    attempt + 1,
                )

    def _run(self, schedule: ScheduleModel) -> None:
        created = self.simulated_now()
        rule_name = f"{schedule.function_id}{schedule.event_id}"
        due = next_occurrence(schedule.expression, created, created)
        while due is not None and not self._stopping.is_set():
            wait = (due - self.simulated_now()).total_seconds() / self._speedup
            if wait > 0:
                self._stopping.wait(min(wait, 1.0))
                continue
            self._fire(schedule, rule_name, due)
            key = f"{schedule.function_id}.{schedule.event_id}"
            self.fired[key] = self.fired.get(key, 0) + 1
            due = next_occurrence(schedule.expression, due, created)
