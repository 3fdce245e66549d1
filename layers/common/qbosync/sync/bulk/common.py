"""What customer and product pages share: tallies, link bookkeeping, QBO name queries, batch creates."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from qbosync.qbo.client import BatchItem, QboClient, qbo_literal, request_id_for
from qbosync.qbo.faults import QboDuplicateName
from qbosync.qbo.metadata import metadata_time
from qbosync.source.models import Page
from qbosync.store.events import WarningCode
from qbosync.store.ledger import WriteIntent, WriteLedger
from qbosync.store.links import Link, LinkOrigin
from qbosync.store.runs import SKIP_SAMPLE_SIZE, EntityCounts, SkippedSample, SkipTally, WarningTally
from qbosync.sync.bulk.models import MAX_SKIP_REASONS, FailedRecord, PageDescriptor, SkippedRecord
from qbosync.sync.bulk.skips import SkipReason

# A GET query's URL stays under common 8 KB limits once URL-encoded; a page's names usually fit one.
MAX_QUERY_CHARS = 4000
MAX_QUERY_RESULTS = 1000


@dataclass
class Tally:
    """Counts of one page, skips counted by reason, warnings by code (records created under another
    name than the source's, or with a field cut: the push's ``WarningCode``s), and the records skipped
    or failed (the first few)."""

    matched: int = 0
    created: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_reasons: list[SkippedRecord] = field(default_factory=list)
    failed_reasons: list[FailedRecord] = field(default_factory=list)
    skips_by_code: dict[SkipReason, SkipTally] = field(default_factory=dict)
    warnings_by_code: dict[WarningCode, WarningTally] = field(default_factory=dict)
    qbo_requests: int = 0
    qbo_reads: int = 0
    """The reads among ``qbo_requests`` (queries): what onboarding is charged for."""

    def count_read(self) -> None:
        self.qbo_requests += 1
        self.qbo_reads += 1

    def skip(self, source_id: str, code: SkipReason, reason: str) -> None:
        self.skipped += 1
        if len(self.skipped_reasons) < MAX_SKIP_REASONS:
            self.skipped_reasons.append(SkippedRecord(source_id=source_id, code=code, reason=reason))
        _add_to_tally(self.skips_by_code, code, source_id, reason)

    def warn(self, source_id: str, code: WarningCode, message: str) -> None:
        """A record was created, but not quite as the source has it (counted, not skipped)."""
        _add_to_tally(self.warnings_by_code, code, source_id, message)

    def fail(self, source_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failed_reasons) < MAX_SKIP_REASONS:
            self.failed_reasons.append(FailedRecord(source_id=source_id, reason=reason))

    def skips(self) -> list[SkipTally]:
        """The page's skips by reason, most frequent first."""
        return sorted(self.skips_by_code.values(), key=lambda tally: (-tally.count, tally.code))

    def warnings(self) -> list[WarningTally]:
        """The page's warnings by code, most frequent first."""
        return sorted(self.warnings_by_code.values(), key=lambda tally: (-tally.count, tally.code))

    def count_link(self, origin: LinkOrigin) -> None:
        if origin == "matched":
            self.matched += 1
        else:
            self.created += 1

    def counts(self) -> EntityCounts:
        return EntityCounts(
            matched=self.matched, created=self.created, skipped=self.skipped, failed=self.failed
        )


_Code = TypeVar("_Code", SkipReason, WarningCode)


def _add_to_tally(tallies: dict[_Code, SkipTally], code: _Code, source_id: str, message: str) -> None:
    sample = SkippedSample(source_id=source_id, message=message)
    tally = tallies.get(code)
    if tally is None:
        tallies[code] = SkipTally(code=code.value, count=1, sample=[sample])
        return
    tally.count += 1
    if len(tally.sample) < SKIP_SAMPLE_SIZE:
        tally.sample.append(sample)


