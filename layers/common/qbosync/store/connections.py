"""A tenant's QBO connection, the realm it owns, and the append-only trail of what happened to it.

Over 400 lines on purpose: the connection, its realm claim and its audit entries are written in the
same transactions, so their item shapes and the conditions between them stay together.

One realm belongs to one tenant: ``REALM#{realm}/OWNER`` is written in the same transaction as the
connection, with a condition, so two tenants racing for one company cannot both win. A disconnected
connection stays as a record (status ``disconnected``) but leaves the realm index and releases the claim.

The sparse ``connected`` index holds exactly the connections whose status is ``connected``: its keys
(``connected_pk``, ``connected_sk``) are set and removed in the same writes that change the status, so
the schedules' dispatcher queries the tenants it serves and never scans the table.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qbosync.errors import Conflict, NotFound
from qbosync.observability import logger
from qbosync.settings import get_retention
from qbosync.store.table import (
    AUDIT_PREFIX,
    CONNECTED_PK,
    CONNECTION_SK,
    OWNER_SK,
    Condition,
    ConditionFailed,
    MainTable,
    audit_sk,
    realm_pk,
    serialize,
    tenant_pk,
)
from qbosync.store.token_backup import TOKEN_BACKUP_SK

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ConnectionStatus = Literal["connected", "needs_reauth", "disconnected"]
_ITEM_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "connected_pk", "connected_sk", "item_type")
_CONNECTION_ITEM = "connection"
_AUDIT_ITEM = "audit"
_AUDIT_TARGET = "connection"


class Connection(BaseModel):
    """A tenant's link to one QBO company, as stored (no token is ever part of it)."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    realm_id: str
    company_name: str | None = None
    status: ConnectionStatus = "connected"
    connected_by: str
    connected_at: datetime
    disconnected_at: datetime | None = None
    disconnected_by: str | None = None
    needs_reauth_since: datetime | None = None
    needs_reauth_reason: str | None = None
    needs_reauth_token_version: int | None = None  # the token version Intuit refused
    prerequisites: list[dict[str, Any]] = Field(default_factory=list)
    refresh_token_expires_at: datetime | None = None
    hard_expires_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    last_reconciled_at: datetime | None = None  # the scheduled worker's last successful reconciliation


class ConnectedTenant(BaseModel):
    """One entry of the sparse ``connected`` index: what the dispatcher needs, nothing more."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    connected_at: datetime
    last_reconciled_at: datetime | None = None

    def waiting_since(self) -> datetime:
        """Since when the tenant has been waiting for a reconciliation."""
        return self.last_reconciled_at or self.connected_at


class ConnectionAuditEntry(BaseModel):
    """One line of the connection trail: who did what, when, and the state before and after.

    Stored in the same shape as ``store.config``'s audit items (``target`` = ``"connection"``, version 0),
    so the tenant's audit listing shows connection changes next to settings and mapping changes.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    at: datetime
    actor: str
    action: str
    target: str = _AUDIT_TARGET
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)


class RealmClaimedByAnotherTenant(Conflict):
    """The QBO company is already connected to a different tenant."""

    code = "realm_claimed"


class ConnectionNotFound(NotFound):
    code = "connection_not_found"


class RefusedTokenSuperseded(Exception):
    """A newer token version was stored than the one Intuit refused: the connection is not dead."""


def _iso(at: datetime) -> str:
    return at.isoformat()


def _summary(connection: Connection | None) -> dict[str, Any]:
    """What the audit trail shows of a connection: enough to see what changed, nothing secret."""
    if connection is None:
        return {}
    return {
        "realm_id": connection.realm_id,
        "company_name": connection.company_name,
        "status": connection.status,
    }


