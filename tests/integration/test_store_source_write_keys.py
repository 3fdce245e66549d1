"""Idempotency keys of Rev.io writes in the main table: the conditional claim behind the adapter's rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbosync.source.revio.write_keys import CLAIM_LEASE, KEY_RETENTION, WriteKey
from qbosync.store.source_write_keys import SOURCE_WRITE_PREFIX, SourceWriteKeys
from qbosync.store.table import MainTable, tenant_pk

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def keys(main_table: str) -> SourceWriteKeys:
    return SourceWriteKeys("acme")


def test_given_a_free_key_when_claimed_twice_then_the_second_claim_gets_the_first_record(
    keys: SourceWriteKeys,
) -> None:
    first = WriteKey("qbosync-aaa", "hash-1", T0)

    assert keys.claim(first, stale_before=T0 - CLAIM_LEASE) is None
    assert keys.claim(WriteKey("qbosync-aaa", "hash-1", T0), stale_before=T0 - CLAIM_LEASE) == first
    item = MainTable().get(tenant_pk("acme"), SOURCE_WRITE_PREFIX + "qbosync-aaa")
    assert item is not None and int(item["expires_at"]) == int((T0 + KEY_RETENTION).timestamp())


def test_given_a_settled_key_when_claimed_after_the_lease_then_it_still_stands_with_its_id(
    keys: SourceWriteKeys,
) -> None:
    keys.claim(WriteKey("qbosync-bbb", "hash-1", T0), stale_before=T0)
    keys.settle("qbosync-bbb", "8001")
    later = T0 + CLAIM_LEASE * 10

    standing = keys.claim(WriteKey("qbosync-bbb", "hash-1", later), stale_before=later - CLAIM_LEASE)

    assert standing == WriteKey("qbosync-bbb", "hash-1", T0, "8001")


def test_given_a_claim_that_died_when_the_lease_is_over_then_the_same_body_takes_it_over_and_another_does_not(
    keys: SourceWriteKeys,
) -> None:
    keys.claim(WriteKey("qbosync-ccc", "hash-1", T0), stale_before=T0)
    during = T0 + timedelta(seconds=30)
    after = T0 + CLAIM_LEASE + timedelta(seconds=1)

    held = keys.claim(WriteKey("qbosync-ccc", "hash-1", during), stale_before=during - CLAIM_LEASE)
    other_body = keys.claim(WriteKey("qbosync-ccc", "hash-2", after), stale_before=after - CLAIM_LEASE)
    taken = keys.claim(WriteKey("qbosync-ccc", "hash-1", after), stale_before=after - CLAIM_LEASE)

    assert held == WriteKey("qbosync-ccc", "hash-1", T0)
    assert other_body == WriteKey("qbosync-ccc", "hash-1", T0)
    assert taken is None


def test_given_two_tenants_when_they_claim_the_same_marker_then_each_has_its_own(main_table: str) -> None:
    assert SourceWriteKeys("acme").claim(WriteKey("qbosync-ddd", "h", T0), stale_before=T0) is None
    assert SourceWriteKeys("globex").claim(WriteKey("qbosync-ddd", "h", T0), stale_before=T0) is None