class SourceRecord(Protocol):
    """What the bulk sync reads of any source record before deciding to match or create it."""

    @property
    def id(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def deleted(self) -> bool: ...


_R = TypeVar("_R", bound=SourceRecord)


def records_to_sync(
    records: Iterable[_R],
    tally: Tally,
    link_of: Callable[[str], Link | None],
    run_started_at: datetime,
) -> list[_R]:
    """The active records with no link yet; inactive ones are skipped and linked ones counted."""
    pending: list[_R] = []
    for record in records:
        if record.deleted or not record.active:
            tally.skip(record.id, SkipReason.INACTIVE_IN_SOURCE, "inactive or deleted in the source")
            continue
        link = link_of(record.id)
        if link is not None:
            count_existing_link(tally, link, run_started_at)
            continue
        pending.append(record)
    return pending


def noted_link(link: Link | None, linked: list[str]) -> Link | None:
    """``link``, its source id noted in ``linked`` when there is one (a page settles their open creates)."""
    if link is not None:
        linked.append(link.source_id)
    return link


def count_existing_link(tally: Tally, link: Link, run_started_at: datetime) -> None:
    """A record already linked: made by this run (an earlier attempt) counts as it did then."""
    if link.updated_at >= run_started_at:
        tally.count_link(link.origin)
    else:
        tally.skip(link.source_id, SkipReason.ALREADY_LINKED, "already linked before this run")


def created_during_run(qbo_record: Mapping[str, Any], run_started_at: datetime) -> bool:
    """True when QBO created the record after the run started: an earlier attempt of this run made it
    and lost its link before writing it, so the retry must count it as created, not matched."""
    created = metadata_time(qbo_record, "CreateTime")
    # QBO stamps whole seconds: a record stamped in the second the run started counts as matched.
    return created is not None and created > run_started_at


def query_in(
    qbo: QboClient, tally: Tally, entity: str, field_name: str, values: Iterable[str]
) -> list[dict[str, Any]]:
    """Rows of ``entity`` whose ``field_name`` is one of ``values``: as few GET queries as fit the URL."""
    unique = sorted({value for value in values if value})
    rows: list[dict[str, Any]] = []
    chunk: list[str] = []
    length = 0
    for value in unique:
        literal = qbo_literal(value)
        if chunk and length + len(literal) + 2 > MAX_QUERY_CHARS:
            rows += _run_in_query(qbo, tally, entity, field_name, chunk)
            chunk, length = [], 0
        chunk.append(literal)
        length += len(literal) + 2
    if chunk:
        rows += _run_in_query(qbo, tally, entity, field_name, chunk)
    return rows


def _run_in_query(
    qbo: QboClient, tally: Tally, entity: str, field_name: str, literals: Sequence[str]
) -> list[dict[str, Any]]:
    tally.count_read()
    # QBO's query language, values quoted by qbo_literal.
    sql = (
        f"SELECT * FROM {entity} WHERE {field_name} IN ({', '.join(literals)}) MAXRESULTS {MAX_QUERY_RESULTS}"  # noqa: S608
    )
    return qbo.query(sql)


@dataclass(frozen=True)
class Creation:
    """One record to create in QBO: who it is in the source, and the body to send."""

    source_id: str
    source_version: int
    body: dict[str, Any]


@dataclass(frozen=True)
class CreationOutcome:
    created: list[tuple[Creation, dict[str, Any]]]
    duplicate_names: list[Creation]
    failed: list[tuple[Creation, str]]


@dataclass(frozen=True)
class BatchLedger:
    """The write ledger as the batch creates use it: an intent per record before each batch is sent,
    settled once QBO answered for every item of it."""

    ledger: WriteLedger
    clock: Callable[[], datetime]


def create_in_batches(
    qbo: QboClient,
    tally: Tally,
    *,
    tenant_id: str,
    entity: str,
    creations: Sequence[Creation],
    operation: str,
    batch_size: int,
    on_created: Callable[[list[tuple[Creation, dict[str, Any]]]], None],
    writes: BatchLedger,
) -> CreationOutcome:
    """Create through the batch API, ``batch_size`` a request.

    The batch requestid is derived from exactly which records (and versions) it carries, so a retried
    page resends the same batch under the same requestid and QBO replays its answer instead of creating
    twice. ``on_created`` records links after each batch, before the next one is sent. Each record's
    intent is in the write ledger while its batch is out; a batch whose answer is lost leaves them open
    (the page fails, and its retry finds what QBO made by name: ``settle_linked``).
    """
    created: list[tuple[Creation, dict[str, Any]]] = []
    duplicates: list[Creation] = []
    failed: list[tuple[Creation, str]] = []
    for start in range(0, len(creations), batch_size):
        chunk = creations[start : start + batch_size]
        request_id = request_id_for(
            tenant_id,
            entity,
            ",".join(creation.source_id for creation in chunk),
            ",".join(str(creation.source_version) for creation in chunk),
            operation,
        )
        items = [
            BatchItem(bid=f"b{index}", entity=entity, body=creation.body, operation="create")
            for index, creation in enumerate(chunk)
        ]
        started_at = writes.clock()
        writes.ledger.begin_many(
            [
                WriteIntent(
                    tenant_id=tenant_id,
                    link_entity=entity,
                    qbo_entity=entity,
                    source_id=creation.source_id,
                    version=creation.source_version,
                    operation=operation,
                    request_id=request_id,
                    started_at=started_at,
                )
                for creation in chunk
            ]
        )
        tally.qbo_requests += 1
        results = qbo.batch(items, request_id)
        chunk_created: list[tuple[Creation, dict[str, Any]]] = []
        for creation, result in zip(chunk, results, strict=True):
            if result.ok and result.entity is not None:
                chunk_created.append((creation, result.entity))
            elif isinstance(result.fault, QboDuplicateName):
                duplicates.append(creation)
            else:
                failed.append((creation, str(result.fault or "QBO returned no entity")[:300]))
        if chunk_created:
            on_created(chunk_created)
        # QBO answered for every item: created ones are linked, refused ones made nothing.
        writes.ledger.settle_many(tenant_id, entity, [creation.source_id for creation in chunk])
        created += chunk_created
    return CreationOutcome(created=created, duplicate_names=duplicates, failed=failed)


def settle_linked(ledger: WriteLedger, tenant_id: str, entity: str, linked: Iterable[str]) -> None:
    """Settle the open creates of records that are linked now: found by name after a batch whose answer
    was lost, or linked just before a crash cut the settlement off. One query, usually empty."""
    settled = ledger.open_source_ids(tenant_id, entity) & set(linked)
    if settled:
        ledger.settle_many(tenant_id, entity, sorted(settled))


def create_with_name_policy(
    qbo: QboClient,
    tally: Tally,
    *,
    tenant_id: str,
    entity: str,
    creations: Sequence[Creation],
    batch_size: int,
    on_created: Callable[[list[tuple[Creation, dict[str, Any]]]], None],
    policy: Literal["suffix", "report"],
    renamed: Callable[[Creation], Creation],
    name_taken: str,
    both_taken: str,
    writes: BatchLedger,
) -> None:
    """Create what is missing, honouring the name-collision setting for QBO's 6240.

    A record whose name QBO refuses as taken is skipped with ``name_taken`` (policy ``report``), or
    created once more under ``renamed`` (policy ``suffix``) and skipped with ``both_taken`` if that
    name is taken too. Counts go to ``tally``.
    """
    outcome = create_in_batches(
        qbo,
        tally,
        tenant_id=tenant_id,
        entity=entity,
        creations=creations,
        operation="bulk-create",
        batch_size=batch_size,
        on_created=on_created,
        writes=writes,
    )
    _count(tally, outcome)
    if policy == "report":
        for creation in outcome.duplicate_names:
            tally.skip(creation.source_id, SkipReason.NAME_TAKEN, name_taken)
        return
    if not outcome.duplicate_names:
        return
    second = create_in_batches(
        qbo,
        tally,
        tenant_id=tenant_id,
        entity=entity,
        creations=[renamed(creation) for creation in outcome.duplicate_names],
        operation="bulk-create-suffixed",
        batch_size=batch_size,
        on_created=on_created,
        writes=writes,
    )
    _count(tally, second)
    for creation in second.duplicate_names:
        tally.skip(creation.source_id, SkipReason.SUFFIXED_NAME_TAKEN, both_taken)


def _count(tally: Tally, outcome: CreationOutcome) -> None:
    tally.created += len(outcome.created)
    for creation, reason in outcome.failed:
        tally.fail(creation.source_id, reason)


def page_descriptors(
    entity: Literal["customers", "products"], list_page: Callable[[str | None, int], Page[Any]], limit: int
) -> list[PageDescriptor]:
    """Walk the source's pages once, noting each non-empty page's cursor so a Map state can sync it."""
    pages: list[PageDescriptor] = []
    cursor: str | None = None
    while True:
        page = list_page(cursor, limit)
        if page.items:
            pages.append(PageDescriptor(entity=entity, page_no=len(pages) + 1, cursor=cursor, limit=limit))
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return pages
