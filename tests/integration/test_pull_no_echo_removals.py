"""No echo for the push's removals and credit applications: QBO's webhooks of what the push deleted,
voided or applied come back to the pull worker, which recognises them from the links alone.

Each test pushes documents with the real push service, pulls the webhooks of those writes, then makes
one more source change, pushes it and pulls its webhooks: no failed pull event, nothing written at
either sandbox, and the echoed record is not read back from QBO (counted at ``/_sandbox/stats``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any, Literal

from qbosync.store.config import (
    AuditRepository,
    MappingRepository,
    ReferenceCacheRepository,
    SettingsRepository,
)
from qbosync.store.links import LinkRepository, LinkState
from qbosync.sync.configuration import ConfigurationService, MappingKind, MappingRowInput, QboDefaults
from qbosync.sync.push.service import PushService
from qbosync.sync.records.messages import PushMessage
from qbosync.sync.reference import ReferenceCatalog
from tests.support.pull_world import TENANT, PullWorld, pull_world_fixture  # noqa: F401 (fixture)

_EVENT_NUMBERS = count(1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _configuration() -> ConfigurationService:
    return ConfigurationService(SettingsRepository(), MappingRepository(), AuditRepository(), _utc_now)


def _push_service(world: PullWorld, deletion_policy: Literal["delete", "void"] = "void") -> PushService:
    """The push worker's service: unmatched products on one QBO service item, payment methods mapped."""
    company = world.qbo_sandbox.companies[world.realm_id]
    item_id = next(row["Id"] for row in company.records["Item"].values() if row.get("Type") == "Service")
    world.settings = world.settings.model_copy(
        update={
            "deletion_policy": deletion_policy,
            "qbo_defaults": QboDefaults(
                unmatched_one_time_item_id=item_id, unmatched_recurring_item_id=item_id
            ),
        }
    )
    world.store_settings()
    method = next(iter(company.records["PaymentMethod"].values()))
    configuration = _configuration()
    catalog = ReferenceCatalog(TENANT, world.qbo(), ReferenceCacheRepository(), time.time)
    _rows, version = configuration.read_mapping(TENANT, MappingKind.PAYMENT_METHODS)
    configuration.replace_mapping(
        TENANT,
        "tests",
        MappingKind.PAYMENT_METHODS,
        rows=[
            MappingRowInput(source_key=entry.code, qbo_id=str(method["Id"]))
            for entry in world.source().list_payment_methods()
        ],
        expected_version=version,
        catalog=lambda: catalog,
    )
    return world.push_service(configuration)


