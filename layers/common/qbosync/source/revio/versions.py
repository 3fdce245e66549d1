"""Versions for a source that has none: a counter qbosync keeps per object, raised when its content changes.

The source contract needs a whole-number ``version`` that rises on every change, so receivers can drop
stale and duplicate notifications. Rev.io documents no version or last-modified field, so the rule is:

- the *content hash* of an object is the SHA-256 of its mapped contract form (canonical JSON) without
  ``id``, ``version`` and ``updated_at``;
- the first read of an object records version 1 with that hash and the time of the read;
- a later read with the same hash keeps the version (and its ``updated_at``);
- a read with a different hash raises the version by one and records the new hash and time;
- two readers that see the same new content raise it once: the raise is a compare-and-set on the
  version that was read, and the loser re-reads and finds the hash already recorded.

A read of old content after a newer one (a stale replica) counts as a change too: versions order what
qbosync saw, not what the source did, which is all "skip older versions" on re-reads needs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from qbosync.source.models import ObjectKind

_VOLATILE = frozenset({"id", "version", "updated_at"})
_MAX_CAS_ATTEMPTS = 16


def content_hash(contract_fields: dict[str, Any]) -> str:
    """SHA-256 of the object's canonical JSON, without the fields that do not describe its content."""
    stable = {key: value for key, value in contract_fields.items() if key not in _VOLATILE}
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ObservedVersion:
    """What the ledger holds for one object: its version, the hash it was given for, and since when."""

    version: int
    content_hash: str
    updated_at: datetime


class VersionStore(Protocol):
    """Where the counters live; ``replace`` is a compare-and-set on the version that was read."""

    def read(self, kind: ObjectKind, object_id: str) -> ObservedVersion | None: ...

    def replace(
        self, kind: ObjectKind, object_id: str, expected: int | None, new: ObservedVersion
    ) -> bool: ...


class InMemoryVersionStore:
    """A ``VersionStore`` in this process (the emulator's tests, the kit's front, one Lambda container)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], ObservedVersion] = {}

    def read(self, kind: ObjectKind, object_id: str) -> ObservedVersion | None:
        with self._lock:
            return self._rows.get((kind, object_id))

    def replace(self, kind: ObjectKind, object_id: str, expected: int | None, new: ObservedVersion) -> bool:
        with self._lock:
            current = self._rows.get((kind, object_id))
            if (current.version if current else None) != expected:
                return False
            self._rows[(kind, object_id)] = new
            return True


@functools.cache
def shared_version_store(tenant_id: str) -> InMemoryVersionStore:
    """One tenant's versions, shared by every adapter of that tenant in this process (built on first use,
    not at import). Tenants never share one: ids are only unique within one Rev.io client."""
    return InMemoryVersionStore()


class VersionLedger:
    """Turns each read of an object into its contract ``version`` and ``updated_at`` by the rule above."""

    def __init__(self, store: VersionStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def observe(self, kind: ObjectKind, object_id: str, digest: str) -> ObservedVersion:
        """The version of this content of the object, raising the counter if the content is new."""
        for _ in range(_MAX_CAS_ATTEMPTS):
            current = self._store.read(kind, object_id)
            if current is not None and current.content_hash == digest:
                return current
            candidate = ObservedVersion(
                version=1 if current is None else current.version + 1,
                content_hash=digest,
                updated_at=self._clock(),
            )
            if self._store.replace(kind, object_id, None if current is None else current.version, candidate):
                return candidate
        raise RuntimeError(
            f"the version of {kind} {object_id} kept changing under {_MAX_CAS_ATTEMPTS} readers"
        )
