"""E2E fixtures: one local runtime per session, started as ``python -m local.runtime`` and driven over HTTP.

The runtime is a child process, so the tests see exactly what a user of ``make up`` sees. Start-up is
bounded (READY within ``STARTUP_SECONDS`` or the session fails with the runtime's last output), and the
runtime is always stopped (SIGTERM, then SIGKILL) however the session ends.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0


@dataclass
class RunningRuntime:
    """The READY document of the runtime under test, and the output it has written so far."""

    ready: dict[str, Any]
    output: list[str] = field(default_factory=list)

    @property
    def front_door_url(self) -> str:
        return str(self.ready["front_door_url"])

    @property
    def aws_endpoint_url(self) -> str:
        return str(self.ready["aws_endpoint_url"])

    def tenant_ids(self) -> list[str]:
        return [tenant["id"] for tenant in self.ready["tenants"]]

    def admin_token(self, tenant_id: str) -> str:
        for tenant in self.ready["tenants"]:
            if tenant["id"] == tenant_id:
                return str(tenant["admin_token"])
        raise KeyError(tenant_id)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.front_door_url, timeout=20, follow_redirects=False)


def _drain(stream: Any, lines: queue.Queue[str | None], output: list[str]) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        output.append(line)
        lines.put(line)
    lines.put(None)


def stop_runtime(process: subprocess.Popen[str]) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it does not end in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_SECONDS)


def start_runtime(*arguments: str) -> tuple[subprocess.Popen[str], RunningRuntime]:
    """``python -m local.runtime`` with ``arguments``, once it has printed READY (bounded wait).

    The caller must ``stop_runtime`` the process; on a failed start it is stopped here.
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "layers" / "common"), str(REPO_ROOT)])
    environment["PYTHONUNBUFFERED"] = "1"
    for name in ("AWS_ENDPOINT_URL", "MOTO_PORT"):
        environment.pop(name, None)
    environment.setdefault("AWS_ACCESS_KEY_ID", "testing")
    environment.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.runtime", "--host", "127.0.0.1", "--port", "0", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    output: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_drain, args=(process.stdout, lines, output), daemon=True).start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no READY within {STARTUP_SECONDS:.0f} s:\n" + "\n".join(output[-30:]))
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(
                    f"the runtime exited with {process.wait()} before READY:\n" + "\n".join(output[-30:])
                )
            if line.startswith("READY "):
                return process, RunningRuntime(json.loads(line[len("READY ") :]), output)
    except BaseException:
        stop_runtime(process)
        raise


@pytest.fixture(scope="session")
def runtime() -> Iterator[RunningRuntime]:
    process, running = start_runtime("--schedule-speedup", "60")
    try:
        yield running
    finally:
        stop_runtime(process)
