"""The source sandbox as a process on loopback: READY handshake, reads, and signed webhooks."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qbosync.source.models import SourceWebhook
from qbosync.source.signing import verify

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0


@contextmanager
def sandbox_process(*arguments: str) -> Iterator[dict[str, Any]]:
    """Start ``python -m local.source_sandbox`` and yield its READY document; stop it afterwards."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "common"), str(REPO)])}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.source_sandbox", "--host", "127.0.0.1", "--port", "0", *arguments],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        first = lines.get(timeout=STARTUP_SECONDS)
        assert first.startswith("READY "), first
        yield json.loads(first.removeprefix("READY "))
    finally:
        process.terminate()
        process.wait(timeout=10)


class Receiver:
    """A tiny qbosync stand-in on loopback that records every webhook it is sent."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()

        async def receive(request: Request) -> Response:
            body = await request.body()
            self.received.put((request.path_params["tenant_id"], dict(request.headers), body))
            return JSONResponse({"accepted": True}, status_code=202)

        self.app = Starlette(routes=[Route("/webhooks/source/{tenant_id}", receive, methods=["POST"])])

    def next(self) -> tuple[str, dict[str, str], bytes]:
        return self.received.get(timeout=15)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    target = Receiver()
    server = uvicorn.Server(uvicorn.Config(target.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    yield target, f"http://127.0.0.1:{port}/webhooks/source/{{tenant_id}}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


def test_given_port_zero_when_started_then_it_prints_ready_and_serves_the_contract() -> None:
    with sandbox_process("--customers", "120", "--products", "30", "--tenant", "acme") as ready:
        response = httpx.get(
            f"{ready['base_url']}/tenants/acme/customers",
            params={"limit": 500},
            headers={"Authorization": f"Bearer {ready['api_key']}"},
        )

    assert [t["id"] for t in ready["tenants"]] == ["acme"]
    assert response.status_code == 200
    assert len(response.json()["items"]) == 120


def test_given_a_webhook_url_when_an_invoice_is_voided_then_a_signed_webhook_arrives_and_verifies(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    with sandbox_process(
        "--tenant", "acme", "--webhook-url", url, "--webhook-secret", "whsec_integration"
    ) as ready:
        voided = httpx.post(f"{ready['base_url']}/_sandbox/tenants/acme/invoices/inv_000001/void").json()
        tenant_id, headers, body = target.next()

    verify(
        "whsec_integration",
        headers["x-source-timestamp"],
        headers["x-source-signature"],
        body,
        now=time.time(),
    )
    event = SourceWebhook.model_validate_json(body)
    assert tenant_id == "acme"
    assert event.type == "invoice.voided"
    assert (event.object.id, event.object.version) == ("inv_000001", voided["version"])


def test_given_two_copies_per_event_when_a_customer_changes_then_the_same_event_arrives_twice(
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    with sandbox_process("--tenant", "acme", "--webhook-url", url, "--webhook-copies", "2") as ready:
        httpx.put(
            f"{ready['base_url']}/_sandbox/tenants/acme/customers/cus_000001", json={"phone": "+1-555-9999"}
        ).raise_for_status()
        first, second = target.next(), target.next()

    assert json.loads(first[2])["event_id"] == json.loads(second[2])["event_id"]


def test_given_a_snapshot_file_when_the_process_restarts_then_changes_survive(tmp_path: Path) -> None:
    snapshot = str(tmp_path / "source-state.json")
    with sandbox_process("--tenant", "acme", "--snapshot", snapshot) as ready:
        httpx.delete(f"{ready['base_url']}/_sandbox/tenants/acme/products/prd_000004").raise_for_status()

    with sandbox_process("--tenant", "acme", "--snapshot", snapshot) as ready:
        product = httpx.get(
            f"{ready['base_url']}/tenants/acme/products/prd_000004",
            headers={"Authorization": f"Bearer {ready['api_key']}"},
        ).json()

    assert product["deleted"] is True
    assert product["version"] == 2
