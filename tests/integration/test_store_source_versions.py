"""Version counters for Rev.io objects in the main table: the compare-and-set behind the version rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.source.models import ObjectKind
from qbosync.source.revio.versions import ObservedVersion, VersionLedger, content_hash
from qbosync.store.source_versions import SourceVersionStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(main_table: str) -> SourceVersionStore:
    return SourceVersionStore("acme")


def test_given_no_counter_when_replaced_from_nothing_then_it_is_stored_and_read_back(
    store: SourceVersionStore,
) -> None:
    first = ObservedVersion(1, "h1", T0)

    assert store.replace("invoice", "5001", None, first) is True
    assert store.read("invoice", "5001") == first
    assert store.replace("invoice", "5001", None, ObservedVersion(1, "other", T0)) is False


def test_given_a_stale_expected_version_when_replaced_then_nothing_changes(store: SourceVersionStore) -> None:
    store.replace("payment", "8001", None, ObservedVersion(1, "h1", T0))
    store.replace("payment", "8001", 1, ObservedVersion(2, "h2", T0))

    assert store.replace("payment", "8001", 1, ObservedVersion(2, "h3", T0)) is False
    assert store.read("payment", "8001") == ObservedVersion(2, "h2", T0)


def test_given_the_rule_over_dynamodb_when_content_repeats_and_changes_then_versions_follow_it(
    store: SourceVersionStore,
) -> None:
    ledger = VersionLedger(store, Clock())

    first = ledger.observe("customer", "1001", content_hash({"email": "a@x.example"}))
    again = VersionLedger(SourceVersionStore("acme"), Clock()).observe(
        "customer", "1001", content_hash({"email": "a@x.example"})
    )
    changed = ledger.observe("customer", "1001", content_hash({"email": "b@x.example"}))
    other_tenant = VersionLedger(SourceVersionStore("globex"), Clock()).observe(
        "customer", "1001", content_hash({"email": "b@x.example"})
    )

    assert (first.version, again, changed.version, other_tenant.version) == (1, first, 2, 1)


class InterleavedStore(SourceVersionStore):
    """Lets another worker observe the same new content between this worker's read and its write."""

    def __init__(self, tenant_id: str, other: VersionLedger, digest: str) -> None:
        super().__init__(tenant_id)
        self._other, self._digest, self._armed = other, digest, True

    def read(self, kind: ObjectKind, object_id: str) -> ObservedVersion | None:
        current = super().read(kind, object_id)
        if self._armed:
            self._armed = False
            self._other.observe(kind, object_id, self._digest)  # wins the compare-and-set
        return current


def test_given_two_workers_reading_the_same_new_content_when_both_observe_then_the_version_rises_once(
    store: SourceVersionStore,
) -> None:
    VersionLedger(store, Clock()).observe("invoice", "5001", content_hash({"total": "10.00"}))
    digest = content_hash({"total": "12.00"})
    other = VersionLedger(SourceVersionStore("acme"), Clock())
    loser = VersionLedger(InterleavedStore("acme", other, digest), Clock())

    observed = loser.observe("invoice", "5001", digest)

    assert observed.version == 2
    assert store.read("invoice", "5001") == observed
