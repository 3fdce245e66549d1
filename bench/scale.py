"""Benchmark the schedules at fleet scale: 10,000 connected tenants on one stack, one simulated day.

    .venv/bin/python bench/scale.py [--tenants 10000 --quiet 8 --normal 4 --busy 2 --seed 7 --drop-rate 0.01
                                     --refused-rate 0.02 --outage-tenants 3 --outage-minutes 180
                                     --intuit-window-minutes 1]

Everything runs in this process against moto (main table and queues as template.yaml declares them,
Secrets Manager, KMS). QBO and the source are **counting fakes** (no sandbox): they answer CDC, queries
and listings from an in-memory change log and count every call. Clocks are injected; nothing sleeps.

1. **Fleet.** ``--tenants`` connections are recorded through ``ConnectionRepository.record_connected``
   (the real write that puts them in the sparse ``connected`` index), plus 5% more tenants that are
   ``needs_reauth`` or ``disconnected`` (outside the index).
2. **Dispatcher, whole fleet.** The real ``ScheduleDispatcher`` fans one reconcile firing out over all
   tenants into a moto SQS queue; its AWS calls are counted and its time measured.
3. **Workers, a sample.** For ``--quiet``/``--normal``/``--busy`` tenants the real ``ScheduledWorker``
   runs every job of one simulated day (reconcile every 15 min, retry every 10 min, keep-alive once),
   with the real ``Reconciler``, ``EventRetrySchedule``, ``TokenKeepAlive``, ``TokenVault`` and stores.
   Source writes (pushed by their webhook: the link is recorded) and QBO-side edits arrive through the
   day; ``--drop-rate`` of the webhooks are lost, so only reconciliation can bring those back. Gap signals:
   ``--refused-rate`` of QBO's webhooks are posted with a bad signature, and ``--outage-tenants`` tenants
   have a ``--outage-minutes`` delivery outage (its first change delivered late when it ends, the others
   never); both go through the real QBO webhook receiver and the pull worker's gap path. After the day,
   reconciliation alone runs on until every change has had its whole backstop interval (one more tick):
   the run prints how many missed changes came back within that interval, within 15 minutes of a detected
   gap, and not at all. Counts and mean durations are from the day only (the largest run, from both).
4. **Extrapolation.** Per class, calls per tenant-day from the sample are multiplied by the class's
   share of the fleet (printed with the formula); durations add modelled network latency to the
   measured in-process time (QBO 0.25 s and source 0.15 s per call, printed).
5. **Reads and the governor.** QBO reads by purpose, split into what writes cause (the push's lookups and
   the write ledger's resolutions: measured by ``bench/push.py``, the constants below) and what they do not
   (pulls of QBO-side edits, backstop CDC, gap CDCs); issue 15's 0.1 a write applied to the first, the floor
   of the total; pull reads by Intuit's aggregation window of webhook events (``--intuit-window-minutes``:
   the pull worker reads the records one batch names with one query). The real rate governor over moto's
   DynamoDB, DynamoDB calls per QBO call with a slot per call and with slots kept for
   the invocation.
6. **Cost** per tenant-month from AWS list prices (us-east-1, printed with each price), and the old
   design (one Lambda per schedule scanning the table and looping over every tenant, two secrets per
   tenant, the per-request governor) projected the same way, as the baseline of the ratios.

Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RECONCILE_EVERY = timedelta(minutes=15)
WEBHOOK_VERIFIER = "bench-verifier-token"  # the bench's own value, not a secret
QBO_CALL_SECONDS = 0.25
SOURCE_CALL_SECONDS = 0.15
# Modelled latency of one AWS call from Lambda in the same region (moto's own time is taken out).
AWS_LATENCY_SECONDS = {"dynamodb": 0.006, "sqs": 0.015, "secretsmanager": 0.02, "kms": 0.01}
WORKER_TIMEOUT_S = 300.0
DISPATCHER_TIMEOUT_S = 300.0
OLD_LOOP_TIMEOUT_S = 900.0
MONTH_DAYS = 30
ALLOWANCE = 500_000  # Intuit's Builder tier: CorePlus reads a month, whole app
WRITES_PER_TENANT_MONTH = 1_000
PULL_BATCH_SIZE = 10  # template.yaml: PullWorkerQueueMapping BatchSize
INTUIT_WINDOWS_MINUTES = (1, 3, 5)  # Intuit's production aggregation of webhook events (configurable)
# QBO reads the push makes per source change, measured by bench/push.py (``qbo_reads_per_change`` in its
# RESULT: every GET QBO saw during 1,000 pushed changes, retries included). Nothing failing:
#   .venv/bin/python bench/push.py --no-faults
# With the bench's faults (5% 5xx, 2% answers lost after commit, 2% worker crashes):
#   .venv/bin/python bench/push.py
# This bench counts each pushed change as one write. The same runs made fewer QBO writes than changes
# (``qbo_writes_per_change``: some changes need no write), so per QBO write these reads are higher.
PUSH_READS_PER_CHANGE_NO_FAULTS = 0.036
PUSH_READS_PER_CHANGE_WITH_FAULTS = 0.041
PUSH_QBO_WRITES_PER_CHANGE_NO_FAULTS = 0.866
PUSH_QBO_WRITES_PER_CHANGE_WITH_FAULTS = 0.956
PUSH_READS_PER_WRITE = PUSH_READS_PER_CHANGE_WITH_FAULTS  # the fleet's totals take the higher, faulty figure

# Fleet mix: (share of tenants, source writes a day, QBO-side edits a day); averages 33 writes a day.
CLASSES: dict[str, tuple[float, float, float]] = {
    "quiet": (0.60, 5.0, 0.5),
    "normal": (0.35, 50.0, 5.0),
    "busy": (0.05, 256.0, 25.0),
}

# AWS list prices, us-east-1, x86, on-demand (USD).
PRICES: dict[str, float] = {
    "lambda_gb_second": 0.0000166667,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "dynamodb_gb_month": 0.25,
    "sqs_request": 0.40 / 1e6,
    "sqs_fifo_request": 0.50 / 1e6,
    "step_functions_transition": 0.025 / 1e3,
    "secret_month": 0.40,
    "secrets_api_call": 0.05 / 1e4,
    "kms_request": 0.03 / 1e4,
    "kms_key_month": 1.00,
    "logs_ingest_gb": 0.50,
    "custom_metric_month": 0.30,
    "alarm_month": 0.10,
    "xray_trace": 5.00 / 1e6,
    "http_api_request": 1.00 / 1e6,
}
LAMBDA_GB = 0.5  # template.yaml Globals: MemorySize 512
LOG_BYTES_PER_INVOCATION = 2_000
FLEET_METRICS = 15
FLEET_ALARMS = 25


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--quiet", type=int, default=8)
    parser.add_argument("--normal", type=int, default=4)
    parser.add_argument("--busy", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drop-rate", type=float, default=0.01)
    parser.add_argument(
        "--refused-rate",
        type=float,
        default=0.02,
        help="QBO webhooks refused for a bad signature (e.g. a verifier token rotated at Intuit first)",
    )
    parser.add_argument(
        "--outage-tenants",
        type=int,
        default=3,
        help="sample tenants (busy first) whose QBO webhooks fail for --outage-minutes once in the day",
    )
    parser.add_argument("--outage-minutes", type=int, default=180)
    parser.add_argument(
        "--intuit-window-minutes",
        type=float,
        default=1,
        help="Intuit's aggregation window of webhook events (1, 3 or 5 in production; 0: one read a change)",
    )
    return parser.parse_args(argv)


def _environment() -> None:
    for path in (str(REPO), str(REPO / "layers" / "common")):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": "qbosync-scale",
            "SECRET_PREFIX": "qbosync/scale",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "qbosync",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


# --- counting ---------------------------------------------------------------------------------------


class AwsCalls:
    """Every boto3 call made in this process, by service and operation (moto answers them)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.transact_items = 0
        self.seconds = 0.0  # spent inside boto3 calls (moto's time, replaced by a modelled latency)

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            counter.calls[(client.meta.service_model.service_name, operation)] += 1
            if operation == "TransactWriteItems":
                counter.transact_items += len(params.get("TransactItems", []))
            started = time.perf_counter()
            try:
                return original(client, operation, params)
            finally:
                counter.seconds += time.perf_counter() - started

        BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def snapshot(self) -> tuple[Counter[tuple[str, str]], int]:
        return Counter(self.calls), self.transact_items

    def modelled(self, elapsed: float, before_seconds: float, calls: Counter[tuple[str, str]]) -> float:
        """``elapsed`` with the time moto took replaced by each call's modelled AWS latency."""
        in_aws = sum(AWS_LATENCY_SECONDS.get(service, 0.01) * n for (service, _), n in calls.items())
        return elapsed - (self.seconds - before_seconds) + in_aws


