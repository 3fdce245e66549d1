"""A Rev.io tenant in the deployed service, on moto with the Rev.io emulator served over loopback and the
QBO sandbox in process: credentials sealed per adapter kind, the composition root's adapter with its
versions in the main table, and the receiver route registered through the operator, confirmed with the
``X-Hook-Secret`` handshake, and turning a new bill into a QBO invoice through the push worker."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
import uvicorn

from local.revio_emulator.app import EmulatorConfig, build_app
from qbosync.api.routes.webhooks import source_webhook_resolver
from qbosync.operator.__main__ import run
from qbosync.operator.fleet import FleetOperator, SourceConnectionIncomplete
from qbosync.source.config import SourceAdapterKind, TenantSourceConfig
from qbosync.source.errors import SourceRejected
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.models import NewAppliedAmount, NewSourcePayment
from qbosync.source.revio.adapter import RevioAdapter
from qbosync.store.app_secrets import SecretBox, SourceCredentials, TenantSecrets
from qbosync.store.queues import PushQueue
from qbosync.store.source_credentials import SourceCredentialsStore
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.sync import wiring
from qbosync.sync.push.revio_receiver import RevioReceiver
from qbosync.sync.push.service import PushDependencies, PushService
from tests.support.lambda_context import LambdaContextStub
from tests.support.push_world import PushWorld, push_world

API_URL = "https://qbosync.test"
EMULATOR = EmulatorConfig(customers=6, products=4, bills=2)
_STARTUP_SECONDS = 30.0


class LambdaRoutes(httpx.AsyncBaseTransport):
    """What the emulator's webhook deliveries reach: API Gateway's event handed to the source webhook
    function's resolver, as the deployed route does (the push queue named, not read from settings)."""

    def __init__(self) -> None:
        self.queue_url = ""
        self.answers: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        path = request.url.path
        event = {
            "version": "2.0",
            "routeKey": f"POST {path}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {name: value for name, value in request.headers.items()},
            "requestContext": {
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                "requestId": "r",
                "routeKey": f"POST {path}",
                "stage": "$default",
            },
            "isBase64Encoded": True,
            "body": base64.b64encode(body).decode(),
        }
        queue = PushQueue(queue_url=self.queue_url)
        app = source_webhook_resolver(revio_receiver=lambda: RevioReceiver(queue=queue))
        reply = app.resolve(event, LambdaContextStub())  # type: ignore[arg-type]
        self.answers.append((path, int(reply["statusCode"])))
        return httpx.Response(
            reply["statusCode"],
            headers=reply.get("headers") or {},
            content=(reply.get("body") or "").encode(),
        )


@pytest.fixture
def routes() -> LambdaRoutes:
    return LambdaRoutes()


@pytest.fixture
def emulator(routes: LambdaRoutes) -> Iterator[str]:
    """The emulator on a loopback port (the adapter speaks HTTP to it); its base URL."""
    app = build_app(EMULATOR, webhook_transport=routes)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


@pytest.fixture
def world(main_table: str, routes: LambdaRoutes) -> Iterator[PushWorld]:
    wiring.reset()  # the container's secret cache: this test's tenant only
    with push_world() as built:
        routes.queue_url = built.queue_url
        yield built
    wiring.reset()


def revio_source(emulator: str) -> TenantSourceConfig:
    return TenantSourceConfig(
        adapter=SourceAdapterKind.REVIO,
        base_url=f"{emulator}/v1",
        options={"client_code": EMULATOR.client_code},
    )


def revio_credentials(**changes: str) -> SourceCredentials:
    secrets = {
        "username": EMULATOR.username,
        "password": EMULATOR.password,
        "subscription_key": EMULATOR.subscription_key,
        **changes,
    }
    return SourceCredentials.model_validate(secrets)


def test_given_a_credentials_item_written_by_an_older_version_when_read_then_it_is_the_contract_adapters(
    main_table: str,
) -> None:
    TenantRepository().register(Tenant(tenant_id="acme", name="Acme"))
    SourceCredentialsStore().put("acme", {"api_key": "old-key", "webhook_secret": "whsec_old"})
    wiring.reset()

    stored = TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("acme")
    adapter = wiring.source_for_tenant("acme")

    assert stored.api_key is not None and stored.api_key.get_secret_value() == "old-key"
    assert stored.missing_for(SourceAdapterKind.HTTP_CONTRACT) == []
    assert isinstance(adapter, HttpSourceAdapter)
    wiring.reset()


