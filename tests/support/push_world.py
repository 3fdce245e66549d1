"""The push flow's world, in one process: moto (table, idempotency table, FIFO queue from
template.yaml), the source sandbox and the QBO sandbox behind socket-free httpx clients, the
receiver and worker handlers as Lambda would call them. No tests live here; the push tests and
``bench/push.py`` build on it.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette

from functions.push_worker.app import lambda_handler as push_worker_handler
from functions.source_webhook.app import lambda_handler as source_webhook_handler
from local.qbo_sandbox.app import build_app as build_qbo_app
from local.qbo_sandbox.config import SandboxConfig as QboSandboxConfig
from local.qbo_sandbox.guard import ConnectionDropped
from local.runtime.sqs_poller import sqs_record
from local.source_sandbox.app import build_app as build_source_app
from local.source_sandbox.config import SandboxConfig as SourceSandboxConfig
from local.source_sandbox.inprocess import in_process_client
from qbosync.qbo.client import QboClient
from qbosync.qbo.governor import InMemoryGovernorStore, RealmGovernor
from qbosync.settings import QboLimits, get_settings
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from qbosync.store.app_secrets import AppSecrets, TenantSecrets, derive_source_webhook_secret
from qbosync.store.aws import dynamodb_client, sqs_client
from qbosync.store.config import (
    AuditRepository,
    MappingRepository,
    ReferenceCacheRepository,
    SettingsRepository,
)
from qbosync.store.events import EventRepository, SyncEvent
from qbosync.store.ledger import WriteIntent, WriteLedger
from qbosync.store.links import Link, LinkRepository
from qbosync.store.pull_queue import PullQueue
from qbosync.store.queues import PushQueue
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync.configuration import (
    ConfigurationService,
    MappingKind,
    MappingRowInput,
    OnboardingSettings,
    TenantSettings,
)
from qbosync.sync.push.receiver import WebhookReceiver
from qbosync.sync.push.service import COMPANY_BOOKS_TTL, REQUESTID_WINDOW, PushDependencies, PushService
from qbosync.sync.records.messages import HealKind, PushMessage
from qbosync.sync.reference import ReferenceCatalog
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.requeue import EventRequeue
from tests.integration.conftest import create_table_from_template, template
from tests.support.fakes import StaticToken
from tests.support.lambda_context import LambdaContextStub

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

TENANT = "acme"
SOURCE_WEBHOOK_KEY = "push-tests-source-webhook-key"
IDEMPOTENCY_TABLE = "qbosync-test-idempotency"
QBO_CLIENT_ID = "push-tests-client"
QBO_REDIRECT = "http://127.0.0.1:9/callback"

FakeLambdaContext = LambdaContextStub  # the one stub in tests/support; this name is kept for importers


LONG_AGO = date(2000, 1, 1)
"""The go-live date push tests use: every sandbox document is dated after it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_push_queue() -> tuple[str, str]:
    """The FIFO push queue as template.yaml declares it; (url, arn)."""
    props = template()["Resources"]["PushQueue"]["Properties"]
    attributes: Any = {
        "FifoQueue": "true",
        "ContentBasedDeduplication": str(props["ContentBasedDeduplication"]).lower(),
        "DeduplicationScope": props["DeduplicationScope"],
        "FifoThroughputLimit": props["FifoThroughputLimit"],
        "VisibilityTimeout": str(props["VisibilityTimeout"]),
    }
    url = sqs_client().create_queue(QueueName="qbosync-push-test.fifo", Attributes=attributes)["QueueUrl"]
    arn = sqs_client().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


