"""Money right to the cent: currencies, sales tax (with and without Automated Sales Tax), variance,
discounts and QBO's field limits, pushed through the worker into the QBO sandbox."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from local.qbo_sandbox.sales_tax import AST_RATES
from qbosync.store.events import EventStatus, SyncEvent, WarningCode
from qbosync.sync.configuration import MoneySettings, TenantSettings
from qbosync.sync.retry.parked import ParkedRelease
from qbosync.sync.retry.requeue import EventRequeue
from qbosync.sync.variance import accept_variance
from tests.support.push_world import PushWorld, push_world, utc_now

CENT = Decimal("0.01")


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(company_books_ttl=timedelta(0)) as built:
        built.configure()
        yield built


def _qbo_preferences(world: PushWorld, **change: Any) -> None:
    response = world.qbo_http.post(f"/_sandbox/realms/{world.realm_id}/preferences", json=change)
    assert response.status_code == 200, response.text


def _pushed(world: PushWorld) -> None:
    """Deliver the source's held webhooks and let the worker drain the queue."""
    world.deliver_all()
    world.drain()


def _event_of(world: PushWorld, source_id: str) -> SyncEvent:
    statuses: tuple[EventStatus, ...] = ("done", "done_with_variance", "failed", "parked")
    for status in statuses:
        for event in world.events.list(world.tenant_id, status, limit=100).items:
            if event.source_object_id == source_id:
                return event
    raise AssertionError(f"no event for {source_id}")


def _qbo_invoice(world: PushWorld, source_id: str) -> dict[str, Any]:
    return world.qbo.read("Invoice", world.linked("Invoice", source_id).qbo_id)


def _single_line(world: PushWorld, **line: Any) -> list[dict[str, Any]]:
    return [{"product_id": world.product_ids()[0], "quantity": "3", "unit_price": "33.33", **line}]


# Currencies


def test_given_a_home_currency_invoice_when_pushed_then_qbo_books_it_in_the_home_currency(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=2)

    _pushed(world)

    qbo_invoice = _qbo_invoice(world, invoice["id"])
    assert qbo_invoice["CurrencyRef"]["value"] == "USD"
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(invoice["total"])
    assert _event_of(world, invoice["id"]).status == "done"


def test_given_multi_currency_when_a_eur_invoice_with_a_rate_is_pushed_then_qbo_has_it_in_eur_at_that_rate(
    world: PushWorld,
) -> None:
    _qbo_preferences(world, multi_currency=True)
    customer = world.first_customer_id(3)
    invoice = world.new_invoice(customer, lines=2, currency="EUR", exchange_rate="1.0825")

    _pushed(world)

    qbo_invoice = _qbo_invoice(world, invoice["id"])
    assert qbo_invoice["CurrencyRef"]["value"] == "EUR"
    assert Decimal(str(qbo_invoice["ExchangeRate"])) == Decimal("1.0825")
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(invoice["total"])
    expected_home = (Decimal(invoice["total"]) * Decimal("1.0825")).quantize(CENT, rounding=ROUND_HALF_UP)
    assert Decimal(str(qbo_invoice["HomeTotalAmt"])) == expected_home
    qbo_customer = world.qbo.read("Customer", qbo_invoice["CustomerRef"]["value"])
    assert qbo_customer["CurrencyRef"]["value"] == "EUR"