def _source_change(
    world: PullWorld, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A change in the source; its webhook is not sent (the test hands the change to the push itself)."""
    response = world.source_http.request(
        method, f"/_sandbox/tenants/{TENANT}/{path}?deliver=false", json=body
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _push(
    push: PushService, kind: Literal["invoice", "payment", "credit_note"], changed: dict[str, Any]
) -> None:
    now = _utc_now()
    outcome = push.apply(
        PushMessage(
            event_id=f"evt-{next(_EVENT_NUMBERS)}",
            tenant_id=TENANT,
            kind=kind,
            action="updated",
            source_id=changed["id"],
            source_version=changed["version"],
            occurred_at=now,
            received_at=now,
        )
    )
    assert outcome.status == "done", outcome.reason


def _pull(world: PullWorld) -> None:
    world.deliver_qbo_webhooks()
    assert world.run_pull_worker() == []


def _pushed_invoice(world: PullWorld, push: PushService) -> dict[str, Any]:
    """A new source invoice, pushed to QBO; the webhooks of that write already pulled."""
    invoice = _source_change(
        world,
        "POST",
        "invoices",
        {
            "customer_id": world.source().list_customers().items[0].id,
            "lines": [{"product_id": world.default_product, "quantity": "2", "unit_price": "50.00"}],
        },
    )
    _push(push, "invoice", invoice)
    _pull(world)
    return invoice


def _qbo_reads(world: PullWorld, entity: str) -> int:
    stats = world.qbo_http.get("/_sandbox/stats").json()
    return int(stats["requests_by_endpoint"].get(f"GET {entity.lower()}", 0))


def _failed_pull_reasons(world: PullWorld) -> list[str]:
    """Each failed pull event as ``<reason code>: <reason>``."""
    return [
        f"{event.reason_code}: {event.reason}"
        for event in world.events("failed")
        if event.kind.startswith("qbo.")
    ]


def _writes(world: PullWorld) -> tuple[int, int]:
    return world.qbo_writes(), world.source_creations()


def _qbo_id(entity: str, source_id: str) -> str:
    link = LinkRepository().get(TENANT, entity, source_id)
    assert link is not None
    return link.qbo_id


def test_given_an_invoice_the_push_deleted_when_its_qbo_webhook_is_pulled_then_it_is_an_echo_not_drift(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world, deletion_policy="delete")
    invoice = _pushed_invoice(pull_world, push)
    qbo_id = _qbo_id("Invoice", invoice["id"])
    _push(push, "invoice", _source_change(pull_world, "DELETE", f"invoices/{invoice['id']}"))
    assert qbo_id not in pull_world.qbo_sandbox.companies[pull_world.realm_id].records["Invoice"]
    before, reads = _writes(pull_world), _qbo_reads(pull_world, "Invoice")

    _pull(pull_world)

    assert _failed_pull_reasons(pull_world) == []
    assert _writes(pull_world) == before
    assert _qbo_reads(pull_world, "Invoice") == reads


def test_given_an_invoice_the_push_voided_when_its_qbo_webhook_is_pulled_then_it_is_an_echo_and_not_read(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    _push(push, "invoice", _source_change(pull_world, "POST", f"invoices/{invoice['id']}/void"))
    link = LinkRepository().get(TENANT, "Invoice", invoice["id"])
    assert link is not None and link.state is LinkState.VOIDED
    before, reads = _writes(pull_world), _qbo_reads(pull_world, "Invoice")

    _pull(pull_world)

    assert _failed_pull_reasons(pull_world) == []
    assert _writes(pull_world) == before
    assert _qbo_reads(pull_world, "Invoice") == reads


def test_given_a_payment_the_push_voided_when_its_qbo_webhook_is_pulled_then_it_is_an_echo_and_not_read(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    payment = _source_change(
        pull_world,
        "POST",
        "payments",
        {
            "customer_id": invoice["customer_id"],
            "amount": invoice["total"],
            "method": pull_world.source().list_payment_methods()[0].code,
            "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        },
    )
    _push(push, "payment", payment)
    _pull(pull_world)
    _push(push, "payment", _source_change(pull_world, "POST", f"payments/{payment['id']}/void"))
    link = LinkRepository().get(TENANT, "Payment", payment["id"])
    assert link is not None and link.state is LinkState.VOIDED
    before, reads = _writes(pull_world), _qbo_reads(pull_world, "Payment")

    _pull(pull_world)

    assert _failed_pull_reasons(pull_world) == []
    assert _writes(pull_world) == before
    assert _qbo_reads(pull_world, "Payment") == reads


def test_given_a_credit_note_the_push_applied_when_its_qbo_webhooks_are_pulled_then_the_payment_is_an_echo(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    note = _source_change(
        pull_world,
        "POST",
        "credit-notes",
        {
            "kind": "credit",
            "customer_id": invoice["customer_id"],
            "lines": [{"product_id": pull_world.default_product, "quantity": "1", "unit_price": "10.00"}],
            "applied_to": [{"invoice_id": invoice["id"], "amount": "10.00"}],
            "status": "applied",
        },
    )
    _push(push, "credit_note", note)
    application = pull_world.qbo_sandbox.companies[pull_world.realm_id].records["Payment"][
        _qbo_id("CreditApplication", note["id"])
    ]
    assert Decimal(str(application["TotalAmt"])) == 0
    before, reads = _writes(pull_world), _qbo_reads(pull_world, "Payment")

    _pull(pull_world)

    assert _failed_pull_reasons(pull_world) == []
    assert _writes(pull_world) == before
    assert _qbo_reads(pull_world, "Payment") == reads
    pulled = {event.kind for event in pull_world.events("done")}
    assert "qbo.payment" in pulled


def test_given_an_applied_credit_note_the_push_deleted_when_its_qbo_webhooks_are_pulled_then_no_drift(
    pull_world: PullWorld,
) -> None:
    push = _push_service(pull_world)
    invoice = _pushed_invoice(pull_world, push)
    note = _source_change(
        pull_world,
        "POST",
        "credit-notes",
        {
            "kind": "credit",
            "customer_id": invoice["customer_id"],
            "lines": [{"product_id": pull_world.default_product, "quantity": "1", "unit_price": "10.00"}],
            "applied_to": [{"invoice_id": invoice["id"], "amount": "10.00"}],
            "status": "applied",
        },
    )
    _push(push, "credit_note", note)
    _pull(pull_world)
    _push(push, "credit_note", _source_change(pull_world, "DELETE", f"credit-notes/{note['id']}"))
    before = _writes(pull_world)
    reads = (_qbo_reads(pull_world, "Payment"), _qbo_reads(pull_world, "CreditMemo"))

    _pull(pull_world)

    assert _failed_pull_reasons(pull_world) == []
    assert _writes(pull_world) == before
    assert (_qbo_reads(pull_world, "Payment"), _qbo_reads(pull_world, "CreditMemo")) == reads
