"""Token refresh against the QBO sandbox's Intuit emulation: one refresh for many callers, and a dead
refresh token ends in ``needs_reauth`` instead of a retry loop.

Each thread has its own ``TokenVault`` and cache, as separate Lambda containers would; they share only
DynamoDB (the refresh lock) and Secrets Manager (the tokens), both in moto. The sandbox rejects a
superseded refresh token at once (no grace), so a second refresh with the same token would show up as
``invalid_grant`` in its counters.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from local.qbo_sandbox.app import build_app
from local.source_sandbox.inprocess import in_process_client
from qbosync.qbo.client import QboClient
from qbosync.qbo.oauth import InvalidGrant
from qbosync.store.aws import dynamodb_client, secrets_client
from qbosync.store.connections import ConnectionRepository
from qbosync.store.table import MainTable
from qbosync.store.token_backup import TokenBackupStore
from qbosync.store.tokens import ReauthRequired, TokenCache, TokenVault
from tests.support.connection_world import (
    SANDBOX_BASE,
    TENANT_A,
    ConnectionWorld,
    SettableClock,
    build_world,
    sandbox_config,
)
from tests.support.token_world import SAFETY_TIMEOUT, AtomicClient, kms_client

CALLERS = 20
GRACE_SECONDS = 60


@pytest.fixture
def world(main_table: str) -> Iterator[ConnectionWorld]:
    # Rotation on every refresh: these tests drive a superseded token past its grace.
    config = sandbox_config(strict_refresh_rotation=True, refresh_token_grace_seconds=GRACE_SECONDS)
    app = build_app(config)
    with in_process_client(app, base_url=SANDBOX_BASE) as http:
        connected = build_world(config, app.state.sandbox, http, SettableClock())
        assert connected.connect().outcome()["qbo_connection"] == "connected"
        connected.http.post("/_sandbox/stats/reset")
        yield connected


def _advance_sandbox(world: ConnectionWorld, seconds: float) -> None:
    answer = world.http.post("/_sandbox/clock", json={"advance_seconds": seconds})
    assert answer.status_code == 200


def _container_client(world: ConnectionWorld, clock_offset: timedelta = timedelta()) -> QboClient:
    """A QBO client as one Lambda container would hold it: its own vault and token cache."""
    vault = TokenVault(
        TENANT_A,
        refresher=world.oauth,
        invalid_grant_errors=(InvalidGrant,),
        cache=TokenCache(),
        clock=lambda: datetime.now(UTC) + clock_offset,
        poll_seconds=0.02,
    )
    return QboClient(world.realms[0], vault, None, SANDBOX_BASE, http=world.http)


class RaceReferee:
    """Forces the race these tests mean, whatever the scheduler does.

    Every vault's AWS calls run one at a time (``AtomicClient``: moto in-process is not atomic under
    threads, AWS is per request); the one refresh that reaches Intuit is held until every other caller
    has found the lock taken and gone to wait; a waiter's sleep lasts until the new version is stored.
    The vaults' clock stands still, so no lease runs out on a busy machine.
    """

    def __init__(self, world: ConnectionWorld, callers: int, clock_offset: timedelta) -> None:
        self.world = world
        self.callers = callers
        now = datetime.now(UTC) + clock_offset
        self.clock = lambda: now
        self.aws_lock = threading.Lock()
        self.state = threading.Condition()
        self.waiting: set[str] = set()
        self.stored_versions: list[int] = []

    def _observe_secret(self, operation: str, kwargs: dict[str, Any]) -> None:
        if operation in {"put_secret_value", "create_secret"}:
            with self.state:
                self.stored_versions.append(int(json.loads(kwargs["SecretString"])["version"]))
                self.state.notify_all()

    def refresh(self, refresh_token: str) -> Any:
        with self.state:
            everyone_waits = self.state.wait_for(
                lambda: len(self.waiting) >= self.callers - 1, timeout=SAFETY_TIMEOUT
            )
        assert everyone_waits, "the other callers never found the refresh lock taken"
        return self.world.oauth.refresh(refresh_token)

    def sleep(self, _seconds: float) -> None:
        with self.state:
            self.waiting.add(threading.current_thread().name)
            self.state.notify_all()
            self.state.wait_for(lambda: bool(self.stored_versions), timeout=SAFETY_TIMEOUT)

    def client(self) -> QboClient:
        """A QBO client as one Lambda container would hold it: its own vault and token cache."""
        table = MainTable(cast(Any, AtomicClient(dynamodb_client(), self.aws_lock)))
        vault = TokenVault(
            TENANT_A,
            refresher=cast(Any, self),
            invalid_grant_errors=(InvalidGrant,),
            table=table,
            connections=ConnectionRepository(table),
            backup=TokenBackupStore(table, cast(Any, AtomicClient(kms_client(), self.aws_lock))),
            secrets=cast(Any, AtomicClient(secrets_client(), self.aws_lock, after=self._observe_secret)),
            cache=TokenCache(),
            clock=self.clock,
            sleep=self.sleep,
            poll_seconds=0.02,
        )
        return QboClient(self.world.realms[0], vault, None, SANDBOX_BASE, http=self.world.http)


def _call_concurrently(clients: list[QboClient]) -> tuple[list[str], list[BaseException]]:
    barrier = threading.Barrier(len(clients))
    names: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def call(client: QboClient) -> None:
        barrier.wait()
        try:
            name = str(client.company_info()["CompanyName"])
        except BaseException as error:  # collected and asserted on below
            with guard:
                errors.append(error)
            return
        with guard:
            names.append(name)

    threads = [threading.Thread(target=call, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SAFETY_TIMEOUT)
    return names, errors


def test_given_an_expired_token_that_qbo_rejects_when_20_callers_hit_401_then_exactly_one_refresh(
    world: ConnectionWorld,
) -> None:
    _advance_sandbox(world, 3_700)  # QBO now rejects the access token; the vaults do not know yet
    referee = RaceReferee(world, CALLERS, clock_offset=timedelta())
    clients = [referee.client() for _ in range(CALLERS)]

    names, errors = _call_concurrently(clients)

    stats = world.stats()
    assert errors == []
    assert names == [world.sandbox.companies[world.realms[0]].company_name] * CALLERS
    assert stats["token_calls_by_grant_type"] == {"refresh_token": 1}
    assert stats["invalid_grant_total"] == 0
    assert stats["auth_failures_by_status"].get("401", 0) >= 1


def test_given_a_token_the_vaults_know_is_expired_when_20_callers_start_then_exactly_one_refresh(
    world: ConnectionWorld,
) -> None:
    _advance_sandbox(world, 3_700)
    referee = RaceReferee(world, CALLERS, clock_offset=timedelta(seconds=3_700))
    clients = [referee.client() for _ in range(CALLERS)]

    names, errors = _call_concurrently(clients)

    stats = world.stats()
    assert errors == []
    assert len(names) == CALLERS
    assert stats["token_calls_by_grant_type"] == {"refresh_token": 1}
    assert stats["invalid_grant_total"] == 0
    assert stats["auth_failures_by_status"] == {}
    tokens = world.stored_tokens()
    assert tokens is not None and tokens["version"] == 2


def test_given_a_superseded_refresh_token_past_its_grace_when_refreshing_then_needs_reauth_without_a_loop(
    world: ConnectionWorld,
) -> None:
    stored = world.stored_tokens()
    assert stored is not None
    world.oauth.refresh(stored["refresh_token"])  # someone else rotated it; the new one was never stored
    _advance_sandbox(world, 3_700)  # past the grace period, and past the access token's life
    client = _container_client(world)

    with pytest.raises(ReauthRequired):
        client.company_info()

    stats = world.stats()
    assert stats["token_calls_by_grant_type"] == {"refresh_token": 2}
    assert stats["invalid_grant_total"] == 1
    connection = ConnectionRepository().get(TENANT_A)
    assert connection is not None and connection.status == "needs_reauth"
    assert world.call("api_connection_get.json").body["status"] == "needs_reauth"


def test_given_a_connection_needing_reauth_when_called_again_then_intuit_is_not_asked_again(
    world: ConnectionWorld,
) -> None:
    stored = world.stored_tokens()
    assert stored is not None
    world.oauth.refresh(stored["refresh_token"])
    _advance_sandbox(world, 3_700)
    with pytest.raises(ReauthRequired):
        _container_client(world).company_info()

    with pytest.raises(ReauthRequired):
        _container_client(world).company_info()

    assert world.stats()["token_calls_by_grant_type"] == {"refresh_token": 2}


def test_given_a_superseded_refresh_token_within_its_grace_when_refreshing_then_it_still_works(
    world: ConnectionWorld,
) -> None:
    stored = world.stored_tokens()
    assert stored is not None
    world.oauth.refresh(stored["refresh_token"])
    client = _container_client(world, clock_offset=timedelta(seconds=3_700))

    info = client.company_info()

    assert info["CompanyName"] == world.sandbox.companies[world.realms[0]].company_name
    assert world.stats()["invalid_grant_total"] == 0
