"""The pull integration world (no tests here): moto, both sandboxes in-process, the real handlers.

QBO's webhooks reach the real ``functions/qbo_webhook`` handler through an in-process endpoint (so
the sandbox sees its 200 or 401); the pull worker handler is fed from the moto pull queue as the
event source mapping would; QBO and the source are reached without sockets.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from functions.pull_worker.app import lambda_handler as pull_worker_handler
from functions.qbo_webhook.app import lambda_handler as qbo_webhook_handler
from local.qbo_sandbox import SandboxConfig as QboSandboxConfig
from local.qbo_sandbox import build_app as build_qbo_app
from local.qbo_sandbox.app import Sandbox
from local.qbo_sandbox.config import LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, LOCAL_REDIRECT_URI
from local.qbo_sandbox.oauth import DISCOVERY_PATH
from local.source_sandbox.app import build_app as build_source_app
from local.source_sandbox.config import SandboxConfig as SourceSandboxConfig
from local.source_sandbox.inprocess import in_process_client
from qbosync.qbo.client import QboClient
from qbosync.qbo.oauth import IntuitOAuthClient, InvalidGrant
from qbosync.settings import get_settings
from qbosync.source.http import HttpSourceAdapter
from qbosync.store.app_secrets import AppSecrets
from qbosync.store.aws import sqs_client
from qbosync.store.checkpoints import CheckpointRepository
from qbosync.store.config import AuditRecord, AuditRepository, MappingRepository, SettingsRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.events import EventRepository, SyncEvent
from qbosync.store.ledger import WriteLedger
from qbosync.store.links import Link, LinkRepository
from qbosync.store.queues import PushQueue
from qbosync.store.tenants import TenantRepository
from qbosync.store.tokens import TokenVault, clear_token_cache
from qbosync.sync import wiring
from qbosync.sync.configuration import (
    ConfigurationService,
    OnboardingSettings,
    SourceDefaults,
    SyncToggles,
    TenantSettings,
)
from qbosync.sync.pull.receiver import expected_signature
from qbosync.sync.pull.service import PullService
from qbosync.sync.push.customers import CustomerPush
from qbosync.sync.push.service import PushDependencies, PushService
from qbosync.sync.reconcile import Reconciler
from qbosync.sync.retry.parked import ParkedRelease
from tests.support.lambda_context import LambdaContextStub

TENANT = "acme"
VERIFIER = "pull-world-verifier-token"
QBO_BASE = "http://qbo.test"
SOURCE_BASE = "http://source.test"
SOURCE_KEY = "sk_sandbox_acme"
HOOK_PATH = "/webhooks/qbo"


EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample_event(name: str) -> dict[str, Any]:
    """A sample event from ``events/`` (the same files ``sam local invoke -e`` uses)."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


