"""Idempotency keys of Rev.io writes, in the main table (the rule: ``qbosync.source.revio.write_keys``).

One item per key under the tenant (``TENANT#<id>`` / ``SOURCEWRITE#<marker>``) with the body hash, when it
was claimed (milliseconds since the epoch), and the created id once the create is done. A claim is a
conditional put, so two workers holding the same key cannot both take it; DynamoDB's TTL removes the
item after ``KEY_RETENTION``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from qbosync.store.table import Condition, ConditionFailed, MainTable, tenant_pk

if TYPE_CHECKING:
    from qbosync.source.revio.write_keys import WriteKey

SOURCE_WRITE_PREFIX = "SOURCEWRITE#"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class SourceWriteKeys:
    """One tenant's write keys (a ``WriteKeyStore``), shared by every worker and container."""

    def __init__(self, tenant_id: str, table: MainTable | None = None) -> None:
        self._tenant_id = tenant_id
        self._table = table or MainTable()

    def claim(self, key: WriteKey, stale_before: datetime) -> WriteKey | None:
        from qbosync.source.revio.write_keys import KEY_RETENTION

        # Free, or a claim of the same body that died before it recorded anything.
        condition = Condition(
            "attribute_not_exists(pk) OR (attribute_not_exists(created_id)"
            " AND body_hash = :hash AND claimed_at < :stale)",
            values={":hash": key.body_hash, ":stale": _millis(stale_before)},
        )
        try:
            self._table.put(
                {
                    "pk": tenant_pk(self._tenant_id),
                    "sk": SOURCE_WRITE_PREFIX + key.marker,
                    "item_type": "source_write_key",
                    "body_hash": key.body_hash,
                    "claimed_at": _millis(key.claimed_at),
                    "expires_at": int((key.claimed_at + KEY_RETENTION).timestamp()),
                },
                condition=condition,
            )
        except ConditionFailed:
            standing = self._read(key.marker)
            # None: it expired between the refused put and the read, so the key is free again.
            return self.claim(key, stale_before) if standing is None else standing
        return None

    def settle(self, marker: str, created_id: str) -> None:
        self._table.update(
            tenant_pk(self._tenant_id),
            SOURCE_WRITE_PREFIX + marker,
            Condition("SET created_id = :id", values={":id": created_id}),
        )

    def _read(self, marker: str) -> WriteKey | None:
        from qbosync.source.revio.write_keys import WriteKey

        item = self._table.get(tenant_pk(self._tenant_id), SOURCE_WRITE_PREFIX + marker)
        if item is None:
            return None
        created = item.get("created_id")
        return WriteKey(
            marker=marker,
            body_hash=str(item["body_hash"]),
            claimed_at=datetime.fromtimestamp(int(item["claimed_at"]) / 1000, UTC),
            created_id=None if created is None else str(created),
        )
