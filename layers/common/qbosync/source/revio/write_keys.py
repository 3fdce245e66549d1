"""Idempotency keys for Rev.io writes, where Rev.io keeps none.

The adapter's look-before-write (a marker derived from the key, stored in a field Rev.io can search)
answers a retry with the record the first try created, for as long as that record exists. What it cannot
do alone is what the source contract's key store does: refuse the same key with another body
(``409 idempotency_key_reused``), and stop two tries of one key that run at the same time (a queue
delivering a message twice) from both finding nothing and both creating. So each create first *claims*
its key in a ``WriteKeyStore``:

- no record (or a claim older than the lease that never recorded what it created): the claim is taken,
  the adapter looks for the marker, creates if it is not there, and records the id it got;
- a record with another body hash: refused, 409;
- a record with a created id: that object is read and returned (no search, no write);
- a fresh claim without an id (another try is writing now): the marker is searched; found, it is
  returned; not found, the write is refused as *unavailable*, so the queue tries it again later.

The lease is longer than a create takes with all its retries; a try that died mid-way is taken over
after it, and the marker search still finds what it may have created. Records are kept a week
(``KEY_RETENTION``), past the contract's "at least a day".
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

KEY_RETENTION = timedelta(days=7)
CLAIM_LEASE = timedelta(minutes=2)
"""Longer than one create with every retry (4 attempts, 10 s timeout, backoff up to 8 s each)."""


def body_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON: what a key was first used with."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class WriteKey:
    """One key's record: the marker it became, the body it was used with, when it was claimed, and
    (once the create is done) the id of what it created."""

    marker: str
    body_hash: str
    claimed_at: datetime
    created_id: str | None = None


class WriteKeyStore(Protocol):
    """Where the claims live (DynamoDB: ``qbosync.store.source_write_keys``)."""

    def claim(self, key: WriteKey, stale_before: datetime) -> WriteKey | None:
        """Store ``key`` unless a record is there that is done, of another body, or claimed at or after
        ``stale_before``; None when claimed, else the record that stands."""
        ...

    def settle(self, marker: str, created_id: str) -> None:
        """Record what the claim created."""
        ...


class InMemoryWriteKeys:
    """A ``WriteKeyStore`` in this process (tests, the emulator's front, the kit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, WriteKey] = {}

    def claim(self, key: WriteKey, stale_before: datetime) -> WriteKey | None:
        with self._lock:
            current = self._rows.get(key.marker)
            if current is not None and not _taken_over(current, key, stale_before):
                return current
            self._rows[key.marker] = key
            return None

    def settle(self, marker: str, created_id: str) -> None:
        with self._lock:
            current = self._rows[marker]
            self._rows[marker] = WriteKey(marker, current.body_hash, current.claimed_at, created_id)


def _taken_over(current: WriteKey, key: WriteKey, stale_before: datetime) -> bool:
    """A claim that died: same body, nothing recorded, claimed before the lease began."""
    return (
        current.created_id is None
        and current.body_hash == key.body_hash
        and current.claimed_at < stale_before
    )


@functools.cache
def shared_write_keys(tenant_id: str) -> InMemoryWriteKeys:
    """One tenant's keys for every adapter of that tenant in this process (built on first use)."""
    return InMemoryWriteKeys()
