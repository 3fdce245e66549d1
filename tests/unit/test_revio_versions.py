"""The version rule for a source without versions: a counter per object raised on a new content hash."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from qbosync.source.models import ObjectKind
from qbosync.source.revio.versions import (
    InMemoryVersionStore,
    ObservedVersion,
    VersionLedger,
    content_hash,
)

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


class SteppingClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_given_an_object_read_for_the_first_time_when_observed_then_it_is_version_1() -> None:
    ledger = VersionLedger(InMemoryVersionStore(), SteppingClock())

    observed = ledger.observe("customer", "1001", content_hash({"display_name": "Northwind"}))

    assert observed.version == 1


def test_given_the_same_content_read_twice_when_observed_then_the_version_and_time_stay() -> None:
    ledger = VersionLedger(InMemoryVersionStore(), SteppingClock())
    first = ledger.observe("customer", "1001", content_hash({"display_name": "Northwind"}))

    again = ledger.observe("customer", "1001", content_hash({"display_name": "Northwind"}))

    assert again == first


def test_given_changed_content_when_observed_then_the_version_rises_by_one_with_a_new_time() -> None:
    ledger = VersionLedger(InMemoryVersionStore(), SteppingClock())
    first = ledger.observe("invoice", "5001", content_hash({"total": "10.00"}))

    changed = ledger.observe("invoice", "5001", content_hash({"total": "12.00"}))

    assert (changed.version, changed.updated_at > first.updated_at) == (2, True)


def test_given_fields_that_do_not_describe_content_when_hashed_then_they_are_left_out() -> None:
    one = content_hash({"id": "1", "version": 1, "updated_at": "2026-01-01T00:00:00Z", "name": "A"})
    other = content_hash({"id": "1", "version": 7, "updated_at": "2026-02-01T00:00:00Z", "name": "A"})

    assert one == other != content_hash({"name": "B"})


def test_given_two_objects_when_one_changes_then_the_other_keeps_its_version() -> None:
    ledger = VersionLedger(InMemoryVersionStore(), SteppingClock())
    ledger.observe("customer", "1001", content_hash({"n": 1}))
    ledger.observe("customer", "1002", content_hash({"n": 1}))

    ledger.observe("customer", "1001", content_hash({"n": 2}))

    assert ledger.observe("customer", "1002", content_hash({"n": 1})).version == 1


class BarrierStore(InMemoryVersionStore):
    """Once armed, holds the first ``readers`` reads until all have read, so each sees the old version;
    later reads (the compare-and-set loser's re-read) pass straight through."""

    def __init__(self, readers: int) -> None:
        super().__init__()
        self._barrier = threading.Barrier(readers)
        self._held = 0
        self._count_lock = threading.Lock()
        self.armed = False

    def read(self, kind: ObjectKind, object_id: str) -> ObservedVersion | None:
        current = super().read(kind, object_id)
        with self._count_lock:
            hold = self.armed and self._held < self._barrier.parties
            self._held += hold
        if hold:
            self._barrier.wait(timeout=30)
        return current


def test_given_two_concurrent_readers_of_the_same_new_content_when_observed_then_the_version_rises_once() -> (
    None
):
    store = BarrierStore(readers=2)
    ledger = VersionLedger(store, SteppingClock())
    ledger.observe("payment", "8001", content_hash({"status": "posted"}))
    store.armed = True
    results: list[int] = []

    def read_voided() -> None:
        results.append(ledger.observe("payment", "8001", content_hash({"status": "void"})).version)

    threads = [threading.Thread(target=read_voided) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    store.armed = False

    assert sorted(results) == [2, 2]
    assert ledger.observe("payment", "8001", content_hash({"status": "void"})).version == 2
