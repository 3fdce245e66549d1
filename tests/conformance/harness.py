"""The conformance harness: start the QBO sandbox as a process and connect the unmodified clients to it.

Each sandbox is a process (`python -m local.qbo_sandbox`) launched with `SandboxLaunch`; its
`READY {json}` line is read within a bounded wait, and the process is terminated at the end
(`running_sandbox(...)` does all three for one sandbox).

Isolation between tests comes from unique names (`unique_name`) rather than a reset: the sandbox keeps
one state per process, and every test creates the records it looks at.

The clients are used as shipped:
- `intuitlib.client.AuthClient` gets the sandbox's discovery URL as its `environment`, which intuitlib
  accepts as a custom discovery document (`intuitlib.utils.get_discovery_doc`).
- `quickbooks.QuickBooks` is pointed at the sandbox only through its `api_url_v3` attribute; an
  environment that is not the string "sandbox" selects that attribute in `QuickBooks.api_url`.
- requests-oauthlib refuses plain http unless `OAUTHLIB_INSECURE_TRANSPORT` is set; loopback has no TLS,
  so the session sets it (the only environment change the clients need).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "ABconformanceClientId000000000000000000000000000"
CLIENT_SECRET = "conformance-client-secret-0000000000"
REDIRECT_URI = "http://127.0.0.1:9/callback"
SEED = "7"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
MINOR_VERSION = 75
WEBHOOK_VERIFIER_TOKEN = "conformance-verifier-token"
DELIVERY_WAIT_SECONDS = 15.0


@dataclass
class SandboxProcess:
    """One running sandbox: what its READY line said, plus the credentials it was started with."""

    info: dict[str, Any]
    process: subprocess.Popen[str]
    output: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    redirect_uri: str = REDIRECT_URI

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"]).rstrip("/")

    @property
    def discovery_url(self) -> str:
        return str(self.info["discovery_url"])

    @property
    def realms(self) -> list[str]:
        return [str(realm) for realm in self.info["realms"]]

    def api(self, realm_id: str, path: str) -> str:
        """URL of an accounting API path, e.g. api(realm, "customer/1")."""
        return f"{self.base_url}/v3/company/{realm_id}/{path.lstrip('/')}"

    def control(self, path: str) -> str:
        return f"{self.base_url}/_sandbox/{path.lstrip('/')}"

    def recent_output(self) -> str:
        return "\n".join(self.output)


def _pump(stream: Any, sink: deque[str], ready: queue.Queue[str] | None) -> None:
    """Drain a child pipe so it never blocks; hand the first READY line to `ready`."""
    for line in iter(stream.readline, ""):
        text = line.rstrip("\n")
        sink.append(text)
        if ready is not None and text.startswith("READY "):
            ready.put(text)
            ready = None
    stream.close()


class SandboxLaunch:
    """A sandbox process started now and waited for later, so several can start side by side."""

    def __init__(self, *extra_args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), str(REPO_ROOT / "layers" / "common"), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        env["PYTHONUNBUFFERED"] = "1"
        args = [
            sys.executable,
            "-m",
            "local.qbo_sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--auto-consent",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--redirect-uri",
            REDIRECT_URI,
            "--seed",
            SEED,
            *extra_args,
        ]
        self.process = subprocess.Popen(  # noqa: S603 (fixed argv: this interpreter running the sandbox)
            args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output: deque[str] = deque(maxlen=200)
        self._ready: queue.Queue[str] = queue.Queue()
        self._started: SandboxProcess | None = None
        self._pumps = [
            threading.Thread(target=_pump, args=(self.process.stdout, self.output, self._ready), daemon=True),
            threading.Thread(target=_pump, args=(self.process.stderr, self.output, None), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def wait_ready(self) -> SandboxProcess:
        """The running sandbox once it printed READY (bounded wait); a test failure otherwise."""
        if self._started is None:
            line = self._ready_line()
            info = json.loads(line.removeprefix("READY "))
            missing = {"base_url", "discovery_url", "realms", "client_id"} - set(info)
            assert not missing, f"the READY line lacks {sorted(missing)}: {line}"
            self._started = SandboxProcess(info=info, process=self.process, output=self.output)
        return self._started

    def _ready_line(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                return self._ready.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self._ready.empty():
                    break
        self.stop()
        pytest.fail(
            f"the sandbox printed no READY line within {READY_TIMEOUT_SECONDS:.0f} s "
            f"(exit code {self.process.returncode}); its output:\n" + "\n".join(self.output)
        )

    def terminate(self) -> None:
        """Ask this launch's own process to shut down (SIGTERM) without waiting for it."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time; only this launch's own process."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        for pump in self._pumps:
            pump.join(timeout=STOP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def running_sandbox(*extra_args: str) -> Iterator[SandboxProcess]:
    """Start `python -m local.qbo_sandbox` on an ephemeral loopback port; stop it on exit."""
    launch = SandboxLaunch(*extra_args)
    try:
        yield launch.wait_ready()
    finally:
        launch.stop()


def unique_name(prefix: str) -> str:
    """A name no other test uses (QBO names are unique per company, so tests never collide)."""
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def authorize(sandbox: SandboxProcess, auth_client: AuthClient) -> dict[str, str]:
    """Follow intuitlib's authorization URL with a browser-like GET; return the callback's parameters.

    With --auto-consent the sandbox consents for its first company at once, as a user clicking
    "Connect" on Intuit's consent page would.
    """
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING])
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), (
        f"auto-consent should redirect to the app's redirect_uri; the sandbox answered "
        f"{answer.status_code}: {answer.text[:300]}"
    )
    location = answer.headers["location"]
    assert location.startswith(sandbox.redirect_uri + "?"), f"redirected to {location}, not the redirect_uri"
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def new_auth_client(sandbox: SandboxProcess, client_secret: str | None = None) -> AuthClient:
    return AuthClient(
        sandbox.client_id,
        client_secret or sandbox.client_secret,
        sandbox.redirect_uri,
        environment=sandbox.discovery_url,
    )


