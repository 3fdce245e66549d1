"""Links between a source record and its QBO twin: the memory that makes every sync exactly-once.

``source_version`` is a number that grows with every change in the source (a revision, or the change
time in epoch milliseconds); a link is only ever replaced by one of an equal or newer version, so a late,
out-of-order event can never roll a link back. ``qbo_written_at`` is when qbosync itself last wrote the
QBO record, by QBO's clock (items stored before it existed load with None).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from qbosync.errors import Conflict
from qbosync.store.schema import upgraded
from qbosync.store.table import (
    Condition,
    ConditionFailed,
    MainTable,
    Page,
    link_gsi1pk,
    link_prefix,
    link_sk,
    tenant_pk,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

LinkOrigin = Literal["qbosync", "qbo", "matched"]


class LinkState(StrEnum):
    """What qbosync last did to the QBO record. New states (e.g. a write in flight, recorded before the
    call) are added here; readers compare with ``is_live``/the members, never with text."""

    ACTIVE = "active"
    VOIDED = "voided"
    """qbosync voided the record in QBO (it stays there, zeroed)."""
    DELETED = "deleted"
    """qbosync deleted the record in QBO, or found it gone."""


_LEGACY_STATE_HASHES = {"state:voided": LinkState.VOIDED, "state:deleted": LinkState.DELETED}
_ITEM_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "item_type")


class Link(BaseModel):
    """One source record ↔ one QBO record, with what is needed to update it next time."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    entity: str
    source_id: str
    qbo_id: str
    sync_token: str | None = None
    content_hash: str | None = None
    """Digest of the body qbosync last wrote, so unchanged content is not written again."""
    state: LinkState = LinkState.ACTIVE
    source_version: int
    updated_at: datetime
    """When the link was last recorded (qbosync's clock), whether or not QBO was written."""
    origin: LinkOrigin = "qbosync"
    qbo_written_at: datetime | None = None
    """``MetaData.LastUpdatedTime`` of the record as QBO returned it from qbosync's own last create,
    update or void (QBO's clock, comparable with a webhook's ``lastUpdated``). None when qbosync never
    wrote the record (matched, or created from QBO) or QBO did not say; a link recorded again without
    a write keeps it. A deletion leaves it as it was: ``state`` ``deleted`` tells."""
    created_by_run: str | None = None
    """The initial sync run that created the QBO record (what undoing that run may deactivate)."""
    currency: str | None = None
    """A customer's currency in QBO (``CurrencyRef.value``), kept because QBO never changes it once set,
    so a document's currency check needs no customer read. None for other entities and for customer
    links recorded before it was kept (their currency is read from QBO once)."""

    @property
    def is_live(self) -> bool:
        """The QBO record is there and qbosync neither voided nor deleted it."""
        return self.state is LinkState.ACTIVE

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        return upgraded(data, {1: _state_of_version_1})


def _state_of_version_1(item: dict[str, Any]) -> dict[str, Any]:
    """Version 1 links stored before ``state`` kept a voided or deleted record's state in ``content_hash``."""
    if "state" not in item and item.get("content_hash") in _LEGACY_STATE_HASHES:
        return {**item, "state": _LEGACY_STATE_HASHES[item["content_hash"]], "content_hash": None}
    return item


class StaleSourceVersion(Conflict):
    """A newer version of this source record is already linked."""

    code = "stale_source_version"


class LinkRepository:
    def __init__(
        self, table: MainTable | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._table = table or MainTable()
        self._sleep = sleep

    @staticmethod
    def _to_item(link: Link) -> dict[str, Any]:
        return {
            "pk": tenant_pk(link.tenant_id),
            "sk": link_sk(link.entity, link.source_id),
            "gsi1pk": link_gsi1pk(link.tenant_id, link.entity),
            "gsi1sk": link.qbo_id,
            "item_type": "link",
            **link.model_dump(mode="json"),
        }

    @staticmethod
    def _to_link(item: dict[str, Any]) -> Link:
        return Link.model_validate({k: v for k, v in item.items() if k not in _ITEM_KEYS})

    def get(self, tenant_id: str, entity: str, source_id: str) -> Link | None:
        item = self._table.get(tenant_pk(tenant_id), link_sk(entity, source_id))
        return self._to_link(item) if item else None

    def get_by_qbo_id(self, tenant_id: str, entity: str, qbo_id: str) -> Link | None:
        """The link of a QBO record (gsi1: eventually consistent, fine for pull-side lookups)."""
        page = self._table.query_gsi1(link_gsi1pk(tenant_id, entity), sk_equals=qbo_id)
        return self._to_link(page.items[0]) if page.items else None

    def put(self, link: Link, *, together: Sequence[TransactWriteItemTypeDef] = ()) -> Link:
        """Record the link unless a newer source version is already recorded (equal versions overwrite).

        ``together``: writes that must happen with it or not at all (the write ledger's settlement).
        """
        condition = Condition(
            "attribute_not_exists(pk) OR source_version <= :v", values={":v": link.source_version}
        )
        try:
            if together:
                self._table.transact_write(
                    [self._table.put_op(self._to_item(link), condition=condition), *together]
                )
            else:
                self._table.put(self._to_item(link), condition=condition)
        except ConditionFailed as exc:
            if together and not exc.failed_at(0):
                raise
            raise StaleSourceVersion(
                "a newer version of this record is already synced",
                details=[{"entity": link.entity, "source_id": link.source_id}],
            ) from exc
        return link

    def put_many(self, links: Sequence[Link]) -> None:
        """Bulk-sync writes in batches of 25; unconditional, so only for links that run found or created."""
        self._table.batch_put([self._to_item(link) for link in links], sleep=self._sleep)

    def list(self, tenant_id: str, entity: str, *, limit: int = 100, cursor: str | None = None) -> Page[Link]:
        """One page of a tenant's links of one entity, by source id."""
        page = self._table.query(tenant_pk(tenant_id), link_prefix(entity), limit=limit, cursor=cursor)
        return Page(items=[self._to_link(item) for item in page.items], cursor=page.cursor)

    def delete(self, tenant_id: str, entity: str, source_id: str) -> None:
        """Forget a link (undoing a run's creation: the QBO record is inactive, nothing twins it)."""
        self._table.delete(tenant_pk(tenant_id), link_sk(entity, source_id))

    def replace(self, old: Link, new: Link) -> Link:
        """Swap one link for another in one transaction: a QBO record now twinned by another source
        record (a QBO payment edited, so the source's copy was voided and recorded anew)."""
        self._table.transact_write(
            [
                self._table.delete_op(tenant_pk(old.tenant_id), link_sk(old.entity, old.source_id)),
                self._table.put_op(self._to_item(new)),
            ]
        )
        return new
