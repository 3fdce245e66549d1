"""Tenant configuration in DynamoDB: settings, mappings, their audit trail and the reference cache.

Settings and each mapping kind are one item carrying a JSON document and a ``version``. A change is
one transaction: the document is written only if its version is still the one the admin read
(optimistic concurrency) and the audit entry is written with it, so there is no change without its
audit entry and no audit entry without its change.

Sizes: a DynamoDB item holds at most 400 KB, and a 2,000-row mapping of 64-character keys in 4-byte
characters is about 600 KB of JSON. Documents are therefore stored zlib-compressed (``document_z``;
items written before as plain ``document`` still read), and one whose compressed form would not fit
is refused with a 413. An audit entry keeps ``before`` and ``after`` verbatim up to
``AUDIT_VERBATIM_BYTES``; beyond that it keeps a bounded diff (rows removed, added and changed, keyed
by ``source_key``, at most ``AUDIT_DIFF_ROWS`` of each side) and a ``summary`` with the full counts.
Audit entries expire (``expires_at``, DynamoDB TTL) ``QBOSYNC_AUDIT_RETENTION_DAYS`` after they were written;
the settings and mapping documents themselves never do.
"""

from __future__ import annotations

import json
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbosync.errors import Conflict, PayloadTooLarge
from qbosync.settings import get_retention
from qbosync.store.table import (
    Condition,
    ConditionFailed,
    MainTable,
    audit_sk,
    mappings_sk,
    refcache_sk,
    tenant_pk,
)

SETTINGS_SK = "SETTINGS"
AUDIT_PREFIX = "AUDIT#"
MAX_AUDIT_PAGE = 100
MAX_STORED_DOCUMENT_BYTES = 300_000
"""Compressed; leaves room under DynamoDB's 400 KB item limit for the keys and attributes around it."""
AUDIT_VERBATIM_BYTES = 64_000
AUDIT_DIFF_ROWS = 100


class VersionConflict(Conflict):
    """Someone else changed the document since it was read; re-read and apply the edit again."""

    code = "version_conflict"


class DocumentTooLarge(PayloadTooLarge):
    code = "document_too_large"


@dataclass(frozen=True)
class Versioned:
    """A stored document and its version; version 0 means nothing has been stored yet."""

    document: Any
    version: int


@dataclass(frozen=True)
class AuditRecord:
    """A change to record: who made it, when, to what, and the document before and after."""

    actor: str
    action: str
    target: str
    before: Any
    after: Any
    at: datetime
    id: str = ""


@dataclass(frozen=True)
class StoredAuditEntry:
    id: str
    at: datetime
    actor: str
    action: str
    target: str
    version: int
    before: Any
    after: Any
    summary: dict[str, Any] | None = None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _compressed(document: Any) -> bytes:
    return zlib.compress(_json(document).encode("utf-8"), level=6)


def _document_of(item: dict[str, Any]) -> Any:
    packed = item.get("document_z")
    if packed is not None:
        raw = packed.value if hasattr(packed, "value") else packed
        return json.loads(zlib.decompress(raw).decode("utf-8"))
    return json.loads(item["document"])


