"""The per-realm rate governor: every Lambda calling one QBO company shares one budget.

QBO allows a realm 500 requests a minute (batch calls included, with their own lower cap) and 10
concurrent requests, and answers 429 beyond that. The governor keeps callers inside those limits
with three shared records in a ``GovernorStore`` (DynamoDB in AWS, memory in tests):

- a request counter per fixed window (``window = floor(now / window_seconds)``), bumped with a
  conditional write so the limit holds across processes;
- ``max_concurrent`` slots, each a lease that expires, so a Lambda that dies mid-call frees its
  slot after ``lease_seconds`` instead of holding it forever;
- a realm-wide penalty set after a 429, so one throttled caller slows every caller of the realm.

Leases keep this cheap: a process takes ``lease_requests`` requests of the window at once (one
conditional write, refused unless all of them fit, then one request is tried alone) and spends them
locally; it reads the shared penalty when it takes a lease, not before every request. So the window's
count still never exceeds the limit (an unspent lease is simply lost when its window ends), a 429 stops
the process that saw it at once and every other process before its next lease, i.e. within
``lease_requests`` requests. Batch calls are always counted in the shared record, with their own cap.

Slots can be kept too (``keep_slots``): after a request the process keeps its slot instead of deleting
it, and its next request for the realm reuses it with no store call; the process gives every kept slot
back at the end of its invocation (``release_kept``, registered by ``sync.wiring``). The guarantee holds:
a kept slot serves one request of the process at a time (a second concurrent request takes a slot of
its own), its lease is taken for two ``lease_seconds`` and renewed (one conditional write, refused if
the lease lapsed and another holder took it) before any request that would start with less than one
``lease_seconds`` left, so every request runs inside an unexpired lease of at least ``lease_seconds``,
as with a slot per request. A process that dies keeps its slot at most two ``lease_seconds``.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from qbosync.errors import UpstreamUnavailable
from qbosync.observability import logger
from qbosync.settings import QboLimits


class GovernorStore(Protocol):
    """Shared state of the governor; every method is a single atomic operation."""

    def try_count_request(
        self, realm: str, window: int, limit: int, *, batch: bool, batch_limit: int
    ) -> bool:
        """Count one request in ``window`` if within ``limit`` (and ``batch_limit`` for a batch call)."""
        ...

    def try_lease_requests(self, realm: str, window: int, limit: int, count: int) -> bool:
        """Count ``count`` plain requests in ``window`` at once if all of them fit within ``limit``."""
        ...

    def try_acquire_slot(self, realm: str, slot: int, holder: str, now: float, lease_seconds: float) -> bool:
        """Lease ``slot`` to ``holder`` until ``now + lease_seconds`` if it is free or has lapsed."""
        ...

    def release_slot(self, realm: str, slot: int, holder: str) -> None:
        """Free ``slot`` if ``holder`` still holds it (a lapsed, re-leased slot is left alone)."""
        ...

    def penalty_until(self, realm: str) -> float:
        """Epoch seconds until which the realm is penalised; 0 when there is no penalty."""
        ...

    def set_penalty(self, realm: str, until: float) -> None:
        """Penalise the realm until ``until``; an existing later penalty is kept."""
        ...


class GovernorTimeout(UpstreamUnavailable):
    """The realm's budget did not free up within the caller's maximum wait."""

    code = "qbo_rate_limited"


@dataclass
class _SlotLease:
    holder: str
    expires_at: float


@dataclass
class _WindowCount:
    requests: int = 0
    batches: int = 0


@dataclass
class _KeptSlot:
    """A slot this process keeps between requests: whose lease, until when, and whether a request runs."""

    slot: int
    holder: str
    lease_until: float
    in_use: bool = True


@dataclass
class _LocalBudget:
    """What one process holds of a realm's shared budget: leased requests and the penalty it knows."""

    window: int = -1
    remaining: int = 0
    penalty_until: float = 0.0


