"""``make demo SOURCE=revio``: the demo with Rev.io billing as the tenant's source system.

The Rev.io emulator (``local/revio_emulator``) plays Rev.io; the Rev.io adapter (``qbosync.source.revio``)
reads and writes it; the contract front (``local/revio_emulator/contract_front.py``) serves the adapter as
the source contract on a loopback port, and is registered with the emulator as the tenant's Rev.io webhook
receiver (the ``X-Hook-Secret`` handshake included). Each Rev.io notification is re-read through the adapter
and forwarded to the front door as a signed contract webhook. The tenant's record is pointed at the front,
so the runtime's push, pull and bulk flows reach Rev.io through the adapter. Documents are changed the way
someone in Rev.io would: through the emulator's control API (bills and their charges, payments, credits).
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import uvicorn

from local.demo.clients import HTTP_TIMEOUT_SECONDS, SourceSystem, _expect, _json_object
from local.demo.narration import StepFailed
from local.revio_emulator.app import EmulatorConfig, build_app
from local.revio_emulator.contract_front import FrontTenant, build_front
from local.source_sandbox.inprocess import in_process_client

_STARTUP_SECONDS = 30.0


class RevioSource(SourceSystem):
    """The demo's source when it is Rev.io: reads through the contract front, changes through the emulator."""

    card_method = "CREDIT_CARD"
    card_label = "credit card"
    bills_one_time_products = False

    def __init__(self, front_url: str, tenant_id: str, api_key: str, emulator: httpx.Client) -> None:
        super().__init__(front_url, tenant_id, api_key)
        self.control.close()
        self.emulator = emulator

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        if collection == "invoices":
            bill = self._control(
                "POST", "/bills", {"customer_id": int(body["customer_id"]), "lines": _lines(body)}
            )
            return self.read("invoices", str(bill["bill_id"]))
        if collection == "payments":
            applied = body.get("applied_to") or []
            payment = self._control(
                "POST",
                "/Payments",
                {
                    "customer_id": int(body["customer_id"]),
                    "amount": str(body["amount"]),
                    "payment_type": body["method"],
                    "bill_id": int(applied[0]["invoice_id"]) if len(applied) == 1 else None,
                    "reference_number": body.get("reference"),
                },
            )
            return self.read("payments", str(payment["payment_id"]))
        if collection == "credit-notes":
            amount = sum((self._line_amount(line) for line in body["lines"]), Decimal("0"))
            credit = self._control(
                "POST",
                "/Credits",
                {
                    "customer_id": int(body["customer_id"]),
                    "amount": str(amount),
                    "credit_type": "WRITE_OFF" if body.get("kind") == "write_off" else "CREDIT",
                    "bill_id": None,
                    "description": "Service credit",
                    "status": "OPEN",
                },
            )
            return self.read("credit-notes", str(credit["credit_id"]))
        raise StepFailed(f"the Rev.io demo does not create {collection}")

    def change(self, collection: str, object_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if collection != "invoices" or set(body) != {"lines"}:
            raise StepFailed(
                f"the Rev.io demo changes only a bill's charges, not {collection} {sorted(body)}"
            )
        self._control("PUT", f"/bills/{object_id}/lines", {"lines": _lines(body)})
        return self.read("invoices", object_id)

    def delete(self, collection: str, object_id: str) -> dict[str, Any]:
        if collection != "invoices":
            raise StepFailed(f"the Rev.io demo deletes only bills, not {collection}")
        self._control("PATCH", f"/Bills/{object_id}", {"status": "DELETED", "_action": "deleted"})
        return self.read("invoices", object_id)

    def close(self) -> None:
        self.api.close()

    def _line_amount(self, line: dict[str, Any]) -> Decimal:
        price = line.get("unit_price") or self.read("products", str(line["product_id"]))["unit_price"]
        return Decimal(str(line["quantity"])) * Decimal(str(price))

    def _control(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.emulator.request(method, f"/_emulator{path}", json=body)
        return _json_object(_expect(answer, 200, 201))


def _lines(body: dict[str, Any]) -> list[dict[str, int]]:
    return [
        {"product_id": int(line["product_id"]), "quantity": int(Decimal(str(line["quantity"])))}
        for line in body["lines"]
    ]


class RevioDemoSource:
    """Starts emulator, adapter and contract front; registers the Rev.io receiver; repoints the tenant."""

    def __init__(self, front_door_url: str, tenant_id: str, *, customers: int, products: int) -> None:
        self.front_door_url = front_door_url
        self.tenant_id = tenant_id
        # Documents are dated from now on, after the go-live date the demo sets (today).
        self.config = EmulatorConfig(
            customers=customers, products=products, bills=12, clock_start=datetime.now(UTC)
        )
        self.front_url = ""
        self._api_key = ""
        self._stack = ExitStack()
        self._emulator: httpx.Client | None = None
        self._server: uvicorn.Server | None = None

    def start(self, api_key: str, webhook_secret: str) -> str:
        """Everything up; the front's URL, which the tenant's source config now names."""
        from qbosync.source.config import TenantSourceConfig
        from qbosync.source.revio.adapter import RevioAdapter
        from qbosync.source.revio.client import RevioClient, RevioCredentials
        from qbosync.source.revio.webhooks import RevioNotificationIntake, RevioWebhookRegistration
        from qbosync.store.tenants import TenantRepository

        self._api_key = api_key
        emulator = self._stack.enter_context(
            in_process_client(build_app(self.config), base_url="http://revio")
        )
        self._emulator = emulator
        credentials = RevioCredentials(
            self.config.username, self.config.client_code, self.config.password, self.config.subscription_key
        )
        client = RevioClient(credentials, base_url="http://revio/v1", http=emulator)
        adapter = RevioAdapter(self.tenant_id, client)
        tenant = FrontTenant(
            self.tenant_id, api_key, webhook_secret, adapter, RevioNotificationIntake(self.tenant_id, adapter)
        )
        webhooks = self._stack.enter_context(httpx.Client(timeout=HTTP_TIMEOUT_SECONDS))
        target = f"{self.front_door_url}/webhooks/source/{self.tenant_id}"

        def deliver(body: bytes, headers: dict[str, str]) -> None:
            webhooks.post(target, content=body, headers=headers).raise_for_status()

        self.front_url = self._serve(build_front(tenant, deliver))
        registration = RevioWebhookRegistration(client)
        receiver_id = registration.register(f"{self.front_url}/revio/webhooks", description="qbosync demo")
        registration.subscribe(receiver_id)
        stats = _json_object(_expect(emulator.get("/_emulator/stats"), 200))
        if not all(receiver["active"] for receiver in stats["receivers"]):
            raise StepFailed("the Rev.io receiver did not pass the X-Hook-Secret handshake")
        tenants = TenantRepository()
        tenants.register(
            tenants.get(self.tenant_id).model_copy(
                update={"source": TenantSourceConfig(base_url=self.front_url)}
            )
        )
        return self.front_url

    def source_system(self, api_key: str) -> SourceSystem:
        assert self._emulator is not None, "start() first"
        return RevioSource(self.front_url, self.tenant_id, api_key, self._emulator)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._stack.close()

    def _serve(self, app: Any) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        host, port = listener.getsockname()[:2]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._server = server
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        self._stack.callback(thread.join, 10)
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise StepFailed("the Rev.io contract front did not start")
            time.sleep(0.05)
        return f"http://{host}:{port}"
