"""Tenant configuration in DynamoDB: settings, mappings, their audit trail and the reference cache.

Settings and each mapping kind are one item carrying a JSON document and a ``version``. A change is
one transaction: the document is written only if its version is still the one the admin read
(optimistic concurrency) and the audit entry is written with it, so there is no change without its
audit entry and no audit entry without its change.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from qbosync.errors import BadRequest, Conflict
from qbosync.settings import get_settings
from qbosync.store.aws import dynamodb_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, PutTypeDef

SETTINGS_SK = "SETTINGS"
AUDIT_PREFIX = "AUDIT#"
MAX_AUDIT_PAGE = 100


class VersionConflict(Conflict):
    """Someone else changed the document since it was read; re-read and apply the edit again."""

    code = "version_conflict"


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def mappings_sk(kind: str) -> str:
    return f"MAPPINGS#{kind}"


def reference_cache_sk(kind: str) -> str:
    return f"REFCACHE#{kind}"


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


def _table_name() -> str:
    return get_settings().table_name


def _is_condition_failure(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)
    return False


class VersionedDocuments:
    """Versioned JSON documents under one tenant, each change written together with its audit entry."""

    def __init__(self, client: DynamoDBClient | None = None, table_name: str | None = None) -> None:
        self._client = client
        self._table_name = table_name

    @property
    def client(self) -> DynamoDBClient:
        return self._client or dynamodb_client()

    @property
    def table_name(self) -> str:
        return self._table_name or _table_name()

    def read(self, tenant_id: str, sk: str) -> Versioned | None:
        """The document at ``sk``, or None when nothing was ever stored there."""
        reply = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        item = reply.get("Item")
        if item is None:
            return None
        return Versioned(document=json.loads(item["document"]["S"]), version=int(item["version"]["N"]))

    def write(self, tenant_id: str, sk: str, document: Any, expected_version: int, audit: AuditRecord) -> int:
        """Store ``document`` if the stored version is still ``expected_version``; the new version.

        Raises ``VersionConflict`` when another change got there first.
        """
        new_version = expected_version + 1
        pk = tenant_pk(tenant_id)
        document_item: dict[str, AttributeValueTypeDef] = {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "document": {"S": json.dumps(document, sort_keys=True)},
            "version": {"N": str(new_version)},
            "updated_at": {"S": audit.at.isoformat()},
            "updated_by": {"S": audit.actor},
        }
        put_document: PutTypeDef = {
            "TableName": self.table_name,
            "Item": document_item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if expected_version > 0:
            put_document["ConditionExpression"] = "version = :expected"
            put_document["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": put_document},
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _audit_item(pk, audit, new_version),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise VersionConflict(
                    "the configuration changed since it was read; read it again and reapply the change",
                    details=[{"target": audit.target, "expected_version": expected_version}],
                ) from error
            raise
        return new_version


def _audit_item(pk: str, audit: AuditRecord, version: int) -> dict[str, AttributeValueTypeDef]:
    entry_id = audit.id or uuid.uuid4().hex
    timestamp = audit.at.astimezone(UTC).isoformat(timespec="microseconds")
    return {
        "pk": {"S": pk},
        "sk": {"S": f"{AUDIT_PREFIX}{timestamp}#{entry_id}"},
        "id": {"S": entry_id},
        "at": {"S": timestamp},
        "actor": {"S": audit.actor},
        "action": {"S": audit.action},
        "target": {"S": audit.target},
        "version": {"N": str(version)},
        "before": {"S": json.dumps(audit.before, sort_keys=True)},
        "after": {"S": json.dumps(audit.after, sort_keys=True)},
    }


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
    """One tenant's mapping rows per kind (``TENANT#{t}`` / ``MAPPINGS#{kind}``); the rows are a list."""

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

    def __init__(self, client: DynamoDBClient | None = None, table_name: str | None = None) -> None:
        self._client = client
        self._table_name = table_name

    def list(
        self, tenant_id: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[StoredAuditEntry], str | None]:
        """Up to ``limit`` entries and the cursor of the next page (None on the last page)."""
        client = self._client or dynamodb_client()
        pk = tenant_pk(tenant_id)
        query: dict[str, Any] = {
            "TableName": self._table_name or _table_name(),
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": AUDIT_PREFIX}},
            "ScanIndexForward": False,
            "Limit": max(1, min(limit, MAX_AUDIT_PAGE)),
        }
        if cursor:
            query["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": _decode_cursor(cursor)}}
        reply = client.query(**query)
        entries = [_audit_entry(item) for item in reply.get("Items", [])]
        last = reply.get("LastEvaluatedKey")
        next_cursor = _encode_cursor(str(last["sk"]["S"])) if last else None
        return entries, next_cursor


def _audit_entry(item: dict[str, Any]) -> StoredAuditEntry:
    return StoredAuditEntry(
        id=item["id"]["S"],
        at=datetime.fromisoformat(item["at"]["S"]),
        actor=item["actor"]["S"],
        action=item["action"]["S"],
        target=item["target"]["S"],
        version=int(item["version"]["N"]),
        before=json.loads(item["before"]["S"]),
        after=json.loads(item["after"]["S"]),
    )


def _encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sk = ""
    if not sk.startswith(AUDIT_PREFIX):
        raise BadRequest("the cursor is not one this API returned", code="invalid_cursor")
    return sk


class ReferenceCacheRepository:
    """A short-lived copy of a QBO reference list (``REFCACHE#{kind}``); expiry checked on read,
    because DynamoDB's TTL deletes lazily."""

    def __init__(self, client: DynamoDBClient | None = None, table_name: str | None = None) -> None:
        self._client = client
        self._table_name = table_name

    def get(self, tenant_id: str, kind: str, now: float) -> list[dict[str, Any]] | None:
        client = self._client or dynamodb_client()
        reply = client.get_item(
            TableName=self._table_name or _table_name(),
            Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": reference_cache_sk(kind)}},
        )
        item = reply.get("Item")
        if item is None or float(item["expires_at"]["N"]) <= now:
            return None
        entries: list[dict[str, Any]] = json.loads(item["entries"]["S"])
        return entries

    def put(self, tenant_id: str, kind: str, entries: list[dict[str, Any]], expires_at: float) -> None:
        client = self._client or dynamodb_client()
        client.put_item(
            TableName=self._table_name or _table_name(),
            Item={
                "pk": {"S": tenant_pk(tenant_id)},
                "sk": {"S": reference_cache_sk(kind)},
                "entries": {"S": json.dumps(entries, sort_keys=True)},
                "expires_at": {"N": str(int(expires_at))},
            },
        )
