"""20 vaults (as 20 Lambda containers) race for one expired token, with and without a lease that runs out.

Interleavings are forced, not hoped for: AWS calls are atomic (``AtomicClient``), every vault's waits
block until the version the test expects is stored, and the fake Intuit holds its answer until the
test lets it go. The outcome cannot depend on thread scheduling; the timeouts are safety nets only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from qbosync.store.tokens import ReauthRequired, TokenVault
from tests.support.token_world import (
    SAFETY_TIMEOUT,
    IntuitTokenEndpoint,
    TokenWorld,
    connection_status,
    create_backup_key,
    stored_secret,
)

RACERS = 20


@pytest.fixture
def backup_key(main_table: str) -> str:
    return create_backup_key()


class Race:
    """Runs vaults in threads and collects what each one got."""

    def __init__(self) -> None:
        self.results: dict[int, str] = {}
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, index: int, vault: TokenVault) -> None:
        def run() -> None:
            try:
                token = vault.access_token()
            except BaseException as exc:
                with self._lock:
                    self.errors.append(exc)
                return
            with self._lock:
                self.results[index] = token

        thread = threading.Thread(target=run, name=f"vault-{index}")
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=SAFETY_TIMEOUT)
        assert not any(thread.is_alive() for thread in self.threads), "a vault never finished"


def waiting_until_version(world: TokenWorld, version: int, waited: set[str]) -> Callable[[float], None]:
    """A vault's sleep: note who waited, then block until ``version`` is stored (no wall-clock polling)."""

    def sleep(_: float) -> None:
        with world.version_stored:
            waited.add(threading.current_thread().name)
            world.version_stored.notify_all()
        world.wait_for_version(version)

    return sleep


def stall_first_holder_past_its_lease(
    world: TokenWorld, resume: threading.Event, *, resume_when_refused: bool = False
) -> threading.Event:
    """The first refresh gets Intuit's answer, then its holder stalls past its lease (the fake clock moves)
    until ``resume`` is set; with ``resume_when_refused``, a later refused refresh sets it. Returns the event
    set once the first holder has the grant."""
    has_grant = threading.Event()

    def after_answer(call: int, refused: bool) -> None:
        if call == 1:
            world.clock.advance(world.lease_seconds + 1)
            has_grant.set()
            assert resume.wait(timeout=SAFETY_TIMEOUT)
        elif refused and resume_when_refused:
            resume.set()

    world.intuit.after_answer = after_answer
    return has_grant


def test_given_20_vaults_with_an_expired_token_when_all_ask_then_one_refresh_and_all_get_the_new_token(
    backup_key: str,
) -> None:
    world = TokenWorld(intuit=IntuitTokenEndpoint())
    world.connect()
    world.expire_access_token()
    waited: set[str] = set()

    def hold_until_everyone_waits(call: int, refused: bool) -> None:
        # The refresh is held open until the 19 others have found the lock taken and started waiting.
        with world.version_stored:
            assert world.version_stored.wait_for(lambda: len(waited) >= RACERS - 1, timeout=SAFETY_TIMEOUT)

    world.intuit.after_answer = hold_until_everyone_waits
    race = Race()
    for index in range(RACERS):
        race.start(index, world.vault(sleep=waiting_until_version(world, 2, waited)))
    race.join()

    assert race.errors == []
    assert world.intuit.calls == ["refresh-0"]
    assert list(race.results.values()) == ["access-1"] * RACERS
    assert stored_secret().version == 2 and stored_secret().refresh_token.get_secret_value() == "refresh-1"
    assert connection_status() == "connected"


def test_given_a_lease_that_expires_while_intuit_rotates_when_19_more_vaults_ask_then_all_get_the_new_token(
    backup_key: str,
) -> None:
    world = TokenWorld(intuit=IntuitTokenEndpoint(rotate=True))  # strict: the old token dies at once
    world.connect()
    world.expire_access_token()
    # The first holder has the rotated grant but stalls past its lease before storing it; once the
    # taker-over has sent the superseded token (refused), the first one may store.
    release_first = threading.Event()
    first_has_grant = stall_first_holder_past_its_lease(world, release_first, resume_when_refused=True)
    waited: set[str] = set()
    race = Race()
    race.start(0, world.vault(sleep=waiting_until_version(world, 2, waited)))
    assert first_has_grant.wait(timeout=SAFETY_TIMEOUT)
    for index in range(1, RACERS):
        race.start(index, world.vault(sleep=waiting_until_version(world, 2, waited)))
    race.join()

    assert race.errors == []
    assert world.intuit.calls == ["refresh-0", "refresh-0"]  # the second was refused and changed nothing
    assert list(race.results.values()) == ["access-1"] * RACERS
    assert stored_secret().refresh_token.get_secret_value() == "refresh-1"
    assert connection_status() == "connected"


