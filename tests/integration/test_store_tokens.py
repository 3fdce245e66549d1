"""TokenVault against moto: single-flight refresh across threads, store-before-use, invalid_grant."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from qbosync.errors import NotConnected
from qbosync.observability import logger as qbosync_logger
from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client, secrets_client
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.table import StoreUnavailable
from qbosync.store.tokens import (
    InvalidGrant,
    ReauthRequired,
    StoredTokens,
    TokenCache,
    TokenRefreshTimedOut,
    TokenVault,
)
from tests.support.token_world import SAFETY_TIMEOUT, IntuitTokenEndpoint, TokenWorld
from tests.support.token_world import stored_secret as token_world_secret

TENANT = "t1"
REALM = "9130001"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Grant:
    access_token: str
    refresh_token: str
    expires_in: int = 3600
    x_refresh_token_expires_in: int | None = 8_726_400


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingRefresher:
    """Issues numbered tokens, counts calls, and records what Secrets Manager held when asked."""

    def __init__(
        self, secret_name: str, *, refuse: bool = False, on_refresh: Callable[[], None] | None = None
    ):
        self.secret_name = secret_name
        self.refuse = refuse
        self.on_refresh = on_refresh
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def refresh(self, refresh_token: str) -> Grant:
        with self._lock:
            self.calls.append(refresh_token)
            number = len(self.calls)
        if self.on_refresh is not None:
            self.on_refresh()
        if self.refuse:
            raise InvalidGrant("invalid_grant")
        return Grant(access_token=f"access-{number}", refresh_token=f"refresh-{number}")


def stored_secret() -> dict[str, object]:
    name = get_settings().tenant_token_secret_name(TENANT)
    loaded: dict[str, object] = json.loads(secrets_client().get_secret_value(SecretId=name)["SecretString"])
    return loaded


def connect(clock: Clock, refresher: CountingRefresher, *, expires_in: int = 3600) -> TokenVault:
    ConnectionRepository().record_connected(
        Connection(tenant_id=TENANT, realm_id=REALM, connected_by="admin-1", connected_at=clock())
    )
    vault = a_vault(clock, refresher)
    vault.store_initial(
        REALM, Grant(access_token="access-0", refresh_token="refresh-0", expires_in=expires_in)
    )
    return vault


def a_vault(
    clock: Clock,
    refresher: CountingRefresher,
    *,
    sleep: Callable[[float], None] = lambda _: time.sleep(0.005),
) -> TokenVault:
    return TokenVault(
        TENANT, refresher=refresher, clock=clock, sleep=sleep, cache=TokenCache(), poll_seconds=0.01
    )


@pytest.fixture
def refresher(main_table: str) -> CountingRefresher:
    return CountingRefresher(get_settings().tenant_token_secret_name(TENANT))


def test_given_a_fresh_token_when_asked_then_it_is_returned_without_refreshing(
    refresher: CountingRefresher,
) -> None:
    vault = connect(Clock(), refresher)

    assert vault.access_token() == "access-0"
    assert refresher.calls == []


def test_given_a_token_expiring_within_the_margin_when_asked_then_it_is_refreshed_and_rotated(
    refresher: CountingRefresher,
) -> None:
    clock = Clock()
    vault = connect(clock, refresher)
    clock.advance(3600 - 60)

    token = vault.access_token()

    assert token == "access-1"
    assert refresher.calls == ["refresh-0"]
    secret = stored_secret()
    assert secret["refresh_token"] == "refresh-1"
    assert secret["previous_refresh_token"] == "refresh-0"
    assert secret["version"] == 2
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None and connection.last_refreshed_at == clock()


def test_given_20_threads_with_an_expired_token_when_all_ask_then_one_refresh_and_all_get_the_new_token(
    main_table: str,
) -> None:
    # No KMS key here: the secret alone carries the tokens (the sealed-copy races are in test_token_races).
    # AWS calls are made atomic (moto in-process is not under threads), and the refresh is held open until
    # the 19 others have found the lock taken, so the interleaving is forced, never left to the scheduler.
    world = TokenWorld(intuit=IntuitTokenEndpoint())
    world.connect(expires_in=60)
    world.clock.advance(120)
    waited: set[str] = set()
    secret_at_return: list[StoredTokens] = []

    def hold_until_everyone_waits(call: int, refused: bool) -> None:
        with world.version_stored:
            assert world.version_stored.wait_for(lambda: len(waited) >= 19, timeout=SAFETY_TIMEOUT)

    def sleep(_: float) -> None:
        with world.version_stored:
            waited.add(threading.current_thread().name)
            world.version_stored.notify_all()
        world.wait_for_version(2)

    world.intuit.after_answer = hold_until_everyone_waits
    vaults = [world.vault(sleep=sleep) for _ in range(20)]  # separate caches: like separate Lambdas
    results: list[str] = []
    errors: list[BaseException] = []
    results_lock = threading.Lock()

    def ask(vault: TokenVault) -> None:
        try:
            token = vault.access_token()
        except BaseException as exc:
            errors.append(exc)
            return
        with results_lock:
            # The new refresh token must be stored before anyone holds the new access token.
            secret_at_return.append(token_world_secret())
            results.append(token)

    threads = [threading.Thread(target=ask, args=(vault,)) for vault in vaults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SAFETY_TIMEOUT)

    assert errors == []
    assert world.intuit.calls == ["refresh-0"]
    assert results == ["access-1"] * 20
    assert all(s.refresh_token.get_secret_value() == "refresh-1" and s.version == 2 for s in secret_at_return)


def test_given_a_refresh_when_the_refresher_returns_then_new_tokens_are_already_stored_before_use(
    main_table: str,
) -> None:
    clock = Clock()
    seen_by_caller: list[dict[str, object]] = []
    refresher = CountingRefresher(get_settings().tenant_token_secret_name(TENANT))
    vault = connect(clock, refresher, expires_in=60)
    clock.advance(120)

    token = vault.access_token()
    seen_by_caller.append(stored_secret())

    assert token == "access-1"
    assert seen_by_caller[0]["access_token"] == "access-1"


def test_given_invalid_grant_when_refreshing_then_needs_reauth_and_later_calls_do_not_refresh(
    main_table: str,
) -> None:
    clock = Clock()
    refresher = CountingRefresher(get_settings().tenant_token_secret_name(TENANT), refuse=True)
    vault = connect(clock, refresher, expires_in=60)
    clock.advance(120)

    with pytest.raises(ReauthRequired):
        vault.access_token()
    with pytest.raises(ReauthRequired):
        vault.access_token()
    with pytest.raises(ReauthRequired):
        a_vault(clock, refresher).refresh_after_unauthorized("access-0")

    assert len(refresher.calls) == 1
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None and connection.status == "needs_reauth"
    assert connection.needs_reauth_reason is not None and connection.needs_reauth_reason.startswith(
        "invalid_grant"
    )


def test_given_a_401_for_the_current_token_when_reported_then_one_refresh_happens(
    refresher: CountingRefresher,
) -> None:
    vault = connect(Clock(), refresher)

    assert vault.refresh_after_unauthorized("access-0") == "access-1"
    assert refresher.calls == ["refresh-0"]


def test_given_a_401_for_a_token_already_replaced_when_reported_then_no_refresh_happens(
    refresher: CountingRefresher,
) -> None:
    clock = Clock()
    vault = connect(clock, refresher)
    vault.refresh_after_unauthorized("access-0")

    assert a_vault(clock, refresher).refresh_after_unauthorized("access-0") == "access-1"
    assert len(refresher.calls) == 1


def test_given_a_lock_held_elsewhere_that_never_finishes_when_waiting_then_refresh_times_out(
    refresher: CountingRefresher,
) -> None:
    clock = Clock()
    vault = connect(clock, refresher, expires_in=60)
    clock.advance(120)
    dynamodb_client().put_item(
        TableName=get_settings().table_name,
        Item={
            "pk": {"S": f"REALM#{REALM}"},
            "sk": {"S": "REFRESH_LOCK"},
            "holder": {"S": "someone-else"},
            "lock_expires_at": {"N": str(clock().timestamp() + 1000)},
        },
    )
    waiting = TokenVault(
        TENANT,
        refresher=refresher,
        clock=clock,
        sleep=clock.advance,
        cache=TokenCache(),
        wait_seconds=5,
    )

    with pytest.raises(TokenRefreshTimedOut):
        waiting.access_token()
    assert refresher.calls == []
    assert vault.read(fresh=True).version == 1


def test_given_a_lock_whose_lease_expired_when_refreshing_then_it_is_taken_over(
    refresher: CountingRefresher,
) -> None:
    clock = Clock()
    vault = connect(clock, refresher, expires_in=60)
    clock.advance(120)
    dynamodb_client().put_item(
        TableName=get_settings().table_name,
        Item={
            "pk": {"S": f"REALM#{REALM}"},
            "sk": {"S": "REFRESH_LOCK"},
            "holder": {"S": "crashed"},
            "lock_expires_at": {"N": str(clock().timestamp() - 1)},
        },
    )

    assert vault.access_token() == "access-1"


def test_given_cached_tokens_when_the_cache_age_passes_then_the_secret_is_read_again(
    refresher: CountingRefresher,
) -> None:
    clock = Clock()
    vault = connect(clock, refresher)
    other_process = a_vault(clock, refresher)
    other_process.refresh_after_unauthorized("access-0")

    still_cached = vault.access_token()
    clock.advance(get_settings().secret_cache_seconds + 1)

    assert still_cached == "access-0"
    assert vault.access_token() == "access-1"


def test_given_deleted_tokens_when_asked_then_not_connected(refresher: CountingRefresher) -> None:
    vault = connect(Clock(), refresher)

    vault.delete()

    with pytest.raises(NotConnected):
        vault.access_token()


def test_given_a_reconnect_after_delete_when_storing_initial_tokens_then_they_are_used(
    refresher: CountingRefresher,
) -> None:
    clock = Clock()
    vault = connect(clock, refresher)
    vault.delete()

    vault.store_initial(REALM, Grant(access_token="access-new", refresh_token="refresh-new"))

    assert vault.access_token() == "access-new"


def test_given_stored_tokens_when_represented_then_no_token_value_is_shown(
    refresher: CountingRefresher,
) -> None:
    tokens: StoredTokens = connect(Clock(), refresher).read()

    assert "access-0" not in repr(tokens) and "refresh-0" not in str(tokens)


def test_given_refreshes_and_invalid_grant_when_scanning_table_and_logs_then_no_token_value_appears(
    main_table: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # botocore's DEBUG logs echo request bodies (it must never run at DEBUG); ours are checked at DEBUG.
    caplog.set_level(logging.INFO)
    ours = io.StringIO()
    handler = logging.StreamHandler(ours)
    handler.setFormatter(qbosync_logger.registered_formatter)
    std_logger = logging.getLogger(qbosync_logger.name)
    previous_level = std_logger.level
    std_logger.addHandler(handler)
    std_logger.setLevel(logging.DEBUG)
    clock = Clock()
    refresher = CountingRefresher(get_settings().tenant_token_secret_name(TENANT))
    vault = connect(clock, refresher, expires_in=60)
    clock.advance(120)
    vault.access_token()
    refresher.refuse = True
    clock.advance(7200)
    with pytest.raises(ReauthRequired) as refused:
        vault.access_token()

    std_logger.removeHandler(handler)
    std_logger.setLevel(previous_level)

    table_dump = json.dumps(dynamodb_client().scan(TableName=main_table)["Items"])
    captured = capsys.readouterr()
    our_logs = ours.getvalue()
    everything = "\n".join(
        [table_dump, our_logs, caplog.text, captured.out, captured.err, str(refused.value)]
    )
    assert "refreshed qbo tokens" in our_logs and "needs re-authorization" in our_logs
    for secret_value in ("access-0", "refresh-0", "access-1", "refresh-1"):
        assert secret_value not in everything
    assert "needs_reauth" in table_dump


def test_given_the_new_tokens_cannot_be_stored_when_refreshing_then_the_new_access_token_is_not_handed_out(
    main_table: str,
) -> None:
    clock = Clock()
    refresher = CountingRefresher(get_settings().tenant_token_secret_name(TENANT))
    vault = connect(clock, refresher, expires_in=60)
    clock.advance(120)

    # Secrets Manager loses the secret while Intuit is answering: the write of the new tokens fails.
    def lose_the_secret() -> None:
        secrets_client().delete_secret(SecretId=refresher.secret_name, ForceDeleteWithoutRecovery=True)

    refresher.on_refresh = lose_the_secret

    with pytest.raises(StoreUnavailable):
        vault.access_token()
    assert refresher.calls == ["refresh-0"]


def test_given_a_malformed_secret_when_read_then_a_store_error_that_quotes_nothing(
    refresher: CountingRefresher,
) -> None:
    vault = connect(Clock(), refresher)
    secrets_client().put_secret_value(
        SecretId=refresher.secret_name, SecretString='{"access_token": "leaky-value", "version": "x"}'
    )

    with pytest.raises(StoreUnavailable) as failed:
        vault.read(fresh=True)

    assert "leaky-value" not in str(failed.value) and failed.value.__cause__ is None


def test_given_stored_tokens_when_asked_for_the_refresh_token_then_the_current_one_returns(
    refresher: CountingRefresher,
) -> None:
    vault = connect(Clock(), refresher)
    vault.refresh_after_unauthorized("access-0")

    assert vault.current_refresh_token() == "refresh-1"
    vault.delete()
    assert vault.current_refresh_token() is None


@dataclass(frozen=True)
class SecretGrant:
    """A grant whose tokens are already SecretStr, as qbo.oauth.TokenGrant's are."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: int = 3600
    x_refresh_token_expires_in: int | None = None


def test_given_a_grant_with_secret_str_tokens_when_stored_then_they_are_usable(main_table: str) -> None:
    clock = Clock()
    vault = a_vault(clock, CountingRefresher(get_settings().tenant_token_secret_name(TENANT)))

    vault.store_initial(REALM, SecretGrant(SecretStr("access-s"), SecretStr("refresh-s")))

    assert vault.access_token() == "access-s"
    assert vault.current_refresh_token() == "refresh-s"
