"""The one way the push writes a document to QBO: create (looking first when an outcome is unknown),
sparse update with the link's SyncToken, heal a drifted record, void or delete; and the link recorded
after each write, at the source version written.

Every write carries ``request_id_for(tenant, link entity, source id, version, operation)``, so a retried
write is replayed by QBO, never doubled. The entity modules (``invoices``, ``payments``,
``credit_notes``) decide what to write; this module writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from qbosync.observability import logger
from qbosync.qbo.client import QboClient, qbo_literal, request_id_for
from qbosync.qbo.faults import (
    QboDuplicateDocNumber,
    QboInvalidReference,
    QboNotFound,
    QboStaleObject,
    QboUncertainOutcome,
)
from qbosync.qbo.metadata import last_updated_time
from qbosync.source.models import SourceCreditNote, SourceInvoice, SourcePayment
from qbosync.source.port import SourcePort
from qbosync.store.events import EventWarning, ReasonCode
from qbosync.store.ledger import DocumentIdentity, WriteIntent, WriteLedger
from qbosync.store.links import Link, LinkRepository, LinkState, StaleSourceVersion
from qbosync.sync.configuration import NumberPrefix
from qbosync.sync.push.currency import CurrencyRules
from qbosync.sync.push.references import PushConfiguration, QboReferences
from qbosync.sync.push.refusals import Refused
from qbosync.sync.push.transform import PRIVATE_NOTE_MAX, content_hash, shortened_number_warning
from qbosync.sync.records.links import new_link


class Parked(Exception):
    """The change waits for something first: another record to reach QBO, a setting to be made, or an
    admin to accept a variance."""

    def __init__(self, on: str, reason: str, code: ReasonCode = ReasonCode.WAITING_FOR_INVOICE) -> None:
        super().__init__(reason)
        self.on = on
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Target:
    """The QBO record one source document (at one version) is written to."""

    qbo_entity: str
    link_entity: str
    source_id: str
    version: int

    def request_id(self, tenant_id: str, operation: str, generation: int = 0) -> str:
        """Generation 0 is the requestid every deploy has always sent; later generations are used only
        after a lookup proved the earlier create absent (so QBO cannot replay a deleted record's Id)."""
        named = operation if generation == 0 else f"{operation}#g{generation}"
        return request_id_for(tenant_id, self.link_entity, self.source_id, str(self.version), named)

    @property
    def marker(self) -> str:
        return private_marker(self.source_id)


def private_marker(source_id: str) -> str:
    """What qbosync writes in the ``PrivateNote`` of every document it writes (bracketed, so ``inv-1``
    never matches ``inv-10``)."""
    return f"[qbosync:{source_id}]"


def identity_of(
    target: Target,
    field_name: str,
    body: Mapping[str, Any],
    customer_id: str,
    *,
    with_amount: bool = False,
) -> DocumentIdentity:
    """How QBO is searched for the record a create of ``body`` for ``target`` may have made: by the
    number in ``field_name`` and the customer, decided by the marker, corroborated by the date and (with
    ``with_amount``, where QBO does not compute the total) the amount."""
    amount = body.get("TotalAmt") if with_amount else None
    return DocumentIdentity(
        field_name=field_name,
        value=str(body[field_name]),
        customer_id=customer_id,
        marker=target.marker,
        amount=None if amount is None else Decimal(str(amount)),
        txn_date=str(body["TxnDate"]) if body.get("TxnDate") else None,
    )


def marked(body: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """``body`` with qbosync's marker first in its ``PrivateNote`` (QBO keeps 4,000 characters)."""
    note = str(body.get("PrivateNote") or "")
    if note.startswith(marker):
        return dict(body)
    return {**body, "PrivateNote": f"{marker} {note}".strip()[:PRIVATE_NOTE_MAX]}


@dataclass(frozen=True)
class Variance:
    """QBO's total of a pushed document differs from the source's (QBO computed tax or a discount)."""

    source_total: Decimal
    qbo_total: Decimal
    currency: str

    def describe(self, what: str) -> str:
        difference = self.qbo_total - self.source_total
        return (
            f"{what}: QBO total {self.qbo_total} {self.currency} differs from the source's"
            f" {self.source_total} {self.currency} by {difference:+}"
        )


@dataclass(frozen=True)
class Applied:
    reason: str | None = None
    qbo_id: str | None = None
    warnings: tuple[EventWarning, ...] = ()
    """Where qbosync improvised (the done event is "synced with warnings")."""
    variance: Variance | None = None


class ParkedEvents(Protocol):
    """Releases the events parked on a key (``qbosync.sync.retry.parked.ParkedRelease``)."""

    def release(self, tenant_id: str, key: str) -> int: ...


class QboWriter:
    """Writes one tenant's documents to QBO and records their links.

    Every write is recorded in the write ledger before it is sent and settled with the link; a create
    still open from an earlier delivery is resolved (same requestid inside ``requestid_window``, else a
    lookup by the document's identity) before anything is written again.
    """

    def __init__(
        self,
        tenant_id: str,
        qbo: QboClient,
        links: LinkRepository,
        clock: Callable[[], datetime],
        *,
        ledger: WriteLedger,
        requestid_window: timedelta,
    ) -> None:
        self._tenant = tenant_id
        self._qbo = qbo
        self._links = links
        self._clock = clock
        self._ledger = ledger
        self._window = requestid_window
        self._begun: WriteIntent | None = None
        """The intent ``upsert`` recorded up front (no write was open), which the write it starts uses."""
        self._written: dict[str, dict[str, Any]] = {}

    def _wrote(self, record: dict[str, Any]) -> dict[str, Any]:
        """Keep what QBO answered to a create or update, so the push can compare QBO's totals."""
        self._written[str(record.get("Id"))] = record
        return record

    def written(self, qbo_id: str) -> dict[str, Any] | None:
        """QBO's answer to this batch's last write of record ``qbo_id`` (None: not written now)."""
        return self._written.get(qbo_id)

    def upsert(
        self, target: Target, link: Link | None, body: dict[str, Any], identity: DocumentIdentity
    ) -> Link:
        """Create or update one QBO record and record its link at ``version``.

        The write's intent is first put on the condition that no write of the document is open (one
        store call); only when one is open is it read and resolved before anything is written.
        """
        digest = content_hash(body)
        generation = 0
        self._begun = None
        creating = link is None or not link.is_live
        if creating and not self._begin_unless_open(target, "create", identity):
            adopted, generation = self.resolve_open_create(target, body, identity)
            link = adopted or link
        operation = "update"
        if link is not None and link.is_live:
            if link.content_hash != digest and not self._begin_unless_open(target, "update"):
                link, operation = self.resolve_open_update(target, link, body, digest)
            if link.content_hash == digest:
                return self.record(link, target.version)
            record = self.update(target, link.qbo_id, link.sync_token, body, operation=operation)
            return self.record(relinked(link, record, digest), target.version)
        record = self.create(target, body, identity, generation=generation)
        return self.record(self._new_link(target, record, digest), target.version)

    def _begin_unless_open(
        self, target: Target, operation: str, identity: DocumentIdentity | None = None
    ) -> bool:
        intent = self._intent(target, operation, target.request_id(self._tenant, operation), identity)
        if not self._ledger.begin_unless_open(intent):
            return False
        self._begun = intent
        return True

    def _new_link(self, target: Target, record: Mapping[str, Any], digest: str | None) -> Link:
        return Link(
            tenant_id=self._tenant,
            entity=target.link_entity,
            source_id=target.source_id,
            qbo_id=str(record["Id"]),
            sync_token=str(record.get("SyncToken")),
            content_hash=digest,
            source_version=target.version,
            updated_at=self._clock(),
            qbo_written_at=last_updated_time(record),
        )

    def resolve_open_create(
        self, target: Target, body: Mapping[str, Any], identity: DocumentIdentity
    ) -> tuple[Link | None, int]:
        """Settle a create an earlier delivery started but never saw the end of.

        Inside the requestid window the create is sent again with its requestid (QBO replays the record
        it made, or makes it now); outside, or when QBO refuses it as a duplicate, QBO is searched by
        the identity the intent recorded. Found: linked at the intent's version (the caller then brings
        it to this one). Proved absent: the next generation to create with.
        """
        intent = self._ledger.open(self._tenant, target.link_entity, target.source_id)
        if intent is None or not intent.is_create:
            return None, 0
        found: dict[str, Any] | None = None
        if intent.within(self._window, self._clock()):
            try:
                found = self._qbo.create(intent.qbo_entity, marked(body, target.marker), intent.request_id)
            except QboDuplicateDocNumber:
                found = self.find(intent.qbo_entity, intent.identity or identity, ours_only=True)
        else:
            found = self.find(intent.qbo_entity, intent.identity or identity, ours_only=True)
        logger.info(
            "resolved an ambiguous create",
            extra={"found": found is not None, "within_window": intent.within(self._window, self._clock())},
        )
        if found is None:
            return None, intent.generation + 1
        at = Target(target.qbo_entity, target.link_entity, target.source_id, intent.version)
        digest = content_hash(body) if intent.version == target.version else None
        return self.record(self._new_link(at, found, digest), intent.version), 0

    def resolve_open_update(
        self, target: Target, link: Link, body: Mapping[str, Any], digest: str
    ) -> tuple[Link, str]:
        """Settle an update an earlier delivery started and never saw the end of; the link to go on from
        and the operation to update with.

        QBO is read rather than trusted to replay the requestid (Intuit may have forgotten it). The
        SyncToken unchanged: the update did not commit, and is sent as usual. Advanced, and QBO holds
        what this very source version writes (its fields, references and line total): it committed, and
        nothing is written again. Advanced otherwise (the open update was of an older version, or the
        record was edited in QBO since): the update is made at the current SyncToken, under a requestid
        of its own so no replay of the earlier answer can stand in for it.
        """
        intent = self._ledger.open(self._tenant, target.link_entity, target.source_id)
        if intent is None or not intent.is_update:
            return link, "update"
        try:
            current = self._qbo.read(target.qbo_entity, link.qbo_id)
        except QboNotFound:
            return link, "update"  # the update meets the missing record and reports it
        token = str(current.get("SyncToken"))
        committed = token != link.sync_token
        logger.info("resolved an ambiguous update", extra={"committed": committed})
        if not committed:
            return link, "update"
        if intent.version == target.version and agrees(current, marked(body, target.marker)):
            return relinked(link, current, digest), "update"
        return link.model_copy(update={"sync_token": token}), f"update-at-{token}"

    def create(
        self,
        target: Target,
        body: dict[str, Any],
        identity: DocumentIdentity,
        *,
        replacing: str | None = None,
        generation: int = 0,
    ) -> dict[str, Any]:
        """Create the record; ``replacing``: the QBO id of a deleted record this one re-creates (a heal).

        An outcome QBO never confirmed, or a DocNumber QBO says is taken, is resolved by looking for the
        record first: found, it is adopted (and brought to ``body`` when it was the DocNumber).
        """
        operation = "create" if replacing is None else f"recreate-{replacing}"
        request_id = target.request_id(self._tenant, operation, generation)
        self._begin(target, operation, request_id, identity, generation)
        try:
            return self._wrote(self._qbo.create(target.qbo_entity, marked(body, target.marker), request_id))
        except (QboUncertainOutcome, QboDuplicateDocNumber) as unsure:
            found = self.find(target.qbo_entity, identity, ours_only=False)
            if found is None:
                raise
            logger.info(
                "adopted a record found after an unconfirmed write", extra={"qbo_id": found.get("Id")}
            )
            if not isinstance(unsure, QboDuplicateDocNumber):
                return self._wrote(found)
            # Ours from an earlier version whose link was lost (or, for a heal, entered again by hand):
            # bring it to this version.
            found_id, token = str(found["Id"]), str(found["SyncToken"])
            if replacing is None:
                return self.update(target, found_id, token, body)
            return self.heal_update(target, found_id, token, body)

    def _begin(
        self,
        target: Target,
        operation: str,
        request_id: str,
        identity: DocumentIdentity | None = None,
        generation: int = 0,
    ) -> None:
        """Record the intent of the write about to be sent, unless ``upsert`` recorded just this one."""
        begun, self._begun = self._begun, None
        if begun is not None and (begun.link_entity, begun.source_id, begun.request_id) == (
            target.link_entity,
            target.source_id,
            request_id,
        ):
            return
        self._ledger.begin(self._intent(target, operation, request_id, identity, generation))

    def _intent(
        self,
        target: Target,
        operation: str,
        request_id: str,
        identity: DocumentIdentity | None = None,
        generation: int = 0,
    ) -> WriteIntent:
        return WriteIntent(
            tenant_id=self._tenant,
            link_entity=target.link_entity,
            qbo_entity=target.qbo_entity,
            source_id=target.source_id,
            version=target.version,
            operation=operation,
            request_id=request_id,
            started_at=self._clock(),
            generation=generation,
            identity=identity,
        )

    def heal(
        self,
        target: Target,
        link: Link,
        body: dict[str, Any],
        identity: DocumentIdentity,
    ) -> tuple[Link, str]:
        """Write ``body`` again to the QBO record of ``link``, which drifted; the link and what was done.

        Deleted in QBO: created again and re-linked. Voided in QBO: ``Refused`` (QBO cannot change it).
        Changed since qbosync wrote it: a sparse update at its current SyncToken. Otherwise nothing.
        """
        digest = content_hash(body)
        try:
            current = self._qbo.read(target.qbo_entity, link.qbo_id)
        except QboNotFound:
            logger.info("healing: re-creating a record deleted in QBO", extra={"qbo_id": link.qbo_id})
            # A re-create an earlier heal started and never saw the end of is settled first.
            adopted, generation = self.resolve_open_create(target, body, identity)
            if adopted is not None:
                recreated = self.upsert(target, adopted, body, identity)
            else:
                record = self.create(target, body, identity, replacing=link.qbo_id, generation=generation)
                recreated = self.record(relinked(link, record, digest), target.version)
            return recreated, f"re-created in QBO as {recreated.qbo_id} (was {link.qbo_id}, deleted there)"
        if voided_in_qbo(current, body):
            raise Refused(
                ReasonCode.DRIFT_NOT_HEALABLE,
                f"QBO {target.qbo_entity} {link.qbo_id} was voided in QBO, and QBO cannot change a voided"
                " transaction: enter the document again in QBO or void it in the source",
            )
        token = str(current["SyncToken"])
        if token == link.sync_token and digest == link.content_hash:
            return self.record(link, target.version), "QBO already holds the source's version"
        record = self.heal_update(target, link.qbo_id, token, body)
        return self.record(relinked(link, record, digest), target.version), "updated in QBO"

    def heal_update(
        self, target: Target, qbo_id: str, sync_token: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A sparse update at the SyncToken just read; a stale token (5010) is left to the next delivery."""
        operation = f"heal-at-{sync_token}"
        rid = target.request_id(self._tenant, operation)
        self._begin(target, operation, rid)
        return self._wrote(
            self._qbo.sparse_update(
                target.qbo_entity, {**marked(body, target.marker), "Id": qbo_id, "SyncToken": sync_token}, rid
            )
        )

    def update(
        self,
        target: Target,
        qbo_id: str,
        sync_token: str | None,
        body: Mapping[str, Any],
        *,
        mark: bool = True,
        operation: str = "update",
    ) -> dict[str, Any]:
        """A sparse update with the known SyncToken; on 5010, read the current one and re-apply once.
        ``mark``: put qbosync's marker in ``PrivateNote`` (transactions; a QBO Item has no such field)."""
        entity = target.qbo_entity
        body = marked(body, target.marker) if mark else dict(body)
        try:
            if sync_token is None:
                raise QboStaleObject("no SyncToken is known for this record")
            rid = target.request_id(self._tenant, operation)
            self._begin(target, operation, rid)
            return self._wrote(
                self._qbo.sparse_update(entity, {**body, "Id": qbo_id, "SyncToken": sync_token}, rid)
            )
        except QboStaleObject:
            current = self._qbo.read(entity, qbo_id)
            logger.info("stale SyncToken, re-applying", extra={"qbo_id": qbo_id})
            token = str(current["SyncToken"])
            operation = f"update-at-{token}"
            rid = target.request_id(self._tenant, operation)
            self._begin(target, operation, rid)
            return self._wrote(
                self._qbo.sparse_update(entity, {**body, "Id": qbo_id, "SyncToken": token}, rid)
            )

    def remove_transaction(self, target: Target, link: Link, *, delete: bool) -> Applied:
        """Delete or void the linked record. With no removal of it open: at the SyncToken of qbosync's
        last write, without reading it first (every read is metered); only when QBO says that token is
        stale (edited there since) is the current one read and the removal sent again, under its own
        requestid. With a removal of it open (an earlier delivery never saw its end), QBO is read first,
        not replayed: gone, or voided (every amount zero), it had committed and is only recorded so."""
        version = target.version
        open_removal = self._ledger.open(self._tenant, target.link_entity, target.source_id)
        if link.sync_token and open_removal is None:
            try:
                return self._remove_at(target, link, link.sync_token, delete=delete, operation="")
            except QboStaleObject:
                logger.info(
                    "stale SyncToken on removal, reading the current one", extra={"qbo_id": link.qbo_id}
                )
            except QboInvalidReference:
                raise
            except QboNotFound:
                self.record(deleted(link), version)
                return Applied(reason="already gone from QBO", qbo_id=link.qbo_id)
        try:
            current = self._qbo.read(target.qbo_entity, link.qbo_id)
        except QboNotFound:
            self.record(deleted(link), version)
            return Applied(reason="already gone from QBO", qbo_id=link.qbo_id)
        token = str(current["SyncToken"])
        if not delete:
            self.void_current(target, link, current, operation=f"void-at-{token}")
            return Applied(reason="voided", qbo_id=link.qbo_id)
        return self._remove_at(target, link, token, delete=True, operation=f"-at-{token}")

    def _remove_at(
        self, target: Target, link: Link, sync_token: str, *, delete: bool, operation: str
    ) -> Applied:
        if delete:
            self.delete(target, link, sync_token, operation=f"delete{operation}")
            return Applied(reason="deleted", qbo_id=link.qbo_id)
        self.void(target, link, sync_token, operation=f"void{operation}")
        return Applied(reason="voided", qbo_id=link.qbo_id)

    def delete(self, target: Target, link: Link, sync_token: str, *, operation: str = "delete") -> Link:
        """Delete the linked QBO record at ``sync_token`` and record the link as deleted."""
        rid = target.request_id(self._tenant, operation)
        self._begin(target, operation, rid)
        self._qbo.delete(target.qbo_entity, link.qbo_id, sync_token, rid)
        return self.record(deleted(link), target.version)

    def void(self, target: Target, link: Link, sync_token: str, *, operation: str = "void") -> Link:
        """Void the linked QBO record at ``sync_token`` and record the link as voided."""
        rid = target.request_id(self._tenant, operation)
        self._begin(target, operation, rid)
        voided = self._qbo.void(target.qbo_entity, link.qbo_id, sync_token, rid)
        return self.record(relinked(link, voided, None, LinkState.VOIDED), target.version)

    def void_current(
        self, target: Target, link: Link, current: Mapping[str, Any], *, operation: str = "void"
    ) -> Link:
        """Void the linked record as just read (``current``). A void an earlier delivery started and never
        saw the end of is settled by that read, not by a replay Intuit may have forgotten: QBO holding
        the record with every amount zeroed means it committed, and nothing is sent again."""
        intent = self._ledger.open(self._tenant, target.link_entity, target.source_id)
        if intent is not None and intent.operation.startswith("void") and _money_in(current) == 0:
            logger.info("resolved an ambiguous void: it had committed", extra={"qbo_id": link.qbo_id})
            return self.record(relinked(link, current, None, LinkState.VOIDED), target.version)
        return self.void(target, link, str(current["SyncToken"]), operation=operation)

    def settle_before_removal(self, target: Target, link: Link | None) -> Link | None:
        """Before removing a document: a create of it still open is looked up by the identity it
        recorded (a requestid replay would need the body); found, it is linked so it can be removed."""
        if link is not None and link.is_live:
            return link
        intent = self._ledger.open(self._tenant, target.link_entity, target.source_id)
        if intent is None or not intent.is_create or intent.identity is None:
            return link
        found = self.find(intent.qbo_entity, intent.identity, ours_only=True)
        if found is None:
            self._ledger.settle(self._tenant, target.link_entity, target.source_id)
            return link
        at = Target(target.qbo_entity, target.link_entity, target.source_id, intent.version)
        return self.record(self._new_link(at, found, None), intent.version)

    def adopt(self, target: Target, record: Mapping[str, Any]) -> Link:
        """Link a QBO document qbosync did not write (one from before go-live), at version 0, so the
        source's current version is then written to it as an update."""
        link = new_link(
            self._tenant, target.link_entity, target.source_id, 0, record, "matched", self._clock()
        )
        return self._links.put(link)

    def record_absent(self, version: int, link: Link | None) -> Applied:
        """A removed document that is not (or no longer) in QBO: nothing to write."""
        if link is not None:
            self.record(link, version)
        return Applied(reason="not in QBO, nothing to remove")

    def record(self, link: Link, version: int) -> Link:
        """Record the link at ``version``, settling the write intent of its document in the same
        transaction (no write open: the settlement deletes nothing)."""
        updated = link.model_copy(update={"source_version": version, "updated_at": self._clock()})
        settlement = self._ledger.settle_op(self._tenant, link.entity, link.source_id)
        try:
            return self._links.put(updated, together=[settlement])
        except StaleSourceVersion:
            # A newer version was linked by another delivery, which resolved or replaced this write.
            self._ledger.settle(self._tenant, link.entity, link.source_id)
            newer = self._links.get(self._tenant, link.entity, link.source_id)
            return newer or updated

    def find(self, entity: str, identity: DocumentIdentity, *, ours_only: bool) -> dict[str, Any] | None:
        """The record a write may have created, among those with the same number and customer.

        The marker decides: a record carrying this document's marker is ours (of several, the one whose
        amount and date corroborate the identity), and one carrying another document's marker is never
        adopted. ``ours_only`` (resolving a ledger intent): only a marked record will do. Otherwise a
        record without any marker (entered by hand) is adopted only when its amount and date corroborate
        the identity, so two documents that share a number are never taken for each other.
        """
        rows = self._qbo.query(
            f"SELECT * FROM {entity} WHERE {identity.field_name} = {qbo_literal(identity.value)}"  # noqa: S608 - QBO query language
        )
        candidates = [
            row for row in rows if str((row.get("CustomerRef") or {}).get("value")) == identity.customer_id
        ]
        mine = [row for row in candidates if identity.marker in _note(row)]
        if mine:
            return next((row for row in mine if identity.corroborated_by(row)), mine[0])
        if ours_only:
            return None
        unmarked = [row for row in candidates if "[qbosync:" not in _note(row)]
        return next((row for row in unmarked if identity.corroborated_by(row)), None)


def relinked(
    link: Link, record: Mapping[str, Any], digest: str | None, state: LinkState = LinkState.ACTIVE
) -> Link:
    """``link`` after qbosync wrote ``record`` (as QBO returned it) with content ``digest``."""
    return link.model_copy(
        update={
            "qbo_id": str(record.get("Id", link.qbo_id)),
            "sync_token": str(record.get("SyncToken")),
            "content_hash": digest,
            "state": state,
            "qbo_written_at": last_updated_time(record),
        }
    )


def deleted(link: Link) -> Link:
    """``link`` once its QBO record is gone (deleted by qbosync, or found missing)."""
    return link.model_copy(update={"state": LinkState.DELETED, "sync_token": None})


def to_heal(link: Link | None, *, heal: bool) -> Link | None:
    """The link to heal: asked to, and linked to a record qbosync left live in QBO; else None."""
    if not heal or link is None or not link.is_live:
        return None
    return link


def voided_in_qbo(record: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """The QBO record was voided there: a CDC row says so (``status``), or QBO holds it with every amount
    zeroed while the body qbosync writes for it carries money (QBO zeroes amounts only on a void; a
    record edited to zero by hand reads the same, and is left alone too)."""
    if str(record.get("status", "")).lower() == "voided":
        return True
    return _money_in(record) == 0 and _money_in(body) != 0


def agrees(record: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """QBO's ``record`` holds what ``body`` writes: its plain fields, the ids it references and the sum
    of its line amounts (QBO adds its own members to lines, so they are not compared one by one)."""
    for key, value in body.items():
        held = record.get(key)
        if key == "Line" or isinstance(value, list):
            continue
        if isinstance(value, Mapping):
            if "value" in value and str((held or {}).get("value")) != str(value["value"]):
                return False
            continue
        if not _same_value(held, value):
            return False
    return _line_total(record) == _line_total(body)


def _same_value(held: Any, sent: Any) -> bool:
    if isinstance(sent, bool) or not isinstance(sent, int | float | Decimal):
        return str(held) == str(sent)
    try:
        return Decimal(str(held)) == Decimal(str(sent))
    except InvalidOperation:
        return False


def _line_total(document: Mapping[str, Any]) -> Decimal:
    lines = document.get("Line") or []
    amounts = [line.get("Amount") for line in lines if line.get("DetailType") != "SubTotalLineDetail"]
    try:
        return sum((Decimal(str(amount)) for amount in amounts if amount is not None), Decimal(0))
    except InvalidOperation:
        return Decimal("NaN")


def _note(record: Mapping[str, Any]) -> str:
    return str(record.get("PrivateNote") or "")


def _money_in(document: Mapping[str, Any]) -> Decimal:
    """The sum of a document's total and line amounts, as magnitudes (zero only when every one is)."""
    amounts = [document.get("TotalAmt")] + [line.get("Amount") for line in document.get("Line") or []]
    try:
        return sum((abs(Decimal(str(amount))) for amount in amounts if amount is not None), Decimal(0))
    except InvalidOperation:
        return Decimal("NaN")


@dataclass(frozen=True)
class DocumentContext:
    """One tenant's collaborators for one batch: its clients, configuration, references and writer."""

    tenant_id: str
    qbo: QboClient
    source: SourcePort
    links: LinkRepository
    config: PushConfiguration
    references: QboReferences
    writer: QboWriter
    parked: ParkedEvents
    currency: CurrencyRules


class DocumentPush:
    """What every document push reads from its context."""

    def __init__(self, context: DocumentContext) -> None:
        self._context = context
        self._tenant = context.tenant_id
        self._qbo = context.qbo
        self._source = context.source
        self._links = context.links
        self._config = context.config
        self._references = context.references
        self._writer = context.writer
        self._parked = context.parked
        self._currency = context.currency

    def _document_money(
        self, what: str, document: SourceInvoice | SourceCreditNote | SourcePayment, on: date
    ) -> tuple[str, dict[str, Any]]:
        """The QBO customer of a document (created in its currency) and its currency fields."""
        created_with = self._currency.new_customer_fields(document.currency)
        customer = self._references.customer(document.customer_id, created_with)
        money = self._currency.for_document(
            what, document.currency, document.exchange_rate, on, customer.qbo_id, customer.currency
        )
        return customer.qbo_id, money.fields()

    def _variance(self, qbo_id: str, source_total: Decimal, currency: str) -> Variance | None:
        """QBO's total against the source's, when this push wrote the record (else it was compared then)."""
        record = self._writer.written(qbo_id)
        if record is None or record.get("TotalAmt") is None:
            return None
        qbo_total = Decimal(str(record["TotalAmt"])).quantize(Decimal("0.01"))
        if qbo_total == source_total:
            return None
        return Variance(source_total=source_total, qbo_total=qbo_total, currency=currency)

    def _note_number(self, prefix: NumberPrefix, number: str, written: str) -> None:
        """A number QBO could not hold whole is a warning on the event."""
        warning = shortened_number_warning(prefix, number, written)
        if warning is not None:
            self._references.warnings.append(warning)