@dataclass
class InMemoryGovernorStore:
    """A thread-safe governor store for one process: unit tests and single-process runs."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _windows: dict[tuple[str, int], _WindowCount] = field(default_factory=dict)
    _slots: dict[tuple[str, int], _SlotLease] = field(default_factory=dict)
    _penalties: dict[str, float] = field(default_factory=dict)

    def try_count_request(
        self, realm: str, window: int, limit: int, *, batch: bool, batch_limit: int
    ) -> bool:
        with self._lock:
            # Older windows are never read again; dropping them keeps memory bounded.
            for key in [key for key in self._windows if key[0] == realm and key[1] < window]:
                del self._windows[key]
            count = self._windows.setdefault((realm, window), _WindowCount())
            if count.requests >= limit or (batch and count.batches >= batch_limit):
                return False
            count.requests += 1
            if batch:
                count.batches += 1
            return True

    def try_lease_requests(self, realm: str, window: int, limit: int, count: int) -> bool:
        with self._lock:
            current = self._windows.setdefault((realm, window), _WindowCount())
            if current.requests + count > limit:
                return False
            current.requests += count
            return True

    def try_acquire_slot(self, realm: str, slot: int, holder: str, now: float, lease_seconds: float) -> bool:
        with self._lock:
            lease = self._slots.get((realm, slot))
            if lease is not None and lease.expires_at > now and lease.holder != holder:
                return False
            self._slots[(realm, slot)] = _SlotLease(holder=holder, expires_at=now + lease_seconds)
            return True

    def release_slot(self, realm: str, slot: int, holder: str) -> None:
        with self._lock:
            lease = self._slots.get((realm, slot))
            if lease is not None and lease.holder == holder:
                del self._slots[(realm, slot)]

    def penalty_until(self, realm: str) -> float:
        with self._lock:
            return self._penalties.get(realm, 0.0)

    def set_penalty(self, realm: str, until: float) -> None:
        with self._lock:
            self._penalties[realm] = max(until, self._penalties.get(realm, 0.0))

    def requests_counted(self, realm: str, window: int) -> int:
        """How many requests ``window`` has counted (for tests and diagnostics)."""
        with self._lock:
            count = self._windows.get((realm, window))
            return count.requests if count else 0

    def slots_held(self, realm: str, now: float) -> int:
        """How many unexpired leases the realm has (for tests and diagnostics)."""
        with self._lock:
            return sum(1 for (r, _), lease in self._slots.items() if r == realm and lease.expires_at > now)


class RealmGovernor:
    """Admits one QBO request at a time per call of ``request()``, within the realm's shared limits."""

    def __init__(
        self,
        store: GovernorStore,
        limits: QboLimits,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        *,
        max_wait_seconds: float = 120.0,
        default_penalty_seconds: float = 10.0,
        slot_backoff_seconds: float = 0.05,
        rng: random.Random | None = None,
        keep_slots: bool = False,
    ) -> None:
        self._store = store
        self._keep_slots = keep_slots
        self._kept: dict[str, list[_KeptSlot]] = {}
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._max_wait_seconds = max_wait_seconds
        self._default_penalty_seconds = default_penalty_seconds
        self._slot_backoff_seconds = slot_backoff_seconds
        # Jitter only spreads callers apart; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._budgets: dict[str, _LocalBudget] = {}
        self._budgets_lock = threading.Lock()

    @property
    def limits(self) -> QboLimits:
        return self._limits

    @contextmanager
    def request(self, realm_id: str, *, batch: bool = False, max_wait: float | None = None) -> Iterator[None]:
        """Block until the realm may take one more request, hold a concurrency slot while it runs.

        Raises ``GovernorTimeout`` rather than sleep past ``max_wait`` seconds (the governor's default
        if None), so a Lambda gives its message back to the queue instead of timing out.
        """
        holder = uuid.uuid4().hex
        deadline = self._clock() + (self._max_wait_seconds if max_wait is None else max_wait)
        counted = False
        slot_waits = 0
        slot = -1
        kept: _KeptSlot | None = None
        while True:
            now = self._clock()
            known_penalty = self._local(realm_id).penalty_until
            if known_penalty > now:
                self._wait(realm_id, known_penalty - now + self._jitter(), deadline, reason="penalty")
                continue
            if not counted:
                refused = self._admit(realm_id, now, batch=batch)
                if refused is not None:
                    reason, seconds = refused
                    self._wait(realm_id, seconds + self._jitter(), deadline, reason=reason)
                    continue
                counted = True
            kept = self._reuse_kept(realm_id, now) if self._keep_slots else None
            if kept is not None:
                break
            lease = self._kept_lease_seconds() if self._keep_slots else self._limits.lease_seconds
            leased = self._try_lease_slot(realm_id, holder, now, lease)
            if leased is None:
                slot_waits += 1
                backoff = self._slot_backoff_seconds * min(2 ** (slot_waits - 1), 20)
                self._wait(realm_id, backoff + self._jitter(backoff), deadline, reason="no_slot")
                continue
            slot = leased
            if self._keep_slots:
                kept = _KeptSlot(slot, holder, now + lease)
                with self._budgets_lock:
                    self._kept.setdefault(realm_id, []).append(kept)
            break
        try:
            yield
        finally:
            if kept is None:
                self._store.release_slot(realm_id, slot, holder)
            else:
                with self._budgets_lock:
                    kept.in_use = False

    def release_kept(self) -> None:
        """Give back every slot this process keeps and no request is using (the end of an invocation)."""
        with self._budgets_lock:
            idle = [(realm, kept) for realm, slots in self._kept.items() for kept in slots if not kept.in_use]
            for realm, kept in idle:
                self._kept[realm].remove(kept)
        for realm, kept in idle:
            self._store.release_slot(realm, kept.slot, kept.holder)

    def kept_slots(self, realm_id: str) -> int:
        """How many slots of the realm this process keeps (for tests and diagnostics)."""
        with self._budgets_lock:
            return len(self._kept.get(realm_id, []))

    def _kept_lease_seconds(self) -> float:
        return 2 * self._limits.lease_seconds

    def _reuse_kept(self, realm_id: str, now: float) -> _KeptSlot | None:
        """An idle kept slot of the realm, marked in use, with at least ``lease_seconds`` of lease left
        (renewed if needed); None when there is none (a lapsed one taken by another holder is dropped)."""
        with self._budgets_lock:
            kept = next((k for k in self._kept.get(realm_id, []) if not k.in_use), None)
            if kept is None:
                return None
            kept.in_use = True
        if kept.lease_until - now >= self._limits.lease_seconds:
            return kept
        lease = self._kept_lease_seconds()
        if self._store.try_acquire_slot(realm_id, kept.slot, kept.holder, now, lease):
            kept.lease_until = now + lease
            return kept
        with self._budgets_lock:
            self._kept[realm_id].remove(kept)
        return None

    def throttled(self, realm_id: str, retry_after: float | None) -> None:
        """Record a 429 for the realm: every caller of it waits until the penalty has passed."""
        seconds = self._default_penalty_seconds if retry_after is None else retry_after
        until = self._clock() + seconds
        self._store.set_penalty(realm_id, until)
        self._remember_penalty(realm_id, until)
        logger.warning("qbo realm throttled", extra={"realm_id": realm_id, "penalty_seconds": seconds})

    def _local(self, realm_id: str) -> _LocalBudget:
        with self._budgets_lock:
            return self._budgets.setdefault(realm_id, _LocalBudget())

    def _remember_penalty(self, realm_id: str, until: float) -> None:
        with self._budgets_lock:
            local = self._budgets.setdefault(realm_id, _LocalBudget())
            local.penalty_until = max(local.penalty_until, until)

    def _take_leased(self, realm_id: str, window: int) -> bool:
        with self._budgets_lock:
            local = self._budgets.setdefault(realm_id, _LocalBudget())
            if local.window != window or local.remaining <= 0:
                return False
            local.remaining -= 1
            return True

    def _admit(self, realm_id: str, now: float, *, batch: bool) -> tuple[str, float] | None:
        """Count one request: from this process's lease, else from the shared record (with the shared
        penalty read first). ``None`` when admitted, else why not and how long to wait."""
        limits = self._limits
        window = math.floor(now / limits.window_seconds)
        if not batch and self._take_leased(realm_id, window):
            return None
        penalty_until = self._store.penalty_until(realm_id)
        if penalty_until > now:
            self._remember_penalty(realm_id, penalty_until)
            return "penalty", penalty_until - now
        size = limits.lease_requests
        leasing = not batch and size > 1
        if leasing and self._store.try_lease_requests(realm_id, window, limits.requests_per_window, size):
            with self._budgets_lock:
                local = self._budgets.setdefault(realm_id, _LocalBudget())
                kept = local.remaining if local.window == window else 0
                local.window, local.remaining = window, kept + size - 1
            return None
        if self._store.try_count_request(
            realm_id,
            window,
            limits.requests_per_window,
            batch=batch,
            batch_limit=limits.batch_requests_per_window,
        ):
            return None
        return "window_full", (window + 1) * limits.window_seconds - now

    def _try_lease_slot(self, realm_id: str, holder: str, now: float, lease_seconds: float) -> int | None:
        slots = self._limits.max_concurrent
        # Starting at a random slot keeps concurrent callers from all fighting over slot 0.
        offset = self._rng.randrange(slots)
        for step in range(slots):
            slot = (offset + step) % slots
            if self._store.try_acquire_slot(realm_id, slot, holder, now, lease_seconds):
                return slot
        return None

    def _jitter(self, scale: float = 0.25) -> float:
        return self._rng.uniform(0, scale)

    def _wait(self, realm_id: str, seconds: float, deadline: float, *, reason: str) -> None:
        if self._clock() + seconds > deadline:
            logger.warning("qbo governor gave up", extra={"realm_id": realm_id, "reason": reason})
            raise GovernorTimeout(f"QBO rate budget for the realm is exhausted ({reason}); try again later")
        self._sleep(seconds)
