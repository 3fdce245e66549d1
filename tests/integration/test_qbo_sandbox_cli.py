"""`python -m local.qbo_sandbox` as a process: READY line, flags and config file, clean stop, snapshots."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIRECT_URI = "https://app.example.test/oauth/callback"


class RunningSandbox:
    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(how)
        return self.process.wait(timeout=15)


def _start(*flags: str) -> RunningSandbox:
    """Starts the sandbox and reads lines until READY (or the process ends, or 20 s pass)."""
    process = subprocess.Popen(  # noqa: S603 (our own module, run with this interpreter)
        [sys.executable, "-m", "local.qbo_sandbox", "--port", "0", *flags],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("READY "):
            return RunningSandbox(process, json.loads(line[len("READY ") :]))
    process.kill()
    _, stderr = process.communicate(timeout=10)
    raise AssertionError(f"the sandbox did not become ready: {stderr}")


def _run_until_exit(*flags: str) -> subprocess.CompletedProcess[str]:
    """Runs the sandbox expecting it to refuse to start; a hang fails the test after 30 s."""
    return subprocess.run(  # noqa: S603 (our own module, run with this interpreter)
        [sys.executable, "-m", "local.qbo_sandbox", "--port", "0", *flags],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def started() -> Iterator[list[RunningSandbox]]:
    """Collects the sandboxes a test starts and makes sure none outlives it."""
    running: list[RunningSandbox] = []
    yield running
    for sandbox in running:
        if sandbox.process.poll() is None:
            sandbox.process.kill()
            sandbox.process.wait(timeout=10)


def test_given_port_zero_when_started_then_ready_names_a_live_discovery_document(
    started: list[RunningSandbox],
) -> None:
    sandbox = _start()
    started.append(sandbox)

    document = httpx.get(sandbox.info["discovery_url"], timeout=10).json()

    assert sandbox.info["base_url"].startswith("http://127.0.0.1:")
    assert document["token_endpoint"] == sandbox.info["base_url"] + "/oauth2/v1/tokens/bearer"
    assert len(sandbox.info["realms"]) == 2
    assert sandbox.info["client_id"]


def test_given_a_running_sandbox_when_sent_sigterm_then_it_exits_cleanly(
    started: list[RunningSandbox],
) -> None:
    sandbox = _start()
    started.append(sandbox)

    assert sandbox.stop(signal.SIGTERM) == 0


def test_given_a_running_sandbox_when_sent_sigint_then_it_exits_cleanly(
    started: list[RunningSandbox],
) -> None:
    sandbox = _start()
    started.append(sandbox)

    assert sandbox.stop(signal.SIGINT) == 0


def test_given_a_config_file_and_a_flag_when_started_then_the_flag_wins_and_the_file_fills_the_rest(
    tmp_path: Path, started: list[RunningSandbox]
) -> None:
    config_file = tmp_path / "sandbox.json"
    config_file.write_text(
        json.dumps({"client_id": "from-file", "webhook_format": "cloudevents", "realm_count": 3})
    )

    sandbox = _start("--config", str(config_file), "--client-id", "from-flag")
    started.append(sandbox)

    assert sandbox.info["client_id"] == "from-flag"
    assert sandbox.info["webhook_format"] == "cloudevents"
    assert len(sandbox.info["realms"]) == 3


def test_given_an_invalid_setting_when_started_then_it_exits_with_2_and_says_why() -> None:
    completed = _run_until_exit("--fault-error-rate", "3")

    assert completed.returncode == 2
    assert "error_rate" in completed.stderr
    assert "READY" not in completed.stdout


def _connect(base_url: str, client_id: str, client_secret: str) -> dict[str, Any]:
    consent = httpx.get(
        base_url + "/connect/oauth2",
        params={
            "client_id": client_id,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT_URI,
        },
        timeout=10,
    )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    tokens: dict[str, Any] = httpx.post(
        base_url + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(client_id, client_secret),
        timeout=10,
    ).json()
    return tokens


def test_given_a_snapshot_file_when_restarted_then_companies_and_tokens_survive(
    tmp_path: Path, started: list[RunningSandbox]
) -> None:
    flags = ("--snapshot", str(tmp_path / "state.json"), "--auto-consent", "--redirect-uri", REDIRECT_URI)
    flags += ("--client-id", "snap-client", "--client-secret", "snap-secret", "--seed", "7")
    first = _start(*flags)
    started.append(first)
    tokens = _connect(first.info["base_url"], "snap-client", "snap-secret")
    assert first.stop() == 0

    second = _start(*flags)
    started.append(second)
    refreshed = httpx.post(
        second.info["base_url"] + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("snap-client", "snap-secret"),
        timeout=10,
    )

    assert second.info["realms"] == first.info["realms"]
    assert refreshed.status_code == 200


def test_given_a_corrupt_snapshot_file_when_started_then_it_exits_with_2_and_says_why(tmp_path: Path) -> None:
    snapshot = tmp_path / "state.json"
    snapshot.write_text("{not json")

    completed = _run_until_exit("--snapshot", str(snapshot))

    assert completed.returncode == 2
    assert "cannot start" in completed.stderr
