"""The version counters qbosync keeps for a source that has none (Rev.io), in the main table.

One item per source object under the tenant (``TENANT#<id>`` / ``SOURCEVERSION#<kind>#<object id>``) with
the version, the content hash it was given for and since when. ``replace`` is a conditional put on the
version that was read, so two workers that read the same new content raise the version once
(``qbosync.source.revio.versions`` has the rule).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from qbosync.store.table import Condition, ConditionFailed, MainTable, tenant_pk

if TYPE_CHECKING:
    from qbosync.source.models import ObjectKind
    from qbosync.source.revio.versions import ObservedVersion

SOURCE_VERSION_PREFIX = "SOURCEVERSION#"


def source_version_sk(kind: str, object_id: str) -> str:
    if not object_id or "#" in object_id:
        raise ValueError("a source object id must be non-empty and must not contain '#'")
    return f"{SOURCE_VERSION_PREFIX}{kind}#{object_id}"


class SourceVersionStore:
    """One tenant's version counters (a ``VersionStore``), kept across invocations and workers."""

    def __init__(self, tenant_id: str, table: MainTable | None = None) -> None:
        self._tenant_id = tenant_id
        self._table = table or MainTable()

    def read(self, kind: ObjectKind, object_id: str) -> ObservedVersion | None:
        from qbosync.source.revio.versions import ObservedVersion

        item = self._table.get(tenant_pk(self._tenant_id), source_version_sk(kind, object_id))
        if item is None:
            return None
        return ObservedVersion(
            version=int(item["version"]),
            content_hash=str(item["content_hash"]),
            updated_at=datetime.fromisoformat(str(item["updated_at"])),
        )

    def replace(self, kind: ObjectKind, object_id: str, expected: int | None, new: ObservedVersion) -> bool:
        """Store ``new`` if the stored version is still ``expected`` (None: nothing stored yet)."""
        condition = (
            Condition("attribute_not_exists(pk)")
            if expected is None
            else Condition("version = :expected", values={":expected": expected})
        )
        try:
            self._table.put(
                {
                    "pk": tenant_pk(self._tenant_id),
                    "sk": source_version_sk(kind, object_id),
                    "item_type": "source_version",
                    "version": new.version,
                    "content_hash": new.content_hash,
                    "updated_at": new.updated_at.isoformat(),
                },
                condition=condition,
            )
        except ConditionFailed:
            return False
        return True
