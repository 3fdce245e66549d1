"""``python -m local.revio_emulator.contract_check``: the source-contract kit against the Rev.io adapter,
in-process: kit → contract front → ``RevioAdapter`` → Rev.io emulator, with the front registered as the
tenant's Rev.io webhook receiver (handshake included) and forwarding signed contract events to the kit.
Prints the kit's report; exits 1 if a rule fails.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from anyio.from_thread import start_blocking_portal

from local.revio_emulator.app import EmulatorConfig, build_app
from local.revio_emulator.contract_front import FrontTenant, build_front
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.kit import KitOptions, KitReport, WebhookInbox, run_kit
from qbosync.source.revio.adapter import RevioAdapter
from qbosync.source.revio.client import RevioClient, RevioCredentials
from qbosync.source.revio.webhooks import RevioNotificationIntake, RevioWebhookRegistration

TENANT = "demo"
API_KEY = "sk_revio_front_demo"
WEBHOOK_SECRET = "whsec_revio_front_demo"  # noqa: S105 - a fixed local test secret


@dataclass
class RevioStack:
    """The emulator, the adapter over it, and the contract front over the adapter, all in-process."""

    front: httpx.Client
    emulator: httpx.Client
    adapter: RevioAdapter
    tenant: FrontTenant


class _LateBoundFront(httpx.AsyncBaseTransport):
    """The emulator's webhook target: the front is built after the emulator (it needs the adapter)."""

    def __init__(self) -> None:
        self.transport: httpx.ASGITransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.transport is not None, "the front is wired before the receiver is registered"
        return await self.transport.handle_async_request(request)


@contextmanager
def revio_stack(inbox: WebhookInbox | None, config: EmulatorConfig | None = None) -> Iterator[RevioStack]:
    """Emulator, adapter and front wired together; the receiver registered and subscribed."""
    config = config or EmulatorConfig(customers=30, products=10, bills=10)
    late = _LateBoundFront()
    with in_process_client(build_app(config, webhook_transport=late), base_url="http://revio") as emulator:
        credentials = RevioCredentials(
            config.username, config.client_code, config.password, config.subscription_key
        )
        client = RevioClient(credentials, base_url="http://revio/v1", http=emulator, sleep=lambda _: None)
        adapter = RevioAdapter(TENANT, client)
        tenant = FrontTenant(
            TENANT, API_KEY, WEBHOOK_SECRET, adapter, RevioNotificationIntake(TENANT, adapter)
        )

        def deliver(body: bytes, headers: dict[str, str]) -> None:
            if inbox is not None:
                inbox.accept({name.lower(): value for name, value in headers.items()}, body)

        front_app = build_front(tenant, deliver)
        late.transport = httpx.ASGITransport(app=front_app)
        registration = RevioWebhookRegistration(client)
        registration.subscribe(registration.register("http://front/revio/webhooks"))
        with start_blocking_portal() as _, in_process_client(front_app, base_url="http://front") as front:
            yield RevioStack(front, emulator, adapter, tenant)


def check_revio(*, webhook_timeout_seconds: float = 10.0) -> KitReport:
    inbox = WebhookInbox(WEBHOOK_SECRET)
    options = KitOptions(
        tenant_id=TENANT,
        api_key=API_KEY,
        inbox=inbox,
        page_limit=10,
        webhook_timeout_seconds=webhook_timeout_seconds,
        webhook_grace_seconds=0.2,
    )
    with revio_stack(inbox) as stack:
        return run_kit(stack.front, options)


def main() -> int:
    report = check_revio()
    print(report.render())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
