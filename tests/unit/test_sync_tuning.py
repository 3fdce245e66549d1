"""The scheduled services' tuning as deployment settings: defaults, parsing, bounds, and the services'
constructor defaults read from them when constructed; template.yaml declares each with the same default
and bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from local.template_model import Intrinsic, IntrinsicResolver, LocalResourceMap, load_template
from qbosync.settings import SyncTuning, get_sync_tuning
from qbosync.store.events import SyncEvent
from qbosync.sync.keepalive import TokenKeepAlive
from qbosync.sync.reconcile import Reconciler
from qbosync.sync.retry.schedule import EventRetrySchedule

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
TUNING_FUNCTIONS = ("ScheduledWorkerFunction", "ApiFunction")
VARIABLES = [str(info.alias) for info in SyncTuning.model_fields.values()]
ALL_CONFIGURED = {
    "QBOSYNC_KEEPALIVE_IDLE_DAYS": "3",
    "QBOSYNC_KEEPALIVE_EXPIRY_WARNING_DAYS": "21",
    "QBOSYNC_RETRY_BASE_DELAY_SECONDS": "60",
    "QBOSYNC_RETRY_MAX_DELAY_SECONDS": "7200",
    "QBOSYNC_RETRY_MAX_ATTEMPTS": "4",
    "QBOSYNC_RETRY_DEAD_LETTER_AFTER_SECONDS": "900",
    "QBOSYNC_RECONCILE_OVERLAP_SECONDS": "0",
    "QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS": "30",
}


class _Unused:
    """A collaborator the construction under test never calls."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was not expected to be called")


