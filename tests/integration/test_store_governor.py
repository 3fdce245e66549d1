"""DynamoGovernorStore against moto: window counting, slot leases and penalties."""

from __future__ import annotations

import random

import pytest

from qbosync.qbo.governor import GovernorTimeout, RealmGovernor
from qbosync.settings import QboLimits
from qbosync.store.governor import DynamoGovernorStore
from qbosync.store.table import MainTable, governor_pk, window_sk

REALM = "9130001"


def test_given_a_window_at_its_limit_when_counting_then_the_extra_request_is_refused(main_table: str) -> None:
    store = DynamoGovernorStore(window_seconds=60)

    granted = [store.try_count_request(REALM, 100, 3, batch=False, batch_limit=1) for _ in range(4)]

    assert granted == [True, True, True, False]


def test_given_a_full_window_when_the_next_window_starts_then_requests_are_counted_again(
    main_table: str,
) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    store.try_count_request(REALM, 100, 1, batch=False, batch_limit=1)

    assert store.try_count_request(REALM, 100, 1, batch=False, batch_limit=1) is False
    assert store.try_count_request(REALM, 101, 1, batch=False, batch_limit=1) is True


def test_given_the_batch_limit_reached_when_counting_then_batches_are_refused_but_plain_requests_pass(
    main_table: str,
) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    store.try_count_request(REALM, 7, 10, batch=True, batch_limit=1)

    assert store.try_count_request(REALM, 7, 10, batch=True, batch_limit=1) is False
    assert store.try_count_request(REALM, 7, 10, batch=False, batch_limit=1) is True


def test_given_two_realms_when_counting_then_their_windows_are_separate(main_table: str) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    store.try_count_request("A", 1, 1, batch=False, batch_limit=1)

    assert store.try_count_request("B", 1, 1, batch=False, batch_limit=1) is True


def test_given_a_leased_slot_when_another_holder_asks_then_refused_until_the_lease_expires(
    main_table: str,
) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    assert store.try_acquire_slot(REALM, 0, "a", now=1000.0, lease_seconds=30) is True

    assert store.try_acquire_slot(REALM, 0, "b", now=1010.0, lease_seconds=30) is False
    assert store.try_acquire_slot(REALM, 0, "a", now=1010.0, lease_seconds=30) is True
    assert store.try_acquire_slot(REALM, 0, "b", now=1041.0, lease_seconds=30) is True


def test_given_a_released_slot_when_another_holder_asks_then_granted(main_table: str) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    store.try_acquire_slot(REALM, 3, "a", now=1000.0, lease_seconds=30)

    store.release_slot(REALM, 3, "a")

    assert store.try_acquire_slot(REALM, 3, "b", now=1001.0, lease_seconds=30) is True


def test_given_a_slot_taken_over_when_the_old_holder_releases_then_the_new_lease_stays(
    main_table: str,
) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    store.try_acquire_slot(REALM, 0, "a", now=1000.0, lease_seconds=30)
    store.try_acquire_slot(REALM, 0, "b", now=1100.0, lease_seconds=30)

    store.release_slot(REALM, 0, "a")

    assert store.try_acquire_slot(REALM, 0, "c", now=1101.0, lease_seconds=30) is False


def test_given_no_penalty_when_asked_then_zero(main_table: str) -> None:
    assert DynamoGovernorStore(window_seconds=60).penalty_until(REALM) == 0.0


def test_given_a_penalty_when_an_earlier_one_is_set_then_the_later_one_stays(main_table: str) -> None:
    store = DynamoGovernorStore(window_seconds=60)
    store.set_penalty(REALM, 2000.5)

    store.set_penalty(REALM, 1500.0)
    kept = store.penalty_until(REALM)
    store.set_penalty(REALM, 2500.0)

    assert kept == 2000.5
    assert store.penalty_until(REALM) == 2500.0


def test_given_leases_of_10_under_a_limit_of_25_when_leasing_then_two_fit_and_the_rest_count_singly(
    main_table: str,
) -> None:
    store = DynamoGovernorStore(window_seconds=60)

    leases = [store.try_lease_requests(REALM, 100, 25, 10) for _ in range(3)]
    singles = [store.try_count_request(REALM, 100, 25, batch=False, batch_limit=1) for _ in range(6)]

    assert leases == [True, True, False]
    assert singles == [True, True, True, True, True, False]


def test_given_a_lease_when_written_then_the_window_expires_a_little_after_its_end(main_table: str) -> None:
    store = DynamoGovernorStore(window_seconds=60)

    store.try_lease_requests(REALM, 100, 500, 10)

    item = MainTable().get(governor_pk(REALM), window_sk(100))
    assert item is not None and item["count"] == 10
    assert item["expires_at"] == 101 * 60 + 300


def _container(clock: list[float]) -> RealmGovernor:
    """One Lambda container's governor: slots kept between calls, one slot for the realm."""
    return RealmGovernor(
        DynamoGovernorStore(window_seconds=60),
        QboLimits(max_concurrent=1, lease_seconds=30.0, lease_requests=10),
        clock=lambda: clock[0],
        sleep=lambda seconds: None,
        max_wait_seconds=0.0,
        rng=random.Random(1),
        keep_slots=True,
    )


def _slot_items() -> int:
    return len(MainTable().query(governor_pk(REALM), "SLOT#").items)


def test_given_a_container_keeping_its_slot_when_another_one_calls_then_it_waits_until_the_slot_is_given_back(
    main_table: str,
) -> None:
    clock = [1_000_000.0]
    first, second = _container(clock), _container(clock)
    for _ in range(5):
        with first.request(REALM):
            pass
    kept = _slot_items()

    with pytest.raises(GovernorTimeout), second.request(REALM):
        pass  # one slot, kept by the first container between its calls: the concurrency limit holds
    first.release_kept()  # the first container's invocation ends
    with second.request(REALM):
        pass

    assert kept == 1
    second.release_kept()
    assert _slot_items() == 0
