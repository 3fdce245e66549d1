"""QBO refusing a write (6210 closed period) and QBO writes whose answer never arrives."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.push_world import PushWorld, push_world

CLOSED_BEFORE = "2025-01-01"


class ClosedBooks(httpx.BaseTransport):
    """QBO's closed-period rule (the sandbox has none): invoices dated before the close get 6210."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/invoice"):
            body = json.loads(request.read() or b"{}")
            if str(body.get("TxnDate", "9999")) < CLOSED_BEFORE:
                fault = {
                    "Fault": {
                        "Error": [
                            {
                                "Message": "Account Period Closed",
                                "Detail": "The account period has closed and the books are locked.",
                                "code": "6210",
                            }
                        ],
                        "type": "ValidationFault",
                    }
                }
                return httpx.Response(400, json=fault, request=request)
        return self._inner.handle_request(request)


class DepositedPayments(httpx.BaseTransport):
    """QBO's rule for deposited payments (the sandbox has no deposits): voiding one gets 6540."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/payment") and request.url.params.get("include") == "void":
            fault = {
                "Fault": {
                    "Error": [
                        {
                            "Message": "Deposited transaction",
                            "Detail": "Delete the deposit first.",
                            "code": "6540",
                        }
                    ],
                    "type": "ValidationFault",
                }
            }
            return httpx.Response(400, json=fault, request=request)
        return self._inner.handle_request(request)


class LostAnswers(httpx.BaseTransport):
    """The first ``drops`` invoice writes reach QBO and commit, but their answers are lost."""

    def __init__(self, inner: httpx.BaseTransport, drops: int) -> None:
        self._inner = inner
        self.drops = drops

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/invoice") and self.drops > 0:
            self.drops -= 1
            raise httpx.ReadError("connection dropped after the request was sent", request=request)
        return response


@pytest.fixture
def closed_world(main_table: str) -> Iterator[PushWorld]:
    with push_world(wrap_qbo_transport=ClosedBooks) as built:
        built.configure()
        yield built


@pytest.fixture
def lossy_world(main_table: str) -> Iterator[PushWorld]:
    with push_world(
        qbo_max_attempts=2, wrap_qbo_transport=lambda inner: LostAnswers(inner, drops=2)
    ) as built:
        built.configure()
        yield built


def test_given_an_invoice_dated_in_a_closed_period_when_pushed_then_the_event_fails_with_6210(
    closed_world: PushWorld,
) -> None:
    invoice = closed_world.new_invoice(lines=1, issue_date="2024-06-30")
    (delivery,) = closed_world.deliver_all()

    closed_world.drain()

    event = closed_world.events.get(closed_world.tenant_id, delivery.event_id)
    assert event is not None and event.status == "failed"
    assert event.reason_code == "qbo_closed_period"
    assert event.qbo_fault is not None and event.qbo_fault.code == "6210"
    assert closed_world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'") == []
    assert closed_world.links.get(closed_world.tenant_id, "Invoice", invoice["id"]) is None


def test_given_a_deposited_payment_when_voided_in_the_source_then_the_event_fails_with_6540(
    main_table: str,
) -> None:
    with push_world(wrap_qbo_transport=DepositedPayments) as world:
        world.configure()
        invoice = world.new_invoice(lines=1)
        payment = world.pay_in_full(invoice)

        world.change("POST", f"payments/{payment['id']}/void")
        (delivery,) = world.deliver_all()
        world.drain()

        event = world.events.get(world.tenant_id, delivery.event_id)
        assert event is not None and event.status == "failed"
        assert event.reason_code == "qbo_deposited_transaction"
        assert event.qbo_fault is not None and event.qbo_fault.code == "6540"
        (kept,) = world.qbo_rows("Payment", f"PaymentRefNum = '{payment['number']}'")
        assert str(kept["TotalAmt"]) == str(float(invoice["total"]))


def test_given_every_answer_to_a_create_is_lost_when_pushed_then_it_is_found_by_doc_number_not_written_twice(
    lossy_world: PushWorld,
) -> None:
    invoice = lossy_world.new_invoice(lines=1)
    (delivery,) = lossy_world.deliver_all()

    lossy_world.drain()

    rows = lossy_world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'")
    assert len(rows) == 1
    link = lossy_world.links.get(lossy_world.tenant_id, "Invoice", invoice["id"])
    assert link is not None and link.qbo_id == rows[0]["Id"]
    assert lossy_world.qbo_writes("POST invoice") == 2  # the lost write and its replay, then a look
    event = lossy_world.events.get(lossy_world.tenant_id, delivery.event_id)
    assert event is not None and event.status == "done" and event.attempts == 1
