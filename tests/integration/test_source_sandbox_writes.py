"""Writes from QBO to the source, end to end in process: ``HttpSourceAdapter`` (and raw requests, for what
the adapter refuses to send) against the source sandbox. Customer patches, payments entered in QBO and
payments voided there: success, every refusal with its status and code, idempotency, versions, and exactly
one webhook per effective change."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from local.source_sandbox import SandboxConfig, build_app
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.errors import SourceNotFound, SourceRejected
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.models import (
    Address,
    NewAppliedAmount,
    NewSourcePayment,
    SourceCustomerUpdate,
    SourcePayment,
)

BASE_URL = "http://source-sandbox"
ACME = {"Authorization": "Bearer sk_sandbox_acme"}
START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
PAYER = "cus_000001"
OTHER = "cus_000002"


def ticking_clock() -> Callable[[], datetime]:
    """A sandbox clock that moves one second on every reading, so every change has its own time."""
    ticks = itertools.count()
    return lambda: START + timedelta(seconds=next(ticks))


@pytest.fixture
def app() -> Starlette:
    config = SandboxConfig.for_tenants(["acme", "globex"], customers=6, products=4, invoices=4)
    return build_app(config, clock=ticking_clock())


@pytest.fixture
def http(app: Starlette) -> Iterator[httpx.Client]:
    with in_process_client(app, BASE_URL) as client:
        yield client


@pytest.fixture
def source(http: httpx.Client) -> HttpSourceAdapter:
    return HttpSourceAdapter(BASE_URL, "acme", "sk_sandbox_acme", http, sleep=lambda _: None)


def events(http: httpx.Client) -> list[tuple[str, str, int]]:
    """Every webhook the sandbox recorded so far: (type, object id, version)."""
    items = http.get("/_sandbox/webhooks").json()["items"]
    return [(d["event"]["type"], d["event"]["object"]["id"], d["event"]["object"]["version"]) for d in items]


def stats(http: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = http.get("/_sandbox/stats").json()
    return body


def new_invoice(http: httpx.Client, customer_id: str = PAYER, total: str = "100.00") -> dict[str, Any]:
    """An open invoice of ``total`` made through the control API (the seeded ones are all settled)."""
    response = http.post(
        "/_sandbox/tenants/acme/invoices",
        json={
            "customer_id": customer_id,
            "lines": [{"description": "Support", "quantity": 1, "unit_price": total}],
        },
    )
    response.raise_for_status()
    invoice: dict[str, Any] = response.json()
    return invoice


def payment(
    amount: str, *applied: tuple[str, str], method: str = "ACH", number: str | None = None
) -> NewSourcePayment:
    """A payment of the payer's, as QBO would report it: ``applied`` is (invoice id, amount) pairs."""
    return NewSourcePayment(
        customer_id=PAYER,
        date=date(2030, 5, 31),
        amount=Decimal(amount),
        method=method,
        number=number,
        reference=f"QBO {amount}",
        applied_to=[NewAppliedAmount(invoice_id=i, amount=Decimal(a)) for i, a in applied],
    )


def post_payment(http: httpx.Client, body: dict[str, Any], key: str = "k-raw") -> httpx.Response:
    return http.post("/tenants/acme/payments", json=body, headers={**ACME, "Idempotency-Key": key})


def raw_payment(invoice_id: str, amount: str = "40.00") -> dict[str, Any]:
    """A payment body as JSON, applying all of ``amount`` to one invoice of the payer."""
    return {
        "customer_id": PAYER,
        "date": "2030-05-31",
        "amount": amount,
        "method": "ACH",
        "applied_to": [{"invoice_id": invoice_id, "amount": amount}],
    }


# -- PATCH /customers/{id} -----------------------------------------------------------------------


