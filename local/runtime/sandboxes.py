"""The QBO and source sandboxes as child processes, each announcing itself with a ``READY {json}`` line.

They run as subprocesses rather than in this process: each has its own event loop, threads and
module-level state, they must not see the handlers' environment (which points boto3 at moto), and a
crash or a slow request in a sandbox cannot stall the front door. Their output is relayed to this
process's log.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger("local.runtime.sandboxes")


class SandboxFailed(RuntimeError):
    """A sandbox did not announce READY in time, or exited."""


@dataclass
class SandboxProcess:
    """One sandbox child: ``start()`` returns its READY document."""

    name: str
    module: str
    arguments: list[str]
    repo_root: Path
    startup_timeout: float = 30.0
    ready: dict[str, Any] = field(default_factory=dict)
    _process: subprocess.Popen[str] | None = None
    _relay: threading.Thread | None = None
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start(self) -> dict[str, Any]:
        self.launch()
        return self.wait_ready()

    def launch(self) -> None:
        """Start the child; ``wait_ready()`` then reads its READY line (so several can start at once)."""
        environment = dict(os.environ)
        paths = [str(self.repo_root / "layers" / "common"), str(self.repo_root)]
        if environment.get("PYTHONPATH"):
            paths.append(environment["PYTHONPATH"])
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        environment["PYTHONUNBUFFERED"] = "1"
        for inherited in ("AWS_ENDPOINT_URL", "MOTO_PORT"):
            environment.pop(inherited, None)
        command = [sys.executable, "-m", self.module, *self.arguments]
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            cwd=self.repo_root,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._lines = queue.Queue()
        self._relay = threading.Thread(
            target=self._relay_output, args=(self._lines,), name=f"{self.name}-output", daemon=True
        )
        self._relay.start()

    def wait_ready(self) -> dict[str, Any]:
        """The READY document, within ``startup_timeout``; a sandbox that fails is stopped and reported."""
        assert self._process is not None, "launch() first"
        lines = self._lines
        deadline = time.monotonic() + self.startup_timeout
        recent: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise SandboxFailed(
                    f"{self.name} did not print READY within {self.startup_timeout:.0f} s: {recent[-5:]}"
                )
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait()
                raise SandboxFailed(f"{self.name} exited with {code} before READY: {recent[-10:]}")
            if line.startswith("READY "):
                self.ready = json.loads(line[len("READY ") :])
                return self.ready
            recent.append(line)

    def _relay_output(self, lines: queue.Queue[str | None]) -> None:
        assert self._process is not None and self._process.stdout is not None
        announced = False
        for raw in self._process.stdout:
            line = raw.rstrip("\n")
            if not announced:
                lines.put(line)
                announced = line.startswith("READY ")
            if line.startswith("READY "):
                LOGGER.info("[%s] ready (its READY line carries credentials, so it is not logged)", self.name)
            else:
                LOGGER.info("[%s] %s", self.name, line)
        lines.put(None)

    def request_stop(self) -> None:
        """Send SIGTERM (the sandbox saves its snapshot and exits); ``stop()`` then waits."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()

    def stop(self, timeout: float = 10.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
