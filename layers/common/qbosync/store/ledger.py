"""The write ledger: every QBO write (the push's documents, the customers and items it creates, the bulk
sync's batch creates) is recorded as an *intent* before the HTTP call, and the intent is settled
(deleted) in the same transaction that records the write's outcome in the link (a bulk batch: once QBO
answered for each of its items).

An intent that is still open when the next delivery, retry, redrive or heal of the same record
arrives is *ambiguous*: QBO may or may not have committed it. It is resolved before writing again
(``qbosync.sync.push.writer``, ``qbosync.sync.push.references``, ``qbosync.sync.bulk.common``). One intent
per link (tenant, link entity, source id): a record is written by one delivery at a time, and a newer
write replaces an older one only after resolving it.

Why a separate item rather than a field of the link: a document's first create has no link yet (the
link needs a QBO id), and the intent must outlive a link write that failed; keeping it beside the link
(same partition, its own sort key) lets the outcome and the settlement be one transaction, and lets
disconnect list a tenant's open writes with one query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from qbosync.store.table import Condition, ConditionFailed, MainTable, tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_PREFIX = "WRITE#"
_ITEM_KEYS = ("pk", "sk", "item_type")


def intent_sk(link_entity: str, source_id: str) -> str:
    if not source_id:
        raise ValueError("source_id must be non-empty")
    return f"{_PREFIX}{link_entity}#{source_id}"


class DocumentIdentity(BaseModel):
    """How to find the record a create may have made, without its id: the number field and value QBO
    holds, the customer, and the private marker qbosync writes in ``PrivateNote``; the amount and date
    it was created with corroborate a candidate (they are the intent's, so a later source edit does not
    change them)."""

    model_config = ConfigDict(frozen=True)

    field_name: str
    value: str
    customer_id: str
    marker: str
    amount: Decimal | None = None
    """``TotalAmt`` as sent; None where QBO computes the total (an invoice's tax)."""
    txn_date: str | None = None

    def corroborated_by(self, record: Mapping[str, Any]) -> bool:
        """The record holds the amount and date this identity was written with (where it has them)."""
        if self.txn_date is not None and str(record.get("TxnDate")) != self.txn_date:
            return False
        if self.amount is None:
            return True
        try:
            return Decimal(str(record.get("TotalAmt"))) == self.amount
        except InvalidOperation:
            return False


class WriteIntent(BaseModel):
    """One QBO write qbosync started and has not yet seen the outcome of."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str
    link_entity: str
    qbo_entity: str
    source_id: str
    version: int
    operation: str
    request_id: str
    started_at: datetime
    generation: int = 0
    """Bumped when a lookup proved an earlier create absent, so its requestid is never sent again."""
    identity: DocumentIdentity | None = None
    """Set for creates: what a lookup searches QBO by when the requestid may be forgotten."""

    @property
    def is_create(self) -> bool:
        creating = ("create-", "recreate-", "bulk-create")
        return self.operation == "create" or self.operation.startswith(creating)

    @property
    def is_update(self) -> bool:
        return self.operation == "update" or self.operation.startswith(("update-at-", "heal-at-"))

    def within(self, window: timedelta, now: datetime) -> bool:
        """Still inside the span QBO is trusted to replay this requestid."""
        return now - self.started_at < window


def _item_of(intent: WriteIntent) -> dict[str, Any]:
    return {
        "pk": tenant_pk(intent.tenant_id),
        "sk": intent_sk(intent.link_entity, intent.source_id),
        "item_type": "write_intent",
        **intent.model_dump(mode="json"),
    }


class WriteLedger:
    def __init__(self, table: MainTable | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table or MainTable()
        self._sleep = sleep

    def begin(self, intent: WriteIntent) -> None:
        """Record the intent durably; raises (and nothing is sent to QBO) when the store fails."""
        self._table.put(_item_of(intent))

    def begin_unless_open(self, intent: WriteIntent) -> bool:
        """Record the intent only if no write of its document is open; False (nothing written) when one
        is. The write path's first call: one conditional put instead of a read and a put, since almost
        always nothing is open."""
        try:
            self._table.put(_item_of(intent), condition=Condition("attribute_not_exists(pk)"))
        except ConditionFailed:
            return False
        return True

    def begin_many(self, intents: Sequence[WriteIntent]) -> None:
        """Record the intents of one batch request (25 a store call) before it is sent."""
        self._table.batch_put([_item_of(intent) for intent in intents], sleep=self._sleep)

    def settle_many(self, tenant_id: str, link_entity: str, source_ids: Iterable[str]) -> None:
        """Settle the intents of writes whose outcome is recorded (or proved moot)."""
        keys = [(tenant_pk(tenant_id), intent_sk(link_entity, source_id)) for source_id in source_ids]
        self._table.batch_delete(keys, sleep=self._sleep)

    def open_source_ids(self, tenant_id: str, link_entity: str) -> set[str]:
        """The source ids of a tenant's open writes of one link entity (one query, usually empty)."""
        prefix = f"{_PREFIX}{link_entity}#"
        return {str(item["source_id"]) for item in self._table.query_all(tenant_pk(tenant_id), prefix)}

    def open(self, tenant_id: str, link_entity: str, source_id: str) -> WriteIntent | None:
        item = self._table.get(tenant_pk(tenant_id), intent_sk(link_entity, source_id))
        return self._to_intent(item) if item else None

    def settle_op(self, tenant_id: str, link_entity: str, source_id: str) -> TransactWriteItemTypeDef:
        """The settlement, to run in the transaction that records the outcome."""
        return self._table.delete_op(tenant_pk(tenant_id), intent_sk(link_entity, source_id))

    def settle(self, tenant_id: str, link_entity: str, source_id: str) -> None:
        self._table.delete(tenant_pk(tenant_id), intent_sk(link_entity, source_id))

    def ambiguous(self, tenant_id: str) -> Iterator[WriteIntent]:
        """Every open intent of a tenant (in flight now, or cut off before its outcome was recorded)."""
        for item in self._table.query_all(tenant_pk(tenant_id), _PREFIX):
            yield self._to_intent(item)

    @staticmethod
    def _to_intent(item: dict[str, Any]) -> WriteIntent:
        return WriteIntent.model_validate({k: v for k, v in item.items() if k not in _ITEM_KEYS})
