"""The realm governor over the in-memory store, with a fake clock: no real waiting."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from qbosync.qbo.governor import GovernorTimeout, InMemoryGovernorStore, RealmGovernor
from qbosync.settings import QboLimits

REALM = "9130000000001"


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, now: float = 1_000_020.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def _governor(
    store: InMemoryGovernorStore, clock: FakeClock, *, max_wait: float = 120.0, **limits: float
) -> RealmGovernor:
    defaults: dict[str, float] = {"requests_per_window": 500, "window_seconds": 60.0, "max_concurrent": 10}
    return RealmGovernor(
        store,
        QboLimits(**{**defaults, **limits}),  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
        max_wait_seconds=max_wait,
        rng=random.Random(7),
    )


def test_given_a_full_window_when_threads_ask_without_waiting_then_only_the_limit_is_admitted() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_wait=0.0, requests_per_window=5)

    def one_request() -> bool:
        try:
            with governor.request(REALM):
                return True
        except GovernorTimeout:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(lambda _: one_request(), range(20)))

    assert admitted.count(True) == 5
    assert store.requests_counted(REALM, int(clock.now // 60)) == 5


def test_given_a_full_window_when_one_more_is_asked_then_it_sleeps_until_the_next_window() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock(now=1_000_050.0)  # 30 s into a 60 s window
    governor = _governor(store, clock, requests_per_window=2)
    for _ in range(3):
        with governor.request(REALM):
            pass
    assert len(clock.sleeps) == 1
    assert 30.0 <= clock.sleeps[0] <= 30.25  # to the window's end, plus a little jitter
    assert store.requests_counted(REALM, int(clock.now // 60)) == 1


def test_given_batch_calls_when_the_batch_limit_is_reached_then_plain_requests_still_pass() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_wait=0.0, batch_requests_per_window=1)
    with governor.request(REALM, batch=True):
        pass
    with pytest.raises(GovernorTimeout), governor.request(REALM, batch=True):
        pass
    with governor.request(REALM):
        pass


def test_given_a_request_finished_when_the_block_exits_then_its_slot_is_released() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_concurrent=1)
    with governor.request(REALM):
        assert store.slots_held(REALM, clock.now) == 1
    assert store.slots_held(REALM, clock.now) == 0


def test_given_the_block_raises_when_it_exits_then_the_slot_is_still_released() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_concurrent=1)
    with pytest.raises(RuntimeError), governor.request(REALM):
        raise RuntimeError("call failed")
    assert store.slots_held(REALM, clock.now) == 0


def test_given_all_slots_held_when_asked_without_time_to_wait_then_it_times_out() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_wait=0.01, max_concurrent=1)
    with governor.request(REALM), pytest.raises(GovernorTimeout), governor.request(REALM):
        pass


def test_given_a_crashed_holder_when_its_lease_expires_then_the_slot_is_reclaimed() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    store.try_acquire_slot(REALM, 0, "crashed-lambda", clock.now, 30.0)
    governor = _governor(store, clock, max_concurrent=1, lease_seconds=30.0)
    with governor.request(REALM):
        pass
    assert clock.now >= 1_000_020.0 + 30.0
    assert sum(clock.sleeps) >= 30.0


def test_given_another_holders_lease_when_released_by_a_stranger_then_it_stays() -> None:
    store = InMemoryGovernorStore()
    store.try_acquire_slot(REALM, 0, "a", 0.0, 30.0)
    store.release_slot(REALM, 0, "b")
    assert not store.try_acquire_slot(REALM, 0, "c", 1.0, 30.0)


def test_given_a_429_when_the_realm_is_penalised_then_every_caller_waits_it_out() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    first = _governor(store, clock)
    second = _governor(store, clock)
    first.throttled(REALM, retry_after=12.0)
    started = clock.now
    with second.request(REALM):
        pass
    assert clock.now - started >= 12.0


def test_given_a_penalty_longer_than_the_max_wait_when_asked_then_it_times_out_without_sleeping() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_wait=5.0)
    governor.throttled(REALM, retry_after=None)  # the default penalty is 10 s
    with pytest.raises(GovernorTimeout), governor.request(REALM):
        pass
    assert clock.sleeps == []


def test_given_a_later_penalty_when_a_shorter_one_is_set_then_the_later_one_is_kept() -> None:
    store = InMemoryGovernorStore()
    store.set_penalty(REALM, 100.0)
    store.set_penalty(REALM, 50.0)
    assert store.penalty_until(REALM) == 100.0


def test_given_two_realms_when_one_is_full_then_the_other_is_unaffected() -> None:
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, max_wait=0.0, requests_per_window=1)
    with governor.request(REALM):
        pass
    with governor.request("another-realm"):
        pass
    with pytest.raises(GovernorTimeout), governor.request(REALM):
        pass


class CallCountingStore(InMemoryGovernorStore):
    """The in-memory store, counting the shared operations each request costs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def try_count_request(
        self, realm: str, window: int, limit: int, *, batch: bool, batch_limit: int
    ) -> bool:
        self.calls["count"] += 1
        return super().try_count_request(realm, window, limit, batch=batch, batch_limit=batch_limit)

    def try_lease_requests(self, realm: str, window: int, limit: int, count: int) -> bool:
        self.calls["lease"] += 1
        return super().try_lease_requests(realm, window, limit, count)

    def penalty_until(self, realm: str) -> float:
        self.calls["penalty_read"] += 1
        return super().penalty_until(realm)