def test_given_rev_io_credentials_without_a_password_when_connected_then_422_names_it_and_nothing_changes(
    main_table: str,
) -> None:
    operator = FleetOperator()
    operator.register("acme", "Acme")

    with pytest.raises(SourceConnectionIncomplete) as refused:
        operator.connect_source(
            "acme",
            TenantSourceConfig(adapter=SourceAdapterKind.REVIO),
            revio_credentials(password=" "),
        )

    assert refused.value.status == 422
    assert [detail["loc"] for detail in refused.value.details] == ["password", "client_code"]
    assert TenantRepository().get("acme").source is None
    assert SourceCredentialsStore().exists("acme") is False


def test_given_the_cli_with_a_blank_secret_line_when_connecting_rev_io_then_it_refuses_naming_the_field(
    main_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    operator = FleetOperator()
    operator.register("acme", "Acme")
    arguments = ["source-credentials", "acme", "--adapter", "revio", "--option", "client_code=demo"]

    code = run(arguments, operator=operator, stdin=io.StringIO("api-user\n\nsubscription-key\n"))

    assert code == 2
    error = capsys.readouterr().err
    assert "password" in error and "api-user" not in error and "subscription-key" not in error
    assert SourceCredentialsStore().exists("acme") is False


def test_given_the_cli_with_every_secret_when_connecting_rev_io_then_they_are_sealed_and_the_path_printed(
    main_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from qbosync.store.app_secrets import AppSecrets

    AppSecrets().put_source_webhook_key("cli-test-key")
    operator = FleetOperator()
    operator.register("acme", "Acme")
    arguments = ["source-credentials", "acme", "--adapter", "revio", "--option", "client_code=demo"]

    code = run(arguments, operator=operator, stdin=io.StringIO("api-user\nsecret-password\nsecret-sub-key\n"))

    assert code == 0
    printed = capsys.readouterr().out
    answer = json.loads(printed)
    assert answer["revio_receiver_path"].startswith("/webhooks/revio/acme/")
    assert "secret-password" not in printed and "secret-sub-key" not in printed
    stored = TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("acme")
    assert stored.missing_for(SourceAdapterKind.REVIO) == []
    assert stored.username is not None and stored.username.get_secret_value() == "api-user"
    source = TenantRepository().get("acme").source
    assert source is not None and source.adapter is SourceAdapterKind.REVIO
    assert source.base_url == "https://restapi.rev.io/v1"  # Rev.io's, not the deployment's SOURCE_BASE_URL


def test_given_a_rev_io_tenant_when_an_api_key_alone_is_provisioned_then_it_is_refused_and_its_secrets_kept(
    main_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from qbosync.store.app_secrets import AppSecrets

    AppSecrets().put_source_webhook_key("cli-test-key")
    operator = FleetOperator()
    operator.register("acme", "Acme")
    operator.connect_source("acme", revio_source("http://revio.test"), revio_credentials())

    code = run(["source-credentials", "acme"], operator=operator, stdin=io.StringIO("sk_only\n"))

    assert code == 2
    assert "--adapter revio" in capsys.readouterr().err
    stored = TenantSecrets(SecretBox(max_age_seconds=0)).source_credentials("acme")
    assert stored.api_key is None and stored.missing_for(SourceAdapterKind.REVIO) == []


def test_given_two_adapters_built_by_the_composition_root_when_a_bill_changes_then_they_share_its_version(
    world: PushWorld, emulator: str
) -> None:
    FleetOperator().connect_source(world.tenant_id, revio_source(emulator), revio_credentials())
    first = wiring.source_for_tenant(world.tenant_id)  # one container
    second = wiring.source_for_tenant(world.tenant_id)  # another container
    assert isinstance(first, RevioAdapter) and isinstance(second, RevioAdapter)
    customer = first.list_customers(limit=1).items[0]
    product = first.list_products(limit=1).items[0]
    control = httpx.Client(base_url=emulator, timeout=10)
    bill = control.post(
        "/_emulator/bills",
        json={"customer_id": int(customer.id), "lines": [{"product_id": int(product.id), "quantity": 1}]},
    ).json()

    seen_first = first.get_invoice(str(bill["bill_id"]))
    control.put(
        f"/_emulator/bills/{bill['bill_id']}/lines",
        json={"lines": [{"product_id": int(product.id), "quantity": 3}]},
    ).raise_for_status()
    seen_second = second.get_invoice(str(bill["bill_id"]))
    seen_first_again = first.get_invoice(str(bill["bill_id"]))

    assert seen_second.version == seen_first.version + 1
    assert seen_first_again.version == seen_second.version  # not a counter of its own in this process
    control.close()
    first.close()
    second.close()


def test_given_two_adapters_built_by_the_composition_root_when_one_key_creates_twice_then_rev_io_gets_one(
    world: PushWorld, emulator: str
) -> None:
    FleetOperator().connect_source(world.tenant_id, revio_source(emulator), revio_credentials())
    first = wiring.source_for_tenant(world.tenant_id)  # one worker
    second = wiring.source_for_tenant(world.tenant_id)  # the queue's second delivery, in another container
    invoice = next(i for i in first.list_invoices(limit=50).items if i.status == "open")
    payment = NewSourcePayment(
        customer_id=invoice.customer_id,
        date=invoice.issue_date,
        amount=invoice.total,
        method="ACH",
        applied_to=[NewAppliedAmount(invoice_id=invoice.id, amount=invoice.total)],
    )
    control = httpx.Client(base_url=emulator, timeout=10)

    created = first.create_payment(payment, "realm-9:payment:5:0:record-in-source")
    replayed = second.create_payment(payment, "realm-9:payment:5:0:record-in-source")
    with pytest.raises(SourceRejected) as reused:
        second.create_payment(
            payment.model_copy(update={"method": "CHECK"}), "realm-9:payment:5:0:record-in-source"
        )

    assert replayed.id == created.id
    assert reused.value.source_code == "idempotency_key_reused"
    assert control.get("/_emulator/stats").json()["requests"]["POST /v1/Payments"] == 1
    control.close()
    first.close()
    second.close()


def test_given_a_rev_io_tenant_connected_by_the_operator_when_a_bill_is_created_then_qbo_has_the_invoice(
    world: PushWorld,
    emulator: str,
    routes: LambdaRoutes,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    operator = FleetOperator()
    connected = operator.connect_source(world.tenant_id, revio_source(emulator), revio_credentials())
    registered = operator.register_revio_receiver(world.tenant_id, API_URL)
    control = httpx.Client(base_url=emulator, timeout=10)
    stats = control.get("/_emulator/stats").json()
    adapter = wiring.source_for_tenant(world.tenant_id)
    worker = PushService(dataclasses.replace(_dependencies(world), source_for=wiring.source_for_tenant))
    revio_world = dataclasses.replace(world, source=adapter, service=worker)
    revio_world.configure()
    customer = adapter.list_customers(limit=1).items[0]
    products = adapter.list_products(limit=2).items

    bill = control.post(
        "/_emulator/bills",
        json={
            "customer_id": int(customer.id),
            "lines": [{"product_id": int(product.id), "quantity": 2} for product in products],
        },
    ).json()
    revio_world.drain()

    assert registered["receiver_url"] == f"{API_URL}{connected.revio_receiver_path}"
    assert [receiver["active"] for receiver in stats["receivers"]] == [True]  # the handshake was answered
    assert routes.answers[0] == (connected.revio_receiver_path, 200)
    assert routes.answers[-1] == (connected.revio_receiver_path, 202)
    link = world.links.get(world.tenant_id, "Invoice", str(bill["bill_id"]))
    assert link is not None
    [qbo_invoice] = [row for row in world.qbo_rows("Invoice") if row["Id"] == link.qbo_id]
    source_invoice = adapter.get_invoice(str(bill["bill_id"]))
    assert Decimal(str(qbo_invoice["TotalAmt"])) == source_invoice.total
    assert link.source_version == source_invoice.version
    event = world.events.get(world.tenant_id, f"revio-{_last_event_id(control)}")
    assert event is not None and event.status == "done"
    # Neither Rev.io's secrets nor the receiver's token is in any log line or log record.
    token = connected.revio_receiver_path.rsplit("/", 1)[1]
    logged = capsys.readouterr().out + "\n".join(str(vars(record)) for record in caplog.records)
    assert "revio notification queued" in logged
    for secret in (EMULATOR.password, EMULATOR.subscription_key, token):
        assert secret not in logged
    control.close()
    adapter.close()


def _dependencies(world: PushWorld) -> PushDependencies:
    return world.service._deps


def _last_event_id(control: httpx.Client) -> str:
    notifications = control.get("/_emulator/notifications").json()["items"]
    return str(notifications[-1]["event_id"])
