"""The tracer is built at a handler's first traced invocation, never at import, and not at all when off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qbosync.observability import LazyTracer
from qbosync.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


def _loaded_after_import(handler: str) -> set[str]:
    """The modules a fresh interpreter holds after importing one handler as Lambda would."""
    script = (
        "import json, sys; sys.path[0:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [
            sys.executable,
            "-I",
            "-c",
            script,
            str(ROOT / "functions" / handler),
            str(ROOT / "layers" / "common"),
        ],
        env={"AWS_LAMBDA_FUNCTION_NAME": f"qbosync-{handler}", "AWS_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize("handler", HANDLERS)
def test_given_a_handler_when_imported_then_neither_xray_nor_its_service_is_loaded(handler: str) -> None:
    loaded = _loaded_after_import(handler)

    assert "qbosync.observability" in loaded
    assert not [name for name in loaded if name.startswith("aws_xray_sdk")]
    assert not [name for name in loaded if name.startswith(("qbosync.sync", "qbosync.api.", "qbosync.qbo"))]


def _handler(event: dict[str, Any], context: Any, **kwargs: Any) -> dict[str, Any]:
    return {"event": event, "kwargs": kwargs}


def test_given_tracing_switched_off_when_a_handler_runs_then_no_tracer_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    get_settings.cache_clear()
    tracer = LazyTracer("qbosync-test")
    traced = tracer.capture_lambda_handler(capture_response=False)(_handler)

    reply = traced({"a": 1}, None, service="fake")

    assert reply == {"event": {"a": 1}, "kwargs": {"service": "fake"}}
    assert tracer.built is False