def test_given_a_lease_of_10_when_20_requests_run_then_the_shared_count_is_written_twice_and_read_twice() -> (
    None
):
    store, clock = CallCountingStore(), FakeClock()
    governor = _governor(store, clock, lease_requests=10)

    for _ in range(20):
        with governor.request(REALM):
            pass

    assert store.calls == Counter({"lease": 2, "penalty_read": 2})
    assert store.requests_counted(REALM, int(clock.now // 60)) == 20


def test_given_two_processes_leasing_when_the_window_runs_out_then_no_more_than_the_limit_is_admitted() -> (
    None
):
    store, clock = InMemoryGovernorStore(), FakeClock()
    first = _governor(store, clock, max_wait=0.0, requests_per_window=25, lease_requests=10)
    second = _governor(store, clock, max_wait=0.0, requests_per_window=25, lease_requests=10)

    def admitted(governor: RealmGovernor) -> bool:
        try:
            with governor.request(REALM):
                return True
        except GovernorTimeout:
            return False

    results = [admitted(governor) for _ in range(20) for governor in (first, second)]

    # 10 + 10 leased, then 5 left: a lease of 10 no longer fits, so requests are counted one by one.
    assert results.count(True) == 25
    assert store.requests_counted(REALM, int(clock.now // 60)) == 25


def test_given_a_leased_process_when_another_process_sees_a_429_then_it_waits_from_its_next_lease_on() -> (
    None
):
    store, clock = InMemoryGovernorStore(), FakeClock()
    leasing = _governor(store, clock, lease_requests=3)
    throttled = _governor(store, clock)
    with leasing.request(REALM):  # leases 3, spends 1
        pass

    throttled.throttled(REALM, retry_after=20.0)
    started = clock.now
    for _ in range(2):  # the two leased requests go ahead: the penalty is read with the next lease
        with leasing.request(REALM):
            pass
    before_next_lease = clock.now
    with leasing.request(REALM):
        pass

    assert before_next_lease == started
    assert clock.now - started >= 20.0


def test_given_a_429_in_this_process_when_it_asks_again_then_it_waits_without_spending_its_lease_first() -> (
    None
):
    store, clock = InMemoryGovernorStore(), FakeClock()
    governor = _governor(store, clock, lease_requests=10)
    with governor.request(REALM):
        pass

    governor.throttled(REALM, retry_after=15.0)
    started = clock.now
    with governor.request(REALM):
        pass

    assert clock.now - started >= 15.0
    assert store.requests_counted(REALM, int(started // 60)) == 10  # the lease was used, not a new count


# --- slots kept by the process between requests (keep_slots) --------------------------------------------


class SlotCountingStore(CallCountingStore):
    """Counts slot puts and deletes too (each a DynamoDB write in AWS)."""

    def try_acquire_slot(self, realm: str, slot: int, holder: str, now: float, lease_seconds: float) -> bool:
        self.calls["slot_put"] += 1
        return super().try_acquire_slot(realm, slot, holder, now, lease_seconds)

    def release_slot(self, realm: str, slot: int, holder: str) -> None:
        self.calls["slot_delete"] += 1
        super().release_slot(realm, slot, holder)


def _keeping(store: InMemoryGovernorStore, clock: FakeClock, **limits: float) -> RealmGovernor:
    defaults: dict[str, float] = {"max_concurrent": 10, "lease_seconds": 30.0, "lease_requests": 10}
    return RealmGovernor(
        store,
        QboLimits(**{**defaults, **limits}),  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
        max_wait_seconds=0.01,
        rng=random.Random(7),
        keep_slots=True,
    )


def test_given_kept_slots_when_an_invocation_makes_20_requests_then_one_slot_is_put_and_deleted() -> None:
    store, clock = SlotCountingStore(), FakeClock()
    governor = _keeping(store, clock)

    for _ in range(20):
        with governor.request(REALM):
            assert store.slots_held(REALM, clock.now) == 1
    held_between = store.slots_held(REALM, clock.now)
    governor.release_kept()  # the end of the invocation

    assert (held_between, store.slots_held(REALM, clock.now)) == (1, 0)
    assert (store.calls["slot_put"], store.calls["slot_delete"]) == (1, 1)  # not 20 and 20


def test_given_a_kept_slot_in_use_when_a_second_request_runs_at_once_then_it_needs_a_slot_of_its_own() -> (
    None
):
    store, clock = SlotCountingStore(), FakeClock()
    governor = _keeping(store, clock, max_concurrent=1)

    with governor.request(REALM), pytest.raises(GovernorTimeout), governor.request(REALM):
        pass  # one slot for the realm: the running request's kept slot is not shared
    puts = store.calls["slot_put"]

    with governor.request(REALM):  # idle again: reused
        pass
    assert store.calls["slot_put"] == puts


def test_given_two_concurrent_requests_when_they_end_then_both_slots_are_kept_and_released_at_the_end() -> (
    None
):
    store, clock = SlotCountingStore(), FakeClock()
    governor = _keeping(store, clock, max_concurrent=2)

    with governor.request(REALM), governor.request(REALM):
        assert store.slots_held(REALM, clock.now) == 2
    governor.release_kept()

    assert (governor.kept_slots(REALM), store.slots_held(REALM, clock.now)) == (0, 0)


def test_given_a_kept_slot_near_its_lease_end_when_reused_then_it_is_renewed_first() -> None:
    store, clock = SlotCountingStore(), FakeClock()
    governor = _keeping(store, clock, lease_seconds=30.0)
    with governor.request(REALM):
        pass

    clock.now += 29.0  # 31 s of the 60 s lease left: reused as it is
    with governor.request(REALM):
        pass
    clock.now += 2.0  # 29 s left, under one lease: renewed before the request runs
    with governor.request(REALM):
        assert store.slots_held(REALM, clock.now + 30.0) == 1  # the request has a full lease ahead

    assert store.calls["slot_put"] == 2


def test_given_a_kept_slot_whose_lease_lapsed_and_was_taken_when_reused_then_another_slot_is_taken() -> None:
    store, clock = SlotCountingStore(), FakeClock()
    governor = _keeping(store, clock, max_concurrent=1, lease_seconds=30.0)
    with governor.request(REALM):
        pass
    clock.now += 61.0  # the kept lease lapsed (a frozen container) and another process took the slot
    assert store.try_acquire_slot(REALM, 0, "another-process", clock.now, 30.0)

    with pytest.raises(GovernorTimeout), governor.request(REALM):
        pass  # never two holders of one slot

    assert governor.kept_slots(REALM) == 0