def http_api_event(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event for ``POST /webhooks/qbo`` (body base64, as for binary)."""
    return {
        "version": "2.0",
        "routeKey": f"POST {HOOK_PATH}",
        "rawPath": HOOK_PATH,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": HOOK_PATH, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-hook",
            "routeKey": f"POST {HOOK_PATH}",
            "stage": "$default",
        },
        "isBase64Encoded": True,
        "body": base64.b64encode(body).decode(),
    }


@dataclass
class HookEndpoint:
    """Qbosync's public webhook URL, as API Gateway would serve it: each POST runs the real handler."""

    replies: list[int] = field(default_factory=list)
    drop_all: bool = False
    dropped: int = 0
    lose_replies: int = 0

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if self.drop_all:
            self.dropped += 1  # lost on the way: Intuit saw a 200, qbosync never ran
            return Response(status_code=200)
        reply = qbo_webhook_handler(http_api_event(dict(request.headers), body), LambdaContextStub())
        self.replies.append(int(reply["statusCode"]))
        if self.lose_replies:
            self.lose_replies -= 1
            return Response(status_code=504)  # the handler ran; its answer was lost on the way back
        return Response(reply["body"], status_code=int(reply["statusCode"]))

    def app(self) -> Starlette:
        return Starlette(routes=[Route(HOOK_PATH, self.receive, methods=["POST"])])


@dataclass
class PullWorld:
    qbo_sandbox: Sandbox
    qbo_http: httpx.Client
    source_http: httpx.Client
    source_app: Starlette
    realm_id: str
    pull_queue_url: str
    push_queue_url: str
    hook: HookEndpoint
    vault: TokenVault
    oauth: IntuitOAuthClient
    settings: TenantSettings
    bill_profile: str
    default_product: str

    # --- collaborators as the handlers get them --------------------------------------------------

    def qbo(self, tenant_id: str = TENANT) -> QboClient:
        return QboClient(self.realm_id, self.vault, None, QBO_BASE, http=self.qbo_http, sleep=lambda _: None)

    def source(self, tenant_id: str = TENANT) -> HttpSourceAdapter:
        return HttpSourceAdapter(SOURCE_BASE, TENANT, SOURCE_KEY, self.source_http, sleep=lambda _: None)

    def pull_service(self) -> PullService:
        return PullService(
            qbo_for=self.qbo,
            source_for=self.source,
            settings_for=lambda _: self.settings,
            payment_methods_for=wiring.payment_method_rows,
            links=LinkRepository(),
            events=EventRepository(),
            push_queue=PushQueue(),
            paused=TenantRepository().is_paused,
        )

    def reconciler(self) -> Reconciler:
        """The scheduled reconciliation on this world, without the clock-skew overlap."""
        links = LinkRepository()
        return Reconciler(
            pull=self.pull_service(),
            customers=CustomerPush(qbo_for=self.qbo, source_for=self.source, links=links),
            qbo_for=self.qbo,
            source_for=self.source,
            settings_for=lambda _: self.settings,
            connections=ConnectionRepository(),
            checkpoints=CheckpointRepository(),
            links=links,
            push_queue=PushQueue(),
            overlap=timedelta(0),
            paused=TenantRepository().is_paused,
        )

    def store_settings(self) -> None:
        """Save this world's settings as an admin's first ``PUT /settings`` would (the push reads them)."""
        document = self.settings.model_dump(mode="json")
        SettingsRepository().replace(
            TENANT,
            document,
            0,
            AuditRecord(
                actor="admin-1",
                action="settings.replaced",
                target="settings",
                before=None,
                after=document,
                at=datetime.now(UTC),
            ),
        )

    def service_item_id(self) -> str:
        """A QBO service item of the sandbox company, for unmatched products."""
        company = self.qbo_sandbox.companies[self.realm_id]
        return str(
            next(row["Id"] for row in company.records["Item"].values() if row.get("Type") == "Service")
        )

    def push_service(self, configuration: ConfigurationService | None = None) -> PushService:
        """The push worker's service on this world's QBO and source (settings and mappings as stored)."""
        now = lambda: datetime.now(UTC)  # noqa: E731 - a clock
        return PushService(
            PushDependencies(
                events=EventRepository(),
                links=LinkRepository(),
                configuration=configuration
                or ConfigurationService(SettingsRepository(), MappingRepository(), AuditRepository(), now),
                qbo_for=self.qbo,
                source_for=self.source,
                parked=ParkedRelease(EventRepository(), wiring.event_requeue()),
                clock=now,
                ledger=WriteLedger(),
            )
        )

    # --- driving the flows -----------------------------------------------------------------------

    def deliver_qbo_webhooks(self) -> dict[str, Any]:
        """Intuit sends what is pending now (the batch window is closed at once)."""
        response = self.qbo_http.post("/_sandbox/webhooks/flush")
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def send_customer_merge(self, survivor_id: str, loser_id: str, event_id: str) -> dict[str, Any]:
        """Intuit's CloudEvents notification that ``loser_id`` was merged into ``survivor_id``, sent to
        the real webhook handler (QBO's API cannot merge, so the sandbox never sends one)."""
        body = json.dumps(
            [
                {
                    "specversion": "1.0",
                    "id": event_id,
                    "source": "intuit.test",
                    "type": "qbo.customer.merged.v1",
                    "time": datetime.now(UTC).isoformat(),
                    "intuitentityid": survivor_id,
                    "intuitaccountid": self.realm_id,
                    "data": {"deletedId": loser_id},
                }
            ]
        ).encode()
        headers = {
            "intuit-signature": expected_signature(VERIFIER, body),
            "content-type": "application/cloudevents+json",
        }
        reply: dict[str, Any] = qbo_webhook_handler(http_api_event(headers, body), LambdaContextStub())
        return reply

    def pull_messages(self) -> list[dict[str, Any]]:
        """Every message on the pull queue, taken off it."""
        sqs = sqs_client()
        taken: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.pull_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return taken
            for message in batch:
                sqs.delete_message(QueueUrl=self.pull_queue_url, ReceiptHandle=message["ReceiptHandle"])
            taken += [json.loads(message["Body"]) for message in batch]

    def run_pull_worker(self) -> list[str]:
        """Feed the pull queue to the real worker handler, as the event source mapping would.

        Returns the ids of messages the worker reported as failed (left on the queue).
        """
        sqs = sqs_client()
        failed: list[str] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.pull_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return failed
            event = {"Records": [sqs_record(message) for message in batch]}
            reply = pull_worker_handler(event, LambdaContextStub(), service=self.pull_service())
            batch_failures = {item["itemIdentifier"] for item in reply["batchItemFailures"]}
            failed += sorted(batch_failures)
            for message in batch:
                if message["MessageId"] not in batch_failures:
                    sqs.delete_message(QueueUrl=self.pull_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def push_messages(self) -> list[dict[str, Any]]:
        sqs = sqs_client()
        taken: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.push_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return taken
            for message in batch:
                sqs.delete_message(QueueUrl=self.push_queue_url, ReceiptHandle=message["ReceiptHandle"])
            taken += [json.loads(message["Body"]) for message in batch]

    # --- looking -----------------------------------------------------------------------------------

    def qbo_writes(self) -> int:
        """POSTs to the accounting API (creates, updates, batches): every write QBO received."""
        stats = self.qbo_http.get("/_sandbox/stats").json()
        return sum(
            count
            for endpoint, count in stats["requests_by_endpoint"].items()
            if endpoint.startswith("POST ") and endpoint != "POST query"
        )

    def source_creations(self) -> int:
        stats = self.source_http.get("/_sandbox/stats").json()
        return int(sum(stats["created"].values()))

    def source_customers(self) -> list[Any]:
        return list(self.source_app.state.sandbox.iter_objects(TENANT, "customers"))

    def qbo_customer(self, **body: Any) -> dict[str, Any]:
        """A customer created in QBO by someone else (an accountant, in the QBO UI)."""
        response = self.qbo_http.post(
            f"/v3/company/{self.realm_id}/customer",
            json=body,
            headers={"Authorization": f"Bearer {self.vault.access_token()}", "Accept": "application/json"},
        )
        response.raise_for_status()
        created: dict[str, Any] = response.json()["Customer"]
        return created

    def link_of_qbo(self, entity: str, qbo_id: str) -> Link | None:
        return LinkRepository().get_by_qbo_id(TENANT, entity, qbo_id)

    def events(self, status: str) -> list[SyncEvent]:
        return EventRepository().list(TENANT, status, limit=100).items  # type: ignore[arg-type]


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x"},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:pull",
        "awsRegion": "us-east-1",
    }


@pytest.fixture(name="pull_world")
def pull_world_fixture(main_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PullWorld]:
    """One tenant connected to one sandbox company, with its source; webhooks wired to the handler."""
    sqs = sqs_client()
    pull_url = sqs.create_queue(QueueName="pull-it")["QueueUrl"]
    push_url = sqs.create_queue(
        QueueName="push-it.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]
    monkeypatch.setenv("PULL_QUEUE_URL", pull_url)
    monkeypatch.setenv("PUSH_QUEUE_URL", push_url)
    get_settings.cache_clear()
    clear_token_cache()
    AppSecrets().put_intuit_app(LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, VERIFIER)

    hook = HookEndpoint()
    qbo_app = build_qbo_app(
        QboSandboxConfig(
            realm_count=1,
            strict_refresh_rotation=True,  # the keep-alive tests watch the refresh token change
            verifier_token=VERIFIER,
            webhook_url=f"http://qbosync.test{HOOK_PATH}",
            webhook_batch_window_seconds=3600,  # nothing leaves until the test flushes
        ),
        webhook_transport=httpx.ASGITransport(app=hook.app()),
    )
    source_app = build_source_app(
        SourceSandboxConfig.for_tenants([TENANT], customers=4, products=3, invoices=2)
    )
    with (
        in_process_client(qbo_app, QBO_BASE) as qbo_http,
        in_process_client(source_app, SOURCE_BASE) as source_http,
    ):
        sandbox: Sandbox = qbo_app.state.sandbox
        realm_id = next(iter(sandbox.companies))
        oauth = IntuitOAuthClient(
            QBO_BASE + DISCOVERY_PATH, LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, http=qbo_http
        )
        code = sandbox.tokens.issue_code(
            LOCAL_CLIENT_ID, LOCAL_REDIRECT_URI, realm_id, ["com.intuit.quickbooks.accounting"]
        )
        ConnectionRepository().record_connected(
            Connection(
                tenant_id=TENANT,
                realm_id=realm_id,
                connected_by="admin-1",
                connected_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
        vault = TokenVault(TENANT, refresher=oauth, invalid_grant_errors=(InvalidGrant,))
        vault.store_initial(realm_id, oauth.exchange_code(code, LOCAL_REDIRECT_URI))
        source = HttpSourceAdapter(SOURCE_BASE, TENANT, SOURCE_KEY, source_http)
        bill_profile = source.list_bill_profiles()[0].code
        default_product = source.list_products().items[0].id
        settings = TenantSettings(
            sync=SyncToggles(qbo_to_source_customers=True),
            source_defaults=SourceDefaults(
                new_customer_bill_profile_id=bill_profile, unmatched_qbo_item_product_id=default_product
            ),
            # Every push needs a go-live date; one long past keeps every sandbox document after it.
            onboarding=OnboardingSettings(go_live_date=date(2000, 1, 1)),
        )
        yield PullWorld(
            qbo_sandbox=sandbox,
            qbo_http=qbo_http,
            source_http=source_http,
            source_app=source_app,
            realm_id=realm_id,
            pull_queue_url=pull_url,
            push_queue_url=push_url,
            hook=hook,
            vault=vault,
            oauth=oauth,
            settings=settings,
            bill_profile=bill_profile,
            default_product=default_product,
        )
    clear_token_cache()
