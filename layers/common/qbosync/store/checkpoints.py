"""Small pull-side records: reconciliation checkpoints and the QBO webhook dedupe marks.

- ``TENANT#{t}`` / ``CHECKPOINT#{name}``: the time up to which a reconciliation direction is known to
  be complete; written only after a run succeeded, so a failed run is simply done again.
- ``QBOHOOK#{digest}`` / ``SEEN``: one QBO change notification already queued. Intuit resends a
  notification until it gets a 200, with the same CloudEvents id (or the same entity, id and
  lastUpdated in the legacy format); the mark expires (TTL) after ``mark_ttl_seconds``.
"""

from __future__ import annotations

import hashlib
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
        self, table: MainTable | None = None, *, mark_ttl_seconds: int = DEFAULT_MARK_TTL_SECONDS
    ) -> None:
        self._table = table or MainTable()
        self._ttl = mark_ttl_seconds

    def claim(self, dedupe_key: str, now: float) -> bool:
        """True when this notification is new (and is now marked); False for a repeat."""
        try:
            self._table.put(
                {
                    "pk": _webhook_mark_pk(dedupe_key),
                    "sk": WEBHOOK_MARK_SK,
                    "item_type": "qbo_webhook_mark",
                    "expires_at": int(now) + self._ttl,
                },
                condition=Condition(
                    "attribute_not_exists(pk) OR expires_at < :now", values={":now": int(now)}
                ),
            )
        except ConditionFailed:
            return False
        return True

    def release(self, dedupe_key: str) -> None:
        """Forget a mark whose message could not be queued, so Intuit's resend is accepted."""
        self._table.delete(_webhook_mark_pk(dedupe_key), WEBHOOK_MARK_SK)
