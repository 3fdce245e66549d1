"""The contract kit as a vendor runs it: ``python -m qbosync.source.kit`` and the pytest plugin, over
loopback against the source sandbox process, with webhooks sent to the kit's own receiver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.test_source_sandbox_process import REPO, sandbox_process

KIT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "common"), str(REPO)])}


@contextmanager
def sandbox_sending_webhooks_to(port: int, *extra: str) -> Iterator[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/webhooks/source/{{tenant_id}}"
    with sandbox_process("--customers", "20", "--invoices", "6", "--webhook-url", url, *extra) as ready:
        yield ready


def run(*arguments: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, *arguments],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=KIT_SECONDS,
        check=False,
    )


def kit_arguments(ready: dict[str, Any], port: int) -> list[str]:
    tenant = ready["tenants"][0]
    return [
        "--base-url",
        ready["base_url"],
        "--tenant",
        tenant["id"],
        "--api-key",
        tenant["api_key"],
        "--webhook-secret",
        tenant["webhook_secret"],
        "--listen",
        f"127.0.0.1:{port}",
        "--webhook-grace",
        "0.5",
    ]


def test_given_the_sandbox_process_when_the_kit_cli_runs_then_it_passes_and_exits_zero() -> None:
    port = free_port()
    with sandbox_sending_webhooks_to(port) as ready:
        result = run("-m", "qbosync.source.kit", *kit_arguments(ready, port))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS webhook.signature" in result.stdout
    assert "0 failed" in result.stdout


def test_given_a_sandbox_breaking_void_idempotency_when_the_kit_cli_runs_then_it_fails_that_rule() -> None:
    port = free_port()
    with sandbox_sending_webhooks_to(port, "--break", "void.idempotent") as ready:
        result = run("-m", "qbosync.source.kit", *kit_arguments(ready, port))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL void.idempotent" in result.stdout
    assert "1 failed" in result.stdout


def test_given_the_sandbox_process_when_the_pytest_plugin_runs_then_one_test_per_rule_passes(
    tmp_path: Path,
) -> None:
    port = free_port()
    with sandbox_sending_webhooks_to(port) as ready:
        tenant = ready["tenants"][0]
        result = run(
            "-m",
            "pytest",
            "-q",
            "-p",
            "qbosync.source.kit.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--pyargs",
            "qbosync.source.kit.contract_suite",
            "--source-base-url",
            ready["base_url"],
            "--source-tenant",
            tenant["id"],
            "--source-api-key",
            tenant["api_key"],
            "--source-webhook-secret",
            tenant["webhook_secret"],
            "--source-listen",
            f"127.0.0.1:{port}",
            cwd=tmp_path,  # a vendor's checkout: none of this repository's conftest or settings
        )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "21 passed, 1 skipped" in result.stdout  # key retention waits for a journal a day old