class VersionedDocuments:
    """Versioned JSON documents under one tenant, each change written together with its audit entry."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def read(self, tenant_id: str, sk: str) -> Versioned | None:
        """The document at ``sk``, or None when nothing was ever stored there."""
        item = self._table.get(tenant_pk(tenant_id), sk)
        if item is None:
            return None
        return Versioned(document=_document_of(item), version=int(item["version"]))

    def write(self, tenant_id: str, sk: str, document: Any, expected_version: int, audit: AuditRecord) -> int:
        """Store ``document`` if the stored version is still ``expected_version``; the new version.

        Raises ``VersionConflict`` when another change got there first, ``DocumentTooLarge`` when the
        document cannot be stored even compressed.
        """
        packed = _compressed(document)
        if len(packed) > MAX_STORED_DOCUMENT_BYTES:
            raise DocumentTooLarge(
                f"{audit.target} is too large to store; split it or use shorter keys",
                details=[{"target": audit.target, "compressed_bytes": len(packed)}],
            )
        new_version = expected_version + 1
        pk = tenant_pk(tenant_id)
        condition = (
            Condition("version = :expected", values={":expected": expected_version})
            if expected_version > 0
            else Condition("attribute_not_exists(pk)")
        )
        document_item = {
            "pk": pk,
            "sk": sk,
            "document_z": packed,
            "version": new_version,
            "updated_at": audit.at.isoformat(),
            "updated_by": audit.actor,
        }
        try:
            self._table.transact_write(
                [
                    self._table.put_op(document_item, condition=condition),
                    self._table.put_op(
                        _audit_item(pk, audit, new_version), condition=Condition("attribute_not_exists(pk)")
                    ),
                ]
            )
        except ConditionFailed as error:
            raise VersionConflict(
                "the configuration changed since it was read; read it again and reapply the change",
                details=[{"target": audit.target, "expected_version": expected_version}],
            ) from error
        return new_version


def _audit_item(pk: str, audit: AuditRecord, version: int) -> dict[str, Any]:
    entry_id = audit.id or uuid.uuid4().hex
    timestamp = audit.at.astimezone(UTC).isoformat(timespec="microseconds")
    before, after, summary = bounded_change(audit.before, audit.after)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": audit_sk(timestamp, entry_id),
        "id": entry_id,
        "at": timestamp,
        "actor": audit.actor,
        "action": audit.action,
        "target": audit.target,
        "version": version,
        "before": _json(before),
        "after": _json(after),
        "expires_at": int((audit.at + get_retention().audit_retention).timestamp()),  # DynamoDB TTL
    }
    if summary is not None:
        item["summary"] = _json(summary)
    return item


def _keyed_rows(value: Any) -> dict[str, Any] | None:
    """Mapping rows by ``source_key``; None when ``value`` is not a list of such rows."""
    if not isinstance(value, list) or not all(isinstance(row, dict) and "source_key" in row for row in value):
        return None
    return {str(row["source_key"]): row for row in value}


def bounded_change(before: Any, after: Any) -> tuple[Any, Any, dict[str, Any] | None]:
    """What an audit entry keeps of a change: both sides verbatim while they are small, otherwise a
    bounded diff of mapping rows (or nothing of other documents) and a summary with the full counts."""
    size = len(_json(before).encode()) + len(_json(after).encode())
    if size <= AUDIT_VERBATIM_BYTES:
        return before, after, None
    old, new = _keyed_rows(before), _keyed_rows(after)
    if old is None or new is None:
        return None, None, {"omitted": "too_large", "bytes": size}
    removed = [row for key, row in old.items() if key not in new]
    added = [row for key, row in new.items() if key not in old]
    changed = [key for key in new if key in old and new[key] != old[key]]
    summary = {
        "omitted": "unchanged_and_beyond_diff_rows",
        "rows_before": len(old),
        "rows_after": len(new),
        "added": len(added),
        "removed": len(removed),
        "changed": len(changed),
        "diff_rows_kept": AUDIT_DIFF_ROWS,
    }
    kept_before = (removed + [old[key] for key in changed])[:AUDIT_DIFF_ROWS]
    kept_after = (added + [new[key] for key in changed])[:AUDIT_DIFF_ROWS]
    return kept_before, kept_after, summary


class SettingsRepository:
    """The tenant's settings document (``TENANT#{t}`` / ``SETTINGS``)."""

    def __init__(self, documents: VersionedDocuments | None = None) -> None:
        self._documents = documents or VersionedDocuments()

    def get(self, tenant_id: str) -> Versioned | None:
        return self._documents.read(tenant_id, SETTINGS_SK)

    def replace(
        self, tenant_id: str, document: dict[str, Any], expected_version: int, audit: AuditRecord
    ) -> int:
        return self._documents.write(tenant_id, SETTINGS_SK, document, expected_version, audit)


class MappingRepository:
    """One mapping kind's rows (``TENANT#{t}`` / ``MAPPINGS#{kind}``)."""

    def __init__(self, documents: VersionedDocuments | None = None) -> None:
        self._documents = documents or VersionedDocuments()

    def get(self, tenant_id: str, kind: str) -> Versioned | None:
        return self._documents.read(tenant_id, mappings_sk(kind))

    def replace(
        self, tenant_id: str, kind: str, rows: list[dict[str, Any]], expected_version: int, audit: AuditRecord
    ) -> int:
        return self._documents.write(tenant_id, mappings_sk(kind), rows, expected_version, audit)


class AuditRepository:
    """Reads the audit trail newest first, in pages with an opaque cursor."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def list(
        self, tenant_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[StoredAuditEntry], str | None]:
        """Up to ``limit`` entries and the cursor of the next page (None on the last page)."""
        page = self._table.query(
            tenant_pk(tenant_id),
            AUDIT_PREFIX,
            limit=max(1, min(limit, MAX_AUDIT_PAGE)),
            cursor=cursor,
            newest_first=True,
        )
        return [_audit_entry(item) for item in page.items], page.cursor


def _audit_entry(item: dict[str, Any]) -> StoredAuditEntry:
    summary = item.get("summary")
    return StoredAuditEntry(
        id=item["id"],
        at=datetime.fromisoformat(item["at"]),
        actor=item["actor"],
        action=item["action"],
        target=item["target"],
        version=int(item["version"]),
        before=json.loads(item["before"]),
        after=json.loads(item["after"]),
        summary=json.loads(summary) if summary else None,
    )


class ReferenceCacheRepository:
    """A short-lived copy of a QBO reference list (``REFCACHE#{kind}``); expiry checked on read,
    because DynamoDB's TTL deletes lazily."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    def get(self, tenant_id: str, kind: str, now: float) -> list[dict[str, Any]] | None:
        item = self._table.get(tenant_pk(tenant_id), refcache_sk(kind), consistent=False)
        if item is None or float(item["expires_at"]) <= now:
            return None
        entries: list[dict[str, Any]] = json.loads(item["entries"])
        return entries

    def put(self, tenant_id: str, kind: str, entries: list[dict[str, Any]], expires_at: float) -> None:
        self._table.put(
            {
                "pk": tenant_pk(tenant_id),
                "sk": refcache_sk(kind),
                "entries": json.dumps(entries, sort_keys=True),
                "expires_at": int(expires_at),
            }
        )
