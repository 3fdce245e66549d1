"""The QBO sandbox's guard: per-realm rate, batch and concurrency limits, and injected faults."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse

from local.qbo_sandbox.app import Sandbox, build_app
from local.qbo_sandbox.config import SandboxConfig
from local.qbo_sandbox.guard import ConnectionDropped

BASE = "http://sandbox.test"
REDIRECT_URI = "https://app.example.test/oauth/callback"

pytestmark = pytest.mark.anyio

Scope = MutableMapping[str, Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RecordingApp:
    """Stands in for the accounting API: records what the guard let through, optionally holding it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.gate: asyncio.Event | None = None
        self.arrived = 0

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        self.arrived += 1
        if self.gate is not None:
            await self.gate.wait()
        self.seen.append(scope["path"])
        company = scope["qbo.company"]
        await JSONResponse({"realm_id": company.realm_id})(scope, receive, send)


class Harness:
    def __init__(self, **overrides: Any) -> None:
        config = SandboxConfig(redirect_uris=[REDIRECT_URI], auto_consent=True, **overrides)
        self.inner = RecordingApp()
        self.app: Starlette = build_app(config, accounting_app=self.inner)
        self.sandbox: Sandbox = self.app.state.sandbox
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)
        self.realm = next(iter(self.sandbox.companies))
        self.token = ""

    async def connect(self) -> None:
        config = self.sandbox.config
        consent = await self.http.get(
            "/connect/oauth2",
            params={
                "client_id": config.client_id,
                "response_type": "code",
                "scope": "com.intuit.quickbooks.accounting",
                "redirect_uri": REDIRECT_URI,
            },
        )
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        tokens = await self.http.post(
            "/oauth2/v1/tokens/bearer",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            auth=(config.client_id, config.client_secret),
        )
        self.token = tokens.json()["access_token"]

    async def get(self, resource: str = "companyinfo/1") -> httpx.Response:
        return await self.http.get(
            f"/v3/company/{self.realm}/{resource}", headers={"Authorization": f"Bearer {self.token}"}
        )

    async def batch(self) -> httpx.Response:
        return await self.http.post(
            f"/v3/company/{self.realm}/batch",
            json={"BatchItemRequest": []},
            headers={"Authorization": f"Bearer {self.token}"},
        )

    async def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = (await self.http.get("/_sandbox/stats")).json()
        return answer


async def _harness(**overrides: Any) -> Harness:
    harness = Harness(**overrides)
    await harness.connect()
    return harness


async def test_given_three_requests_per_window_when_the_fourth_arrives_then_429_throttle_exceeded() -> None:
    harness = await _harness(requests_per_window=3, rate_window_seconds=2)
    for _ in range(3):
        assert (await harness.get()).status_code == 200

    answer = await harness.get()

    assert answer.status_code == 429
    error = answer.json()["Fault"]["Error"][0]
    assert error["code"] == "3001"
    assert error["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    assert "retry-after" not in answer.headers


async def test_given_a_throttled_request_when_reading_stats_then_it_is_counted_for_the_realm() -> None:
    harness = await _harness(requests_per_window=1, rate_window_seconds=2)
    await harness.get()
    await harness.get()

    stats = await harness.stats()

    assert stats["throttled_total"] == 1
    assert stats["throttled_by_realm"] == {harness.realm: 1}
    assert stats["requests_by_realm"][harness.realm] == 2
    assert stats["requests_by_endpoint"]["GET companyinfo"] == 2


async def test_given_a_full_window_when_the_window_has_passed_then_requests_are_admitted_again() -> None:
    harness = await _harness(requests_per_window=1, rate_window_seconds=2)
    await harness.get()
    assert (await harness.get()).status_code == 429
    await harness.http.post("/_sandbox/clock", json={"advance_seconds": 2.5})

    answer = await harness.get()

    assert answer.status_code == 200


async def test_given_the_limit_on_one_realm_when_another_realm_calls_then_it_is_not_throttled() -> None:
    harness = await _harness(requests_per_window=1, rate_window_seconds=2)
    await harness.get()
    harness.realm = list(harness.sandbox.companies)[1]
    consent_for_b = await harness.http.get(
        "/connect/oauth2",
        params={
            "client_id": harness.sandbox.config.client_id,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT_URI,
            "realm_hint": harness.realm,
        },
    )
    code = parse_qs(urlsplit(consent_for_b.headers["location"]).query)["code"][0]
    tokens = await harness.http.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(harness.sandbox.config.client_id, harness.sandbox.config.client_secret),
    )
    harness.token = tokens.json()["access_token"]

    answer = await harness.get()

    assert answer.status_code == 200


async def test_given_two_batches_per_window_when_a_third_batch_arrives_then_429_while_reads_still_pass() -> (
    None
):
    harness = await _harness(batch_requests_per_window=2, rate_window_seconds=2)
    await harness.batch()
    await harness.batch()

    third = await harness.batch()
    read = await harness.get()

    assert third.status_code == 429
    assert read.status_code == 200
    assert (await harness.stats())["throttled_by_reason"] == {"batch_requests_per_window": 1}


async def test_given_batches_when_counting_the_request_window_then_batches_count_too() -> None:
    harness = await _harness(requests_per_window=2, rate_window_seconds=2)
    await harness.batch()
    await harness.get()

    answer = await harness.get()

    assert answer.status_code == 429


async def test_given_a_retry_after_setting_when_throttled_then_the_header_is_sent() -> None:
    harness = await _harness(requests_per_window=1, rate_window_seconds=2, retry_after_seconds=7)
    await harness.get()

    answer = await harness.get()

    assert answer.headers["retry-after"] == "7"