def test_given_a_patch_when_applied_then_the_fields_change_the_version_bumps_and_one_webhook_is_emitted(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    before = source.get_customer(PAYER)

    after = source.update_customer(PAYER, SourceCustomerUpdate(email="ap@northwind.example", phone=None))

    assert (after.email, after.phone, after.version) == ("ap@northwind.example", None, before.version + 1)
    assert after.updated_at > before.updated_at
    assert (after.display_name, after.bill_profile_id) == (before.display_name, before.bill_profile_id)
    assert source.get_customer(PAYER) == after
    assert events(http) == [("customer.updated", PAYER, after.version)]
    assert stats(http)["updated"] == {"customers": 1}


def test_given_the_same_patch_twice_when_applied_then_the_second_changes_nothing_and_emits_nothing(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    changes = SourceCustomerUpdate(display_name="  Northwind West  ", active=False)
    first = source.update_customer(PAYER, changes)

    second = source.update_customer(PAYER, changes)

    assert second == first
    assert first.display_name == "Northwind West"
    assert len(events(http)) == 1
    assert stats(http)["updated"] == {"customers": 1}


def test_given_a_patch_naming_only_current_values_when_applied_then_200_with_no_version_bump_or_webhook(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    current = source.get_customer(PAYER)
    address = current.billing_address
    assert address is not None

    unchanged = source.update_customer(
        PAYER, SourceCustomerUpdate(email=current.email, billing_address=address, active=current.active)
    )

    assert unchanged == current
    assert events(http) == []


def test_given_a_new_billing_address_when_patched_then_it_replaces_the_whole_address_and_null_clears_it(
    source: HttpSourceAdapter,
) -> None:
    moved = source.update_customer(
        PAYER, SourceCustomerUpdate(billing_address=Address(line1="1 Harbour Rd", city="Oakland"))
    )
    cleared = source.update_customer(PAYER, SourceCustomerUpdate(billing_address=None))

    assert moved.billing_address == Address(line1="1 Harbour Rd", city="Oakland")
    assert cleared.billing_address is None
    assert cleared.version == moved.version + 1


@pytest.mark.parametrize(
    ("body", "loc", "problem"),
    [
        ({"colour": "blue"}, "colour", "extra_forbidden"),
        ({"bill_profile_id": "BP-ANNUAL"}, "bill_profile_id", "extra_forbidden"),
        ({}, "", "empty_update"),
        ({"display_name": ""}, "display_name", "string_too_short"),
        ({"display_name": None}, "display_name", "not_nullable"),
        ({"active": "maybe"}, "active", "bool_parsing"),
        ({"billing_address": {"line1": "x", "planet": "Mars"}}, "billing_address.planet", "extra_forbidden"),
        (["email"], "", "model_type"),
    ],
)
def test_given_a_bad_patch_when_sent_then_422_naming_the_problem_and_nothing_changes(
    http: httpx.Client, body: Any, loc: str, problem: str
) -> None:
    response = http.patch(f"/tenants/acme/customers/{PAYER}", json=body, headers=ACME)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [(loc, problem)]
    assert http.get(f"/tenants/acme/customers/{PAYER}", headers=ACME).json()["version"] == 1
    assert events(http) == []


def test_given_an_unknown_customer_when_patched_then_source_not_found(source: HttpSourceAdapter) -> None:
    with pytest.raises(SourceNotFound):
        source.update_customer("cus_424242", SourceCustomerUpdate(active=False))


def test_given_a_deleted_customer_when_patched_then_409_object_deleted_and_nothing_changes(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    http.delete(f"/_sandbox/tenants/acme/customers/{PAYER}").raise_for_status()

    with pytest.raises(SourceRejected) as caught:
        source.update_customer(PAYER, SourceCustomerUpdate(email="late@example.com"))

    assert (caught.value.source_status, caught.value.source_code) == (409, "object_deleted")
    assert source.get_customer(PAYER).version == 2
    assert [e[0] for e in events(http)] == ["customer.deleted"]


@pytest.mark.parametrize("collection", ["products", "invoices", "payments"])
def test_given_a_collection_other_than_customers_when_patched_then_405(
    http: httpx.Client, collection: str
) -> None:
    response = http.patch(f"/tenants/acme/{collection}/x_000001", json={"name": "x"}, headers=ACME)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_given_another_tenants_key_when_patching_then_401_and_nothing_changes(http: httpx.Client) -> None:
    response = http.patch(
        f"/tenants/acme/customers/{PAYER}",
        json={"active": False},
        headers={"Authorization": "Bearer sk_sandbox_globex"},
    )

    assert response.status_code == 401
    assert events(http) == []


def test_given_a_503_on_a_patch_when_the_adapter_retries_then_exactly_one_change_is_made(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    http.post("/_sandbox/faults", json={"status": 503, "count": 1, "path_contains": "/customers/"})

    updated = source.update_customer(PAYER, SourceCustomerUpdate(phone="+1-555-0100"))

    assert updated.version == 2
    assert events(http) == [("customer.updated", PAYER, 2)]
    assert stats(http)["requests"]["PATCH /tenants/{tenant_id}/customers/{id}"] == 2


# -- POST /payments ------------------------------------------------------------------------------


def test_given_a_payment_entered_in_qbo_when_created_then_it_is_posted_numbered_and_announced_once(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    invoice = new_invoice(http)
    before = events(http)

    created = source.create_payment(
        payment("100.00", (invoice["id"], "100.00")), idempotency_key="qbo:r1:payment:7"
    )

    assert (created.status, created.version, created.amount) == ("posted", 1, Decimal("100.00"))
    assert created.number.startswith("PMT-")
    assert source.get_payment(created.id) == created
    assert events(http)[len(before) :] == [("payment.created", created.id, 1)]
    assert stats(http)["created"]["payments"] == 1


def test_given_a_number_and_no_invoices_when_a_payment_is_created_then_it_keeps_the_number_unapplied(
    source: HttpSourceAdapter,
) -> None:
    created = source.create_payment(
        payment("25.00", number="QBO-1042", method="CHECK"), idempotency_key="k-unapplied"
    )

    assert (created.number, created.reference, created.method) == ("QBO-1042", "QBO 25.00", "CHECK")
    assert created.applied_to == []


def test_given_the_same_key_and_body_when_created_again_then_the_same_payment_returns_and_nothing_happens(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    invoice = new_invoice(http)
    body = raw_payment(invoice["id"], amount="100.00")
    first = post_payment(http, body, key="qbo:r1:payment:8")
    announced = events(http)

    again = post_payment(http, body, key="qbo:r1:payment:8")  # the invoice is now paid in full by the first

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert events(http) == announced
    assert (stats(http)["created"]["payments"], stats(http)["idempotent_replays"]) == (1, 1)


def test_given_the_same_key_with_another_body_when_created_then_409_idempotency_key_reused(
    http: httpx.Client,
) -> None:
    invoice = new_invoice(http)
    post_payment(http, raw_payment(invoice["id"], amount="10.00"), key="k-reuse").raise_for_status()

    response = post_payment(http, raw_payment(invoice["id"], amount="11.00"), key="k-reuse")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert stats(http)["created"]["payments"] == 1


def test_given_no_idempotency_key_when_creating_a_payment_then_428_and_nothing_is_created(
    http: httpx.Client,
) -> None:
    invoice = new_invoice(http)

    response = http.post("/tenants/acme/payments", json=raw_payment(invoice["id"]), headers=ACME)

    assert response.status_code == 428
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert stats(http)["created"]["payments"] == 0


@pytest.mark.parametrize(
    ("overrides", "loc", "problem"),
    [
        ({"amount": "0"}, "amount", "greater_than"),
        ({"memo": "x"}, "memo", "extra_forbidden"),
        ({"date": None}, "date", "date_type"),
        ({"customer_id": "cus_424242"}, "customer_id", "unknown_reference"),
        ({"method": "BITCOIN"}, "method", "unknown_reference"),
        (
            {"applied_to": [{"invoice_id": "inv_424242", "amount": "40.00"}]},
            "applied_to.0.invoice_id",
            "unknown_reference",
        ),
        (
            {"applied_to": [{"invoice_id": "{invoice}", "amount": "0.00"}]},
            "applied_to.0.amount",
            "greater_than",
        ),
        (
            {"applied_to": [{"invoice_id": "{invoice}", "amount": "-1"}]},
            "applied_to.0.amount",
            "greater_than",
        ),
        (
            {"applied_to": [{"invoice_id": "{invoice}", "amount": "1", "x": 1}]},
            "applied_to.0.x",
            "extra_forbidden",
        ),
        (
            {"applied_to": [{"invoice_id": "{invoice}", "amount": "100.01"}], "amount": "200.00"},
            "applied_to.0.amount",
            "exceeds_open_amount",
        ),
        ({"applied_to": [{"invoice_id": "{invoice}", "amount": "40.01"}]}, "applied_to", "over_applied"),
        (
            {
                "applied_to": [
                    {"invoice_id": "{invoice}", "amount": "10"},
                    {"invoice_id": "{invoice}", "amount": "10"},
                ]
            },
            "applied_to.1.invoice_id",
            "duplicate_invoice",
        ),
    ],
)
def test_given_a_bad_payment_when_created_then_422_naming_the_problem_and_nothing_is_created(
    http: httpx.Client, overrides: dict[str, Any], loc: str, problem: str
) -> None:
    invoice = new_invoice(http)
    before = events(http)
    body = {**raw_payment(invoice["id"]), **overrides}
    body["applied_to"] = [
        {**a, "invoice_id": a["invoice_id"].format(invoice=invoice["id"])} for a in body["applied_to"]
    ]

    response = post_payment(http, body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [(loc, problem)]
    assert stats(http)["created"]["payments"] == 0
    assert events(http) == before


def test_given_a_deleted_customer_when_a_payment_names_it_then_422_customer_deleted(
    http: httpx.Client,
) -> None:
    http.delete(f"/_sandbox/tenants/acme/customers/{OTHER}").raise_for_status()

    response = post_payment(http, {**raw_payment("unused"), "customer_id": OTHER, "applied_to": []})

    assert response.status_code == 422
    assert [(d["loc"], d["type"]) for d in response.json()["error"]["details"]] == [
        ("customer_id", "customer_deleted")
    ]


@pytest.mark.parametrize(("change", "problem"), [("void", "invoice_void"), ("delete", "invoice_deleted")])
def test_given_a_void_or_deleted_invoice_when_a_payment_applies_to_it_then_422(
    http: httpx.Client, change: str, problem: str
) -> None:
    invoice = new_invoice(http)
    if change == "void":
        http.post(f"/_sandbox/tenants/acme/invoices/{invoice['id']}/void").raise_for_status()
    else:
        http.delete(f"/_sandbox/tenants/acme/invoices/{invoice['id']}").raise_for_status()

    response = post_payment(http, raw_payment(invoice["id"]))

    assert response.status_code == 422
    assert [(d["loc"], d["type"]) for d in response.json()["error"]["details"]] == [
        ("applied_to.0.invoice_id", problem)
    ]


def test_given_an_invoice_of_another_customer_when_a_payment_applies_to_it_then_422(
    http: httpx.Client,
) -> None:
    theirs = new_invoice(http, customer_id=OTHER)

    response = post_payment(http, raw_payment(theirs["id"]))

    assert response.status_code == 422
    assert [(d["loc"], d["type"]) for d in response.json()["error"]["details"]] == [
        ("applied_to.0.invoice_id", "invoice_of_another_customer")
    ]


def test_given_several_problems_when_a_payment_is_created_then_each_has_its_own_details_entry(
    http: httpx.Client,
) -> None:
    theirs = new_invoice(http, customer_id=OTHER, total="10.00")
    body = {
        **raw_payment(theirs["id"]),
        "method": "BITCOIN",
        "amount": "5.00",
        "applied_to": [
            {"invoice_id": theirs["id"], "amount": "20.00"},
            {"invoice_id": "inv_424242", "amount": "1"},
        ],
    }

    response = post_payment(http, body)

    assert [(d["loc"], d["type"]) for d in response.json()["error"]["details"]] == [
        ("method", "unknown_reference"),
        ("applied_to.0.invoice_id", "invoice_of_another_customer"),
        ("applied_to.0.amount", "exceeds_open_amount"),
        ("applied_to.1.invoice_id", "unknown_reference"),
        ("applied_to", "over_applied"),
    ]


def test_given_earlier_payments_and_a_credit_note_when_applying_then_only_the_open_amount_is_left(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    invoice = new_invoice(http)
    first = source.create_payment(payment("60.00", (invoice["id"], "60.00")), idempotency_key="k-first")
    http.post(
        "/_sandbox/tenants/acme/credit-notes",
        json={
            "customer_id": PAYER,
            "lines": [{"description": "Goodwill", "quantity": 1, "unit_price": "15.00"}],
            "applied_to": [{"invoice_id": invoice["id"], "amount": "15.00"}],
            "status": "applied",
        },
    ).raise_for_status()

    with pytest.raises(SourceRejected) as caught:
        source.create_payment(payment("25.01", (invoice["id"], "25.01")), idempotency_key="k-too-much")
    source.void_payment(first.id)
    rest = source.create_payment(payment("85.00", (invoice["id"], "85.00")), idempotency_key="k-rest")

    assert caught.value.details[0]["type"] == "exceeds_open_amount"
    assert "25.00" in caught.value.details[0]["message"]
    assert rest.status == "posted"


def test_given_a_payment_that_settles_an_invoice_when_created_then_the_sandbox_leaves_the_invoice_as_it_was(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    invoice = new_invoice(http)

    source.create_payment(payment("100.00", (invoice["id"], "100.00")), idempotency_key="k-settle")

    after = source.get_invoice(invoice["id"])
    assert (after.status, after.version) == ("open", invoice["version"])
    assert [e for e in events(http) if e[0] == "invoice.updated"] == []


# -- POST /payments/{id}/void --------------------------------------------------------------------


def test_given_a_posted_payment_when_voided_then_it_is_void_one_version_later_with_one_webhook(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    before = source.get_payment("pay_000001")

    voided = source.void_payment("pay_000001")

    assert (voided.status, voided.version) == ("void", before.version + 1)
    assert voided.updated_at > before.updated_at
    assert source.get_payment("pay_000001") == voided
    assert events(http) == [("payment.voided", "pay_000001", voided.version)]
    assert stats(http)["voided"] == {"payments": 1}


def test_given_a_void_payment_when_voided_again_then_200_unchanged_with_no_webhook(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    first = source.void_payment("pay_000001")

    again = http.post("/tenants/acme/payments/pay_000001/void", headers=ACME)

    assert again.status_code == 200
    assert SourcePayment.model_validate(again.json()) == first
    assert len(events(http)) == 1
    assert stats(http)["voided"] == {"payments": 1}
    assert stats(http)["requests"]["POST /tenants/{tenant_id}/payments/{id}/void"] == 2


def test_given_a_deleted_payment_when_voided_then_409_object_deleted(
    source: HttpSourceAdapter, http: httpx.Client
) -> None:
    http.delete("/_sandbox/tenants/acme/payments/pay_000001").raise_for_status()

    with pytest.raises(SourceRejected) as caught:
        source.void_payment("pay_000001")

    assert (caught.value.source_status, caught.value.source_code) == (409, "object_deleted")
    assert source.get_payment("pay_000001").status == "deleted"


def test_given_an_unknown_payment_when_voided_then_404(http: httpx.Client) -> None:
    response = http.post("/tenants/acme/payments/pay_424242/void", headers=ACME)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("collection", ["invoices", "credit-notes", "customers"])
def test_given_anything_but_a_payment_when_voided_through_the_source_api_then_405_and_nothing_changes(
    http: httpx.Client, collection: str
) -> None:
    response = http.post(f"/tenants/acme/{collection}/x_000001/void", headers=ACME)

    assert response.status_code == 405
    assert events(http) == []


def test_given_a_voided_payment_when_its_invoice_is_read_then_the_sandbox_leaves_the_invoice_as_it_was(
    source: HttpSourceAdapter,
) -> None:
    paid = source.get_invoice(source.get_payment("pay_000001").applied_to[0].invoice_id)

    source.void_payment("pay_000001")

    assert source.get_invoice(paid.id) == paid