def test_given_a_eur_payment_without_a_rate_when_pushed_then_qbo_s_rate_for_its_date_is_sent_never_1(
    world: PushWorld,
) -> None:
    _qbo_preferences(world, multi_currency=True, exchange_rates={"EUR": "1.1"})
    customer = world.first_customer_id(4)
    invoice = world.new_invoice(customer, lines=1, currency="EUR", exchange_rate="1.1")
    _pushed(world)
    payment = world.change(
        "POST",
        "payments",
        {
            "customer_id": customer,
            "amount": invoice["total"],
            "method": "ACH",
            "currency": "EUR",
            "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        },
    )

    _pushed(world)

    qbo_payment = world.qbo.read("Payment", world.linked("Payment", payment["id"]).qbo_id)
    assert qbo_payment["CurrencyRef"]["value"] == "EUR"
    assert Decimal(str(qbo_payment["ExchangeRate"])) == Decimal("1.1")
    assert Decimal(str(_qbo_invoice(world, invoice["id"])["Balance"])) == 0


def test_given_multi_currency_is_off_when_a_eur_invoice_is_pushed_then_it_fails_visibly_and_is_not_booked(
    world: PushWorld,
) -> None:
    invoice = world.new_invoice(lines=1, currency="EUR")

    _pushed(world)

    event = _event_of(world, invoice["id"])
    assert event.status == "failed"
    assert event.reason_code == "currency_not_enabled"
    assert "EUR" in (event.reason or "")
    assert world.links.get(world.tenant_id, "Invoice", invoice["id"]) is None
    assert world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'") == []


def test_given_a_usd_customer_in_qbo_when_its_eur_invoice_is_pushed_then_it_fails_as_a_currency_mismatch(
    world: PushWorld,
) -> None:
    _qbo_preferences(world, multi_currency=True)
    customer = world.first_customer_id(5)
    world.new_invoice(customer, lines=1)  # pushed first: QBO creates the customer in USD
    _pushed(world)

    second = world.new_invoice(customer, lines=1, currency="EUR", exchange_rate="1.05")
    _pushed(world)

    event = _event_of(world, second["id"])
    assert event.status == "failed" and event.reason_code == "currency_mismatch"


# Tax and variance


def test_given_no_automated_tax_when_the_source_charged_tax_then_qbo_s_total_is_the_source_s(
    world: PushWorld,
) -> None:
    invoice = world.change(
        "POST",
        "invoices",
        {"customer_id": world.first_customer_id(), "lines": _single_line(world), "tax_total": "8.25"},
    )

    _pushed(world)

    qbo_invoice = _qbo_invoice(world, invoice["id"])
    assert Decimal(str(qbo_invoice["TxnTaxDetail"]["TotalTax"])) == Decimal("8.25")
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(invoice["total"]) == Decimal("108.24")
    assert _event_of(world, invoice["id"]).status == "done"


def _ast_tax(amount: Decimal, state: str = "CA") -> Decimal:
    """What the sandbox's AST charges in ``state`` (each component rounded to the cent)."""
    return sum(
        ((amount * part / 100).quantize(CENT, rounding=ROUND_HALF_UP) for part in AST_RATES[state]),
        Decimal(0),
    )


def test_given_automated_tax_when_the_source_s_tax_is_qbo_s_then_the_push_is_done_and_qbo_chose_the_code(
    world: PushWorld,
) -> None:
    _qbo_preferences(world, automated_sales_tax=True)
    invoice = world.change(
        "POST",
        "invoices",
        {
            "customer_id": world.first_customer_id(),
            "lines": _single_line(world, tax_code="CA"),
            "tax_total": str(_ast_tax(Decimal("99.99"))),
        },
    )

    _pushed(world)

    qbo_invoice = _qbo_invoice(world, invoice["id"])
    [line] = [line for line in qbo_invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    assert line["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"
    assert "TxnTaxCodeRef" in qbo_invoice["TxnTaxDetail"]
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(invoice["total"])
    assert _event_of(world, invoice["id"]).status == "done"


def test_given_automated_tax_when_qbo_computes_other_tax_then_done_with_variance_lists_both_totals(
    world: PushWorld,
) -> None:
    _qbo_preferences(world, automated_sales_tax=True)
    qbo_tax = _ast_tax(Decimal("99.99"))
    source_tax = qbo_tax + CENT  # the source rounded its tax once, on the whole rate
    invoice = world.change(
        "POST",
        "invoices",
        {
            "customer_id": world.first_customer_id(),
            "lines": _single_line(world, tax_code="CA"),
            "tax_total": str(source_tax),
        },
    )

    _pushed(world)

    event = _event_of(world, invoice["id"])
    assert event.status == "done_with_variance"
    assert event.variance_totals is not None
    assert event.variance_totals.source_total == Decimal(invoice["total"])
    assert event.variance_totals.qbo_total == Decimal("99.99") + qbo_tax
    assert event.variance_totals.currency == "USD"
    listed = world.events.list(world.tenant_id, "done_with_variance").items
    assert [e.event_id for e in listed] == [event.event_id]


# Discounts and field limits


@pytest.mark.parametrize(
    ("document_discount", "line_discount"),
    [
        ({"percent": "10"}, None),
        ({"amount": "5.55"}, None),
        (None, {"percent": "15"}),
        (None, {"amount": "7.00"}),
    ],
    ids=["document-percent", "document-amount", "line-percent", "line-amount"],
)
def test_given_a_discount_when_the_invoice_is_pushed_then_qbo_s_total_is_the_source_s(
    world: PushWorld, document_discount: dict[str, str] | None, line_discount: dict[str, str] | None
) -> None:
    body: dict[str, Any] = {
        "customer_id": world.first_customer_id(),
        "lines": _single_line(world, discount=line_discount),
    }
    if document_discount:
        body["discount"] = document_discount
    invoice = world.change("POST", "invoices", body)

    _pushed(world)

    qbo_invoice = _qbo_invoice(world, invoice["id"])
    assert Decimal(str(qbo_invoice["TotalAmt"])) == Decimal(invoice["total"]) < Decimal("99.99")
    assert _event_of(world, invoice["id"]).status == "done"
    discounts = [line for line in qbo_invoice["Line"] if line["DetailType"] == "DiscountLineDetail"]
    assert len(discounts) == (1 if document_discount else 0)


def test_given_a_number_longer_than_qbo_holds_when_pushed_then_the_event_warns_it_was_shortened(
    world: PushWorld,
) -> None:
    number = "INV-2026-000000000123456789"
    invoice = world.new_invoice(lines=1, number=number)

    _pushed(world)

    qbo_invoice = _qbo_invoice(world, invoice["id"])
    assert len(qbo_invoice["DocNumber"]) == 21
    assert number in qbo_invoice["PrivateNote"]
    event = _event_of(world, invoice["id"])
    assert event.status == "done"
    assert [warning.code for warning in event.warnings] == [WarningCode.DOC_NUMBER_SHORTENED]


class _NoPullQueue:
    def send_all(self, bodies: Sequence[str]) -> None:
        raise AssertionError("a push event was sent to the pull queue")


def test_given_the_pause_policy_when_a_variance_is_accepted_then_the_held_pushes_go_through(
    world: PushWorld,
) -> None:
    world.configure(TenantSettings(money=MoneySettings(variance_policy="pause")))
    _qbo_preferences(world, automated_sales_tax=True)
    qbo_tax = _ast_tax(Decimal("99.99"))
    body = {"customer_id": world.first_customer_id(), "lines": _single_line(world, tax_code="CA")}
    off_by_a_cent = world.change("POST", "invoices", {**body, "tax_total": str(qbo_tax + CENT)})
    _pushed(world)
    held = world.change("POST", "invoices", {**body, "tax_total": str(qbo_tax)})
    _pushed(world)
    assert (_event_of(world, held["id"]).status, _event_of(world, held["id"]).reason_code) == (
        "parked",
        "paused_for_variance",
    )
    assert world.links.get(world.tenant_id, "Invoice", held["id"]) is None

    release = ParkedRelease(
        world.events, EventRequeue(push_queue=world.receiver.queue, pull_queue=_NoPullQueue())
    )
    accepted = accept_variance(
        world.events,
        release.release,
        world.tenant_id,
        _event_of(world, off_by_a_cent["id"]).event_id,
        utc_now(),
    )
    world.drain()

    assert accepted.released == 1
    assert _event_of(world, off_by_a_cent["id"]).status == "done"
    assert _event_of(world, held["id"]).status == "done"
    assert Decimal(str(_qbo_invoice(world, held["id"])["TotalAmt"])) == Decimal(held["total"])
