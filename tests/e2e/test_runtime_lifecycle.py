"""``python -m local.runtime`` stops everything it started when it gets SIGTERM."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.e2e.conftest import STOP_SECONDS, start_runtime, stop_runtime


def test_given_a_running_runtime_when_sent_sigterm_then_it_exits_cleanly_and_every_server_is_gone() -> None:
    process, running = start_runtime("--tenants", "solo")
    try:
        urls = [running.front_door_url, running.ready["qbo_sandbox_url"], running.ready["source_sandbox_url"]]
        assert httpx.get(f"{running.front_door_url}/no-route", timeout=10).status_code == 404
        assert running.tenant_ids() == ["solo"]
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(STOP_SECONDS)
    finally:
        stop_runtime(process)
    assert exit_code == 0
    for url in [*urls, running.aws_endpoint_url]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
