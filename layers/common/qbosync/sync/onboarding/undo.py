"""Undoing what an initial sync run created: QBO cannot delete customers or items, so the ones the run
created (``Link.created_by_run``) that no QBO document references yet are made inactive and unlinked.
One referenced by a document (created since the run started: nothing older can name it) is kept, with
the reason.

An undo is a dry run unless asked otherwise (``dry_run: false``): the admin reads what it will do
first. Its reads are counted (``qbo_reads``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from qbosync.errors import Conflict
from qbosync.observability import logger
from qbosync.qbo.client import QboClient, qbo_literal, request_id_for
from qbosync.store.links import Link, LinkRepository
from qbosync.store.runs import RunNotFound, RunRepository
from qbosync.sync.records.links import CUSTOMER, ITEM

REFERENCING_ENTITIES = ("Invoice", "CreditMemo", "SalesReceipt", "Estimate", "Payment")


class RunStillRunning(Conflict):
    code = "run_active"


class UndoEntry(BaseModel):
    entity: str
    source_id: str
    qbo_id: str
    action: Literal["deactivate", "keep"]
    reason: str


class UndoReport(BaseModel):
    run_id: str
    dry_run: bool
    deactivated: int
    kept: int
    qbo_reads: int
    entries: list[UndoEntry]


class RunUndo:
    def __init__(
        self,
        runs: RunRepository,
        links: LinkRepository,
        qbo_for: Callable[[str], QboClient],
    ) -> None:
        self._runs = runs
        self._links = links
        self._qbo_for = qbo_for

    def undo(self, tenant_id: str, run_id: str, *, dry_run: bool) -> UndoReport:
        run = self._runs.get(tenant_id, run_id)
        if run is None:
            raise RunNotFound(f"no sync run {run_id} for this tenant")
        if run.status == "RUNNING":
            raise RunStillRunning(f"run {run_id} is still running; undo it once it has finished")
        qbo = self._qbo_for(tenant_id)
        reads = 0
        referenced: dict[str, set[str]] = {CUSTOMER: set(), ITEM: set()}
        since = run.started_at.isoformat()
        for entity in REFERENCING_ENTITIES:
            reads += 1
            for document in qbo.query_all(entity, f"MetaData.CreateTime >= {qbo_literal(since)}"):
                customer = (document.get("CustomerRef") or {}).get("value")
                if customer is not None:
                    referenced[CUSTOMER].add(str(customer))
                referenced[ITEM].update(_item_ids(document))
        entries = []
        for link in self._created_by(tenant_id, run_id):
            if link.qbo_id in referenced[link.entity]:
                entries.append(_entry(link, "keep", "a QBO document created since the run refers to it"))
                continue
            entries.append(_entry(link, "deactivate", "created by this run and referred to by nothing"))
            if not dry_run:
                reads += 1
                self._deactivate(qbo, tenant_id, run_id, link)
        report = UndoReport(
            run_id=run_id,
            dry_run=dry_run,
            deactivated=sum(entry.action == "deactivate" for entry in entries),
            kept=sum(entry.action == "keep" for entry in entries),
            qbo_reads=reads,
            entries=entries,
        )
        logger.info(
            "run undone" if not dry_run else "run undo planned",
            extra={"tenant_id": tenant_id, "run_id": run_id, "deactivated": report.deactivated},
        )
        return report

    def _created_by(self, tenant_id: str, run_id: str) -> Iterator[Link]:
        for entity in (CUSTOMER, ITEM):
            cursor: str | None = None
            while True:
                page = self._links.list(tenant_id, entity, limit=100, cursor=cursor)
                yield from (link for link in page.items if link.created_by_run == run_id)
                cursor = page.cursor
                if cursor is None:
                    break

    def _deactivate(self, qbo: QboClient, tenant_id: str, run_id: str, link: Link) -> None:
        current = qbo.read(link.entity, link.qbo_id)
        if current.get("Active") is not False:
            qbo.sparse_update(
                link.entity,
                {"Id": link.qbo_id, "SyncToken": str(current["SyncToken"]), "Active": False},
                request_id_for(tenant_id, link.entity, link.source_id, run_id, "undo"),
            )
        self._links.delete(tenant_id, link.entity, link.source_id)


def _entry(link: Link, action: Literal["deactivate", "keep"], reason: str) -> UndoEntry:
    return UndoEntry(
        entity=link.entity, source_id=link.source_id, qbo_id=link.qbo_id, action=action, reason=reason
    )


def _item_ids(document: Mapping[str, Any]) -> set[str]:
    found = set()
    for line in document.get("Line") or []:
        detail = line.get("SalesItemLineDetail") or {}
        item = (detail.get("ItemRef") or {}).get("value")
        if item is not None:
            found.add(str(item))
    return found
