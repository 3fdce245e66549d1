"""DynamoDB side of the per-realm rate governor (``qbo.governor.RealmGovernor`` holds the logic).

Every method is one conditional write or one read, so any number of Lambdas share the realm's budget:
- a window counter ``GOV#{realm}/WINDOW#{n}`` is incremented only while under the limit (and, for batch
  calls, under the batch limit too), by one or by a whole lease of requests at once; it expires by TTL
  a little after its window;
- a concurrency slot ``GOV#{realm}/SLOT#{i}`` is a lease: taken when free, expired, or already ours;
- the penalty ``GOV#{realm}/PENALTY`` after a 429 only ever moves later.
"""

from __future__ import annotations

from qbosync.settings import get_qbo_limits
from qbosync.store.table import (
    PENALTY_SK,
    Condition,
    ConditionFailed,
    MainTable,
    governor_pk,
    slot_sk,
    window_sk,
)

# Items outlive their meaning by this much, so TTL never removes one that is still in use.
_TTL_GRACE_SECONDS = 300


class DynamoGovernorStore:
    """Implements the ``GovernorStore`` protocol of docs/architecture.md."""

    def __init__(self, table: MainTable | None = None, *, window_seconds: float | None = None) -> None:
        self._table = table or MainTable()
        self._window_seconds = window_seconds

    @property
    def window_seconds(self) -> float:
        if self._window_seconds is None:
            self._window_seconds = get_qbo_limits().window_seconds
        return self._window_seconds

    def try_count_request(
        self, realm: str, window: int, limit: int, *, batch: bool, batch_limit: int
    ) -> bool:
        """Count one request in window ``window`` if it still fits; False when the window is full.

        ``window`` is the window's index since the epoch (``int(now // window_seconds)``), which is how
        the counter's TTL is derived.
        """
        names = {"#count": "count", "#ttl": "expires_at"}
        values: dict[str, object] = {
            ":one": 1,
            ":limit": limit,
            ":ttl": int((window + 1) * self.window_seconds) + _TTL_GRACE_SECONDS,
        }
        update = "SET #ttl = if_not_exists(#ttl, :ttl) ADD #count :one"
        condition = "(attribute_not_exists(#count) OR #count < :limit)"
        if batch:
            names["#batch"] = "batch_count"
            values[":batch_limit"] = batch_limit
            update += ", #batch :one"
            condition += " AND (attribute_not_exists(#batch) OR #batch < :batch_limit)"
        try:
            self._table.update(
                governor_pk(realm),
                window_sk(window),
                Condition(update, names=names, values=values),
                condition=Condition(condition),
            )
        except ConditionFailed:
            return False
        return True

    def try_lease_requests(self, realm: str, window: int, limit: int, count: int) -> bool:
        """Count ``count`` requests in window ``window`` at once, only if all of them fit under ``limit``."""
        try:
            self._table.update(
                governor_pk(realm),
                window_sk(window),
                Condition(
                    "SET #ttl = if_not_exists(#ttl, :ttl) ADD #count :n",
                    names={"#count": "count", "#ttl": "expires_at"},
                    values={
                        ":n": count,
                        ":ttl": int((window + 1) * self.window_seconds) + _TTL_GRACE_SECONDS,
                    },
                ),
                condition=Condition(
                    "attribute_not_exists(#count) OR #count <= :room",
                    names={"#count": "count"},
                    values={":room": limit - count},
                ),
            )
        except ConditionFailed:
            return False
        return True

    def try_acquire_slot(self, realm: str, slot: int, holder: str, now: float, lease_seconds: float) -> bool:
        """Lease concurrency slot ``slot`` to ``holder`` if free, expired or already held by it."""
        lease_end = now + lease_seconds
        try:
            self._table.put(
                {
                    "pk": governor_pk(realm),
                    "sk": slot_sk(slot),
                    "item_type": "governor_slot",
                    "holder": holder,
                    "lease_expires_at": lease_end,
                    "expires_at": int(lease_end) + _TTL_GRACE_SECONDS,
                },
                condition=Condition(
                    "attribute_not_exists(pk) OR lease_expires_at < :now OR holder = :holder",
                    values={":now": now, ":holder": holder},
                ),
            )
        except ConditionFailed:
            return False
        return True

    def release_slot(self, realm: str, slot: int, holder: str) -> None:
        """Give the slot back; a lease that already passed to someone else is left alone."""
        try:
            self._table.delete(
                governor_pk(realm), slot_sk(slot), condition=Condition("holder = :h", values={":h": holder})
            )
        except ConditionFailed:
            return

    def penalty_until(self, realm: str) -> float:
        """Epoch seconds until which the realm must pause after a 429 (0.0 when none)."""
        item = self._table.get(governor_pk(realm), PENALTY_SK)
        return float(item["until"]) if item and "until" in item else 0.0

    def set_penalty(self, realm: str, until: float) -> None:
        """Pause the realm until ``until``; an earlier value never shortens a later one."""
        try:
            self._table.update(
                governor_pk(realm),
                PENALTY_SK,
                Condition(
                    "SET #until = :until, #ttl = :ttl, item_type = :type",
                    names={"#until": "until", "#ttl": "expires_at"},
                    values={
                        ":until": until,
                        ":ttl": int(until) + _TTL_GRACE_SECONDS,
                        ":type": "governor_penalty",
                    },
                ),
                condition=Condition(
                    "attribute_not_exists(#until) OR #until < :until",
                    names={"#until": "until"},
                    values={":until": until},
                ),
            )
        except ConditionFailed:
            return