class ConnectionRepository:
    """Reads and changes connections; every change also appends an audit entry in the same transaction."""

    def __init__(self, table: MainTable | None = None) -> None:
        self._table = table or MainTable()

    @staticmethod
    def _to_connection(item: dict[str, Any]) -> Connection:
        return Connection.model_validate({k: v for k, v in item.items() if k not in _ITEM_KEYS})

    @staticmethod
    def item_of(connection: Connection) -> dict[str, Any]:
        """The connection's item: in the realm index unless disconnected, in the sparse ``connected``
        index only while connected (bulk loaders, e.g. ``bench/scale.py``, write exactly this)."""
        item: dict[str, Any] = {
            "pk": tenant_pk(connection.tenant_id),
            "sk": CONNECTION_SK,
            "item_type": _CONNECTION_ITEM,
            **connection.model_dump(mode="json"),
        }
        if connection.status != "disconnected":
            item |= {"gsi1pk": realm_pk(connection.realm_id), "gsi1sk": CONNECTION_SK}
        if connection.status == "connected":
            item |= {"connected_pk": CONNECTED_PK, "connected_sk": connection.tenant_id}
        return item

    def get(self, tenant_id: str) -> Connection | None:
        item = self._table.get(tenant_pk(tenant_id), CONNECTION_SK)
        return self._to_connection(item) if item else None

    def get_by_realm(self, realm_id: str) -> Connection | None:
        """The active (connected or needs_reauth) connection of a realm; disconnected ones leave the index."""
        page = self._table.query_gsi1(realm_pk(realm_id), sk_equals=CONNECTION_SK)
        return self._to_connection(page.items[0]) if page.items else None

    def _audit_op(
        self,
        tenant_id: str,
        at: datetime,
        actor: str,
        action: str,
        *,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> TransactWriteItemTypeDef:
        entry_id = uuid.uuid4().hex
        timestamp = at.astimezone(UTC).isoformat(timespec="microseconds")
        return self._table.put_op(
            {
                "pk": tenant_pk(tenant_id),
                "sk": audit_sk(timestamp, entry_id),
                "item_type": _AUDIT_ITEM,
                "id": entry_id,
                "at": timestamp,
                "actor": actor,
                "action": action,
                "target": _AUDIT_TARGET,
                "version": 0,
                "before": json.dumps(before, sort_keys=True),
                "after": json.dumps(after, sort_keys=True),
                "expires_at": int((at + get_retention().audit_retention).timestamp()),  # DynamoDB TTL
            },
            condition=Condition("attribute_not_exists(pk)"),
        )

    def record_connected(self, connection: Connection) -> Connection:
        """Store a new (or renewed) connection and claim its realm for the tenant, atomically.

        Raises ``RealmClaimedByAnotherTenant`` (and stores nothing) when the realm belongs to another tenant.
        A tenant moving to a different realm releases its old claim in the same transaction.
        """
        tenant_id, realm_id = connection.tenant_id, connection.realm_id
        stored = connection.model_copy(
            update={
                "status": "connected",
                "disconnected_at": None,
                "disconnected_by": None,
                "needs_reauth_since": None,
                "needs_reauth_reason": None,
                "needs_reauth_token_version": None,
            }
        )
        claim = Condition("attribute_not_exists(pk) OR tenant_id = :t", values={":t": tenant_id})
        previous = self.get(tenant_id)
        operations = [
            self._table.put_op(
                {
                    "pk": realm_pk(realm_id),
                    "sk": OWNER_SK,
                    "tenant_id": tenant_id,
                    "item_type": "realm_owner",
                },
                condition=claim,
            ),
            self._table.put_op(self.item_of(stored)),
            self._audit_op(
                tenant_id,
                connection.connected_at,
                connection.connected_by,
                "connection.connected",
                before=_summary(previous),
                after=_summary(stored),
            ),
        ]
        if previous and previous.realm_id != realm_id and previous.status != "disconnected":
            operations.append(
                self._table.delete_op(
                    realm_pk(previous.realm_id),
                    OWNER_SK,
                    condition=Condition(
                        "attribute_not_exists(pk) OR tenant_id = :t", values={":t": tenant_id}
                    ),
                )
            )
        try:
            self._table.transact_write(operations)
        except ConditionFailed as exc:
            if exc.failed_at(0):
                logger.warning("realm already claimed", extra={"tenant_id": tenant_id, "realm_id": realm_id})
                raise RealmClaimedByAnotherTenant(
                    "this QuickBooks company is already connected to another tenant",
                    details=[{"realm_id": realm_id}],
                ) from exc
            raise
        logger.info("connection recorded", extra={"tenant_id": tenant_id, "realm_id": realm_id})
        return stored

    def mark_needs_reauth(
        self, tenant_id: str, reason: str, at: datetime, *, refused_version: int | None = None
    ) -> Connection:
        """The tokens stopped working (e.g. ``invalid_grant``): an admin must connect again.

        With ``refused_version`` the mark is made only while that version is still the latest stored copy
        of the tokens (checked in the same transaction): a refresh that refused a superseded token must
        not strand a connection that has a newer, valid one. Raises ``RefusedTokenSuperseded`` then.
        ``needs_reauth_since`` keeps the first time it happened; repeated marks only update the reason.
        """
        values: dict[str, Any] = {":s": "needs_reauth", ":r": reason, ":at": _iso(at)}
        expression = (
            "SET #status = :s, needs_reauth_reason = :r,"
            " needs_reauth_since = if_not_exists(needs_reauth_since, :at)"
        )
        if refused_version is not None:
            expression += ", needs_reauth_token_version = :rv"
            values[":rv"] = refused_version
        expression += " REMOVE connected_pk, connected_sk"  # out of the schedules until reconnected
        update = Condition(expression, names={"#status": "status"}, values=values)
        condition = Condition(
            "attribute_exists(pk) AND #status <> :disconnected",
            names={"#status": "status"},
            values={":disconnected": "disconnected"},
        )
        current = self._require(tenant_id)
        operations = [
            self._table.update_op(tenant_pk(tenant_id), CONNECTION_SK, update, condition=condition),
            self._audit_op(
                tenant_id,
                at,
                "qbosync",
                "connection.needs_reauth",
                before=_summary(current),
                after={**_summary(current), "status": "needs_reauth", "reason": reason},
            ),
        ]
        if refused_version is not None:
            operations.append(self._refused_is_latest_op(tenant_id, refused_version))
        try:
            self._table.transact_write(operations)
        except ConditionFailed as exc:
            if refused_version is not None and exc.failed_at(2):
                raise RefusedTokenSuperseded(f"a token version after {refused_version} is stored") from None
            raise ConnectionNotFound("no active QBO connection for this tenant") from exc
        logger.warning("connection needs re-authorization", extra={"tenant_id": tenant_id, "reason": reason})
        return self._require(tenant_id)

    def _refused_is_latest_op(self, tenant_id: str, refused_version: int) -> TransactWriteItemTypeDef:
        """A transaction check: the token copy is absent or not newer than the refused version."""
        return {
            "ConditionCheck": {
                "TableName": self._table.name,
                "Key": self._table.key(tenant_pk(tenant_id), TOKEN_BACKUP_SK),
                "ConditionExpression": "attribute_not_exists(pk) OR version <= :rv",
                "ExpressionAttributeValues": serialize({":rv": refused_version}),
            }
        }

    def clear_superseded_needs_reauth(self, tenant_id: str, stored_version: int, at: datetime) -> bool:
        """Back to ``connected`` when the mark was for a token older than ``stored_version``.

        A refresh whose lease ran out can still land a valid grant after another process had its
        superseded token refused; the newer grant proves the connection alive. True when a mark was cleared.
        """
        current = self.get(tenant_id)
        if current is None or current.status != "needs_reauth" or current.needs_reauth_token_version is None:
            return False
        update = Condition(
            "SET #status = :connected, connected_pk = :cp, connected_sk = :tenant"
            " REMOVE needs_reauth_since, needs_reauth_reason, needs_reauth_token_version",
            names={"#status": "status"},
            values={":connected": "connected", ":cp": CONNECTED_PK, ":tenant": tenant_id},
        )
        condition = Condition(
            "#status = :needs AND needs_reauth_token_version < :v",
            names={"#status": "status"},
            values={":needs": "needs_reauth", ":v": stored_version},
        )
        try:
            self._table.transact_write(
                [
                    self._table.update_op(tenant_pk(tenant_id), CONNECTION_SK, update, condition=condition),
                    self._audit_op(
                        tenant_id,
                        at,
                        "qbosync",
                        "connection.reauth_cleared",
                        before=_summary(current),
                        after={**_summary(current), "status": "connected"},
                    ),
                ]
            )
        except ConditionFailed:
            return False
        logger.info(
            "needs_reauth cleared by a newer token version",
            extra={"tenant_id": tenant_id, "version": stored_version},
        )
        return True

    def mark_disconnected(self, tenant_id: str, by: str, at: datetime) -> Connection:
        """Disconnect: keep the record as audit, leave the realm index and release the realm claim."""
        current = self._require(tenant_id)
        update = Condition(
            "SET #status = :s, disconnected_at = :at, disconnected_by = :by"
            " REMOVE gsi1pk, gsi1sk, connected_pk, connected_sk",
            names={"#status": "status"},
            values={":s": "disconnected", ":at": _iso(at), ":by": by},
        )
        self._table.transact_write(
            [
                self._table.update_op(
                    tenant_pk(tenant_id), CONNECTION_SK, update, condition=Condition("attribute_exists(pk)")
                ),
                self._table.delete_op(
                    realm_pk(current.realm_id),
                    OWNER_SK,
                    condition=Condition(
                        "attribute_not_exists(pk) OR tenant_id = :t", values={":t": tenant_id}
                    ),
                ),
                self._audit_op(
                    tenant_id,
                    at,
                    by,
                    "connection.disconnected",
                    before=_summary(current),
                    after={**_summary(current), "status": "disconnected"},
                ),
            ]
        )
        logger.info("connection disconnected", extra={"tenant_id": tenant_id, "realm_id": current.realm_id})
        return self._require(tenant_id)

    def record_refresh(self, tenant_id: str, at: datetime, refresh_expires_at: datetime | None) -> None:
        """Note a successful token refresh (times only; the tokens live in Secrets Manager)."""
        update = Condition("SET last_refreshed_at = :at", values={":at": _iso(at)})
        if refresh_expires_at is not None:
            update = Condition(
                "SET last_refreshed_at = :at, refresh_token_expires_at = :rx",
                values={":at": _iso(at), ":rx": _iso(refresh_expires_at)},
            )
        try:
            self._table.update(
                tenant_pk(tenant_id), CONNECTION_SK, update, condition=Condition("attribute_exists(pk)")
            )
        except ConditionFailed as exc:
            raise ConnectionNotFound("no QBO connection for this tenant") from exc

    def set_prerequisites(self, tenant_id: str, prerequisites: list[dict[str, Any]]) -> None:
        """Store the latest prerequisite check results shown with the connection."""
        try:
            self._table.update(
                tenant_pk(tenant_id),
                CONNECTION_SK,
                Condition("SET prerequisites = :p", values={":p": prerequisites}),
                condition=Condition("attribute_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise ConnectionNotFound("no QBO connection for this tenant") from exc

    def connected_tenants(self) -> list[ConnectedTenant]:
        """Every tenant in the sparse ``connected`` index (eventually consistent, as every GSI read)."""
        return [
            ConnectedTenant.model_validate({**item, "tenant_id": item["connected_sk"]})
            for item in self._table.query_connected_index()
        ]

    def list_connected(self) -> list[Connection]:
        """Every ``connected`` connection, read whole: the index names them, a consistent get confirms."""
        found = (self.get(tenant.tenant_id) for tenant in self.connected_tenants())
        return [connection for connection in found if connection and connection.status == "connected"]

    def backfill_connected_index(self) -> int:
        """Put ``connected`` connections stored before the sparse index into it; how many were added.

        A one-off for the operator after upgrading (``python -m qbosync.operator index-connected``): it
        scans the table once, which no schedule does. Each write re-checks the status, so a connection
        that changed meanwhile is left as its own write made it.
        """
        missing = self._table.scan_all(
            Condition(
                "sk = :sk AND #status = :connected AND attribute_not_exists(connected_pk)",
                names={"#status": "status"},
                values={":sk": CONNECTION_SK, ":connected": "connected"},
            )
        )
        added = 0
        for item in missing:
            tenant_id = str(item["tenant_id"])
            try:
                self._table.update(
                    tenant_pk(tenant_id),
                    CONNECTION_SK,
                    Condition(
                        "SET connected_pk = :cp, connected_sk = :tenant",
                        values={":cp": CONNECTED_PK, ":tenant": tenant_id},
                    ),
                    condition=Condition(
                        "#status = :connected",
                        names={"#status": "status"},
                        values={":connected": "connected"},
                    ),
                )
            except ConditionFailed:
                continue
            added += 1
        return added

    def record_reconciled(self, tenant_id: str, at: datetime) -> None:
        """Note a successful scheduled reconciliation (shown with the connection; the dispatcher's
        overdue count reads it from the index)."""
        try:
            self._table.update(
                tenant_pk(tenant_id),
                CONNECTION_SK,
                Condition("SET last_reconciled_at = :at", values={":at": _iso(at)}),
                condition=Condition("attribute_exists(pk)"),
            )
        except ConditionFailed as exc:
            raise ConnectionNotFound("no QBO connection for this tenant") from exc

    def audit_trail(self, tenant_id: str) -> list[ConnectionAuditEntry]:
        """The tenant's connection history, oldest first."""
        return [
            ConnectionAuditEntry.model_validate(
                {**item, "before": json.loads(item["before"]), "after": json.loads(item["after"])}
            )
            for item in self._table.query_all(tenant_pk(tenant_id), AUDIT_PREFIX)
            if item.get("target") == _AUDIT_TARGET
        ]

    def _require(self, tenant_id: str) -> Connection:
        found = self.get(tenant_id)
        if found is None:
            raise ConnectionNotFound("no QBO connection for this tenant")
        return found