@pytest.fixture(autouse=True)
def _fresh_tuning(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No tuning variable from the machine running the tests, and no tuning cached across tests."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    get_sync_tuning.cache_clear()
    yield
    get_sync_tuning.cache_clear()


def _configure(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for variable, value in values.items():
        monkeypatch.setenv(variable, value)
    get_sync_tuning.cache_clear()


def _keepalive() -> TokenKeepAlive:
    unused: Any = _Unused()
    return TokenKeepAlive(vault_for=unused, connections=unused, events=unused, clock=lambda: NOW)


def _retry_schedule() -> EventRetrySchedule:
    unused: Any = _Unused()
    return EventRetrySchedule(events=unused, connections=unused, requeue=unused, clock=lambda: NOW)


def _reconciler() -> Reconciler:
    unused: Any = _Unused()
    return Reconciler(
        pull=unused,
        customers=unused,
        qbo_for=unused,
        source_for=unused,
        settings_for=unused,
        connections=unused,
        checkpoints=unused,
        links=unused,
        push_queue=unused,
        clock=lambda: NOW,
    )


def _failed_event(attempts: int, quiet: timedelta, reason: str = "source_unavailable") -> SyncEvent:
    return SyncEvent(
        event_id="e1",
        tenant_id="acme",
        kind="qbo.customer",
        source_object_id="58",
        source_version=1,
        status="failed",
        reason=reason,
        attempts=attempts,
        received_at=NOW - quiet,
        updated_at=NOW - quiet,
    )


def test_given_no_environment_when_the_tuning_is_read_then_the_documented_defaults_apply() -> None:
    tuning = get_sync_tuning()

    assert tuning.keepalive_idle_after == timedelta(days=7)
    assert tuning.keepalive_expiry_warning == timedelta(days=14)
    assert tuning.retry_base_delay == timedelta(minutes=5)
    assert tuning.retry_max_delay == timedelta(hours=6)
    assert tuning.retry_max_attempts == 8
    assert tuning.retry_dead_letter_after == timedelta(hours=1)
    assert tuning.reconcile_overlap == timedelta(minutes=5)
    assert tuning.reconcile_cdc_max_lookback == timedelta(days=29)


def test_given_every_variable_set_when_the_tuning_is_read_then_each_value_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(monkeypatch, ALL_CONFIGURED)

    tuning = get_sync_tuning()

    assert tuning.keepalive_idle_after == timedelta(days=3)
    assert tuning.keepalive_expiry_warning == timedelta(days=21)
    assert tuning.retry_base_delay == timedelta(minutes=1)
    assert tuning.retry_max_delay == timedelta(hours=2)
    assert tuning.retry_max_attempts == 4
    assert tuning.retry_dead_letter_after == timedelta(minutes=15)
    assert tuning.reconcile_overlap == timedelta(0)
    assert tuning.reconcile_cdc_max_lookback == timedelta(days=30)


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("QBOSYNC_KEEPALIVE_IDLE_DAYS", "-1", "greater than or equal to 1"),
        ("QBOSYNC_KEEPALIVE_IDLE_DAYS", "0", "greater than or equal to 1"),
        ("QBOSYNC_KEEPALIVE_IDLE_DAYS", "100", "less than or equal to 90"),
        ("QBOSYNC_KEEPALIVE_EXPIRY_WARNING_DAYS", "0", "greater than or equal to 1"),
        ("QBOSYNC_RETRY_BASE_DELAY_SECONDS", "0", "greater than or equal to 1"),
        ("QBOSYNC_RETRY_BASE_DELAY_SECONDS", "-300", "greater than or equal to 1"),
        ("QBOSYNC_RETRY_MAX_DELAY_SECONDS", "-1", "greater than or equal to 1"),
        ("QBOSYNC_RETRY_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
        ("QBOSYNC_RETRY_MAX_ATTEMPTS", "eight", "valid integer"),
        ("QBOSYNC_RETRY_DEAD_LETTER_AFTER_SECONDS", "600", "greater than or equal to 840"),
        ("QBOSYNC_RECONCILE_OVERLAP_SECONDS", "-5", "greater than or equal to 0"),
        ("QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS", "0", "greater than or equal to 1"),
        ("QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS", "31", "less than or equal to 30"),
    ],
)
def test_given_a_bad_value_when_the_tuning_is_read_then_the_error_names_the_variable_and_the_bound(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    _configure(monkeypatch, {variable: value})

    with pytest.raises(ValidationError) as raised:
        get_sync_tuning()

    [error] = raised.value.errors()
    assert error["loc"] == (variable,)
    assert complaint in str(raised.value)


def test_given_a_max_delay_below_the_base_delay_when_the_tuning_is_read_then_both_variables_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(
        monkeypatch, {"QBOSYNC_RETRY_BASE_DELAY_SECONDS": "600", "QBOSYNC_RETRY_MAX_DELAY_SECONDS": "300"}
    )

    with pytest.raises(ValidationError) as raised:
        get_sync_tuning()

    message = str(raised.value)
    assert "QBOSYNC_RETRY_MAX_DELAY_SECONDS (300) must be at least" in message
    assert "QBOSYNC_RETRY_BASE_DELAY_SECONDS (600)" in message


def test_given_a_max_delay_equal_to_the_base_delay_when_the_tuning_is_read_then_it_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(
        monkeypatch, {"QBOSYNC_RETRY_BASE_DELAY_SECONDS": "600", "QBOSYNC_RETRY_MAX_DELAY_SECONDS": "600"}
    )

    assert get_sync_tuning().retry_max_delay == timedelta(minutes=10)


def test_given_configured_values_when_the_services_are_constructed_then_they_use_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(monkeypatch, ALL_CONFIGURED)

    keepalive, schedule, reconciler = _keepalive(), _retry_schedule(), _reconciler()

    assert (keepalive.idle_after, keepalive.expiry_warning) == (timedelta(days=3), timedelta(days=21))
    assert (schedule.base_delay, schedule.max_delay) == (timedelta(minutes=1), timedelta(hours=2))
    assert (schedule.max_attempts, schedule.dead_letter_after) == (4, timedelta(minutes=15))
    assert (reconciler.overlap, reconciler.cdc_max_lookback) == (timedelta(0), timedelta(days=30))


def test_given_no_environment_when_the_services_are_constructed_then_they_keep_the_former_defaults() -> None:
    keepalive, schedule, reconciler = _keepalive(), _retry_schedule(), _reconciler()

    assert (keepalive.idle_after, keepalive.expiry_warning) == (timedelta(days=7), timedelta(days=14))
    assert (schedule.base_delay, schedule.max_delay) == (timedelta(minutes=5), timedelta(hours=6))
    assert (schedule.max_attempts, schedule.dead_letter_after) == (8, timedelta(hours=1))
    assert (reconciler.overlap, reconciler.cdc_max_lookback) == (timedelta(minutes=5), timedelta(days=29))


def test_given_a_configured_base_delay_when_the_schedule_weighs_an_event_then_the_backoff_follows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(
        monkeypatch, {"QBOSYNC_RETRY_BASE_DELAY_SECONDS": "60", "QBOSYNC_RETRY_MAX_DELAY_SECONDS": "180"}
    )
    schedule = _retry_schedule()

    # 1 min, then 2 min, then capped at 3 min.
    assert schedule.due_in(_failed_event(1, timedelta(seconds=30))) == timedelta(seconds=30)
    assert schedule.due_in(_failed_event(2, timedelta(seconds=30))) == timedelta(seconds=90)
    assert schedule.due_in(_failed_event(5, timedelta(seconds=30))) == timedelta(seconds=150)


def test_given_explicit_arguments_when_the_services_are_constructed_then_they_win_over_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(monkeypatch, ALL_CONFIGURED)
    unused: Any = _Unused()

    keepalive = TokenKeepAlive(vault_for=unused, connections=unused, events=unused, idle_after=timedelta(1))
    schedule = EventRetrySchedule(events=unused, connections=unused, requeue=unused, max_attempts=2)

    assert keepalive.idle_after == timedelta(days=1)
    assert keepalive.expiry_warning == timedelta(days=21)
    assert (schedule.max_attempts, schedule.base_delay) == (2, timedelta(minutes=1))


def test_given_a_bad_value_when_a_service_is_constructed_then_construction_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(monkeypatch, {"QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS": "31"})

    with pytest.raises(ValidationError, match="QBOSYNC_RECONCILE_CDC_MAX_LOOKBACK_DAYS"):
        _reconciler()


def test_given_the_template_when_read_then_each_tuning_variable_has_the_models_default_and_bounds() -> None:
    model = load_template(TEMPLATE)
    resolver = IntrinsicResolver(model, LocalResourceMap(parameters={"Stage": "local"}))

    for name, info in SyncTuning.model_fields.items():
        variable = str(info.alias)
        for function_id in TUNING_FUNCTIONS:
            assert variable in model.functions[function_id].environment, (function_id, variable)
        reference = model.functions["ApiFunction"].environment[variable]
        assert isinstance(reference, Intrinsic) and reference.name == "Ref", variable
        parameter = model.parameters[reference.value]
        bounds = {type(rule).__name__: rule for rule in info.metadata}
        assert parameter["Type"] == "Number", variable
        assert parameter["Default"] == info.default, variable
        assert parameter["MinValue"] == bounds["Ge"].ge, variable
        assert parameter["MaxValue"] == bounds["Le"].le, variable
        assert resolver.resolve_str(reference) == str(info.default), name


def test_given_the_templates_local_values_when_the_tuning_is_read_then_it_equals_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = load_template(TEMPLATE)
    resolver = IntrinsicResolver(model, LocalResourceMap(parameters={"Stage": "local"}))
    environment = model.functions["ScheduledWorkerFunction"].environment
    _configure(monkeypatch, {variable: resolver.resolve_str(environment[variable]) for variable in VARIABLES})

    tuning = get_sync_tuning()

    assert {name: getattr(tuning, name) for name in SyncTuning.model_fields} == {
        name: info.default for name, info in SyncTuning.model_fields.items()
    }
