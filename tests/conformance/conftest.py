"""Conformance fixtures: the sandbox processes of the session, connected clients, fault reset.

Every sandbox the suite needs is launched at once when the session first needs one, so their start-up
overlaps; each fixture then waits (bounded) for its own READY line. The helpers behind them (process
start, OAuth dance, client wiring, webhook receiver) live in `harness.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from tests.conformance.harness import (
    SandboxLaunch,
    SandboxProcess,
    WebhookReceiver,
    connect,
    quickbooks_client,
    receiving,
    set_faults,
    webhook_args,
)

THROTTLE_REQUESTS_PER_WINDOW = 3


@pytest.fixture(scope="session", autouse=True)
def _plain_http_on_loopback() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        yield


@pytest.fixture(scope="session")
def _receivers() -> Iterator[dict[str, tuple[str, WebhookReceiver]]]:
    """Two webhook endpoints on loopback: one for the legacy format, one for CloudEvents."""
    with receiving() as legacy, receiving() as cloudevents:
        yield {"legacy": legacy, "cloudevents": cloudevents}


@pytest.fixture(scope="session")
def _launches(
    _plain_http_on_loopback: None, _receivers: dict[str, tuple[str, WebhookReceiver]]
) -> Iterator[dict[str, SandboxLaunch]]:
    configurations = {
        # A 5 s window keeps the whole suite inside QBO's per-realm limits (500 requests, 40 batches).
        "main": ("--rate-window-seconds", "5"),
        # 3 API requests an hour per realm, for the 429 tests (refused requests do not count).
        "throttled": (
            "--requests-per-window",
            str(THROTTLE_REQUESTS_PER_WINDOW),
            "--rate-window-seconds",
            "3600",
        ),
        # One request at a time per realm; the token-lifetime tests also move its clock forward.
        "spare": ("--max-concurrent", "1"),
        "legacy": tuple(webhook_args(_receivers["legacy"][0], "legacy")),
        "cloudevents": tuple(webhook_args(_receivers["cloudevents"][0], "cloudevents")),
        # Companies with multi-currency and Automated Sales Tax switched on (issue 20).
        "money": ("--rate-window-seconds", "5", "--multi-currency", "--automated-sales-tax"),
    }
    launches: dict[str, SandboxLaunch] = {}
    try:
        for name, arguments in configurations.items():
            launches[name] = SandboxLaunch(*arguments)
        yield launches
    finally:
        for launch in launches.values():  # shut them all down side by side, then reap each
            launch.terminate()
        for launch in launches.values():
            launch.stop()


@pytest.fixture(scope="session")
def sandbox(_launches: dict[str, SandboxLaunch]) -> SandboxProcess:
    return _launches["main"].wait_ready()


@pytest.fixture(scope="session")
def throttled_sandbox(_launches: dict[str, SandboxLaunch]) -> SandboxProcess:
    return _launches["throttled"].wait_ready()


@pytest.fixture(scope="session")
def one_at_a_time_sandbox(_launches: dict[str, SandboxLaunch]) -> SandboxProcess:
    return _launches["spare"].wait_ready()


@pytest.fixture(scope="session")
def webhook_endpoint(
    _launches: dict[str, SandboxLaunch], _receivers: dict[str, tuple[str, WebhookReceiver]]
) -> tuple[SandboxProcess, WebhookReceiver]:
    """A sandbox posting legacy webhooks (no batch window, fast retries) and the receiver it posts to."""
    return _launches["legacy"].wait_ready(), _receivers["legacy"][1]


@pytest.fixture(scope="session")
def cloudevents_endpoint(
    _launches: dict[str, SandboxLaunch], _receivers: dict[str, tuple[str, WebhookReceiver]]
) -> tuple[SandboxProcess, WebhookReceiver]:
    return _launches["cloudevents"].wait_ready(), _receivers["cloudevents"][1]


@pytest.fixture(scope="session")
def realm_a(sandbox: SandboxProcess) -> str:
    return sandbox.realms[0]


@pytest.fixture(scope="session")
def realm_b(sandbox: SandboxProcess) -> str:
    assert len(sandbox.realms) >= 2, f"the sandbox seeds two companies by default; READY: {sandbox.realms}"
    return sandbox.realms[1]


@pytest.fixture(scope="session")
def auth_a(sandbox: SandboxProcess, realm_a: str) -> AuthClient:
    """A connection to realm A shared by the tests that neither refresh nor revoke it."""
    auth_client = connect(sandbox)
    assert auth_client.realm_id == realm_a, "auto-consent should pick the first seeded company"
    return auth_client


@pytest.fixture(scope="session")
def qb(sandbox: SandboxProcess, auth_a: AuthClient) -> QuickBooks:
    return quickbooks_client(sandbox, auth_a)


@pytest.fixture
def faults(sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    """For tests that inject faults: whatever they set is cleared afterwards."""
    yield sandbox
    set_faults(sandbox, error_rate=0.0, drop_after_commit_rate=0.0, force_401_next=0, latency_ms=0)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def exhausted(throttled_sandbox: SandboxProcess) -> tuple[SandboxProcess, AuthClient]:
    """A connection to a realm of `throttled_sandbox` whose request window is used up."""
    auth_client = connect(throttled_sandbox)
    url = throttled_sandbox.api(str(auth_client.realm_id), "companyinfo/" + str(auth_client.realm_id))
    headers = {"Authorization": f"Bearer {auth_client.access_token}", "Accept": "application/json"}
    statuses = [httpx.get(url, headers=headers, timeout=10).status_code]
    for _ in range(THROTTLE_REQUESTS_PER_WINDOW):
        if statuses[-1] == 429:
            break
        statuses.append(httpx.get(url, headers=headers, timeout=10).status_code)
    assert statuses[-1] == 429, (
        f"after {THROTTLE_REQUESTS_PER_WINDOW} requests in the window the next must be 429; got {statuses}"
    )
    return throttled_sandbox, auth_client


@pytest.fixture(scope="session")
def money_sandbox(_launches: dict[str, SandboxLaunch]) -> SandboxProcess:
    """A sandbox whose companies have multi-currency and Automated Sales Tax on (home currency USD)."""
    return _launches["money"].wait_ready()


@pytest.fixture(scope="session")
def money_qb(money_sandbox: SandboxProcess) -> QuickBooks:
    return quickbooks_client(money_sandbox, connect(money_sandbox))
