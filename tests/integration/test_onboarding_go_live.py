"""The go-live floor: documents dated before go-live already exist in QBO and are linked, never created."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from qbosync.store.events import ReasonCode
from qbosync.store.onboarding import PlanAction
from qbosync.store.pull_queue import PullQueue
from qbosync.store.queues import PushQueue
from qbosync.sync.bulk.documents import match_documents
from qbosync.sync.bulk.models import RunConfig
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.plan import plan_after_pages
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.configuration import OnboardingSettings, TenantSettings
from qbosync.sync.push.go_live import GO_LIVE_PARKED_KEY
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.requeue import EventRequeue
from tests.support.push_world import PushWorld, push_world

GO_LIVE = date.today() - timedelta(days=30)
BEFORE_GO_LIVE = GO_LIVE - timedelta(days=10)


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world() as built:
        built.configure(TenantSettings(onboarding=OnboardingSettings(go_live_date=GO_LIVE)))
        yield built


def _legacy_invoice_in_qbo(world: PushWorld, invoice: dict[str, Any], *, number: str) -> dict[str, Any]:
    """The invoice as the vendor's earlier integration wrote it into QBO, before qbosync."""
    customer = world.linked("Customer", invoice["customer_id"])
    item = world.qbo_rows("Item", "Type = 'Service'")[0]
    return world.qbo.create(
        "Invoice",
        {
            "DocNumber": number,
            "TxnDate": invoice["issue_date"],
            "CustomerRef": {"value": customer.qbo_id},
            "Line": [
                {
                    "Amount": invoice["total"],
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
                }
            ],
        },
        f"legacy-{invoice['id']}",
    )


def _customer_in_qbo(world: PushWorld) -> str:
    """A source customer already in QBO: an invoice after go-live brought it there."""
    recent = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    return str(recent["customer_id"])


def test_given_an_invoice_from_before_go_live_when_edited_and_paid_then_only_the_existing_qbo_invoice_changes(
    world: PushWorld,
) -> None:
    customer_id = _customer_in_qbo(world)
    old = world.new_invoice(customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat())
    world.held_webhooks()  # the vendor's old integration had it: its creation is not news to qbosync
    legacy = _legacy_invoice_in_qbo(world, old, number=old["number"])
    invoices_before = len(world.qbo_rows("Invoice"))

    edited = world.change(
        "PUT", f"invoices/{old['id']}", {"lines": [{"product_id": world.product_ids()[0], "quantity": "4"}]}
    )
    world.deliver_all()
    world.drain()
    world.pay_in_full(edited)

    assert len(world.qbo_rows("Invoice")) == invoices_before
    current = world.qbo.read("Invoice", legacy["Id"])
    assert Decimal(str(current["TotalAmt"])) == Decimal(edited["total"])
    assert current["DocNumber"] == old["number"], "the invoice keeps the number it had in QBO"
    assert Decimal(str(current["Balance"])) == Decimal(0)
    link = world.linked("Invoice", old["id"])
    assert link.qbo_id == legacy["Id"] and link.origin == "matched"
    paid = world.source.list_payments().items[0]
    payment = world.qbo.read("Payment", world.linked("Payment", paid.id).qbo_id)
    applied = [txn["TxnId"] for line in payment["Line"] for txn in line["LinkedTxn"]]
    assert applied == [legacy["Id"]]


def test_given_a_payment_of_a_pre_go_live_invoice_when_pushed_first_then_it_applies_to_the_existing_invoice(
    world: PushWorld,
) -> None:
    customer_id = _customer_in_qbo(world)
    old = world.new_invoice(
        customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat(), number="INV-880001"
    )
    world.held_webhooks()
    legacy = _legacy_invoice_in_qbo(world, old, number="880001")
    invoices_before = len(world.qbo_rows("Invoice"))

    world.pay_in_full(old)

    assert len(world.qbo_rows("Invoice")) == invoices_before
    assert world.linked("Invoice", old["id"]).qbo_id == legacy["Id"]
    assert Decimal(str(world.qbo.read("Invoice", legacy["Id"])["Balance"])) == Decimal(0)


def test_given_a_pre_go_live_invoice_missing_from_qbo_when_it_changes_then_it_fails_with_a_reason_code(
    world: PushWorld,
) -> None:
    customer_id = _customer_in_qbo(world)
    old = world.new_invoice(customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat())
    invoices_before = len(world.qbo_rows("Invoice"))

    (delivery,) = world.deliver_all()
    world.drain()

    assert len(world.qbo_rows("Invoice")) == invoices_before
    event = world.events.get(world.tenant_id, delivery.event_id)
    assert event is not None and event.status == "failed"
    assert event.reason_code == ReasonCode.PRE_GO_LIVE_NO_MATCH
    assert world.links.get(world.tenant_id, "Invoice", old["id"]) is None


def test_given_two_qbo_invoices_fit_a_pre_go_live_invoice_when_it_changes_then_it_is_reported_ambiguous(
    world: PushWorld,
) -> None:
    customer_id = _customer_in_qbo(world)
    old = world.new_invoice(
        customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat(), number="INV-880002"
    )
    _legacy_invoice_in_qbo(world, old, number=old["number"])
    _legacy_invoice_in_qbo(world, {**old, "id": f"{old['id']}-copy"}, number="880002")

    (delivery,) = world.deliver_all()
    world.drain()

    event = world.events.get(world.tenant_id, delivery.event_id)
    assert event is not None and event.reason_code == ReasonCode.PRE_GO_LIVE_AMBIGUOUS


