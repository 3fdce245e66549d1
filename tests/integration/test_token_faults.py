"""Tokens that cannot be lost: the store fails after Intuit rotated, time runs short, a refused token is old.

Each fault test here fails on the vault that made one ``put_secret_value`` and marked ``needs_reauth`` on
any ``invalid_grant``.
"""

from __future__ import annotations

from typing import Any

import pytest

from qbosync.store.connections import ConnectionRepository, RefusedTokenSuperseded
from qbosync.store.table import StoreUnavailable
from qbosync.store.tokens import ReauthRequired, TokenRefreshDeferred
from tests.support.token_world import (
    TENANT,
    IntuitTokenEndpoint,
    TokenWorld,
    connection_status,
    create_backup_key,
    stored_secret,
    throttled,
)


@pytest.fixture
def world(main_table: str) -> TokenWorld:
    create_backup_key()
    return TokenWorld(intuit=IntuitTokenEndpoint())


def _always_throttle_puts(operation: str, kwargs: dict[str, Any]) -> None:
    if operation == "put_secret_value":
        raise throttled(operation)


def test_given_secrets_manager_throttles_every_put_after_intuit_rotated_when_refreshing_then_grant_survives(
    world: TokenWorld,
) -> None:
    world.connect()
    world.expire_access_token()
    world.secret_fail = _always_throttle_puts

    token = world.vault().access_token()

    assert token == "access-1"
    assert world.intuit.calls == ["refresh-0"]
    assert stored_secret().version == 1  # Secrets Manager never took it...
    assert len(world.sleeps) >= 1  # ...although the store was retried with backoff
    assert world.sleeps == sorted(world.sleeps)


def test_given_the_rotated_token_only_reached_the_sealed_copy_when_the_next_refresh_runs_then_it_uses_it(
    world: TokenWorld,
) -> None:
    world.connect()
    world.expire_access_token()
    world.secret_fail = _always_throttle_puts
    world.vault().access_token()
    world.secret_fail = None  # Secrets Manager is back; another container, cold cache
    world.expire_access_token()

    token = world.vault().access_token()

    assert token == "access-2"
    assert world.intuit.calls == ["refresh-0", "refresh-1"]  # never the superseded refresh-0 again
    assert world.intuit.refused == []
    assert connection_status() == "connected"
    assert stored_secret().version == 3
    assert stored_secret().refresh_token.get_secret_value() == "refresh-2"


def test_given_secrets_manager_throttles_twice_when_refreshing_then_the_third_attempt_stores_the_secret(
    world: TokenWorld,
) -> None:
    world.connect()
    world.expire_access_token()
    failures = iter([True, True])

    def throttle_twice(operation: str, kwargs: dict[str, Any]) -> None:
        if operation == "put_secret_value" and next(failures, False):
            raise throttled(operation)

    world.secret_fail = throttle_twice

    assert world.vault().access_token() == "access-1"
    assert stored_secret().version == 2
    assert world.sleeps == [0.2, 0.4]


def test_given_secrets_manager_cannot_be_read_when_a_sealed_copy_exists_then_the_copy_serves(
    world: TokenWorld,
) -> None:
    world.connect()

    def unreadable(operation: str, kwargs: dict[str, Any]) -> None:
        if operation == "get_secret_value":
            raise throttled(operation)

    world.secret_fail = unreadable

    assert world.vault().access_token() == "access-0"


def test_given_neither_copy_can_be_stored_when_refreshing_then_the_new_access_token_is_not_handed_out(
    main_table: str,
) -> None:
    world = TokenWorld(intuit=IntuitTokenEndpoint())  # no KMS key: the sealed copy cannot be made
    world.connect()
    world.expire_access_token()
    world.secret_fail = _always_throttle_puts

    with pytest.raises(StoreUnavailable):
        world.vault().access_token()


def test_given_too_little_lambda_time_left_when_a_refresh_is_due_then_it_is_deferred_without_calling_intuit(
    world: TokenWorld,
) -> None:
    world.connect()
    world.expire_access_token()
    vault = world.vault(remaining_time=lambda: 5.0)

    with pytest.raises(TokenRefreshDeferred) as deferred:
        vault.access_token()

    assert world.intuit.calls == []
    assert deferred.value.status == 503 and deferred.value.code == "token_refresh_deferred"
    assert world.vault(remaining_time=lambda: 60.0).access_token() == "access-1"


def test_given_a_fresh_token_when_little_time_is_left_then_it_is_served_without_a_refresh(
    world: TokenWorld,
) -> None:
    world.connect()

    assert world.vault(remaining_time=lambda: 0.5).access_token() == "access-0"


