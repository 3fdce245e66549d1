"""Small pull-side records: reconciliation checkpoints and the QBO webhook dedupe marks.

- ``TENANT#{t}`` / ``CHECKPOINT#{name}``: the time up to which a reconciliation direction is known to
  be complete; written only after a run succeeded, so a failed run is simply done again.
- ``QBOHOOK#{digest}`` / ``SEEN``: one QBO change notification already queued. Intuit resends a
  notification until it gets a 200, with the same CloudEvents id (or the same entity, id and
  lastUpdated in the legacy format); the mark expires (TTL) after ``mark_ttl_seconds``. A mark is
  written only *after* its message is on the queue, so a request cut off before that (Lambda timeout)
  leaves nothing that would make Intuit's resend look like a duplicate.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from qbosync.store.table import Condition, ConditionFailed, MainTable, tenant_pk

CHECKPOINT_PREFIX = "CHECKPOINT#"
WEBHOOK_MARK_SK = "SEEN"
DEFAULT_MARK_TTL_SECONDS = 7 * 86_400


def _webhook_mark_pk(dedupe_key: str) -> str:
    return f"QBOHOOK#{hashlib.sha256(dedupe_key.encode()).hexdigest()}"


class CheckpointRepository:
    """Reads and moves a tenant's reconciliation checkpoints."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def get(self, tenant_id: str, name: str) -> datetime | None:
        item = self._table.get(tenant_pk(tenant_id), f"{CHECKPOINT_PREFIX}{name}")
        return datetime.fromisoformat(item["at"]) if item else None

    def put(self, tenant_id: str, name: str, at: datetime) -> None:
        """Move the checkpoint to ``at``; never backwards (a slow, older run cannot undo a newer one)."""
        try:
            self._table.put(
                {
                    "pk": tenant_pk(tenant_id),
                    "sk": f"{CHECKPOINT_PREFIX}{name}",
                    "item_type": "checkpoint",
                    "at": at.isoformat(),
                    "at_epoch": at.timestamp(),
                },
                condition=Condition(
                    "attribute_not_exists(pk) OR at_epoch <= :e", values={":e": at.timestamp()}
                ),
            )
        except ConditionFailed:
            return


class WebhookMarks:
    """Remembers which QBO change notifications were already queued."""

    def __init__(
        self,
        table: MainTable | None = None,
        *,
        mark_ttl_seconds: int = DEFAULT_MARK_TTL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table or MainTable()
        self._ttl = mark_ttl_seconds
        self._sleep = sleep

    def already_queued(self, dedupe_keys: Sequence[str], now: float) -> set[str]:
        """The keys among ``dedupe_keys`` whose notification was queued before (unexpired marks)."""
        by_pk = {_webhook_mark_pk(key): key for key in dedupe_keys}
        items = self._table.batch_get([(pk, WEBHOOK_MARK_SK) for pk in by_pk], sleep=self._sleep)
        return {by_pk[item["pk"]] for item in items if int(item.get("expires_at", 0)) >= int(now)}

    def mark_queued(self, dedupe_keys: Sequence[str], now: float) -> None:
        """Mark notifications whose messages are on the queue; call only after the queue accepted them."""
        self._table.batch_put(
            [
                {
                    "pk": _webhook_mark_pk(key),
                    "sk": WEBHOOK_MARK_SK,
                    "item_type": "qbo_webhook_mark",
                    "expires_at": int(now) + self._ttl,
                }
                for key in dict.fromkeys(dedupe_keys)
            ],
            sleep=self._sleep,
        )
