"""Token keep-alive: idle grants are refreshed through the vault, dead ones marked, expiring ones reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.scheduled_worker.app import lambda_handler as scheduled_worker_handler
from local.qbo_sandbox.config import LOCAL_CLIENT_ID
from qbosync.store.connections import ConnectionRepository
from qbosync.sync.fanout import ScheduledJob
from qbosync.sync.keepalive import EXPIRY_EVENT_KIND, TokenKeepAlive
from tests.support.pull_world import (  # noqa: F401 (fixture)
    TENANT,
    LambdaContextStub,
    PullWorld,
    pull_world_fixture,
    sample_event,
)
from tests.support.schedules import work, work_event, worker


def _keepalive(world: PullWorld, *, days_later: float, **policy: timedelta) -> TokenKeepAlive:
    later = datetime.now(UTC) + timedelta(days=days_later)
    return TokenKeepAlive(vault_for=lambda _: world.vault, clock=lambda: later, **policy)


def _refresh_calls(world: PullWorld) -> int:
    stats = world.qbo_http.get("/_sandbox/stats").json()
    return int(stats["token_calls_by_grant_type"].get("refresh_token", 0))


def test_given_a_connection_idle_longer_than_the_setting_when_kept_alive_then_its_tokens_are_refreshed(
    pull_world: PullWorld,
) -> None:
    first = pull_world.vault.read(fresh=True)

    keepalive = _keepalive(pull_world, days_later=8)

    reply = scheduled_worker_handler(
        work_event(work(ScheduledJob.KEEPALIVE, TENANT)),
        LambdaContextStub(),
        worker=worker({ScheduledJob.KEEPALIVE: keepalive.keep_alive_tenant}),
    )

    assert reply == {"batchItemFailures": []}
    after = pull_world.vault.read(fresh=True)
    assert after.version == first.version + 1
    assert after.refresh_token.get_secret_value() != first.refresh_token.get_secret_value()
    assert _refresh_calls(pull_world) == 1
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None and connection.last_refreshed_at is not None


def test_given_a_recently_refreshed_connection_when_kept_alive_then_nothing_is_refreshed(
    pull_world: PullWorld,
) -> None:
    [result] = _keepalive(pull_world, days_later=1).run()

    assert result.action == "fresh"
    assert _refresh_calls(pull_world) == 0


def test_given_a_revoked_grant_when_kept_alive_then_the_connection_needs_reauth_and_is_not_retried(
    pull_world: PullWorld,
) -> None:
    refresh_token = pull_world.vault.read(fresh=True).refresh_token.get_secret_value()
    pull_world.qbo_sandbox.tokens.revoke(LOCAL_CLIENT_ID, refresh_token)

    [result] = _keepalive(pull_world, days_later=8).run()
    again = _keepalive(pull_world, days_later=8).run()

    assert result.action == "needs_reauth"
    connection = ConnectionRepository().get(TENANT)
    assert connection is not None and connection.status == "needs_reauth"
    assert again == []  # no longer connected: the schedule leaves it to an admin
    assert _refresh_calls(pull_world) == 1


def test_given_a_grant_close_to_its_expiry_when_kept_alive_then_it_is_reported_as_a_failed_event(
    pull_world: PullWorld,
) -> None:
    expires_at = pull_world.vault.read(fresh=True).refresh_token_expires_at
    assert expires_at is not None
    days_left = (expires_at - datetime.now(UTC)).days

    [result] = _keepalive(
        pull_world,
        days_later=days_left - 3,
        idle_after=timedelta(days=3650),
        expiry_warning=timedelta(days=14),
    ).run()

    assert result.expiring is True
    [event] = pull_world.events("failed")
    assert event.kind == EXPIRY_EVENT_KIND
    assert "connect QuickBooks again" in (event.reason or "")
