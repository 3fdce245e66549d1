"""Benchmark the schedules at fleet scale: 10,000 connected tenants on one stack, one simulated day.

    .venv/bin/python bench/scale.py [--tenants 10000 --quiet 8 --normal 4 --busy 2 --seed 7 --drop-rate 0.01]

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
   day; ``--drop-rate`` of the webhooks are lost, so only reconciliation can bring those back.
4. **Extrapolation.** Per class, calls per tenant-day from the sample are multiplied by the class's
   share of the fleet (printed with the formula); durations add modelled network latency to the
   measured in-process time (QBO 0.25 s and source 0.15 s per call, printed).
5. **Cost** per tenant-month from AWS list prices (us-east-1, printed with each price), and the old
   design (one Lambda per schedule scanning the table and looping over every tenant, two secrets per
   tenant, the per-request governor) projected the same way, as the baseline of the ratios.

Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RECONCILE_EVERY = timedelta(minutes=15)
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
PUSH_READS_PER_WRITE = (
    0.10  # bench/push.py (README): 1.10 QBO requests per change (faults included), one a write
)

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


def _connection(tenant_id: str, at: datetime) -> Any:
    from qbosync.store.connections import Connection

    return Connection(
        tenant_id=tenant_id,
        realm_id=f"{ord(tenant_id[0])}{tenant_id[1:]}",
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
    vault.store_initial(f"{ord(tenant_id[0])}{tenant_id[1:]}", StaticGrant(tenant_id))
    names = [
        secret["Name"]
        for page in secrets_client().get_paginator("list_secrets").paginate()
        for secret in page["SecretList"]
    ]
    return sum(1 for name in names if f"/tenants/{tenant_id}/" in name)


def _timeline(
    rng: random.Random, klass: str, drop_rate: float, qbo: FakeQbo, source: FakeSource
) -> list[tuple[datetime, str, str, bool]]:
    """(when, side, id, delivered by webhook) for the day's changes of one tenant."""
    _share, writes, edits = CLASSES[klass]
    events: list[tuple[datetime, str, str, bool]] = []
    for side, rate in (("source", writes), ("qbo", edits)):
        count = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
        for index in range(count):
            when = START + timedelta(seconds=rng.uniform(0, (DAY - RECONCILE_EVERY).total_seconds()))
            events.append((when, side, f"{side[0]}{index}", rng.random() >= drop_rate))
    events.sort()
    for when, side, record_id, _delivered in events:
        if side == "source":
            source.invoices.append((when, record_id, 1))
        else:
            qbo.changes.append((when, "Invoice", record_id))
    return events


def _simulate_tenant(  # noqa: PLR0915 - one tenant's whole day, in order
    tenant_id: str, klass: str, rng: random.Random, drop_rate: float, aws: AwsCalls
) -> TenantDay:
    from qbosync.store.checkpoints import CheckpointRepository
    from qbosync.store.connections import ConnectionRepository
    from qbosync.store.events import EventRepository
    from qbosync.store.job_claims import JobClaims
    from qbosync.store.links import Link, LinkRepository
    from qbosync.store.tokens import TokenVault, clear_token_cache
    from qbosync.sync import wiring
    from qbosync.sync.fanout import ScheduledJob, ScheduledWork, ScheduledWorker, slot_of
    from qbosync.sync.keepalive import TokenKeepAlive
    from qbosync.sync.reconcile import Reconciler
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
        cadence=wiring.reconcile_cadence(),  # as deployed: webhooks first, CDC as an adaptive backstop
    )
    retry = EventRetrySchedule(
        events=EventRepository(),
        connections=ConnectionRepository(),
        requeue=wiring.event_requeue(),
        clock=clock,
    )
    keepalive = TokenKeepAlive(vault_for=lambda _: vault, clock=clock)
    worker = ScheduledWorker(
        jobs={
            ScheduledJob.RECONCILE: reconciler.reconcile_tenant,
            ScheduledJob.RETRY: retry.run_tenant,
            ScheduledJob.KEEPALIVE: keepalive.keep_alive_tenant,
        },
        claims=JobClaims(),
        connections=ConnectionRepository(),
        clock=clock,
    )
    events = _timeline(rng, klass, drop_rate, qbo, source)
    firings = sorted(
        [(START + timedelta(minutes=15 * i), ScheduledJob.RECONCILE) for i in range(96)]
        + [(START + timedelta(minutes=10 * i), ScheduledJob.RETRY) for i in range(144)]
        + [(START + timedelta(hours=3), ScheduledJob.KEEPALIVE)]
    )
    pending = list(events)
    for fired, job in firings:
        # Webhooks delivered before this firing: the push records its link, the pull applies the edit.
        while pending and pending[0][0] <= fired:
            when, side, record_id, delivered = pending.pop(0)
            key = (
                f"{side}:{record_id}:1" if side == "source" else f"qbo:Invoice:{record_id}:{when.isoformat()}"
            )
            day.changes[key] = when
            if not delivered:
                day.dropped += 1
                day.must_recover.add(key)
                continue
            if side == "source":
                links.put(
                    Link(
                        tenant_id=tenant_id,
                        entity="Invoice",
                        source_id=record_id,
                        qbo_id=record_id,
                        source_version=1,
                        updated_at=when,
                    )
                )
            else:
                day.usage.qbo_reads += 1  # the pull worker reads the notified entity once
                day.must_recover.add(key)  # CDC finds every QBO edit, notified or not
        clock.now = fired
        clear_token_cache()  # a container meets this tenant again only every few minutes: no warm cache
        before, before_seconds, reads_before, calls_before = (
            aws.snapshot(),
            aws.seconds,
            qbo.reads,
            source.calls,
        )
        started = time.perf_counter()
        worker.run(ScheduledWork(job=job, tenant_id=tenant_id, slot=slot_of(fired)))
        elapsed = time.perf_counter() - started
        after = aws.snapshot()
        usage = _delta(before, after)
        usage.qbo_reads = qbo.reads - reads_before
        usage.source_calls = source.calls - calls_before
        day.usage.add(usage)
        modelled = aws.modelled(elapsed, before_seconds, after[0] - before[0])
        modelled += usage.qbo_reads * QBO_CALL_SECONDS + usage.source_calls * SOURCE_CALL_SECONDS
        day.durations.setdefault(job.value, []).append(modelled)
        day.runs[job.value] += 1
    day.recovered_at = dict(recovered.at)
    day.token_refreshes = refresher.refreshes
    return day


