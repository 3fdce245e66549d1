"""Open updates, voids and deletes are settled on redelivery by reading QBO, not by trusting QBO to
replay a requestid: the worker dies around the write (before it is sent, or after QBO committed it and
before the outcome is recorded), QBO remembers or has forgotten the requestid, and the document still
ends written once. Also: two QBO records that share a number are told apart by the marker, the amount
and the date."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from qbosync.qbo.client import qbo_literal
from qbosync.store.links import LinkState
from qbosync.sync.configuration import TenantSettings
from tests.support.push_world import PushWorld, push_world

Matcher = Callable[[httpx.Request], bool]


class WorkerDied(Exception):
    """The worker died (timeout, memory) around a QBO write."""


class DiesAroundWrite(httpx.BaseTransport):
    """The worker dies around the next QBO request ``armed`` matches: before sending it (``before``),
    or after QBO committed it and before the answer is read; then QBO forgets every requestid
    (``forget``), as Intuit may have by the time the queue delivers the change again."""

    armed: Matcher | None = None
    before: bool = False
    forget: bool = True
    deaths: int = 0

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        armed = DiesAroundWrite.armed
        if armed is None or not armed(request):
            return self._inner.handle_request(request)
        DiesAroundWrite.armed = None
        DiesAroundWrite.deaths += 1
        if not DiesAroundWrite.before:
            self._inner.handle_request(request)
            if DiesAroundWrite.forget:
                forget = httpx.Request(
                    "POST", request.url.copy_with(path="/_sandbox/requestids/forget", query=b"")
                )
                self._inner.handle_request(forget).raise_for_status()
        raise WorkerDied("the worker died around a QBO write")


def update_of(entity: str) -> Matcher:
    def matches(request: httpx.Request) -> bool:
        if request.method != "POST" or not request.url.path.endswith(f"/{entity}"):
            return False
        if {"operation", "include"} & set(request.url.params.keys()):
            return False
        return "Id" in json.loads(request.content or b"{}")

    return matches


def operation_on(entity: str, operation: str) -> Matcher:
    """A void (``?operation=void``, or a Payment's ``?operation=update&include=void``) or a delete."""

    def matches(request: httpx.Request) -> bool:
        params = request.url.params
        named = params.get("include") if params.get("include") else params.get("operation")
        return request.url.path.endswith(f"/{entity}") and named == operation

    return matches


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    DiesAroundWrite.armed = None
    DiesAroundWrite.before = False
    DiesAroundWrite.forget = True
    DiesAroundWrite.deaths = 0
    with push_world(wrap_qbo_transport=DiesAroundWrite) as built:
        built.configure()
        yield built
    DiesAroundWrite.armed = None


def _pushed_invoice(world: PushWorld) -> dict[str, Any]:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    return invoice


def _edit_lines(world: PushWorld, invoice: dict[str, Any]) -> None:
    product = world.product_ids()[0]
    world.change("PUT", f"invoices/{invoice['id']}", {"lines": [{"product_id": product, "quantity": "7"}]})


def _nothing_open(world: PushWorld) -> bool:
    return list(world.ledger.ambiguous(world.tenant_id)) == []


@pytest.mark.integration
@pytest.mark.parametrize("forget", [True, False], ids=["intuit-forgot", "intuit-remembers"])
def test_given_an_update_committed_and_its_outcome_lost_when_redelivered_then_it_is_read_not_sent_again(
    world: PushWorld, forget: bool
) -> None:
    invoice = _pushed_invoice(world)
    _edit_lines(world, invoice)
    DiesAroundWrite.armed, DiesAroundWrite.forget = update_of("invoice"), forget
    posts_before = world.qbo_writes("POST invoice")

    world.deliver_all()
    world.drain()

    assert DiesAroundWrite.deaths == 1
    assert world.qbo_writes("POST invoice") == posts_before + 1  # the one that committed
    link = world.linked("Invoice", invoice["id"])
    current = world.qbo.read("Invoice", link.qbo_id)
    assert link.sync_token == str(current["SyncToken"])
    assert link.source_version == world.source.get_invoice(invoice["id"]).version
    assert float(current["Line"][0]["SalesItemLineDetail"]["Qty"]) == 7
    assert _nothing_open(world)


@pytest.mark.integration
def test_given_a_worker_that_died_before_sending_an_update_when_redelivered_then_the_update_is_sent_once(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    _edit_lines(world, invoice)
    DiesAroundWrite.armed, DiesAroundWrite.before = update_of("invoice"), True
    posts_before = world.qbo_writes("POST invoice")

    world.deliver_all()
    world.drain()

    assert DiesAroundWrite.deaths == 1
    assert world.qbo_writes("POST invoice") == posts_before + 1  # the cut-off one never reached QBO
    link = world.linked("Invoice", invoice["id"])
    current = world.qbo.read("Invoice", link.qbo_id)
    assert (link.sync_token, float(current["Line"][0]["SalesItemLineDetail"]["Qty"])) == (
        str(current["SyncToken"]),
        7,
    )
    assert _nothing_open(world)


@pytest.mark.integration
def test_given_an_update_whose_record_was_edited_in_qbo_meanwhile_when_redelivered_then_the_source_wins(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    _edit_lines(world, invoice)
    DiesAroundWrite.armed = update_of("invoice")
    world.deliver_all()
    with pytest.raises(AssertionError):
        world.drain(max_batches=1)  # the worker died; before the redelivery someone edits QBO
    qbo_id = world.linked("Invoice", invoice["id"]).qbo_id
    world.edit_in_qbo("Invoice", qbo_id, {"PrivateNote": "changed by hand"}, "accountant-edit-1")

    world.drain()

    current = world.qbo.read("Invoice", qbo_id)
    assert current["PrivateNote"].startswith(f"[qbosync:{invoice['id']}]")
    assert world.linked("Invoice", invoice["id"]).sync_token == str(current["SyncToken"])
    assert _nothing_open(world)


@pytest.mark.integration
@pytest.mark.parametrize("forget", [True, False], ids=["intuit-forgot", "intuit-remembers"])
def test_given_a_void_committed_and_its_outcome_lost_when_redelivered_then_it_is_read_not_sent_again(
    world: PushWorld, forget: bool
) -> None:
    invoice = _pushed_invoice(world)
    payment = world.pay_in_full(invoice)
    world.change("POST", f"payments/{payment['id']}/void")
    DiesAroundWrite.armed, DiesAroundWrite.forget = operation_on("payment", "void"), forget
    posts_before = world.qbo_writes("POST payment")

    world.deliver_all()
    world.drain()

    assert DiesAroundWrite.deaths == 1
    assert world.qbo_writes("POST payment") == posts_before + 1
    link = world.linked("Payment", payment["id"])
    assert link.state == LinkState.VOIDED
    assert float(world.qbo.read("Payment", link.qbo_id)["TotalAmt"]) == 0
    assert _nothing_open(world)


@pytest.mark.integration
def test_given_an_invoice_void_committed_and_forgotten_when_redelivered_then_it_is_recorded_voided(
    world: PushWorld,
) -> None:
    invoice = _pushed_invoice(world)
    world.change("POST", f"invoices/{invoice['id']}/void")
    DiesAroundWrite.armed = operation_on("invoice", "void")
    posts_before = world.qbo_writes("POST invoice")

    world.deliver_all()
    world.drain()

    assert DiesAroundWrite.deaths == 1
    assert world.qbo_writes("POST invoice") == posts_before + 1
    assert world.linked("Invoice", invoice["id"]).state == LinkState.VOIDED
    assert _nothing_open(world)


@pytest.mark.integration
@pytest.mark.parametrize("forget", [True, False], ids=["intuit-forgot", "intuit-remembers"])
def test_given_a_delete_committed_and_its_outcome_lost_when_redelivered_then_it_is_read_not_sent_again(
    world: PushWorld, forget: bool
) -> None:
    world.configure(TenantSettings(deletion_policy="delete"))
    invoice = _pushed_invoice(world)
    world.change("DELETE", f"invoices/{invoice['id']}")
    DiesAroundWrite.armed, DiesAroundWrite.forget = operation_on("invoice", "delete"), forget
    posts_before = world.qbo_writes("POST invoice")

    world.deliver_all()
    world.drain()

    assert DiesAroundWrite.deaths == 1
    assert world.qbo_writes("POST invoice") == posts_before + 1
    link = world.linked("Invoice", invoice["id"])
    assert link.state == LinkState.DELETED
    assert world.qbo_rows("Invoice", f"Id = '{link.qbo_id}'") == []
    assert _nothing_open(world)


def create_of(entity: str) -> Matcher:
    def matches(request: httpx.Request) -> bool:
        if request.method != "POST" or not request.url.path.endswith(f"/{entity}"):
            return False
        if {"operation", "include"} & set(request.url.params.keys()):
            return False
        return "Id" not in json.loads(request.content or b"{}")

    return matches


@pytest.mark.integration
def test_given_a_hand_entered_payment_sharing_the_number_when_a_lost_create_is_looked_up_then_ours_is_linked(
    main_table: str,
) -> None:
    DiesAroundWrite.armed, DiesAroundWrite.deaths = None, 0
    with push_world(wrap_qbo_transport=DiesAroundWrite, requestid_window=timedelta(0)) as world:
        world.configure()
        invoice = _pushed_invoice(world)
        payment = world.change(
            "POST",
            "payments",
            {
                "customer_id": invoice["customer_id"],
                "amount": invoice["total"],
                "method": "ACH",
                "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
            },
        )
        number = str(payment["number"])
        ref = number if number.upper().startswith("PMT-") else f"PMT-{number}"
        customer = world.linked("Customer", invoice["customer_id"]).qbo_id
        by_hand = world.qbo.create(
            "Payment",
            {"CustomerRef": {"value": customer}, "TotalAmt": 1, "PaymentRefNum": ref},
            "entered-by-hand-1",
        )
        DiesAroundWrite.armed, DiesAroundWrite.forget = create_of("payment"), True

        world.deliver_all()
        world.drain()

        assert DiesAroundWrite.deaths == 1
        rows = world.qbo_rows("Payment", f"PaymentRefNum = '{ref}'")
        (ours,) = [row for row in rows if row["Id"] != by_hand["Id"]]
        assert len(rows) == 2  # the hand-entered one and ours, nothing created twice
        assert world.linked("Payment", payment["id"]).qbo_id == ours["Id"]
        assert f"[qbosync:{payment['id']}]" in ours["PrivateNote"]
        untouched = world.qbo.read("Payment", by_hand["Id"])
        assert (untouched["SyncToken"], float(untouched["TotalAmt"])) == (by_hand["SyncToken"], 1)
        assert _nothing_open(world)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("hand_date_offset", "adopted"), [(0, True), (-30, False)], ids=["same-date", "other-date"]
)
def test_given_a_hand_entered_invoice_with_our_number_when_pushed_then_only_a_corroborated_one_is_adopted(
    world: PushWorld, hand_date_offset: int, adopted: bool
) -> None:
    first = _pushed_invoice(world)  # the customer reaches QBO
    invoice = world.new_invoice(customer_id=first["customer_id"], lines=1)
    issued = date.fromisoformat(str(world.source.get_invoice(invoice["id"]).issue_date))
    item = world.qbo_rows("Item")[0]["Id"]
    by_hand = world.qbo.create(
        "Invoice",
        {
            "CustomerRef": {"value": world.linked("Customer", first["customer_id"]).qbo_id},
            "DocNumber": str(invoice["number"]),
            "TxnDate": (issued + timedelta(days=hand_date_offset)).isoformat(),
            "Line": [
                {
                    "Amount": 5,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": 5},
                }
            ],
        },
        "entered-by-hand-2",
    )

    world.deliver_all()
    world.drain()

    (held,) = world.qbo_rows("Invoice", f"DocNumber = '{invoice['number']}'")
    link = world.links.get(world.tenant_id, "Invoice", invoice["id"])
    if adopted:
        assert link is not None and link.qbo_id == by_hand["Id"]
        assert held["PrivateNote"].startswith(f"[qbosync:{invoice['id']}]")
    else:
        assert link is None
        assert held["SyncToken"] == by_hand["SyncToken"]  # a different document: left alone
        (failed,) = world.events.list(world.tenant_id, "failed", limit=10).items
        assert failed.reason_code == "qbo_duplicate_doc_number"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("entity", "name_field"), [("Customer", "DisplayName"), ("Item", "Name")], ids=["customer", "item"]
)
def test_given_a_customer_or_item_create_whose_answer_was_lost_when_redelivered_then_qbo_has_one(
    world: PushWorld, entity: str, name_field: str
) -> None:
    invoice = world.new_invoice(lines=1)
    source_id = (
        invoice["customer_id"]
        if entity == "Customer"
        else world.source.get_invoice(invoice["id"]).lines[0].product_id
    )
    DiesAroundWrite.armed = create_of(entity.lower())
    world.deliver_all()
    with pytest.raises(AssertionError):
        world.drain(max_batches=1)  # the worker died after QBO committed; the queue has it again

    (open_create,) = world.ledger.ambiguous(world.tenant_id)
    assert (open_create.link_entity, open_create.source_id, open_create.operation) == (
        entity,
        source_id,
        "create",
    )
    world.drain()

    assert DiesAroundWrite.deaths == 1
    link = world.linked(entity, source_id)
    name = world.qbo.read(entity, link.qbo_id)[name_field]
    assert len(world.qbo_rows(entity, f"{name_field} = {qbo_literal(name)}")) == 1
    assert world.qbo_writes(f"POST {entity.lower()}") == 1  # found by name, never sent again
    assert link.origin == "qbosync"
    assert world.linked("Invoice", invoice["id"]).qbo_id
    assert _nothing_open(world)
