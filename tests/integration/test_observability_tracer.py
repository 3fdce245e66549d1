"""With X-Ray SDK tracing on, the tracer is built once, at the first run (the SDK opens a UDP socket)."""

from __future__ import annotations

from typing import Any

import pytest

from qbosync.observability import LazyTracer
from qbosync.settings import get_settings


def _handler(event: dict[str, Any], context: Any, **kwargs: Any) -> dict[str, Any]:
    return {"event": event, "kwargs": kwargs}


def test_given_tracing_on_when_a_handler_runs_twice_then_the_tracer_is_built_once_at_the_first_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    get_settings.cache_clear()
    tracer = LazyTracer("qbosync-test")
    traced = tracer.capture_lambda_handler(capture_response=False)(_handler)
    assert tracer.built is False

    first = traced({"n": 1}, None)
    built = tracer.tracer()
    second = traced({"n": 2}, None, service="fake")

    assert tracer.built is True
    assert tracer.tracer() is built
    assert first == {"event": {"n": 1}, "kwargs": {}}
    assert second == {"event": {"n": 2}, "kwargs": {"service": "fake"}}