def connect(sandbox: SandboxProcess) -> AuthClient:
    """The whole OAuth dance with intuitlib: an AuthClient holding live tokens for the first realm."""
    auth_client = new_auth_client(sandbox)
    callback = authorize(sandbox, auth_client)
    auth_client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    return auth_client


def quickbooks_client(
    sandbox: SandboxProcess, auth_client: AuthClient, company_id: str | None = None, **options: Any
) -> QuickBooks:
    """python-quickbooks' client, pointed at the sandbox through its base-URL attribute only."""
    client = QuickBooks(
        auth_client=auth_client,
        refresh_token=auth_client.refresh_token,
        company_id=company_id or auth_client.realm_id,
        minorversion=MINOR_VERSION,
        **options,
    )
    client.api_url_v3 = f"{sandbox.base_url}/v3"
    assert client.api_url == client.api_url_v3, "python-quickbooks did not pick the overridden base URL"
    return client


def set_faults(sandbox: SandboxProcess, **settings: Any) -> dict[str, Any]:
    answer = httpx.post(sandbox.control("faults"), json=settings, timeout=10)
    assert answer.status_code == 200, f"/_sandbox/faults refused {settings}: {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def bearer(auth_client: AuthClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth_client.access_token}", "Accept": "application/json"}


# ---------------------------------------------------------------- webhook receiver


class WebhookReceiver:
    """A webhook endpoint on loopback: records each POST's raw body and headers; can fail the next N."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        self.fail_next = 0
        self.changed = threading.Condition()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        with self.changed:
            status = 500 if self.fail_next > 0 else 200
            self.fail_next = max(0, self.fail_next - 1)
            self.deliveries.append((headers, body, status))
            self.changed.notify_all()
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"try again"})

    def wait_for(
        self, entity: str, entity_id: str, operation: str, copies: int = 1
    ) -> list[tuple[dict[str, str], bytes, int]]:
        """Deliveries naming this change, once `copies` of them arrived (bounded wait, no sleep)."""

        def matching() -> list[tuple[dict[str, str], bytes, int]]:
            return [d for d in self.deliveries if names_change(d[1], entity, entity_id, operation)]

        with self.changed:
            arrived = self.changed.wait_for(lambda: len(matching()) >= copies, timeout=DELIVERY_WAIT_SECONDS)
            found = matching()
        assert arrived, (
            f"expected {copies} webhook POST(s) for {entity} {entity_id} {operation} within "
            f"{DELIVERY_WAIT_SECONDS:.0f} s; received {[d[1][:300] for d in self.deliveries]}"
        )
        return found


_CLOUD_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Merge": "merged"}


def names_change(body: bytes, entity: str, entity_id: str, operation: str) -> bool:
    """Whether a webhook body (legacy eventNotifications or a CloudEvents array) reports this change."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if isinstance(payload, list):
        wanted_type = f"qbo.{entity.lower()}.{_CLOUD_VERBS.get(operation, operation.lower())}.v1"
        return any(
            isinstance(event, dict)
            and (event.get("type"), event.get("intuitentityid")) == (wanted_type, entity_id)
            for event in payload
        )
    notifications = payload.get("eventNotifications", []) if isinstance(payload, dict) else []
    return any(
        (event.get("name"), event.get("id"), event.get("operation")) == (entity, entity_id, operation)
        for notification in notifications
        for event in notification.get("dataChangeEvent", {}).get("entities", [])
    )


@contextlib.contextmanager
def receiving() -> Iterator[tuple[str, WebhookReceiver]]:
    """A `WebhookReceiver` served by uvicorn on a loopback port of its own, in a thread."""
    app = WebhookReceiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/qbo", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def webhook_args(url: str, webhook_format: str) -> list[str]:
    # Batch window 0 and retry delays compressed 1000x (10 s -> 10 ms) keep these tests fast.
    return [
        "--webhook-url",
        url,
        "--verifier-token",
        WEBHOOK_VERIFIER_TOKEN,
        "--webhook-format",
        webhook_format,
        "--webhook-batch-seconds",
        "0",
        "--webhook-retry-compression",
        "0.001",
    ]