def test_given_a_lease_that_expires_inside_intuits_rotation_window_when_19_more_ask_then_two_calls_agree(
    backup_key: str,
) -> None:
    world = TokenWorld(intuit=IntuitTokenEndpoint(rotate=False))  # Intuit's 24 h window: same refresh token
    world.connect()
    world.expire_access_token()
    # The first holder resumes only after the taker-over stored version 2: it must lose the fence.
    second_stored = threading.Event()
    first_has_grant = stall_first_holder_past_its_lease(world, second_stored)

    def note_version_2() -> None:
        world.wait_for_version(2)
        second_stored.set()

    watcher = threading.Thread(target=note_version_2)
    watcher.start()
    waited: set[str] = set()
    race = Race()
    race.start(0, world.vault(sleep=waiting_until_version(world, 2, waited)))
    assert first_has_grant.wait(timeout=SAFETY_TIMEOUT)
    for index in range(1, RACERS):
        race.start(index, world.vault(sleep=waiting_until_version(world, 2, waited)))
    race.join()
    watcher.join(timeout=SAFETY_TIMEOUT)

    assert race.errors == []
    assert world.intuit.calls == ["refresh-0", "refresh-0"] and world.intuit.refused == []
    assert list(race.results.values()) == ["access-2"] * RACERS  # the version stored first wins everywhere
    secret = stored_secret()
    assert secret.version == 2 and secret.access_token.get_secret_value() == "access-2"
    assert secret.refresh_token.get_secret_value() == "refresh-0"
    assert connection_status() == "connected"


def test_given_a_stale_refused_token_marked_needs_reauth_when_the_first_holder_stores_then_it_is_cleared(
    backup_key: str,
) -> None:
    # The taker-over gives up waiting (no one stores within its wait) and marks needs_reauth for the
    # refused version 1; the first holder then lands version 2, which proves the grant alive.
    world = TokenWorld(intuit=IntuitTokenEndpoint(rotate=True))
    world.connect()
    world.expire_access_token()
    release_first = threading.Event()
    first_has_grant = stall_first_holder_past_its_lease(world, release_first)
    race = Race()
    race.start(0, world.vault())
    assert first_has_grant.wait(timeout=SAFETY_TIMEOUT)
    # Its sleep advances the fake clock, so its wait runs out without a new version appearing.
    taker_over = world.vault(poll_seconds=world.lease_seconds / 4)
    with pytest.raises(ReauthRequired):
        taker_over.access_token()
    assert connection_status() == "needs_reauth"

    release_first.set()
    race.join()

    assert race.errors == [] and race.results == {0: "access-1"}
    assert connection_status() == "connected"
    assert world.vault().access_token() == "access-1"


def test_given_a_taker_over_with_little_time_left_when_its_token_is_refused_then_it_stops_waiting_in_time(
    backup_key: str,
) -> None:
    world = TokenWorld(intuit=IntuitTokenEndpoint(rotate=True))
    world.connect()
    world.expire_access_token()
    release_first = threading.Event()
    first_has_grant = stall_first_holder_past_its_lease(world, release_first)
    race = Race()
    race.start(0, world.vault())
    assert first_has_grant.wait(timeout=SAFETY_TIMEOUT)
    invocation_ends = world.clock().timestamp() + 26.0  # enough to start a refresh, less than a lease

    def remaining() -> float:
        return invocation_ends - world.clock().timestamp()

    taker_over = world.vault(poll_seconds=1.0, remaining_time=remaining)
    with pytest.raises(ReauthRequired):
        taker_over.access_token()
    finished_at = world.clock().timestamp()
    release_first.set()
    race.join()

    assert finished_at < invocation_ends
    assert connection_status() == "connected"  # the first holder's grant cleared the mark
