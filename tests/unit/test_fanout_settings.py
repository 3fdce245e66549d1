"""Fan-out and retention settings mirror template.yaml's parameters; the worker's lease is its timeout."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from local.template_model import Intrinsic, load_template
from qbosync.settings import EnvironmentSettings, Retention, ScheduleFanOut
from qbosync.sync.fanout import WORK_TIMEOUT, ScheduledJob, ScheduledWork, slot_of

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.mark.parametrize("settings_model", [ScheduleFanOut, Retention])
def test_given_the_template_when_read_then_each_variable_is_a_parameter_with_the_models_default_and_bounds(
    settings_model: type[EnvironmentSettings],
) -> None:
    model = load_template(TEMPLATE)

    for info in settings_model.model_fields.values():
        variable = str(info.alias)
        for function in model.functions.values():
            assert variable in function.environment, (function.logical_id, variable)
        reference = model.functions["ScheduledWorkerFunction"].environment[variable]
        assert isinstance(reference, Intrinsic) and reference.name == "Ref", variable
        parameter = model.parameters[reference.value]
        bounds = {type(rule).__name__: rule for rule in info.metadata}
        assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
            info.default,
            bounds["Ge"].ge,
            bounds["Le"].le,
        ), variable


def test_given_the_scheduled_worker_when_its_timeout_is_read_then_a_claims_lease_is_that_timeout() -> None:
    model = load_template(TEMPLATE)

    assert model.functions["ScheduledWorkerFunction"].timeout == WORK_TIMEOUT.total_seconds()


def test_given_a_schedule_firing_when_its_slot_is_named_then_it_is_the_utc_minute() -> None:
    fired = datetime(2026, 11, 22, 5, 0, 42, tzinfo=timezone(timedelta(hours=1)))

    assert slot_of(fired) == "20261122T0400"


def test_given_a_message_with_an_unknown_field_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        ScheduledWork.model_validate(
            {"job": ScheduledJob.RECONCILE, "tenant_id": "t1", "slot": "x", "all": True}
        )