# --- extrapolation and cost -------------------------------------------------------------------------


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
    for klass, count in sample.items():
        for index in range(count):
            days.append(_simulate_tenant(f"s{klass[0]}{index:04d}", klass, rng, options.drop_rate, aws))
    print(
        f"sample (real worker, reconcile, retry, keep-alive, vault, stores): {sample} tenants,"
        f" {sum(sum(d.runs.values()) for d in days)} job runs in {time.perf_counter() - started:.1f} s"
    )

    # Durations and the fan-out of one slot.
    reconcile_mean = _per_class_mean(days, lambda d: statistics.fmean(d.durations["reconcile"]))
    retry_mean = _per_class_mean(days, lambda d: statistics.fmean(d.durations["retry"]))
    slot_work = options.tenants * (_fleet_mean(reconcile_mean) + _fleet_mean(retry_mean))
    drain = slot_work / max_concurrency
    largest_worker = max(max(values) for d in days for values in d.durations.values())
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

    # Recovery of missed changes: every sample change, as if its webhook had been dropped.
    recovery: list[float] = []
    unrecovered = 0
    for day in days:
        for key in day.must_recover:
            when = day.changes[key]
            at = day.recovered_at.get(key)
            if at is None:
                unrecovered += 1
                continue
            position = rng.random()  # where the tenant's message sits in the slot's fan-out
            run = statistics.fmean(day.durations["reconcile"])
            recovery.append((at - when).total_seconds() + position * drain + run)
    p99 = _percentile(recovery, 0.99)
    dropped = sum(d.dropped for d in days)
    print(
        f"missed changes: {dropped} webhooks dropped in the sample ({options.drop_rate:.0%});"
        " recovery measured"
        f" over {len(recovery)} changes: the dropped source changes and every QBO edit (CDC finds each the"
        f" same way, notified or not):"
        f" p50 {_percentile(recovery, 0.5):.0f} s, p99 {p99:.0f} s (= wait for the tenant's next reconcile"
        f" + its place in the fan-out + its run); not recovered within the day: {unrecovered}"
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
    reads_per_write = reads_month / WRITES_PER_TENANT_MONTH
    print(
        f"Intuit reads, whole app, a month: tenants x (reconcile and pull reads a day x {MONTH_DAYS} +"
        f" {PUSH_READS_PER_WRITE} push reads a write x {WRITES_PER_TENANT_MONTH} writes) = {app_reads:,.0f}"
        f" = {share:.1%} of the {ALLOWANCE:,} Builder allowance; {reads_per_write:.2f} reads a write"
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

    print(f"prices (us-east-1, on-demand, USD): {json.dumps(PRICES)}")
    fan_out = Design("fan-out (this design)", secrets_per_tenant, 2.1, 0.1, kms_keys=kms_keys)
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
        "max_invocation_share_of_timeout": round(max_share, 4),
        "peak_concurrency": peak,
        "app_reads_share_of_allowance": round(share, 3),
        "qbo_reads_per_write": round(reads_per_write, 3),
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