async def test_given_a_fixed_window_mode_when_the_window_boundary_passes_then_the_count_restarts() -> None:
    harness = await _harness(requests_per_window=1, rate_window_seconds=2, rate_window_mode="fixed")
    await harness.get()
    await harness.http.post("/_sandbox/clock", json={"advance_seconds": 2})

    answer = await harness.get()

    assert answer.status_code == 200


async def test_given_three_concurrent_slots_when_five_requests_overlap_then_two_get_429() -> None:
    harness = await _harness(max_concurrent=3)
    harness.inner.gate = asyncio.Event()
    calls = [asyncio.create_task(harness.get()) for _ in range(5)]
    with anyio.fail_after(5):
        while harness.inner.arrived < 3 or sum(call.done() for call in calls) < 2:
            await asyncio.sleep(0)
    harness.inner.gate.set()

    statuses = sorted([(await call).status_code for call in calls])

    assert statuses == [200, 200, 200, 429, 429]
    stats = await harness.stats()
    assert stats["peak_concurrency_by_realm"] == {harness.realm: 3}
    assert stats["throttled_by_reason"] == {"concurrency": 2}


async def test_given_finished_requests_when_more_arrive_then_their_concurrency_slots_were_released() -> None:
    harness = await _harness(max_concurrent=1)
    for _ in range(3):
        assert (await harness.get()).status_code == 200


async def test_given_error_rate_one_when_calling_then_a_system_fault_5xx_and_nothing_reaches_the_api() -> (
    None
):
    harness = await _harness()
    await harness.http.post("/_sandbox/faults", json={"error_rate": 1.0})

    answer = await harness.get()

    assert answer.status_code in (500, 503)
    assert answer.json()["Fault"]["type"] == "SystemFault"
    assert harness.inner.seen == []


async def test_given_force_401_next_two_when_calling_three_times_then_two_401s_then_success() -> None:
    harness = await _harness()
    await harness.http.post("/_sandbox/faults", json={"force_401_next": 2})

    statuses = [(await harness.get()).status_code for _ in range(3)]

    assert statuses == [401, 401, 200]


async def test_given_drop_after_commit_when_calling_then_the_write_happened_but_no_answer_came() -> None:
    harness = await _harness()
    await harness.http.post("/_sandbox/faults", json={"drop_after_commit_rate": 1.0})

    with pytest.raises(ConnectionDropped):
        await harness.get("customer")

    assert harness.inner.seen == [f"/v3/company/{harness.realm}/customer"]
    assert (await harness.stats())["faults_injected"] == {"drop_after_commit": 1}


async def test_given_invalid_fault_settings_when_posting_then_400_and_settings_unchanged() -> None:
    harness = await _harness()

    answer = await harness.http.post("/_sandbox/faults", json={"error_rate": 2, "unknown": True})

    assert answer.status_code == 400
    assert (await harness.http.get("/_sandbox/faults")).json()["error_rate"] == 0.0


async def test_given_a_non_json_body_when_posting_faults_then_400() -> None:
    harness = await _harness()

    answer = await harness.http.post("/_sandbox/faults", content=b"{not json")

    assert answer.status_code == 400


async def test_given_any_api_answer_when_it_is_sent_then_it_carries_an_intuit_tid() -> None:
    harness = await _harness(requests_per_window=1, rate_window_seconds=2)

    answers = [await harness.get(), await harness.get()]
    harness.token = "not-a-token"
    answers.append(await harness.get())

    assert [a.status_code for a in answers] == [200, 429, 401]
    assert all(a.headers.get("intuit_tid", "").startswith("1-") for a in answers)


async def test_given_stats_when_reset_then_counters_are_zero() -> None:
    harness = await _harness()
    await harness.get()

    answer = await harness.http.post("/_sandbox/stats/reset")

    assert answer.json()["requests_total"] == 0


@pytest.fixture
def served_app() -> Iterator[tuple[str, Starlette]]:
    """The real sandbox (real accounting API) on uvicorn in a thread, on a free loopback port."""
    app = build_app(SandboxConfig(redirect_uris=[REDIRECT_URI], auto_consent=True))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.01):
        if server.started:
            started.set()
        assert thread.is_alive(), "the sandbox server did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_given_drop_after_commit_on_a_real_server_when_creating_then_the_client_errors_and_the_record_exists(
    served_app: tuple[str, Starlette],
) -> None:
    base_url, app = served_app
    config = app.state.sandbox.config
    consent = httpx.get(
        base_url + "/connect/oauth2",
        params={
            "client_id": config.client_id,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT_URI,
        },
    )
    callback = parse_qs(urlsplit(consent.headers["location"]).query)
    tokens = httpx.post(
        base_url + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": REDIRECT_URI},
        auth=(config.client_id, config.client_secret),
    ).json()
    api = f"{base_url}/v3/company/{callback['realmId'][0]}"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    httpx.post(base_url + "/_sandbox/faults", json={"drop_after_commit_rate": 1.0})

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(api + "/customer", json={"DisplayName": "Dropped Answer"}, headers=bearer)

    httpx.post(base_url + "/_sandbox/faults", json={"drop_after_commit_rate": 0.0})
    found = httpx.get(
        api + "/query",
        params={"query": "select * from Customer where DisplayName = 'Dropped Answer'"},
        headers=bearer,
    )
    assert [c["DisplayName"] for c in found.json()["QueryResponse"]["Customer"]] == ["Dropped Answer"]


async def test_given_a_negative_clock_advance_when_posting_then_400_and_the_clock_stays() -> None:
    harness = Harness()

    answer = await harness.http.post("/_sandbox/clock", json={"advance_seconds": -5})

    assert answer.status_code == 400
    assert (await harness.http.get("/_sandbox/clock")).json()["offset_seconds"] == 0