def test_given_no_go_live_date_when_an_invoice_is_pushed_then_it_waits_and_lands_once_the_date_is_set(
    main_table: str,
) -> None:
    with push_world() as world:
        world.configure()
        settings, version = world.configuration.read_settings(world.tenant_id)
        _, version = world.configuration.replace_settings(
            world.tenant_id,
            "tests",
            settings.model_copy(update={"onboarding": OnboardingSettings()}),
            version,
            lambda: None,  # type: ignore[arg-type, return-value]
        )
        world.new_invoice(lines=1)
        invoices_before = len(world.qbo_rows("Invoice"))

        (delivery,) = world.deliver_all()
        world.drain()

        event = world.events.get(world.tenant_id, delivery.event_id)
        assert event is not None and event.status == "parked"
        assert event.reason_code == ReasonCode.GO_LIVE_NOT_SET
        assert "onboarding.go_live_date" in (event.reason or "")
        assert len(world.qbo_rows("Invoice")) == invoices_before

        # When: the admin sets the go-live date (the settings routes then release what waited for it)
        world.configuration.replace_settings(
            world.tenant_id,
            "tests",
            settings.model_copy(update={"onboarding": OnboardingSettings(go_live_date=BEFORE_GO_LIVE)}),
            version,
            lambda: None,  # type: ignore[arg-type, return-value]
        )
        release = ParkedRelease(
            world.events,
            EventRequeue(push_queue=PushQueue(queue_url=world.queue_url), pull_queue=PullQueue()),
        )
        released = release.release(world.tenant_id, GO_LIVE_PARKED_KEY)
        world.drain()

        event = world.events.get(world.tenant_id, delivery.event_id)
        assert released == 1
        assert event is not None and event.status == "done"
        assert len(world.qbo_rows("Invoice")) == invoices_before + 1


def test_given_document_matching_from_a_date_when_the_initial_sync_runs_then_later_edits_update_qbo_documents(
    world: PushWorld,
) -> None:
    customer_id = _customer_in_qbo(world)
    old = world.new_invoice(
        customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat(), number="INV-880003"
    )
    missing = world.new_invoice(customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat())
    world.held_webhooks()
    legacy = _legacy_invoice_in_qbo(world, old, number="880003")
    settings, _version = world.configuration.read_settings(world.tenant_id)
    onboarding = settings.onboarding.model_copy(update={"match_documents_from": BEFORE_GO_LIVE})
    context = PageContext(
        tenant_id=world.tenant_id,
        run_id="run-1",
        config=RunConfig(
            settings=settings.model_copy(update={"onboarding": onboarding}),
            run_started_at=datetime.now(UTC),
        ),
        qbo=world.qbo,
        source=world.source,
        links=world.links,
        clock=lambda: datetime.now(UTC),
    )

    tally = match_documents(context)

    assert tally is not None and tally.matched == 1
    assert {(s.source_id, s.code) for s in tally.skipped_reasons} >= {
        (missing["id"], SkipReason.NO_DOCUMENT_MATCH)
    }
    assert world.linked("Invoice", old["id"]).qbo_id == legacy["Id"]
    invoices_before = len(world.qbo_rows("Invoice"))
    edited = world.change(
        "PUT", f"invoices/{old['id']}", {"lines": [{"product_id": world.product_ids()[0], "quantity": "2"}]}
    )
    world.deliver_all()
    world.drain()
    assert len(world.qbo_rows("Invoice")) == invoices_before
    assert Decimal(str(world.qbo.read("Invoice", legacy["Id"])["TotalAmt"])) == Decimal(edited["total"])


def test_given_document_matching_when_planned_then_the_run_does_what_the_plan_says_with_the_reads_it_said(
    world: PushWorld,
) -> None:
    customer_id = _customer_in_qbo(world)
    old = world.new_invoice(
        customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat(), number="INV-880004"
    )
    missing = world.new_invoice(customer_id=customer_id, lines=1, issue_date=BEFORE_GO_LIVE.isoformat())
    world.held_webhooks()
    legacy = _legacy_invoice_in_qbo(world, old, number="880004")
    settings, _version = world.configuration.read_settings(world.tenant_id)
    onboarding = settings.onboarding.model_copy(update={"match_documents_from": BEFORE_GO_LIVE})
    context = PageContext(
        tenant_id=world.tenant_id,
        run_id="run-1",
        config=RunConfig(
            settings=settings.model_copy(update={"onboarding": onboarding}),
            run_started_at=datetime.now(UTC),
        ),
        qbo=world.qbo,
        source=world.source,
        links=world.links,
        clock=lambda: datetime.now(UTC),
    )

    planned, plan_reads = plan_after_pages(context, {}, {})
    tally = match_documents(context)

    by_id = {entry.source_id: entry for entry in planned if entry.entity == "Invoice"}
    assert by_id[old["id"]].action is PlanAction.MATCH and by_id[old["id"]].qbo_id == legacy["Id"]
    assert by_id[missing["id"]].action is PlanAction.SKIP
    assert by_id[missing["id"]].reason_code == SkipReason.NO_DOCUMENT_MATCH
    for entry in by_id.values():
        link = world.links.get(world.tenant_id, "Invoice", entry.source_id)
        if entry.action is PlanAction.MATCH:
            assert link is not None and link.qbo_id == entry.qbo_id
        elif entry.reason_code != SkipReason.ALREADY_LINKED:
            assert link is None, entry
    assert tally is not None and tally.qbo_reads == plan_reads, "the plan said what matching would read"
