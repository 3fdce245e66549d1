"""The write ledger under faults: a QBO write that committed while qbosync lost its outcome ends with
one QBO document, whether QBO still replays the requestid or has forgotten it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from qbosync.store.links import Link, LinkRepository, LinkState
from qbosync.store.table import StoreUnavailable
from tests.support.push_world import PushWorld, push_world

INSIDE_THE_WINDOW = timedelta(hours=1)
PAST_THE_WINDOW = timedelta(0)


@pytest.fixture
def world(main_table: str, request: pytest.FixtureRequest) -> Iterator[PushWorld]:
    window = getattr(request, "param", INSIDE_THE_WINDOW)
    with push_world(requestid_window=window, wrap_qbo_transport=WorkerKilledAfterCommit) as built:
        built.configure()
        yield built


class WorkerKilled(Exception):
    """The worker died (timeout, memory) after QBO committed, before it read the answer."""


class WorkerKilledAfterCommit(httpx.BaseTransport):
    """Lets QBO commit the next create of ``armed`` ("payment"), then the worker dies before reading the
    answer; by the time the queue delivers the change again QBO has forgotten the requestid."""

    armed: str | None = None
    kills: int = 0
    forget: bool = True
    meanwhile: Callable[[], object] | None = None
    """What else happens before the queue delivers the change again (a source edit)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._inner.handle_request(request)
        armed = WorkerKilledAfterCommit.armed
        creating = not {"operation", "include"} & set(request.url.params.keys())
        if armed and creating and request.method == "POST" and request.url.path.endswith(f"/{armed}"):
            WorkerKilledAfterCommit.armed = None
            WorkerKilledAfterCommit.kills += 1
            forget = httpx.Request(
                "POST", request.url.copy_with(path="/_sandbox/requestids/forget", query=b"")
            )
            if WorkerKilledAfterCommit.forget:
                self._inner.handle_request(forget).raise_for_status()
            if WorkerKilledAfterCommit.meanwhile is not None:
                WorkerKilledAfterCommit.meanwhile()
            raise WorkerKilled(f"killed after QBO committed a {armed}")
        return answer


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    WorkerKilledAfterCommit.armed = None
    WorkerKilledAfterCommit.kills = 0
    WorkerKilledAfterCommit.forget = True
    WorkerKilledAfterCommit.meanwhile = None
    yield
    WorkerKilledAfterCommit.armed = None
    WorkerKilledAfterCommit.meanwhile = None


def _paid(world: PushWorld) -> tuple[dict[str, Any], dict[str, Any]]:
    invoice = world.new_invoice(lines=1)
    world.deliver_all()
    world.drain()
    payment = world.change(
        "POST",
        "payments",
        {
            "customer_id": invoice["customer_id"],
            "amount": invoice["total"],
            "method": "ACH",
            "reference": "REF-1",
            "applied_to": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        },
    )
    return invoice, payment


def _qbo_payments(world: PushWorld, payment: dict[str, Any]) -> list[dict[str, Any]]:
    # The payment prefix is not doubled when the source number already starts with it.
    number = str(payment["number"])
    ref = number if number.upper().startswith("PMT-") else f"PMT-{number}"
    return world.qbo_rows("Payment", f"PaymentRefNum = '{ref}'")


@pytest.mark.integration
@pytest.mark.parametrize(
    "world", [INSIDE_THE_WINDOW, PAST_THE_WINDOW], indirect=True, ids=["replay", "lookup"]
)
def test_given_qbo_committed_a_payment_and_its_link_failed_when_the_source_edits_it_then_qbo_has_one_payment(
    world: PushWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    _invoice, payment = _paid(world)
    real_put = LinkRepository.put
    failures: list[str] = []

    def put_failing_once(links: LinkRepository, link: Link, **kwargs: Any) -> Link:
        if link.entity == "Payment" and not failures:
            failures.append(link.source_id)
            # The source payment is edited before the queue delivers the change again.
            world.change("PUT", f"payments/{payment['id']}", {"reference": "REF-2"})
            raise StoreUnavailable("DynamoDB throttled the link write")
        return real_put(links, link, **kwargs)

    monkeypatch.setattr(LinkRepository, "put", put_failing_once)
    world.deliver_all()
    world.drain()
    world.deliver_all()
    world.drain()

    assert failures == [payment["id"]]
    (qbo_payment,) = _qbo_payments(world, payment)
    assert "Reference REF-2" in qbo_payment["PrivateNote"]
    assert f"[qbosync:{payment['id']}]" in qbo_payment["PrivateNote"]
    link = world.linked("Payment", payment["id"])
    assert (
        link.qbo_id == qbo_payment["Id"]
        and link.source_version == world.source.get_payment(payment["id"]).version
    )
    assert list(world.ledger.ambiguous(world.tenant_id)) == []


@pytest.mark.integration
@pytest.mark.parametrize("world", [PAST_THE_WINDOW], indirect=True)
def test_given_a_lost_answer_and_a_forgotten_requestid_when_redelivered_then_qbo_has_one_payment(
    world: PushWorld,
) -> None:
    _invoice, payment = _paid(world)
    WorkerKilledAfterCommit.armed = "payment"
    world.deliver_all()

    world.drain()

    assert WorkerKilledAfterCommit.kills == 1
    (qbo_payment,) = _qbo_payments(world, payment)
    assert world.linked("Payment", payment["id"]).qbo_id == qbo_payment["Id"]
    assert world.qbo_writes("POST payment") == 1  # found by its identity, never sent again
    assert list(world.ledger.ambiguous(world.tenant_id)) == []


@pytest.mark.integration
def test_given_a_payment_create_cut_off_when_the_source_voids_it_before_redelivery_then_qbo_voids_it(
    world: PushWorld,
) -> None:
    _invoice, payment = _paid(world)
    WorkerKilledAfterCommit.armed = "payment"
    WorkerKilledAfterCommit.forget = False
    WorkerKilledAfterCommit.meanwhile = lambda: world.change("POST", f"payments/{payment['id']}/void")
    world.deliver_all()
    world.drain()
    world.deliver_all()

    world.drain()

    assert WorkerKilledAfterCommit.kills == 1
    (qbo_payment,) = _qbo_payments(world, payment)
    assert float(qbo_payment["TotalAmt"]) == 0
    link = world.linked("Payment", payment["id"])
    assert (link.qbo_id, link.state) == (qbo_payment["Id"], LinkState.VOIDED)
    assert list(world.ledger.ambiguous(world.tenant_id)) == []


@pytest.mark.integration
@pytest.mark.parametrize("world", [PAST_THE_WINDOW], indirect=True)
def test_given_a_heal_re_create_cut_off_and_forgotten_when_redelivered_then_qbo_has_one_payment(
    world: PushWorld,
) -> None:
    _invoice, payment = _paid(world)
    world.deliver_all()
    world.drain()
    deleted_id = world.linked("Payment", payment["id"]).qbo_id
    world.delete_in_qbo("Payment", deleted_id, "someone-deletes-it")
    WorkerKilledAfterCommit.armed = "payment"

    event = world.heal("payment", payment["id"])

    assert WorkerKilledAfterCommit.kills == 1
    assert event.status == "done"
    (qbo_payment,) = _qbo_payments(world, payment)
    assert qbo_payment["Id"] != deleted_id
    assert world.linked("Payment", payment["id"]).qbo_id == qbo_payment["Id"]
    assert list(world.ledger.ambiguous(world.tenant_id)) == []