def _delta(
    before: tuple[Counter[tuple[str, str]], int], after: tuple[Counter[tuple[str, str]], int]
) -> Usage:
    calls = after[0] - before[0]
    usage = Usage()
    for (service, operation), n in calls.items():
        if service == "dynamodb":
            if operation in ("GetItem", "Query", "Scan", "BatchGetItem"):
                usage.rru += n
            elif operation == "TransactWriteItems":
                pass
            else:
                usage.wru += n
            usage.dynamodb_calls += n
        elif service == "secretsmanager":
            usage.secrets_calls += n
        elif service == "kms":
            usage.kms_calls += n
        elif service == "sqs":
            usage.sqs_calls += n
    usage.wru += 2 * (after[1] - before[1])  # a transaction's write costs two units per item
    return usage


@dataclass
class Usage:
    qbo_reads: int = 0
    source_calls: int = 0
    rru: float = 0
    wru: float = 0
    dynamodb_calls: int = 0
    secrets_calls: int = 0
    kms_calls: int = 0
    sqs_calls: int = 0

    def add(self, other: Usage) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


AWS = AwsCalls()


# --- the counting fakes ---------------------------------------------------------------------------


@dataclass
class FakeQbo:
    """QBO for one realm: CDC and queries over a change log up to the simulated now; counts reads."""

    clock: Callable[[], datetime]
    vault: Any
    changes: list[tuple[datetime, str, str]] = field(default_factory=list)  # (when, entity, id)
    reads: int = 0

    def _rows(self, since: datetime) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for when, entity, record_id in self.changes:
            if since <= when <= self.clock():
                row = {"Id": record_id, "MetaData": {"LastUpdatedTime": when.isoformat()}}
                found.setdefault(entity, []).append(row)
        return found

    def cdc(self, entities: list[str], since: datetime) -> dict[str, list[dict[str, Any]]]:
        self.vault.access_token()  # as QboClient authorises each call
        self.reads += 1
        rows = self._rows(since)
        return {entity: rows.get(entity, []) for entity in entities}

    def iter_query(self, entity: str, where: str) -> Iterator[dict[str, Any]]:
        self.vault.access_token()
        self.reads += 1
        yield from []


@dataclass
class FakeSource:
    """The source for one tenant: documents changed through the day; counts every listing call."""

    clock: Callable[[], datetime]
    invoices: list[tuple[datetime, str, int]] = field(default_factory=list)  # (when, id, version)
    calls: int = 0

    def _lister(self, kind: str) -> Callable[..., Any]:
        from qbosync.source.models import Page, SourceObject

        def listing(cursor: str | None, limit: int, *, updated_since: datetime | None = None) -> Any:
            self.calls += 1
            items = []
            if kind == "invoice":
                items = [
                    SourceObject(id=record_id, version=version, updated_at=when)
                    for when, record_id, version in self.invoices
                    if (updated_since is None or when >= updated_since) and when <= self.clock()
                ]
            return Page[SourceObject](items=items, next_cursor=None)

        return listing

    def __getattr__(self, name: str) -> Any:
        kinds = {
            "list_customers": "customer",
            "list_products": "product",
            "list_invoices": "invoice",
            "list_payments": "payment",
            "list_credit_notes": "credit_note",
        }
        if name in kinds:
            return self._lister(kinds[name])
        raise AttributeError(name)


@dataclass
class Recovered:
    """What reconciliation brought back, by change, with the simulated time it happened."""

    clock: Callable[[], datetime]
    at: dict[str, datetime] = field(default_factory=dict)

    def apply(self, message: Any, row: Any = None) -> Any:
        key = f"qbo:{message.change.entity}:{message.change.entity_id}:{row['MetaData']['LastUpdatedTime']}"
        self.at.setdefault(key, self.clock())
        return type("Applied", (), {"status": "applied"})()

    def send(self, body: str, *, group_id: str, deduplication_id: str) -> str:
        message = json.loads(body)
        self.at.setdefault(f"source:{message['source_id']}:{message['source_version']}", self.clock())
        return "queued"

    def to_qbo(self, *args: Any) -> None:
        return None


# --- the fleet and the dispatcher -------------------------------------------------------------------


def _realm_of(tenant_id: str) -> str:
    """A QBO-like realm id (digits only) unique to the tenant."""
    return "".join(char if char.isdigit() else str(ord(char)) for char in tenant_id)


def _connection(tenant_id: str, at: datetime) -> Any:
    from qbosync.store.connections import Connection

    return Connection(
        tenant_id=tenant_id,
        realm_id=_realm_of(tenant_id),
        connected_by="operator",
        connected_at=at,
    )


def _fleet(count: int) -> float:
    """The fleet's connection items, as ``record_connected`` writes them, loaded with BatchWriteItem.

    moto copies every table for each TransactWriteItems (to roll back), so 10,000 real transactions would
    take hours; ``ConnectionRepository.item_of`` is the one item shape both paths write.
    """
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.table import MainTable

    started = time.perf_counter()
    connections = [_connection(f"t{index:06d}", START - DAY * 30) for index in range(count)]
    for index in range(count // 20):  # 5% more tenants that are not connected: outside the sparse index
        status = "disconnected" if index % 2 else "needs_reauth"
        connections.append(
            _connection(f"x{index:06d}", START - DAY * 30).model_copy(update={"status": status})
        )
    MainTable().batch_put([ConnectionRepository.item_of(c) for c in connections], sleep=lambda _: None)
    return time.perf_counter() - started


@dataclass
class DispatchFigures:
    tenants: int
    seconds: float
    modelled_seconds: float
    query_pages: int
    send_requests: int
    messages: int


class CountingSqs:
    """SQS for the dispatcher's 10,000 messages: moto's queue slows with every message it holds (each send
    costs time in proportion to the queue's depth), so the real ``ScheduledWorkQueue`` sends to this
    counting client instead, which checks each batch as SQS would (at most ten entries, unique ids)."""

    def __init__(self) -> None:
        self.requests = 0
        self.bodies: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        if not 1 <= len(Entries) <= 10 or len({entry["Id"] for entry in Entries}) != len(Entries):
            raise ValueError("not a batch SQS accepts")
        self.requests += 1
        AWS.calls[("sqs", "SendMessageBatch")] += 1
        self.bodies.extend(entry["MessageBody"] for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def _dispatch(aws: AwsCalls) -> DispatchFigures:
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.work_queue import ScheduledWorkQueue
    from qbosync.sync.fanout import DispatchRequest, ScheduleDispatcher, ScheduledJob

    sqs = CountingSqs()
    dispatcher = ScheduleDispatcher(
        connections=ConnectionRepository(),
        queue=ScheduledWorkQueue(client=sqs, queue_url="https://sqs.us-east-1.amazonaws.com/0/work"),  # type: ignore[arg-type]
        clock=lambda: START,
        sleep=lambda _: None,
    )
    before, before_seconds = aws.snapshot(), aws.seconds
    started = time.perf_counter()
    report = dispatcher.dispatch(DispatchRequest(job=ScheduledJob.RECONCILE, scheduled_time=START))
    seconds = time.perf_counter() - started
    calls = aws.snapshot()[0] - before[0]
    modelled = aws.modelled(seconds, before_seconds, calls)
    pages = calls[("dynamodb", "Query")]
    return DispatchFigures(
        report.tenants,
        seconds,
        modelled,
        pages,
        report.send_requests,
        len({json.loads(body)["tenant_id"] for body in sqs.bodies}),
    )


# --- the sample day --------------------------------------------------------------------------------


@dataclass
class TenantDay:
    tenant_id: str
    klass: str
    usage: Usage = field(default_factory=Usage)
    runs: Counter[str] = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=dict)
    changes: dict[str, datetime] = field(default_factory=dict)  # change key → when it happened
    dropped: int = 0
    recovered_at: dict[str, datetime] = field(default_factory=dict)
    secrets: int = 0
    token_refreshes: int = 0
    must_recover: set[str] = field(default_factory=set)
    gap_detected: dict[str, datetime] = field(default_factory=dict)  # change key → when its gap was signalled
    deliveries: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)  # QBO reads by purpose, the measured day
    notified: list[datetime] = field(default_factory=list)  # QBO-side edits whose webhook arrived on time
    largest: float = 0.0  # the longest job run, tail included (modelled seconds)


class SimulatedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class StaticGrant:
    """A grant as Intuit issues one (values are placeholders of the right shape)."""

    def __init__(self, seed: str) -> None:
        from pydantic import SecretStr

        self.access_token = SecretStr(f"at-{seed}")
        self.refresh_token = SecretStr(f"rt-{seed}")
        self.expires_in = 3600
        self.x_refresh_token_expires_in = 8_640_000


class CountingRefresher:
    """Intuit's token endpoint: a new grant per refresh (not a metered read), counted."""

    def __init__(self) -> None:
        self.refreshes = 0

    def refresh(self, refresh_token: str) -> StaticGrant:
        self.refreshes += 1
        return StaticGrant(f"{refresh_token}-{self.refreshes}")


def _onboard(tenant_id: str, vault: Any) -> int:
    """Register, provision the source and store the tokens as the real code does; the tenant's secrets."""
    from qbosync.operator.fleet import FleetOperator
    from qbosync.store.aws import secrets_client

    operator = FleetOperator()
    operator.register(tenant_id, f"Tenant {tenant_id}")
    operator.provision_source(tenant_id, api_key=f"key-{tenant_id}")
    vault.store_initial(_realm_of(tenant_id), StaticGrant(tenant_id))
    names = [
        secret["Name"]
        for page in secrets_client().get_paginator("list_secrets").paginate()
        for secret in page["SecretList"]
    ]
    return sum(1 for name in names if f"/tenants/{tenant_id}/" in name)


class Delivery(StrEnum):
    """What became of a change's webhook."""

    DELIVERED = "delivered"
    LOST = "lost"  # dropped silently: only the backstop interval (or the source listing) finds it
    REFUSED = "refused"  # posted with a bad signature: refused (401), and a gap signal for its realm
    LATE = "late"  # delivered after an outage, later than QBOSYNC_WEBHOOK_LATE_SECONDS: a gap signal
    OUTAGE_LOST = "outage_lost"  # announced during an outage and never delivered (Intuit gave up)


@dataclass(frozen=True)
class Change:
    when: datetime
    side: str  # "source" or "qbo"
    record_id: str
    delivery: Delivery
    arrives_at: datetime

    @property
    def key(self) -> str:
        if self.side == "source":
            return f"source:{self.record_id}:1"
        return f"qbo:Invoice:{self.record_id}:{self.when.isoformat()}"


def _timeline(
    rng: random.Random,
    klass: str,
    *,
    options: argparse.Namespace,
    outage_at: datetime | None,
    qbo: FakeQbo,
    source: FakeSource,
) -> list[Change]:
    """The day's changes of one tenant, in the order their webhooks arrive (or would have)."""
    _share, writes, edits = CLASSES[klass]
    changes: list[Change] = []
    for side, rate in (("source", writes), ("qbo", edits)):
        count = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
        for index in range(count):
            when = START + timedelta(seconds=rng.uniform(0, (DAY - RECONCILE_EVERY).total_seconds()))
            draw = rng.random()
            delivery = Delivery.DELIVERED
            if draw < options.drop_rate:
                delivery = Delivery.LOST
            elif side == "qbo" and draw < options.drop_rate + options.refused_rate:
                delivery = Delivery.REFUSED
            changes.append(Change(when, side, f"{side[0]}{index}", delivery, when))
    if outage_at is not None:
        # Intuit retries the first undelivered POST until the endpoint answers again (it holds later
        # ones behind it); the bench keeps the harsher old behaviour: the rest of the outage is dropped.
        ends = outage_at + timedelta(minutes=options.outage_minutes)
        hit = sorted(
            (c for c in changes if c.side == "qbo" and outage_at <= c.when < ends), key=lambda c: c.when
        )
        for position, change in enumerate(hit):
            late = position == 0
            delivery, arrives = (Delivery.LATE, ends) if late else (Delivery.OUTAGE_LOST, change.when)
            changes[changes.index(change)] = Change(change.when, "qbo", change.record_id, delivery, arrives)
    changes.sort(key=lambda change: (change.arrives_at, change.when))
    for change in sorted(changes, key=lambda change: change.when):
        if change.side == "source":
            source.invoices.append((change.when, change.record_id, 1))
        else:
            qbo.changes.append((change.when, "Invoice", change.record_id))
    return changes


class BenchVerifier:
    """The app's webhook verifier token (the bench's own value)."""

    def webhook_verifier_token(self) -> Any:
        from pydantic import SecretStr

        return SecretStr(WEBHOOK_VERIFIER)