class DroppedConnections(httpx.BaseTransport):
    """The sandbox's "commit, then drop the connection" reaches an in-process client as its own
    exception; a real client sees the server hang up mid-answer, which is what this raises."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "server disconnected without a complete answer", request=request
            ) from None


class WorkerCrashed(Exception):
    """The worker died (timeout, memory) between a QBO write's intent and its outcome. Nothing of qbosync
    handles it: the batch reports the record failed and SQS delivers the change again, as it would after
    the visibility timeout of a Lambda that died."""


class CrashPoint(StrEnum):
    BEFORE_CALL = "after the intent, before the QBO call"
    AFTER_COMMIT = "after QBO committed, before the answer was read"
    BEFORE_OUTCOME = "after the answer, before the link and settlement were stored"


@dataclass
class WorkerCrashes:
    """Kills the worker at a random point between a write's intent and its outcome, for ``rate`` of the
    writes (seeded); and counts the QBO requests made while an open intent is being resolved (what the
    write ledger costs in QBO)."""

    rate: float = 0.0
    seed: int = 0
    writes: int = 0
    by_point: Counter[str] = field(default_factory=Counter)
    resolutions: int = 0
    resolution_reads: int = 0
    resolution_writes: int = 0
    _armed: CrashPoint | None = None
    _resolving: bool = False

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def crashes(self) -> int:
        return sum(self.by_point.values())

    def intent_recorded(self) -> None:
        self._resolving = False
        self._armed = None
        self.writes += 1
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return
        point = self._rng.choice(list(CrashPoint))
        self.by_point[point.name] += 1
        if point is CrashPoint.BEFORE_CALL:
            raise WorkerCrashed(point.value)
        self._armed = point

    def open_intent_found(self) -> None:
        self._resolving = True
        self.resolutions += 1

    def qbo_request(
        self, request: httpx.Request, send: Callable[[httpx.Request], httpx.Response]
    ) -> httpx.Response:
        if self._resolving:
            if request.method == "GET":
                self.resolution_reads += 1
            else:
                self.resolution_writes += 1
        answer = send(request)
        if self._armed is CrashPoint.AFTER_COMMIT and request.method == "POST":
            self._armed = None
            raise WorkerCrashed(CrashPoint.AFTER_COMMIT.value)
        return answer

    def outcome_recording(self) -> None:
        self._resolving = False
        if self._armed is CrashPoint.BEFORE_OUTCOME:
            self._armed = None
            raise WorkerCrashed(CrashPoint.BEFORE_OUTCOME.value)


class CrashingLedger(WriteLedger):
    def __init__(self, crashes: WorkerCrashes) -> None:
        super().__init__()
        self._crashes = crashes

    def begin(self, intent: WriteIntent) -> None:
        super().begin(intent)
        self._crashes.intent_recorded()

    def begin_unless_open(self, intent: WriteIntent) -> bool:
        begun = super().begin_unless_open(intent)
        if begun:
            self._crashes.intent_recorded()
        return begun

    def open(self, tenant_id: str, link_entity: str, source_id: str) -> WriteIntent | None:
        found = super().open(tenant_id, link_entity, source_id)
        if found is not None:
            self._crashes.open_intent_found()
        return found


class CrashingLinks(LinkRepository):
    def __init__(self, crashes: WorkerCrashes) -> None:
        super().__init__()
        self._crashes = crashes

    def put(self, link: Link, *, together: Sequence[TransactWriteItemTypeDef] = ()) -> Link:
        self._crashes.outcome_recording()
        return super().put(link, together=together)


class CrashingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, crashes: WorkerCrashes) -> None:
        self._inner = inner
        self._crashes = crashes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._crashes.qbo_request(request, self._inner.handle_request)


def issue_access_token(qbo_app: Starlette, realm_id: str) -> str:
    sandbox = qbo_app.state.sandbox
    code = sandbox.tokens.issue_code(
        QBO_CLIENT_ID, QBO_REDIRECT, realm_id, ["com.intuit.quickbooks.accounting"]
    )
    issued = sandbox.tokens.exchange_code(QBO_CLIENT_ID, code, QBO_REDIRECT, sandbox.user_sub)
    return str(issued.access_token)


@dataclass
class Delivery:
    """One webhook POST as the receiver answered it."""

    event_id: str
    status: int
    body: dict[str, Any]


@dataclass
class PushWorld:
    tenant_id: str
    source_app: Starlette
    source_http: httpx.Client
    qbo_app: Starlette
    qbo_http: httpx.Client
    realm_id: str
    qbo: QboClient
    source: HttpSourceAdapter
    queue_url: str
    queue_arn: str
    webhook_secret: str
    events: EventRepository
    links: LinkRepository
    ledger: WriteLedger
    configuration: ConfigurationService
    receiver: WebhookReceiver
    service: PushService
    idempotency: Any
    taken: int = 0
    received_at: dict[str, float] = field(default_factory=dict)

    # The source side

    def change(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A change through the source sandbox's control API (it bumps the version, holds a webhook)."""
        response = self.source_http.request(method, f"/_sandbox/tenants/{self.tenant_id}/{path}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def held_webhooks(self) -> list[dict[str, Any]]:
        """The webhook events the sandbox recorded since the last call, oldest first."""
        deliveries = self.source_app.state.outbox.deliveries
        fresh = deliveries[self.taken :]
        self.taken = len(deliveries)
        return [delivery.event.model_dump(mode="json") for delivery in fresh if delivery.status == "held"]

    def post_webhook(
        self,
        event: dict[str, Any],
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        tenant_id: str | None = None,
    ) -> Delivery:
        """POST one webhook to the receiver handler as API Gateway would hand it over (signed now)."""
        raw = body if body is not None else json.dumps(event, separators=(",", ":")).encode()
        timestamp = int(time.time())
        sent = {
            "content-type": "application/json",
            TIMESTAMP_HEADER.lower(): str(timestamp),
            SIGNATURE_HEADER.lower(): sign(self.webhook_secret, timestamp, raw),
        }
        sent.update({name.lower(): value for name, value in (headers or {}).items()})
        tenant = tenant_id or self.tenant_id
        path = f"/webhooks/source/{tenant}"
        api_event = {
            "version": "2.0",
            "routeKey": "POST /webhooks/source/{tenant_id}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {k: v for k, v in sent.items() if v is not None},
            "requestContext": {
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                "requestId": "req",
                "routeKey": "POST /webhooks/source/{tenant_id}",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "pathParameters": {"tenant_id": tenant},
            "body": raw.decode("utf-8", errors="surrogateescape"),
            "isBase64Encoded": False,
        }
        self.received_at.setdefault(str(event.get("event_id")), time.time())
        answer = source_webhook_handler(api_event, FakeLambdaContext(), receiver=self.receiver)
        return Delivery(
            str(event.get("event_id")), int(answer["statusCode"]), json.loads(answer.get("body") or "{}")
        )

    def deliver_all(self, copies: int = 1) -> list[Delivery]:
        return [self.post_webhook(event) for event in self.held_webhooks() for _ in range(copies)]

    # The worker side

    def queued(self) -> int:
        attributes = sqs_client().get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def drain(self, max_batches: int = 2000) -> int:
        """Run the worker over the queue until it is empty, as an event source mapping would.

        Failed records are made visible again at once (Lambda would wait for the visibility timeout).
        """
        batches = 0
        while batches < max_batches:
            received = sqs_client().receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=60
            )
            messages = received.get("Messages", [])
            if not messages:
                return batches
            batches += 1
            event = {"Records": [sqs_record(dict(message), self.queue_arn) for message in messages]}
            result = push_worker_handler(
                event, FakeLambdaContext(), service=self.service, idempotency_store=self.idempotency
            )
            failed = {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}
            if failed:
                time.sleep(0.05)  # a breath before the retry, where Lambda waits for the visibility timeout
            done = [m for m in messages if m["MessageId"] not in failed]
            again = [m for m in messages if m["MessageId"] in failed]
            if done:
                sqs_client().delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            if again:
                sqs_client().change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                        for i, m in enumerate(again)
                    ],
                )
        raise AssertionError(f"the queue did not drain in {max_batches} batches")

    # The QBO side

    def qbo_rows(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        return self.qbo.query_all(entity, where)

    def qbo_faults(self, **faults: Any) -> None:
        response = self.qbo_http.post("/_sandbox/faults", json=faults)
        response.raise_for_status()

    def qbo_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.qbo_http.get("/_sandbox/stats").json()
        return stats

    def qbo_requests(self) -> int:
        return int(self.qbo_stats()["requests_by_realm"].get(self.realm_id, 0))

    def qbo_writes(self, endpoint: str) -> int:
        """Requests to one endpoint, e.g. ``"POST invoice"``."""
        return int(self.qbo_stats()["requests_by_endpoint"].get(endpoint, 0))

    def advance_qbo_clock(self, seconds: float) -> None:
        """Move the QBO sandbox's clock on (it stamps ``LastUpdatedTime`` in whole seconds)."""
        response = self.qbo_http.post("/_sandbox/clock", json={"advance_seconds": seconds})
        response.raise_for_status()

    def linked(self, entity: str, source_id: str) -> Link:
        """The link of a source document; it must exist."""
        link = self.links.get(self.tenant_id, entity, source_id)
        assert link is not None, f"no {entity} link for {source_id}"
        return link

    def edit_in_qbo(
        self, entity: str, qbo_id: str, changes: dict[str, Any], request_id: str
    ) -> dict[str, Any]:
        """Someone changes a record in QBO (a sparse update at its current SyncToken)."""
        current = self.qbo.read(entity, qbo_id)
        return self.qbo.sparse_update(
            entity, {**changes, "Id": qbo_id, "SyncToken": current["SyncToken"]}, request_id
        )

    def delete_in_qbo(self, entity: str, qbo_id: str, request_id: str) -> None:
        """Someone deletes a transaction in QBO."""
        self.qbo.delete(entity, qbo_id, str(self.qbo.read(entity, qbo_id)["SyncToken"]), request_id)

    def void_in_qbo(self, entity: str, qbo_id: str, request_id: str) -> None:
        """Someone voids a transaction in QBO."""
        self.qbo.void(entity, qbo_id, str(self.qbo.read(entity, qbo_id)["SyncToken"]), request_id)

    # Healing drift (the pull asks the push to write the source's version again)

    def heal(
        self, kind: HealKind, source_id: str, cause: str = "qbo-drift-1", redelivery: int = 0
    ) -> SyncEvent:
        """Queue a heal of one source document, as the pull does on drift, run the worker; its event."""
        link_entity = {"invoice": "Invoice", "payment": "Payment", "credit_note": "CreditMemo"}[kind]
        message = PushMessage.heal_of(
            self.tenant_id,
            kind,
            source_id,
            self.linked(link_entity, source_id).source_version,
            cause,
            utc_now(),
        ).redelivered(redelivery)
        self.receiver.queue.send(
            message.model_dump_json(), group_id=message.group_id, deduplication_id=message.deduplication_id
        )
        self.drain()
        event = self.events.get(self.tenant_id, message.event_id)
        assert event is not None, "the heal left no event"
        return event

    # Configuration

    def configure(self, settings: TenantSettings | None = None, *, payment_methods: bool = True) -> None:
        """Settings, and mappings for every source product type, GL code and payment method."""
        catalog = ReferenceCatalog(self.tenant_id, self.qbo, ReferenceCacheRepository(), time.time)
        _settings, version = self.configuration.read_settings(self.tenant_id)
        chosen = settings or TenantSettings()
        if chosen.onboarding.go_live_date is None:
            # Every push needs a go-live date; one long past keeps every sandbox document after it.
            chosen = chosen.model_copy(update={"onboarding": OnboardingSettings(go_live_date=LONG_AGO)})
        self.configuration.replace_settings(self.tenant_id, "tests", chosen, version, lambda: catalog)
        income = next(
            row for row in self.qbo_rows("Account", "AccountType = 'Income'") if row.get("Active", True)
        )
        rows = {
            MappingKind.PRODUCT_TYPES: [
                MappingRowInput(source_key=entry.code, qbo_id="Service")
                for entry in self.source.list_product_types()
            ],
            MappingKind.GL_CODES: [
                MappingRowInput(source_key=entry.code, qbo_id=str(income["Id"]))
                for entry in self.source.list_gl_codes()
            ],
        }
        if payment_methods:
            rows[MappingKind.PAYMENT_METHODS] = self.payment_method_rows()
        for kind, kind_rows in rows.items():
            self.map(kind, kind_rows, catalog)

    def payment_method_rows(self, only: str | None = None) -> list[MappingRowInput]:
        method = self.qbo_rows("PaymentMethod")[0]
        return [
            MappingRowInput(source_key=entry.code, qbo_id=str(method["Id"]))
            for entry in self.source.list_payment_methods()
            if only is None or entry.code == only
        ]

    def map(
        self, kind: MappingKind, rows: list[MappingRowInput], catalog: ReferenceCatalog | None = None
    ) -> None:
        found = catalog or ReferenceCatalog(self.tenant_id, self.qbo, ReferenceCacheRepository(), time.time)
        _rows, version = self.configuration.read_mapping(self.tenant_id, kind)
        self.configuration.replace_mapping(
            self.tenant_id, "tests", kind, rows=rows, expected_version=version, catalog=lambda: found
        )

    # Convenience for tests

    def first_customer_id(self, index: int = 0) -> str:
        return str(self.source.list_customers(limit=50).items[index].id)

    def product_ids(self) -> list[str]:
        return [product.id for product in self.source.list_products(limit=50).items]

    def pay_in_full(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """A source payment of the whole invoice by ACH, pushed (its webhook delivered and worked)."""
        payment = self.change(
            "POST",
            "payments",
            {
                "customer_id": invoice["customer_id"],
                "amount": invoice["total"],
                "method": "ACH",
                "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
            },
        )
        self.deliver_all()
        self.drain()
        return payment

    def new_invoice(self, customer_id: str | None = None, lines: int = 2, **extra: Any) -> dict[str, Any]:
        products = self.product_ids()
        return self.change(
            "POST",
            "invoices",
            {
                "customer_id": customer_id or self.first_customer_id(),
                "lines": [
                    {"product_id": products[i % len(products)], "quantity": str(i + 1)} for i in range(lines)
                ],
                **extra,
            },
        )


@contextmanager
def push_world(
    *,
    customers: int = 12,
    products: int = 6,
    qbo_max_attempts: int = 5,
    qbo_backoff_seconds: float = 0.0,
    wrap_qbo_transport: Callable[[httpx.BaseTransport], httpx.BaseTransport] | None = None,
    qbo_requests_per_minute: int | None = None,
    requestid_window: timedelta = REQUESTID_WINDOW,
    company_books_ttl: timedelta = COMPANY_BOOKS_TTL,
    crashes: WorkerCrashes | None = None,
) -> Iterator[PushWorld]:
    """Everything the push flow touches, in-process. Needs moto active and ``TABLE_NAME`` set.

    ``qbo_requests_per_minute`` puts QBO's per-realm rate limit on the sandbox (fixed one-minute
    windows) and the project's ``RealmGovernor`` in front of the client, as deployed. ``crashes`` kills
    the worker between writes' intents and outcomes (``WorkerCrashes``).
    """
    create_table_from_template("IdempotencyTable", IDEMPOTENCY_TABLE)
    queue_url, queue_arn = create_push_queue()
    # The source signs with the tenant's secret derived from the app key, as the operator CLI hands it out.
    AppSecrets().put_source_webhook_key(SOURCE_WEBHOOK_KEY)
    source_config = SourceSandboxConfig.for_tenants(
        [TENANT],
        webhook_secret=derive_source_webhook_secret(SOURCE_WEBHOOK_KEY, TENANT, 1),
        customers=customers,
        products=products,
        invoices=0,
        webhooks={"mode": "hold"},
    )
    tenant_config = source_config.tenants[0]
    source_app = build_source_app(source_config)
    limits: dict[str, Any] = {}
    governor: RealmGovernor | None = None
    if qbo_requests_per_minute is not None:
        limits = {"requests_per_window": qbo_requests_per_minute, "rate_window_mode": "fixed"}
        governor = RealmGovernor(
            InMemoryGovernorStore(), QboLimits(requests_per_window=qbo_requests_per_minute, window_seconds=60)
        )
    qbo_app = build_qbo_app(
        QboSandboxConfig(
            client_id=QBO_CLIENT_ID, redirect_uris=[QBO_REDIRECT], realm_count=1, seed=3, **limits
        )
    )
    realm_id = next(iter(qbo_app.state.sandbox.companies))
    with ExitStack() as stack:
        source_http = stack.enter_context(in_process_client(source_app, base_url="http://source-sandbox"))
        qbo_http = stack.enter_context(in_process_client(qbo_app, base_url="http://qbo-sandbox"))
        transport: httpx.BaseTransport = DroppedConnections(qbo_http._transport)
        if crashes is not None:
            transport = CrashingTransport(transport, crashes)
        qbo_http._transport = wrap_qbo_transport(transport) if wrap_qbo_transport else transport
        TenantRepository().register(Tenant(tenant_id=TENANT, name="Acme"))
        TenantSecrets().put_source_credentials(TENANT, tenant_config.api_key)
        token = issue_access_token(qbo_app, realm_id)
        qbo = QboClient(
            realm_id,
            StaticToken(token),
            governor,
            "http://qbo-sandbox",
            http=qbo_http,
            max_attempts=qbo_max_attempts,
            backoff_base_seconds=qbo_backoff_seconds,
            sleep=lambda seconds: time.sleep(min(seconds, 0.05)) if seconds else None,
        )
        source = HttpSourceAdapter(
            "http://source-sandbox", TENANT, tenant_config.api_key, http=source_http, sleep=lambda _s: None
        )
        queue = PushQueue(queue_url=queue_url)
        events = EventRepository()
        links = LinkRepository() if crashes is None else CrashingLinks(crashes)
        ledger = WriteLedger() if crashes is None else CrashingLedger(crashes)
        configuration = ConfigurationService(
            SettingsRepository(), MappingRepository(), AuditRepository(), utc_now
        )
        service = PushService(
            PushDependencies(
                events=events,
                links=links,
                configuration=configuration,
                qbo_for=lambda _tenant: qbo,
                source_for=lambda _tenant: source,
                parked=ParkedRelease(events, EventRequeue(push_queue=queue, pull_queue=PullQueue())),
                clock=utc_now,
                ledger=ledger,
                requestid_window=requestid_window,
                paused=TenantRepository().is_paused,
                company_books_ttl=company_books_ttl,
            )
        )
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        idempotency = DynamoDBPersistenceLayer(table_name=IDEMPOTENCY_TABLE, boto3_client=dynamodb_client())
        assert get_settings().table_name
        yield PushWorld(
            tenant_id=TENANT,
            source_app=source_app,
            source_http=source_http,
            qbo_app=qbo_app,
            qbo_http=qbo_http,
            realm_id=realm_id,
            qbo=qbo,
            source=source,
            queue_url=queue_url,
            queue_arn=queue_arn,
            webhook_secret=tenant_config.webhook_secret,
            events=events,
            links=links,
            ledger=ledger,
            configuration=configuration,
            receiver=WebhookReceiver(queue=queue),
            service=service,
            idempotency=idempotency,
        )


# --- the storm: many changes of every kind, delivered 1-3 times in shuffled order ----------------------


@dataclass
class _Doc:
    """What the storm knows of one source document, to say what QBO must hold at the end."""

    kind: str
    source_id: str
    number: str
    created_round: int
    removed_round: int | None = None
    applied: bool = False  # an invoice something was applied to (payment or credit)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class StormReport:
    changes: int
    deliveries: int
    seconds: float
    latencies_ms: list[float]
    qbo_requests: int
    qbo_requests_by_endpoint: dict[str, int]
    """What QBO saw during the storm by ``"METHOD resource"`` (e.g. ``"GET query"``, ``"POST invoice"``)."""
    duplicates: int
    missing: int
    mismatched: int
    problems: list[str]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


STORM_FOREIGN_CURRENCY = "EUR"


class Storm:
    """Source changes in rounds (creates, edits, payments, credits, write-offs, voids, deletes); each
    round's webhooks are delivered 1-3 times, shuffled, then the worker drains the queue."""

    def __init__(
        self, world: PushWorld, seed: int, *, foreign_share: float = 0.0, foreign_rate: str = "1.0825"
    ) -> None:
        """``foreign_share``: the share of new invoices billed in EUR (at ``foreign_rate`` home units per
        euro) to customers kept for EUR; their payments and credit notes are in EUR too. QBO must then
        have multi-currency on (``STORM_FOREIGN_CURRENCY`` with ``foreign_rate`` as its rate)."""
        import random

        self.world = world
        self.rng = random.Random(seed)
        self.docs: dict[str, _Doc] = {}
        self.round = 0
        self.changes = 0
        self.deliveries = 0
        self.customers = [c.id for c in world.source.list_customers(limit=100).items]
        self.products = world.product_ids()
        self.foreign_share = foreign_share
        self.foreign_rate = foreign_rate
        foreign_count = max(1, round(len(self.customers) * foreign_share)) if foreign_share > 0 else 0
        self.foreign_customers = self.customers[:foreign_count]
        self.home_customers = self.customers[foreign_count:] or self.customers

    # Changes

    def _lines(self) -> list[dict[str, Any]]:
        return [
            {"product_id": self.rng.choice(self.products), "quantity": str(self.rng.randint(1, 4))}
            for _ in range(self.rng.randint(1, 3))
        ]

    def _pick(self, kind: str, *, free: bool | None = None) -> _Doc | None:
        candidates = [
            doc
            for doc in self.docs.values()
            if doc.kind == kind and doc.removed_round is None and (free is None or doc.applied != free)
        ]
        return self.rng.choice(candidates) if candidates else None

    def _record(self, kind: str, created: dict[str, Any]) -> _Doc:
        doc = _Doc(kind, created["id"], created["number"], self.round, data=created)
        self.docs[created["id"]] = doc
        return doc

    def _new_invoice(self) -> None:
        if self.foreign_share > 0 and self.rng.random() < self.foreign_share:
            body: dict[str, Any] = {
                "customer_id": self.rng.choice(self.foreign_customers),
                "lines": self._lines(),
                "currency": STORM_FOREIGN_CURRENCY,
                "exchange_rate": self.foreign_rate,
            }
        else:
            body = {"customer_id": self.rng.choice(self.home_customers), "lines": self._lines()}
        self._record("invoice", self.world.change("POST", "invoices", body))

    def _in_currency_of(self, invoice: _Doc, body: dict[str, Any], *, with_rate: bool) -> dict[str, Any]:
        """A payment or credit note for ``invoice`` in its currency (a payment leaves the rate to QBO)."""
        currency = invoice.data.get("currency", "USD")
        if currency == "USD":
            return body
        return {**body, "currency": currency, **({"exchange_rate": self.foreign_rate} if with_rate else {})}

    def one_change(self) -> None:
        """One change, drawn by weight; when there is nothing to apply it to, a new invoice instead."""
        self.changes += 1
        action = self.rng.choices(
            ["invoice", "edit", "payment", "credit", "remove_invoice", "void_payment", "delete_credit"],
            weights=[30, 15, 17, 14, 8, 8, 4],
        )[0]
        done = action != "invoice" and getattr(self, f"_{action}")()
        if not done:
            self._new_invoice()

    def _edit(self) -> bool:
        invoice = self._pick("invoice", free=True)
        if invoice is None:
            return False
        invoice.data = self.world.change("PUT", f"invoices/{invoice.source_id}", {"lines": self._lines()})
        return True

    def _payment(self) -> bool:
        invoice = self._pick("invoice", free=True)
        if invoice is None:
            return False
        invoice.applied = True
        total = invoice.data["total"]
        body = {
            "customer_id": invoice.data["customer_id"],
            "amount": total,
            "method": self.rng.choice(["ACH", "CHECK", "WIRE", "CASH"]),
            "applied_to": [{"invoice_id": invoice.source_id, "amount": total}],
        }
        body = self._in_currency_of(invoice, body, with_rate=False)
        payment = self._record("payment", self.world.change("POST", "payments", body))
        payment.data["invoice"] = invoice.source_id
        return True

    def _credit(self) -> bool:
        invoice = self._pick("invoice", free=True)
        if invoice is None:
            return False
        lines = [{"product_id": self.rng.choice(self.products), "quantity": "1", "unit_price": "1.00"}]
        body: dict[str, Any] = {
            "kind": self.rng.choice(["credit", "write_off"]),
            "customer_id": invoice.data["customer_id"],
            "lines": lines,
        }
        if self.rng.random() < 0.6:
            invoice.applied = True
            body["applied_to"] = [{"invoice_id": invoice.source_id, "amount": "1.00"}]
            body["status"] = "applied"
        body = self._in_currency_of(invoice, body, with_rate=True)
        self._record("credit_note", self.world.change("POST", "credit-notes", body))
        return True

    def _remove_invoice(self) -> bool:
        invoice = self._pick("invoice", free=True)
        if invoice is None:
            return False
        if self.rng.random() < 0.5:
            self.world.change("POST", f"invoices/{invoice.source_id}/void")
        else:
            self.world.change("DELETE", f"invoices/{invoice.source_id}")
        invoice.removed_round = self.round
        return True

    def _void_payment(self) -> bool:
        payment = self._pick("payment")
        if payment is None:
            return False
        self.world.change("POST", f"payments/{payment.source_id}/void")
        payment.removed_round = self.round
        return True

    def _delete_credit(self) -> bool:
        note = self._pick("credit_note")
        if note is None:
            return False
        self.world.change("DELETE", f"credit-notes/{note.source_id}")
        note.removed_round = self.round
        return True

    def run(self, changes: int, per_round: int) -> StormReport:
        world = self.world
        requests_before = world.qbo_requests()
        endpoints_before = Counter(world.qbo_stats()["requests_by_endpoint"])
        started = time.time()
        while self.changes < changes:
            self.round += 1
            for _ in range(min(per_round, changes - self.changes)):
                self.one_change()
            events = world.held_webhooks()
            posts = [event for event in events for _ in range(self.rng.randint(1, 3))]
            self.rng.shuffle(posts)
            for event in posts:
                delivery = world.post_webhook(event)
                if delivery.status != 202:
                    raise AssertionError(f"webhook refused: {delivery}")
            self.deliveries += len(posts)
            world.drain()
        seconds = time.time() - started
        requests = world.qbo_requests() - requests_before
        endpoints = Counter(world.qbo_stats()["requests_by_endpoint"]) - endpoints_before
        duplicates, missing, mismatched, problems = self.check()
        return StormReport(
            changes=self.changes,
            deliveries=self.deliveries,
            seconds=seconds,
            latencies_ms=self.latencies(),
            qbo_requests=requests,
            qbo_requests_by_endpoint=dict(sorted(endpoints.items())),
            duplicates=duplicates,
            missing=missing,
            mismatched=mismatched,
            problems=problems,
        )

    def latencies(self) -> list[float]:
        """Webhook first received → its event done (the QBO write, or finding it already there)."""
        found = []
        for event_id, received in self.world.received_at.items():
            event = self.world.events.get(self.world.tenant_id, event_id)
            if event is not None and event.status == "done":
                found.append((event.updated_at.timestamp() - received) * 1000)
        return found

    # The final check: QBO holds exactly what the source says, nothing twice

    def check(self) -> tuple[int, int, int, list[str]]:  # noqa: PLR0912 (one rule per document kind)
        from decimal import Decimal

        world = self.world
        source = world.source
        invoices = self._by(world.qbo_rows("Invoice"), "DocNumber")
        memos = self._by(world.qbo_rows("CreditMemo"), "DocNumber")
        payments = self._by(world.qbo_rows("Payment"), "PaymentRefNum")
        duplicates = sum(
            len(rows) - 1 for table in (invoices, memos, payments) for rows in table.values() if len(rows) > 1
        )
        missing = mismatched = 0
        problems: list[str] = []
        credited: dict[str, Decimal] = {}
        paid: dict[str, Decimal] = {}

        def money(value: Any) -> Decimal:
            return Decimal(str(value)).quantize(Decimal("0.01"))

        def mismatch(text: str) -> None:
            nonlocal mismatched
            mismatched += 1
            problems.append(text)

        for doc in self.docs.values():
            if doc.kind == "payment":
                current = source.get_payment(doc.source_id)
                rows = payments.get(current.number, [])
                pushed_before_removal = (
                    doc.removed_round is not None and doc.created_round < doc.removed_round
                )
                if current.status == "posted":
                    if not rows:
                        missing += 1
                        problems.append(f"payment {doc.source_id} missing")
                        continue
                    paid[doc.data["invoice"]] = paid.get(doc.data["invoice"], Decimal(0)) + current.amount
                    if money(rows[0]["TotalAmt"]) != current.amount:
                        mismatch(f"payment {doc.source_id} amount")
                    self._check_currency(f"payment {doc.source_id}", rows[0], current.currency, mismatch)
                elif pushed_before_removal:
                    if not rows:
                        missing += 1
                        problems.append(f"voided payment {doc.source_id} missing")
                    elif money(rows[0]["TotalAmt"]) != 0:
                        mismatch(f"payment {doc.source_id} not voided")
                elif rows:
                    mismatch(f"payment {doc.source_id} should not be in QBO")
            elif doc.kind == "credit_note":
                note = source.get_credit_note(doc.source_id)
                prefix = "WO-" if note.kind == "write_off" else "CN-"
                # A number that already carries the prefix keeps its own (CN-301), others get it (WO-CN-302).
                number = note.number if note.number.startswith(prefix) else f"{prefix}{note.number}"
                rows = memos.get(number, [])
                applications = payments.get(number, [])
                if note.status in ("open", "applied"):
                    if not rows:
                        missing += 1
                        problems.append(f"credit note {doc.source_id} missing")
                        continue
                    applied = sum((a.amount for a in note.applied_to), Decimal(0))
                    for a in note.applied_to:
                        credited[a.invoice_id] = credited.get(a.invoice_id, Decimal(0)) + a.amount
                    if money(rows[0]["TotalAmt"]) != note.total:
                        mismatch(f"credit note {doc.source_id} total")
                    self._check_currency(f"credit note {doc.source_id}", rows[0], note.currency, mismatch)
                    if money(rows[0].get("RemainingCredit", 0)) != note.total - applied:
                        mismatch(f"credit note {doc.source_id} remaining credit")
                    if bool(applications) != bool(note.applied_to):
                        mismatch(f"credit note {doc.source_id} application")
                elif rows or applications:
                    mismatch(f"deleted credit note {doc.source_id} still in QBO")
        for doc in self.docs.values():
            if doc.kind != "invoice":
                continue
            invoice = source.get_invoice(doc.source_id)
            rows = invoices.get(invoice.number, [])
            if invoice.status in ("open", "paid"):
                if not rows:
                    missing += 1
                    problems.append(f"invoice {doc.source_id} missing")
                    continue
                expected_balance = (
                    invoice.total
                    - paid.get(doc.source_id, Decimal(0))
                    - credited.get(doc.source_id, Decimal(0))
                )
                if money(rows[0]["TotalAmt"]) != invoice.total:
                    mismatch(f"invoice {doc.source_id} total {rows[0]['TotalAmt']} != {invoice.total}")
                self._check_currency(f"invoice {doc.source_id}", rows[0], invoice.currency, mismatch)
                if money(rows[0]["Balance"]) != expected_balance:
                    mismatch(f"invoice {doc.source_id} balance {rows[0]['Balance']} != {expected_balance}")
            elif doc.removed_round is not None and doc.created_round < doc.removed_round:
                if not rows:
                    missing += 1
                    problems.append(f"voided invoice {doc.source_id} missing")
                elif money(rows[0]["TotalAmt"]) != 0:
                    mismatch(f"invoice {doc.source_id} not voided")
            elif rows:
                mismatch(f"invoice {doc.source_id} removed before it was pushed, yet in QBO")
        return duplicates, missing, mismatched, problems

    def foreign_documents(self) -> int:
        """How many of the storm's documents are in the foreign currency."""
        return sum(1 for doc in self.docs.values() if doc.data.get("currency", "USD") != "USD")

    def _check_currency(
        self, what: str, row: dict[str, Any], currency: str, mismatch: Callable[[str], None]
    ) -> None:
        """QBO holds the document in its currency, and (multi-currency on) its home amount at the rate:
        amounts compared in both currencies."""
        from decimal import ROUND_HALF_UP, Decimal

        booked = (row.get("CurrencyRef") or {}).get("value", "USD")
        if booked != currency:
            mismatch(f"{what} booked in {booked}, not {currency}")
            return
        if self.foreign_share <= 0 or "HomeTotalAmt" not in row:
            return
        rate = Decimal(self.foreign_rate) if currency != "USD" else Decimal(1)
        if Decimal(str(row.get("ExchangeRate"))) != rate:
            mismatch(f"{what} at rate {row.get('ExchangeRate')}, not {rate}")
        home = (Decimal(str(row["TotalAmt"])) * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if Decimal(str(row["HomeTotalAmt"])).quantize(Decimal("0.01")) != home:
            mismatch(f"{what} home amount {row['HomeTotalAmt']} != {home}")

    @staticmethod
    def _by(rows: list[dict[str, Any]], field_name: str) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            key = str(row.get(field_name) or "")
            if key.startswith(("INV-", "PMT-", "CN-", "WO-")):
                grouped.setdefault(key, []).append(row)
        return grouped