def test_given_a_token_refused_for_good_when_it_is_the_latest_then_needs_reauth_is_marked_once(
    world: TokenWorld,
) -> None:
    world.connect()
    world.expire_access_token()
    world.intuit.valid = "revoked-by-the-admin-in-qbo"

    with pytest.raises(ReauthRequired):
        world.vault().access_token()
    with pytest.raises(ReauthRequired):
        world.vault().access_token()

    assert world.intuit.calls == ["refresh-0"]
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None and connection.status == "needs_reauth"
    assert connection.needs_reauth_token_version == 1


def test_given_a_newer_token_version_is_stored_when_an_older_one_is_marked_refused_then_the_mark_is_refused(
    world: TokenWorld,
) -> None:
    world.connect()
    world.vault().refresh_after_unauthorized("access-0")  # version 2 stored

    with pytest.raises(RefusedTokenSuperseded):
        ConnectionRepository().mark_needs_reauth(TENANT, "invalid_grant", world.clock(), refused_version=1)

    assert connection_status() == "connected"


def test_given_needs_reauth_for_an_old_version_when_a_newer_version_is_stored_then_the_mark_is_cleared(
    world: TokenWorld,
) -> None:
    world.connect()
    repository = ConnectionRepository()
    repository.mark_needs_reauth(TENANT, "invalid_grant", world.clock(), refused_version=1)

    cleared = repository.clear_superseded_needs_reauth(TENANT, 2, world.clock())

    assert cleared is True
    assert connection_status() == "connected"
    assert repository.clear_superseded_needs_reauth(TENANT, 3, world.clock()) is False
    trail = [entry.action for entry in repository.audit_trail(TENANT)]
    assert trail.count("connection.reauth_cleared") == 1  # one clock instant: order within it is arbitrary


def test_given_needs_reauth_for_the_latest_version_when_the_same_version_is_stored_then_the_mark_stays(
    world: TokenWorld,
) -> None:
    world.connect()
    repository = ConnectionRepository()
    repository.mark_needs_reauth(TENANT, "invalid_grant", world.clock(), refused_version=1)

    assert repository.clear_superseded_needs_reauth(TENANT, 1, world.clock()) is False
    assert connection_status() == "needs_reauth"


def test_given_a_sealed_copy_when_the_table_is_read_then_no_token_value_is_in_it(world: TokenWorld) -> None:
    from qbosync.store.aws import dynamodb_client

    world.connect()
    world.expire_access_token()
    world.vault().access_token()

    dump = str(dynamodb_client().scan(TableName=main_table_name())["Items"])
    assert "TOKEN_BACKUP" in dump
    for value in ("access-0", "refresh-0", "access-1", "refresh-1"):
        assert value not in dump


def main_table_name() -> str:
    from qbosync.settings import get_settings

    return get_settings().table_name


def test_given_a_handler_with_little_time_left_when_a_refresh_is_due_then_the_vault_defers_it(
    world: TokenWorld,
) -> None:
    from qbosync.invocation import tracks_remaining_time

    class AlmostOutOfTime:
        def get_remaining_time_in_millis(self) -> int:
            return 4_000

    world.connect()
    world.expire_access_token()

    @tracks_remaining_time
    def handler(event: dict[str, Any], context: Any) -> str:
        return world.vault().access_token()

    with pytest.raises(TokenRefreshDeferred):
        handler({}, AlmostOutOfTime())
    assert world.intuit.calls == []


def test_given_another_holder_refreshing_when_waiting_then_the_wait_ends_before_the_invocation_does(
    world: TokenWorld,
) -> None:
    from qbosync.store.aws import dynamodb_client
    from qbosync.store.tokens import TokenRefreshTimedOut
    from tests.support.token_world import REALM

    world.connect()
    world.expire_access_token()
    dynamodb_client().put_item(
        TableName=main_table_name(),
        Item={
            "pk": {"S": f"REALM#{REALM}"},
            "sk": {"S": "REFRESH_LOCK"},
            "holder": {"S": "someone-else"},
            "lock_expires_at": {"N": str(world.clock().timestamp() + 1000)},
        },
    )
    started = world.clock()
    invocation_ends = started.timestamp() + 25.0

    def remaining() -> float:
        return invocation_ends - world.clock().timestamp()

    with pytest.raises(TokenRefreshTimedOut):
        world.vault(remaining_time=remaining, poll_seconds=1.0).access_token()

    assert world.clock().timestamp() < invocation_ends
    assert world.intuit.calls == []