class PullQueueToWorker:
    """The pull queue, delivered at once to the real pull worker's batch function: a gap notice is
    recorded in the tenant's signals; a change is counted as the pull's one read of its entity."""

    def __init__(self, day: TenantDay) -> None:
        self.day = day

    def send_all(self, bodies: Any) -> None:
        from qbosync.store.reconcile_signals import ReconcileSignalRepository
        from qbosync.sync.pull.gaps import gap_notice_of
        from qbosync.sync.pull.worker import process_pull_batch
        from tests.support.lambda_context import LambdaContextStub

        notices = [body for body in bodies if gap_notice_of(body) is not None]
        pulled = math.ceil((len(bodies) - len(notices)) / PULL_BATCH_SIZE)  # one query per batch
        self.day.reads[PULL_PURPOSE] += pulled
        self.day.usage.qbo_reads += pulled
        records = [
            {
                "messageId": f"gap-{index}",
                "receiptHandle": f"gap-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:pull",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(notices)
        ]
        if records:
            # No change reaches the service here: only gap notices, which the worker records itself.
            no_pull: Any = None
            with contextlib.redirect_stdout(io.StringIO()):  # the worker's metric lines (EMF)
                reply = process_pull_batch(
                    {"Records": records}, LambdaContextStub(), no_pull, gaps=ReconcileSignalRepository()
                )
            assert reply["batchItemFailures"] == [], reply


def _post_qbo_webhook(receiver: Any, realm_id: str, change: Change, *, verified: bool) -> None:
    """Intuit's POST of one change (legacy format), signed with the app's token or not."""
    from qbosync.sync.pull.receiver import SignatureInvalid, expected_signature

    stamp = change.when.isoformat().replace("+00:00", "Z")
    entity = {"name": "Invoice", "id": change.record_id, "operation": "Update", "lastUpdated": stamp}
    body = json.dumps(
        {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": [entity]}}]}
    ).encode()
    token = WEBHOOK_VERIFIER if verified else "a-verifier-token-rotated-at-intuit"
    headers = {"intuit-signature": expected_signature(token, body), "content-type": "application/json"}
    try:
        receiver.receive(headers, body)
    except SignatureInvalid:
        if verified:
            raise


def _simulate_tenant(  # noqa: PLR0915 - one tenant's whole day, in order
    tenant_id: str,
    klass: str,
    rng: random.Random,
    *,
    options: argparse.Namespace,
    aws: AwsCalls,
    outage_at: datetime | None = None,
) -> TenantDay:
    from qbosync.store.checkpoints import CheckpointRepository, WebhookMarks
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.events import EventRepository
    from qbosync.store.job_claims import JobClaims
    from qbosync.store.links import Link, LinkRepository
    from qbosync.store.tokens import TokenVault, clear_token_cache
    from qbosync.sync import wiring
    from qbosync.sync.backstop import DueReason
    from qbosync.sync.fanout import ScheduledJob, ScheduledWork, ScheduledWorker, slot_of
    from qbosync.sync.keepalive import TokenKeepAlive
    from qbosync.sync.pull.receiver import QboWebhookReceiver
    from qbosync.sync.reconcile import Reconciler, ReconcileReport
    from qbosync.sync.retry.schedule import EventRetrySchedule

    day = TenantDay(tenant_id, klass)
    clock = SimulatedClock(START)
    ConnectionRepository().record_connected(_connection(tenant_id, START - timedelta(days=30)))
    refresher = CountingRefresher()
    vault = TokenVault(tenant_id, refresher=refresher, clock=clock)
    day.secrets = _onboard(tenant_id, vault)
    CheckpointRepository().put(tenant_id, "qbo", START - timedelta(minutes=15))
    CheckpointRepository().put(tenant_id, "source", START - timedelta(minutes=15))
    qbo, source, recovered = FakeQbo(clock, vault), FakeSource(clock), Recovered(clock)
    links = LinkRepository()
    cadence = wiring.reconcile_cadence()  # as deployed: webhooks first, CDC as an adaptive backstop
    reconciler = Reconciler(
        pull=recovered,
        customers=recovered,
        qbo_for=lambda _: qbo,  # type: ignore[arg-type,return-value]
        source_for=lambda _: source,  # type: ignore[arg-type,return-value]
        settings_for=wiring.tenant_settings,
        connections=ConnectionRepository(),
        checkpoints=CheckpointRepository(),
        links=links,
        push_queue=recovered,
        clock=clock,
        cadence=cadence,
    )
    reports: list[ReconcileReport] = []

    def reconcile(tenant: str) -> None:
        reports.append(reconciler.reconcile_tenant(tenant))

    retry = EventRetrySchedule(
        events=EventRepository(),
        connections=ConnectionRepository(),
        requeue=wiring.event_requeue(),
        clock=clock,
    )
    keepalive = TokenKeepAlive(vault_for=lambda _: vault, clock=clock)
    worker = ScheduledWorker(
        jobs={
            ScheduledJob.RECONCILE: reconcile,
            ScheduledJob.RETRY: retry.run_tenant,
            ScheduledJob.KEEPALIVE: keepalive.keep_alive_tenant,
        },
        claims=JobClaims(),
        connections=ConnectionRepository(),
        clock=clock,
    )
    # The real receiver for the webhooks that raise gap signals (refused, late); its AWS calls are the
    # webhook's own, outside the scheduled work measured below.
    receiver = QboWebhookReceiver(
        secrets=BenchVerifier(),
        realms=ConnectionRepository(),
        marks=WebhookMarks(),
        queue=PullQueueToWorker(day),
        clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - the clock moves: read it at each call
    )
    changes = _timeline(rng, klass, options=options, outage_at=outage_at, qbo=qbo, source=source)
    # One day of schedules measured, then reconciliation alone until every change of the day has had its
    # whole backstop interval (and one more tick).
    measured_until = START + DAY
    tail_until = START + DAY + cadence.backstop_interval + RECONCILE_EVERY
    firings = sorted(
        [(START + timedelta(minutes=15 * i), ScheduledJob.RECONCILE) for i in range(96)]
        + [(START + timedelta(minutes=10 * i), ScheduledJob.RETRY) for i in range(144)]
        + [(START + timedelta(hours=3), ScheduledJob.KEEPALIVE)]
    )
    tick = measured_until
    while tick <= tail_until:
        firings.append((tick, ScheduledJob.RECONCILE))
        tick += RECONCILE_EVERY
    pending = list(changes)
    outage_lost: list[str] = []

    def deliver(change: Change) -> None:
        """A change's webhook arriving (or not): the push records its link, the pull applies the edit."""
        day.changes[change.key] = change.when
        day.deliveries[change.delivery] += 1
        clock.now = change.arrives_at
        if change.delivery is Delivery.LOST:
            day.dropped += 1
            day.must_recover.add(change.key)
        elif change.side == "source":
            link = Link(
                tenant_id=tenant_id,
                entity="Invoice",
                source_id=change.record_id,
                qbo_id=change.record_id,
                source_version=1,
                updated_at=change.when,
            )
            links.put(link)
        elif change.delivery is Delivery.DELIVERED:
            day.notified.append(change.when)  # read by the pull worker, with its batch (counted below)
            day.must_recover.add(change.key)  # CDC finds every QBO edit, notified or not
        elif change.delivery is Delivery.REFUSED:
            _post_qbo_webhook(receiver, _realm_of(tenant_id), change, verified=False)
            day.must_recover.add(change.key)
            day.gap_detected[change.key] = change.arrives_at
        elif change.delivery is Delivery.OUTAGE_LOST:
            day.must_recover.add(change.key)
            outage_lost.append(change.key)
        else:  # late: the real receiver applies it and, if it is late enough, signals the gap
            _post_qbo_webhook(receiver, _realm_of(tenant_id), change, verified=True)
            if change.arrives_at - change.when > _late_after():
                for key in outage_lost:  # the late delivery reveals the outage they were lost in
                    day.gap_detected[key] = change.arrives_at

    for fired, job in firings:
        while pending and pending[0].arrives_at <= fired:
            deliver(pending.pop(0))
        clock.now = fired
        clear_token_cache()  # a container meets this tenant again only every few minutes: no warm cache
        before, before_seconds, reads_before, calls_before = (
            aws.snapshot(),
            aws.seconds,
            qbo.reads,
            source.calls,
        )
        reports.clear()
        started = time.perf_counter()
        worker.run(ScheduledWork(job=job, tenant_id=tenant_id, slot=slot_of(fired)))
        elapsed = time.perf_counter() - started
        after = aws.snapshot()
        usage = _delta(before, after)
        usage.qbo_reads = qbo.reads - reads_before
        usage.source_calls = source.calls - calls_before
        modelled = aws.modelled(elapsed, before_seconds, after[0] - before[0])
        modelled += usage.qbo_reads * QBO_CALL_SECONDS + usage.source_calls * SOURCE_CALL_SECONDS
        day.largest = max(day.largest, modelled)
        if fired >= measured_until:
            continue  # the tail only tells when the day's changes were recovered
        gap_run = any(report.qbo_due is DueReason.GAP for report in reports)
        purpose = "gap CDC (a detected gap)" if gap_run else "backstop CDC (interval, first run)"
        if usage.qbo_reads:
            day.reads[purpose] += usage.qbo_reads
        day.usage.add(usage)
        day.durations.setdefault(job.value, []).append(modelled)
        day.runs[job.value] += 1
    pulled = _pull_reads(day.notified, timedelta(minutes=options.intuit_window_minutes))
    day.reads[PULL_PURPOSE] += pulled
    day.usage.qbo_reads += pulled
    day.recovered_at = dict(recovered.at)
    day.token_refreshes = refresher.refreshes
    return day


def _pull_reads(notified: list[datetime], window: timedelta) -> int:
    """QBO reads the pull worker makes for one tenant's notified QBO-side edits (all of one entity here).

    Intuit sends what changed in one aggregation window in one POST; the receiver queues its changes
    together, and the worker reads the records one batch (up to 10 messages) names with one query: a
    read per batch, not per change. Assumed: a POST's changes reach the worker in batches of 10 (SQS may
    split them further, which costs more reads). A zero window is the old worker: one read per change.
    """
    if window <= timedelta(0):
        return len(notified)
    per_window = Counter(int((when - START) / window) for when in notified)
    return sum(math.ceil(count / PULL_BATCH_SIZE) for count in per_window.values())


def _late_after() -> timedelta:
    from qbosync.settings import get_read_budget_settings

    return get_read_budget_settings().webhook_late_after


# --- extrapolation and cost -------------------------------------------------------------------------


PULL_PURPOSE = "pull (a read per pull batch of notified QBO changes)"
PUSH_PURPOSE = f"push lookups (bench/push.py --no-faults: {PUSH_READS_PER_CHANGE_NO_FAULTS} reads a change)"
LEDGER_PURPOSE = (
    "ledger look-ups, retries and cache re-reads under faults (bench/push.py:"
    f" {PUSH_READS_PER_CHANGE_WITH_FAULTS} - {PUSH_READS_PER_CHANGE_NO_FAULTS} a change)"
)
CAUSED_BY_WRITES = (PUSH_PURPOSE, LEDGER_PURPOSE)
READS_PER_WRITE_TARGET = 0.1  # issue 15's acceptance


@dataclass(frozen=True)
class ReadsPerWrite:
    """Reads a write, split into what writes cause and what they do not, and the floor of the total."""

    by_purpose: dict[str, float]  # reads per tenant-month
    caused: float
    not_caused: float
    floor: float

    @property
    def total(self) -> float:
        return self.caused + self.not_caused

    @property
    def target_met(self) -> bool:
        return self.caused <= READS_PER_WRITE_TARGET


def _reads_by_purpose(days: list[TenantDay]) -> ReadsPerWrite:
    """QBO reads per tenant-month by purpose (fleet mean), split into what writes cause (the push's lookups
    and the write ledger's resolutions) and what they do not (pulls, CDC); printed with the issue's target
    applied to the first and the floor of the total."""
    purposes = sorted({purpose for day in days for purpose in day.reads})
    month = {
        purpose: _fleet_mean(_per_class_mean(days, lambda d, p=purpose: float(d.reads[p]))) * MONTH_DAYS
        for purpose in purposes
    }
    writes = WRITES_PER_TENANT_MONTH
    month[PUSH_PURPOSE] = PUSH_READS_PER_CHANGE_NO_FAULTS * writes
    month[LEDGER_PURPOSE] = (PUSH_READS_PER_CHANGE_WITH_FAULTS - PUSH_READS_PER_CHANGE_NO_FAULTS) * writes
    total = sum(month.values())
    caused = sum(month[purpose] for purpose in CAUSED_BY_WRITES)
    print(
        f"QBO reads per tenant-month by purpose (fleet mean; {writes} writes a month): {total:.0f} in all"
        f" = {total / writes:.3f} a write"
    )
    for heading, group in (
        ("reads writes cause", [p for p in month if p in CAUSED_BY_WRITES]),
        ("reads writes do not cause", [p for p in month if p not in CAUSED_BY_WRITES]),
    ):
        reads = sum(month[p] for p in group)
        print(f"  {heading}: {reads:.1f} = {reads / writes:.3f} a write")
        for purpose in sorted(group, key=lambda p: -month[p]):
            share = month[purpose] / total if total else 0.0
            print(
                f"    {purpose}: {month[purpose]:.1f} = {month[purpose] / writes:.3f} a write ({share:.0%})"
            )
    edits = _fleet_mean({klass: values[2] for klass, values in CLASSES.items()}) * MONTH_DAYS
    backstop_floor = MONTH_DAYS * DAY / timedelta(seconds=_backstop_seconds())
    floor = (edits + backstop_floor + caused) / writes
    figures = ReadsPerWrite(month, caused / writes, (total - caused) / writes, floor)
    print(
        f"issue 15's target, <= {READS_PER_WRITE_TARGET} QBO reads a write, applied to the reads writes cause"
        " (the push's own reads: look-ups of customers and items, a customer's currency, a record before its"
        f" removal or a customer edit, look-ups after a lost answer): {figures.caused:.3f} a write,"
        f" {'MET' if figures.target_met else 'NOT MET'} (without faults"
        f" {PUSH_READS_PER_CHANGE_NO_FAULTS}; per QBO write rather than per pushed change:"
        f" {PUSH_READS_PER_CHANGE_WITH_FAULTS / PUSH_QBO_WRITES_PER_CHANGE_WITH_FAULTS:.3f}, without faults"
        f" {PUSH_READS_PER_CHANGE_NO_FAULTS / PUSH_QBO_WRITES_PER_CHANGE_NO_FAULTS:.3f});"
        f" the total, {figures.total:.3f} a write, also counts reads no write causes: QBO-side edits and the"
        " backstop, which scale with edits made in QBO and with time, not with writes"
    )
    print(
        "reads a write in all >= (QBO-side edits a month x 1 read each, Intuit's notification carries"
        " no data; fewer only where edits share a pull batch"
        f" + {backstop_floor:.0f} backstop CDCs a month at a {_backstop_seconds():.0f} s interval + reads"
        f" writes cause) / writes = ({edits:.0f} + {backstop_floor:.0f} + {caused:.0f}) / {writes}"
        f" = {floor:.3f}; this fleet mix edits {edits / writes:.3f} a write in QBO, so the total stays above"
        f" {READS_PER_WRITE_TARGET} without dropping pulls or the backstop"
    )
    return figures


def _pull_grouping(days: list[TenantDay], options: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Pull reads a tenant-day by class, one read per notified change (before) and a read per batch for
    each of Intuit's aggregation windows, from the same day's webhook times (printed)."""
    figures: dict[str, dict[str, float]] = {}
    for minutes in (0, *INTUIT_WINDOWS_MINUTES):
        window = timedelta(minutes=minutes)
        per_class = _per_class_mean(days, lambda d, w=window: float(_pull_reads(d.notified, w)))
        label = "one read a change (before)" if minutes == 0 else f"{minutes} min window"
        figures[label] = {
            **{k: round(v, 2) for k, v in per_class.items()},
            "fleet": round(_fleet_mean(per_class), 3),
        }
    print(
        "pull reads per tenant-day, on-time QBO-side edits (uniform over the day), by Intuit's aggregation"
        f" window (the run uses {options.intuit_window_minutes:g} min; a batch of {PULL_BATCH_SIZE} read with"
        f" one query): {json.dumps(figures)}"
    )
    return figures


def _backstop_seconds() -> float:
    from qbosync.settings import get_read_budget_settings

    return float(get_read_budget_settings().reconcile_backstop_seconds)


def _governor_costs(aws: AwsCalls, by_purpose: Mapping[str, float]) -> dict[str, float]:
    """The real governor over moto's DynamoDB: calls per QBO call with a slot per call (before) and with
    slots kept for the invocation (after), by QBO calls an invocation makes, and for the fleet's mix."""
    from qbosync.qbo.governor import RealmGovernor
    from qbosync.settings import get_qbo_limits
    from qbosync.store.governor import DynamoGovernorStore

    limits = get_qbo_limits()
    shapes = (1, 2, 3, 10)
    per_invocation: dict[tuple[bool, int], Usage] = {}
    now = [START.timestamp()]
    for keep in (False, True):
        governor = RealmGovernor(
            DynamoGovernorStore(window_seconds=limits.window_seconds),
            limits,
            clock=lambda: now[0],
            sleep=lambda seconds: None,
            keep_slots=keep,
        )
        for calls in shapes:
            now[0] += 600  # a realm's invocations are minutes apart: each starts a new window
            before = aws.snapshot()
            for _ in range(calls):
                with governor.request("9130000000001"):
                    pass
            governor.release_kept()  # the end of the invocation (at_invocation_end in AWS)
            per_invocation[(keep, calls)] = _delta(before, aws.snapshot())
    print(
        "governor, real over moto's DynamoDB, one invocation of a realm (a new request window each):"
        " DynamoDB calls a QBO call, a slot per call (before) → slots kept for the invocation (after):"
        + ", ".join(
            f" {calls} call(s) {per_invocation[(False, calls)].dynamodb_calls / calls:.2f}"
            f" → {per_invocation[(True, calls)].dynamodb_calls / calls:.2f}"
            for calls in shapes
        )
    )
    # The fleet's invocations a tenant-month: a push message (a write, and a lookup one time in ten),
    # a pulled change, a reconciliation that reads: one realm each.
    writes = WRITES_PER_TENANT_MONTH
    mix = {
        1: writes * (1 - PUSH_READS_PER_WRITE)
        + by_purpose.get(PULL_PURPOSE, 0.0)
        + sum(v for k, v in by_purpose.items() if "CDC" in k),
        2: writes * PUSH_READS_PER_WRITE,
    }
    qbo_calls = sum(calls * count for calls, count in mix.items())
    figures: dict[str, float] = {}
    for label, keep in (("before", False), ("after", True)):
        usage = {calls: per_invocation[(keep, calls)] for calls in mix}
        figures[f"{label}_calls_per_call"] = (
            sum(usage[c].dynamodb_calls * n for c, n in mix.items()) / qbo_calls
        )
        figures[f"{label}_wru_per_call"] = sum(usage[c].wru * n for c, n in mix.items()) / qbo_calls
        figures[f"{label}_rru_per_call"] = sum(usage[c].rru * n for c, n in mix.items()) / qbo_calls
    print(
        f"governor for the fleet's mix ({qbo_calls:.0f} QBO calls a tenant-month in {sum(mix.values()):.0f}"
        f" invocations): {figures['before_calls_per_call']:.2f} → {figures['after_calls_per_call']:.2f}"
        f" DynamoDB calls a QBO call ({figures['after_wru_per_call']:.2f} writes +"
        f" {figures['after_rru_per_call']:.2f} reads after); most invocations make one QBO call, where a"
        " kept slot saves nothing"
    )
    return figures


def _recovery(
    days: list[TenantDay], rng: random.Random, drain: float, options: argparse.Namespace
) -> tuple[list[float], dict[str, float]]:
    """How long each missed change took to come back, and the acceptance's counts (printed)."""
    from qbosync.sync import wiring

    cadence = wiring.reconcile_cadence()
    interval = cadence.backstop_interval.total_seconds()
    gap_target = RECONCILE_EVERY.total_seconds()
    recovery: list[float] = []
    within_interval = within_gap = gap_total = backstop_total = unrecovered = 0
    from_detection: list[float] = []
    for day in days:
        run = statistics.fmean(day.durations["reconcile"])
        for key in sorted(day.must_recover):
            at = day.recovered_at.get(key)
            if at is None:
                unrecovered += 1
                continue
            position = rng.random()  # where the tenant's message sits in the slot's fan-out
            extra = position * drain + run
            seconds = (at - day.changes[key]).total_seconds() + extra
            recovery.append(seconds)
            detected = day.gap_detected.get(key)
            if detected is None:
                backstop_total += 1
                within_interval += seconds <= interval
            else:
                gap_total += 1
                after = (at - detected).total_seconds() + extra
                from_detection.append(after)
                within_gap += after <= gap_target
    deliveries: Counter[str] = Counter()
    for day in days:
        deliveries.update({str(delivery): count for delivery, count in day.deliveries.items()})
    print(
        f"missed changes in the sample: webhooks {dict(deliveries)} ({options.drop_rate:.0%} of all lost"
        f" silently, {options.refused_rate:.0%} of QBO's refused for a bad signature,"
        f" {options.outage_tenants} tenants with a {options.outage_minutes}-minute delivery outage: its"
        " first change delivered late when it ends, the others never); every QBO edit counts as missed"
        " too (CDC finds each the same way, notified or not)"
    )
    print(
        f"backstop interval (QBOSYNC_RECONCILE_BACKSTOP_SECONDS): {interval:.0f} s; a detected gap: the next"
        f" tick ({gap_target:.0f} s; refused and late webhooks at most one early CDC per"
        f" {cadence.gap_min_interval.total_seconds():.0f} s a tenant)"
    )
    worst_gap = max(from_detection, default=0.0)
    print(
        f"recovered within the backstop interval: {within_interval} of {backstop_total} (no gap signal);"
        f" within {gap_target:.0f} s after a detected gap: {within_gap} of {gap_total} (worst"
        f" {worst_gap:.0f} s after detection, fan-out place and run included); not recovered: {unrecovered}"
    )
    figures = {
        "p99_s": _percentile(recovery, 0.99),
        "within_interval": within_interval,
        "backstop_total": backstop_total,
        "within_gap": within_gap,
        "gap_total": gap_total,
        "unrecovered": unrecovered,
    }
    return recovery, figures


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def _template_max_concurrency() -> int:
    from local.template_model import load_template

    model = load_template(REPO / "template.yaml")
    return int(model.parameters["ScheduledWorkerMaxConcurrency"]["Default"])


def _template_kms_keys() -> int:
    """The stack's KMS keys (each costs a month's key price, shared by the fleet)."""
    from local.template_model import read_template

    resources = read_template(REPO / "template.yaml")["Resources"]
    return sum(1 for resource in resources.values() if resource.get("Type") == "AWS::KMS::Key")


def _per_class_mean(days: list[TenantDay], pick: Callable[[TenantDay], float]) -> dict[str, float]:
    return {klass: statistics.fmean(pick(d) for d in days if d.klass == klass) for klass in CLASSES}


def _fleet_mean(per_class: Mapping[str, float]) -> float:
    return sum(CLASSES[klass][0] * value for klass, value in per_class.items())


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    _environment()
    AWS.install()
    from moto import mock_aws

    with mock_aws():
        fleet_seconds, dispatch = _fleet_and_dispatcher(options)
    with mock_aws():  # a fresh account for the sample: per-tenant work does not depend on the fleet's size
        return _run(options, fleet_seconds, dispatch)


def _fleet_and_dispatcher(options: argparse.Namespace) -> tuple[float, DispatchFigures]:
    from qbosync.settings import get_settings
    from qbosync.store.aws import reset_clients
    from tests.support.template import create_table_from_template

    get_settings.cache_clear()
    reset_clients()
    create_table_from_template("MainTable", "qbosync-scale")
    fleet_seconds = _fleet(options.tenants)
    return fleet_seconds, _dispatch(AWS)


def _run(options: argparse.Namespace, fleet_seconds: float, dispatch: DispatchFigures) -> int:  # noqa: PLR0915
    from qbosync.settings import get_settings
    from qbosync.store.aws import reset_clients, sqs_client
    from qbosync.sync import wiring
    from tests.support.template import create_table_from_template

    aws = AWS
    get_settings.cache_clear()
    reset_clients()
    wiring.reset()
    rng = random.Random(options.seed)
    create_table_from_template("MainTable", "qbosync-scale")
    work_url = sqs_client().create_queue(QueueName="scheduled-work")["QueueUrl"]
    pull_url = sqs_client().create_queue(QueueName="pull")["QueueUrl"]
    push_url = sqs_client().create_queue(
        QueueName="push.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]
    os.environ.update(
        {"SCHEDULED_WORK_QUEUE_URL": work_url, "PULL_QUEUE_URL": pull_url, "PUSH_QUEUE_URL": push_url}
    )
    import boto3

    kms = boto3.client("kms")
    os.environ["TOKEN_BACKUP_KEY_ID"] = kms.create_key(Description="token copy")["KeyMetadata"]["KeyId"]
    os.environ["SOURCE_CREDENTIALS_KEY_ID"] = kms.create_key(Description="source credentials")["KeyMetadata"][
        "KeyId"
    ]
    get_settings.cache_clear()
    from qbosync.store.app_secrets import AppSecrets

    AppSecrets().put_source_webhook_key()  # the stack generates it; tenants' webhook secrets derive from it
    max_concurrency = _template_max_concurrency()

    print("QBO and the source: counting fakes (no sandbox). AWS: moto, in process. Clock: simulated day.")
    print(
        f"fleet: {options.tenants} connected + {options.tenants // 20} not connected (needs_reauth,"
        f" disconnected), loaded in {fleet_seconds:.1f} s"
    )
    print(
        f"dispatcher (real, whole fleet; SQS a counting client): {dispatch.tenants} tenants →"
        f" {dispatch.messages} tenants' messages in"
        f" {dispatch.send_requests} SendMessageBatch, {dispatch.query_pages} Query pages of the sparse index,"
        f" 0 Scan; {dispatch.seconds:.1f} s in moto, modelled in AWS {dispatch.modelled_seconds:.1f} s"
        f" (moto's time replaced by {AWS_LATENCY_SECONDS} s a call)"
    )

    days: list[TenantDay] = []
    sample = {"quiet": options.quiet, "normal": options.normal, "busy": options.busy}
    started = time.perf_counter()
    tenants = [
        (f"s{klass[0]}{index:04d}", klass) for klass, count in sample.items() for index in range(count)
    ]
    # The outages hit the busiest sample tenants first (they have QBO changes to lose), once each.
    by_load = sorted(tenants, key=lambda tenant: -CLASSES[tenant[1]][2])
    outages = {
        tenant_id: START + timedelta(hours=rng.uniform(1, 20))
        for tenant_id, _ in by_load[: options.outage_tenants]
    }
    for tenant_id, klass in tenants:
        days.append(
            _simulate_tenant(
                tenant_id, klass, rng, options=options, aws=aws, outage_at=outages.get(tenant_id)
            )
        )
    print(
        f"sample (real worker, reconcile, retry, keep-alive, vault, stores; the QBO webhook receiver and the"
        f" pull worker's gap path for refused and late webhooks): {sample} tenants,"
        f" {sum(sum(d.runs.values()) for d in days)} job runs in the measured day, then reconciliation alone"
        f" until each change has had its whole backstop interval; {time.perf_counter() - started:.1f} s"
    )

    # Durations and the fan-out of one slot.
    reconcile_mean = _per_class_mean(days, lambda d: statistics.fmean(d.durations["reconcile"]))
    retry_mean = _per_class_mean(days, lambda d: statistics.fmean(d.durations["retry"]))
    slot_work = options.tenants * (_fleet_mean(reconcile_mean) + _fleet_mean(retry_mean))
    drain = slot_work / max_concurrency
    largest_worker = max(d.largest for d in days)
    max_share = max(largest_worker / WORKER_TIMEOUT_S, dispatch.modelled_seconds / DISPATCHER_TIMEOUT_S)
    print(
        f"worker run, modelled (in-process time + {QBO_CALL_SECONDS} s a QBO call + {SOURCE_CALL_SECONDS} s a"
        f" source call): reconcile mean by class { {k: round(v, 3) for k, v in reconcile_mean.items()} } s,"
        f" largest {largest_worker:.2f} s of {WORKER_TIMEOUT_S:.0f} s"
    )
    print(
        f"a slot where reconcile and retry coincide: {slot_work:.0f} worker-seconds = tenants x (mean"
        f" reconcile + mean retry); at MaximumConcurrency {max_concurrency} it drains in {drain:.0f} s"
        " of the 900 s interval"
    )
    peak = min(max_concurrency, options.tenants)

    recovery, recovered_figures = _recovery(days, rng, drain, options)
    p99 = recovered_figures["p99_s"]
    print(
        f"recovery: p50 {_percentile(recovery, 0.5):.0f} s, p99 {p99:.0f} s over {len(recovery)} changes"
        " (= wait for the tenant's next reconcile that reads them + its place in the fan-out + its run)"
    )

    # Per tenant-day, by class, then the fleet mean.
    def per_day(pick: Callable[[Usage], float]) -> dict[str, float]:
        return _per_class_mean(days, lambda d: pick(d.usage))

    qbo_reads = per_day(lambda u: u.qbo_reads)
    source_calls = per_day(lambda u: u.source_calls)
    rru, wru = per_day(lambda u: u.rru), per_day(lambda u: u.wru)
    secrets_calls, kms_calls = per_day(lambda u: u.secrets_calls), per_day(lambda u: u.kms_calls)
    dynamodb_calls = per_day(lambda u: u.dynamodb_calls)
    for name, figures in (
        ("QBO reads", qbo_reads),
        ("source calls", source_calls),
        ("DynamoDB calls", dynamodb_calls),
        ("DynamoDB read units", rru),
        ("DynamoDB write units", wru),
        ("Secrets Manager calls", secrets_calls),
        ("KMS calls", kms_calls),
    ):
        print(
            f"{name} per tenant-day: { {k: round(v, 1) for k, v in figures.items()} } → fleet mean"
            f" {_fleet_mean(figures):.1f} (= sum of share x class mean, shares"
            f" { {k: v[0] for k, v in CLASSES.items()} })"
        )
    secrets_per_tenant = max(d.secrets for d in days)
    kms_keys = _template_kms_keys()
    print(
        "Secrets Manager secrets per tenant (created by register + provision_source + the vault):"
        f" {secrets_per_tenant}; KMS keys of the stack (template.yaml): {kms_keys}"
    )

    reads_month = _fleet_mean(qbo_reads) * MONTH_DAYS + PUSH_READS_PER_WRITE * WRITES_PER_TENANT_MONTH
    app_reads = reads_month * options.tenants
    share = app_reads / ALLOWANCE
    all_reads_per_write = reads_month / WRITES_PER_TENANT_MONTH
    print(
        f"Intuit reads, whole app, a month: tenants x (reconcile and pull reads a day x {MONTH_DAYS} +"
        f" {PUSH_READS_PER_WRITE} push reads a write x {WRITES_PER_TENANT_MONTH} writes) = {app_reads:,.0f}"
        f" = {share:.1%} of the {ALLOWANCE:,} Builder allowance; {all_reads_per_write:.2f} reads a write"
    )
    background = _fleet_mean(qbo_reads) * MONTH_DAYS
    pushes = PUSH_READS_PER_WRITE * WRITES_PER_TENANT_MONTH
    print(
        f"what that needs: {app_reads:,.0f} CorePlus reads a month,"
        f" {app_reads / ALLOWANCE:.1f}x the Builder tier (a paid App Partner tier; Intuit publishes no"
        f" volumes here). Per tenant-month {reads_month:.0f} reads: {background:.0f} backstop and pull reads,"
        f" {pushes:.0f} push reads ({pushes / reads_month:.0%}); the Builder tier holds"
        f" {int(ALLOWANCE * 0.5 / reads_month):,} such tenants at 50% of its allowance"
    )
    pull_grouping = _pull_grouping(days, options)
    reads_per_write = _reads_by_purpose(days)
    by_purpose = reads_per_write.by_purpose
    governor = _governor_costs(aws, by_purpose)

    print(f"prices (us-east-1, on-demand, USD): {json.dumps(PRICES)}")
    fan_out = Design(
        "fan-out (this design)",
        secrets_per_tenant,
        governor["after_wru_per_call"],
        governor["after_rru_per_call"],
        kms_keys=kms_keys,
    )
    usd, lines = _cost(options.tenants, days, dispatch, fan_out)
    print("\n".join(lines))
    # The old design: every one of the 241 schedule runs a day scans the table (~5 MB a tenant of links,
    # events and audit; 0.5 RRU per 4 KB), two secrets a tenant, one KMS key (the token copy), 3 writes +
    # 1 strong read per QBO call.
    old = Design("old scan-and-loop design", 2, 3.0, 1.0, scan_rru_month=241 * MONTH_DAYS * 5e6 / 4096 * 0.5)
    baseline_usd, baseline_lines = _cost(options.tenants, days, dispatch, old)
    print("\n".join(baseline_lines))
    baseline_share = options.tenants * _fleet_mean(reconcile_mean) / OLD_LOOP_TIMEOUT_S
    print(
        "old design's largest invocation: tenants x mean reconcile / 900 s ="
        f" {baseline_share:.1f} x its timeout"
        f" (at most ~{OLD_LOOP_TIMEOUT_S / _fleet_mean(reconcile_mean):.0f} tenants a run)"
    )
    print(
        f"ratios to the old design: cost {usd / baseline_usd:.2f}, largest invocation share"
        f" {max_share / baseline_share:.4f}"
    )
    tokens = _per_class_mean(days, lambda d: float(d.token_refreshes))
    print(
        "token refreshes per tenant-day (access tokens live an hour):"
        f" { {k: round(v, 1) for k, v in tokens.items()} }"
    )
    result = {
        "tenants": options.tenants,
        "recover_missed_change_p99_s": round(p99, 1),
        "recovered_within_backstop_interval": recovered_figures["within_interval"],
        "recovered_within_15_min_of_a_gap": recovered_figures["within_gap"],
        "gap_detected_changes": recovered_figures["gap_total"],
        "not_recovered": recovered_figures["unrecovered"],
        "max_invocation_share_of_timeout": round(max_share, 4),
        "peak_concurrency": peak,
        "app_reads_share_of_allowance": round(share, 3),
        "qbo_reads_per_write": round(reads_per_write.total, 3),
        "qbo_reads_per_write_caused_by_writes": round(reads_per_write.caused, 4),
        "qbo_reads_per_write_not_caused_by_writes": round(reads_per_write.not_caused, 4),
        "reads_per_write_target_met_by_reads_writes_cause": reads_per_write.target_met,
        "qbo_reads_per_write_floor": round(reads_per_write.floor, 3),
        "push_reads_per_change_measured": {
            "no_faults": PUSH_READS_PER_CHANGE_NO_FAULTS,
            "with_faults": PUSH_READS_PER_CHANGE_WITH_FAULTS,
        },
        "intuit_window_minutes": options.intuit_window_minutes,
        "pull_reads_per_tenant_day_by_window": pull_grouping,
        "qbo_reads_per_write_by_purpose": {
            purpose: round(reads / WRITES_PER_TENANT_MONTH, 4) for purpose, reads in by_purpose.items()
        },
        "governor_dynamodb_calls_per_qbo_call": {
            "before": round(governor["before_calls_per_call"], 3),
            "after": round(governor["after_calls_per_call"], 3),
        },
        "secrets_per_tenant": secrets_per_tenant,
        "kms_keys": kms_keys,
        "usd_per_tenant_month": round(usd, 4),
    }
    print("RESULT " + json.dumps(result))
    return 0


@dataclass(frozen=True)
class Design:
    """What differs between the fan-out and the old design in the cost formula."""

    name: str
    secrets: int
    governor_wru_per_call: float  # DynamoDB writes the rate governor makes per QBO call
    governor_rru_per_call: float
    scan_rru_month: float = 0.0  # per tenant: schedules that scan the whole table
    kms_keys: int = 1  # the stack's keys, priced once for the whole fleet


def _cost(
    tenants: int, days: list[TenantDay], dispatch: DispatchFigures, design: Design
) -> tuple[float, list[str]]:
    """USD per tenant-month, item by item, from the sample's counts and the list prices."""
    p = PRICES

    def fleet(pick: Callable[[TenantDay], float]) -> float:
        return _fleet_mean(_per_class_mean(days, pick))

    runs_day = fleet(lambda d: float(sum(d.runs.values())))
    seconds_day = fleet(lambda d: sum(sum(v) for v in d.durations.values()))
    writes = WRITES_PER_TENANT_MONTH
    edits = _fleet_mean({k: v[2] for k, v in CLASSES.items()}) * MONTH_DAYS
    dispatches = 241 * MONTH_DAYS / tenants  # the fleet's dispatcher runs, per tenant
    # Webhook-driven work (assumed, not measured here): per write a source webhook and a push run, per
    # QBO edit a QBO webhook and a pull run, 0.3 s each.
    invocations = runs_day * MONTH_DAYS + 2 * writes + 2 * edits + dispatches
    gb_seconds = LAMBDA_GB * (
        seconds_day * MONTH_DAYS + 0.3 * 2 * (writes + edits) + dispatches * dispatch.modelled_seconds
    )
    qbo_calls = fleet(lambda d: float(d.usage.qbo_reads)) * MONTH_DAYS + writes * (1 + PUSH_READS_PER_WRITE)
    push_wru, push_rru = writes * 8, writes * 6  # event, ledger intent, link, idempotency (assumed)
    wru = fleet(lambda d: d.usage.wru) * MONTH_DAYS + qbo_calls * design.governor_wru_per_call + push_wru
    rru = (
        fleet(lambda d: d.usage.rru) * MONTH_DAYS
        + qbo_calls * design.governor_rru_per_call
        + push_rru
        + design.scan_rru_month
    )
    items: dict[str, float] = {
        "Lambda GB-s": gb_seconds * p["lambda_gb_second"],
        "Lambda requests": invocations * p["lambda_request"],
        "DynamoDB writes": wru * p["dynamodb_wru"],
        "DynamoDB reads": rru * p["dynamodb_rru"],
        "DynamoDB storage (~5 MB a tenant)": 0.005 * p["dynamodb_gb_month"],
        "SQS (scheduled work, push FIFO, pull)": runs_day * MONTH_DAYS * 2.1 * p["sqs_request"]
        + writes * 3 * p["sqs_fifo_request"]
        + edits * 3 * p["sqs_request"],
        "Step Functions (initial sync ~300 transitions, over 12 months)": 300
        / 12
        * p["step_functions_transition"],
        f"Secrets Manager ({design.secrets} secret(s) a tenant)": design.secrets * p["secret_month"],
        "Secrets Manager API": fleet(lambda d: float(d.usage.secrets_calls))
        * MONTH_DAYS
        * p["secrets_api_call"],
        f"KMS requests (+ the fleet's {design.kms_keys} key(s))": fleet(lambda d: float(d.usage.kms_calls))
        * MONTH_DAYS
        * p["kms_request"]
        + design.kms_keys * p["kms_key_month"] / tenants,
        f"CloudWatch logs ({LOG_BYTES_PER_INVOCATION} B an invocation)": invocations
        * LOG_BYTES_PER_INVOCATION
        / 1e9
        * p["logs_ingest_gb"],
        f"CloudWatch metrics and alarms ({FLEET_METRICS} metrics, {FLEET_ALARMS} alarms, fleet)": (
            FLEET_METRICS * p["custom_metric_month"] + FLEET_ALARMS * p["alarm_month"]
        )
        / tenants,
        "X-Ray (sampling: 1 a second + 5%)": min(invocations, 0.05 * invocations + 2_592_000 / tenants)
        * p["xray_trace"],
        "API Gateway HTTP API (webhooks)": (writes + edits) * p["http_api_request"],
    }
    total = sum(items.values())
    lines = [f"cost per tenant-month, {design.name}:"]
    lines += [f"  {name}: ${value:.4f}" for name, value in items.items()]
    lines.append(f"  all-in: ${total:.4f}")
    return total, lines


if __name__ == "__main__":
    raise SystemExit(main())
