"""``HttpSourceAdapter``'s writes from QBO to the source (customer patch, payment create and void), against
a scripted transport: what goes on the wire, how answers map to errors, and which ones are retried."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from qbosync.source.errors import SourceNotFound, SourceRejected, SourceUnavailable
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.models import (
    Address,
    NewAppliedAmount,
    NewSourcePayment,
    SourceCustomerUpdate,
)
from tests.support.fakes import TopOfRange

BASE_URL = "http://source.example"
CUSTOMER = {
    "id": "cus_000001",
    "version": 2,
    "updated_at": "2026-03-01T10:00:00Z",
    "deleted": False,
    "display_name": "Northwind Traders",
    "email": "billing@northwind.example",
    "active": True,
}
PAYMENT = {
    "id": "pay_000007",
    "version": 1,
    "updated_at": "2026-03-01T10:00:00Z",
    "number": "PMT-5007",
    "customer_id": "cus_000001",
    "date": "2026-03-01",
    "amount": "120.00",
    "method": "ACH",
    "applied_to": [{"invoice_id": "inv_000002", "amount": "100.00"}],
    "status": "posted",
}
NEW_PAYMENT = NewSourcePayment(
    customer_id="cus_000001",
    date=date(2026, 3, 1),
    amount=Decimal("120.00"),
    method="ACH",
    applied_to=[NewAppliedAmount(invoice_id="inv_000002", amount=Decimal("100.00"))],
)


def error(status: int, code: str, details: list[dict[str, Any]] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code, "details": details or []}})


class Scripted:
    """A transport that answers from a script, in order, and records every request it was sent."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def adapter_for(script: Scripted, slept: list[float] | None = None) -> HttpSourceAdapter:
    http = httpx.Client(transport=httpx.MockTransport(script))
    sleep = slept.append if slept is not None else (lambda _: None)
    return HttpSourceAdapter(BASE_URL, "acme", "sk_test", http, sleep=sleep, rng=TopOfRange())


# -- the request models --------------------------------------------------------------------------


def test_given_an_update_that_sets_nothing_when_built_then_it_is_refused_before_any_request() -> None:
    with pytest.raises(ValidationError) as caught:
        SourceCustomerUpdate()

    assert [e["type"] for e in caught.value.errors()] == ["empty_update"]


@pytest.mark.parametrize("field", ["display_name", "active"])
def test_given_null_for_a_field_that_cannot_be_cleared_when_built_then_not_nullable(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SourceCustomerUpdate.model_validate({field: None})

    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [((field,), "not_nullable")]


def test_given_an_unknown_field_or_a_blank_display_name_when_built_then_both_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        SourceCustomerUpdate.model_validate({"display_name": "  ", "bill_profile_id": "BP-STD-EMAIL"})

    assert {(e["loc"][0], e["type"]) for e in caught.value.errors()} == {
        ("display_name", "string_too_short"),
        ("bill_profile_id", "extra_forbidden"),
    }


def test_given_an_address_read_from_a_customer_when_used_in_an_update_then_it_is_the_whole_new_address() -> (
    None
):
    update = SourceCustomerUpdate(billing_address=Address(line1="1 Main St", city="Fresno"))

    assert update.model_dump(mode="json", exclude_unset=True) == {
        "billing_address": {
            "line1": "1 Main St",
            "line2": None,
            "city": "Fresno",
            "region": None,
            "postal_code": None,
            "country": None,
        }
    }


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.005"])
def test_given_a_payment_amount_that_is_not_positive_money_when_built_then_it_is_refused(amount: str) -> None:
    with pytest.raises(ValidationError):
        NewSourcePayment.model_validate({**NEW_PAYMENT.model_dump(), "amount": amount})


def test_given_an_applied_amount_of_zero_or_an_unknown_field_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        NewAppliedAmount.model_validate({"invoice_id": "inv_000002", "amount": "0", "memo": "x"})

    assert {e["type"] for e in caught.value.errors()} == {"greater_than", "extra_forbidden"}


# -- update_customer -----------------------------------------------------------------------------


def test_given_an_update_when_sent_then_only_its_set_fields_travel_in_a_patch_without_a_key() -> None:
    script = Scripted(httpx.Response(200, json=CUSTOMER))

    customer = adapter_for(script).update_customer(
        "cus_000001", SourceCustomerUpdate(email="billing@northwind.example", phone=None)
    )

    [request] = script.requests
    assert (request.method, request.url.path) == ("PATCH", "/tenants/acme/customers/cus_000001")
    assert script.bodies() == [{"email": "billing@northwind.example", "phone": None}]
    assert request.headers["Authorization"] == "Bearer sk_test"
    assert request.headers["Content-Type"] == "application/json"
    assert "Idempotency-Key" not in request.headers
    assert customer.email == "billing@northwind.example"


def test_given_an_id_with_a_slash_when_updated_then_it_is_escaped_into_one_path_segment() -> None:
    script = Scripted(httpx.Response(200, json=CUSTOMER))

    adapter_for(script).update_customer("a/b", SourceCustomerUpdate(active=False))

    assert script.requests[0].url.raw_path == b"/tenants/acme/customers/a%2Fb"


def test_given_an_unvalidated_empty_update_when_sent_then_value_error_and_no_request() -> None:
    script = Scripted()

    with pytest.raises(ValueError, match="at least one field"):
        adapter_for(script).update_customer("cus_000001", SourceCustomerUpdate.model_construct())

    assert script.requests == []


def test_given_a_503_then_success_when_updating_then_the_patch_is_retried_with_the_same_body() -> None:
    script = Scripted(error(503, "unavailable"), httpx.Response(200, json=CUSTOMER))
    slept: list[float] = []

    adapter_for(script, slept).update_customer("cus_000001", SourceCustomerUpdate(email="a@b.example"))

    assert script.bodies() == [{"email": "a@b.example"}, {"email": "a@b.example"}]
    assert slept == [0.25]


def test_given_an_unknown_customer_when_updated_then_source_not_found_without_a_retry() -> None:
    script = Scripted(error(404, "not_found"))

    with pytest.raises(SourceNotFound):
        adapter_for(script).update_customer("cus_424242", SourceCustomerUpdate(active=False))

    assert len(script.requests) == 1


@pytest.mark.parametrize(("status", "code"), [(409, "object_deleted"), (422, "validation_failed")])
def test_given_a_refusal_when_updating_then_source_rejected_with_status_and_code_and_no_retry(
    status: int, code: str
) -> None:
    script = Scripted(error(status, code, [{"loc": "display_name", "type": "taken"}]))

    with pytest.raises(SourceRejected) as caught:
        adapter_for(script).update_customer("cus_000001", SourceCustomerUpdate(display_name="Initech"))

    assert (caught.value.source_status, caught.value.source_code) == (status, code)
    assert caught.value.details == [{"loc": "display_name", "type": "taken"}]
    assert len(script.requests) == 1


# -- create_payment ------------------------------------------------------------------------------


def test_given_a_new_payment_when_created_then_it_is_posted_with_its_key_and_money_as_strings() -> None:
    script = Scripted(httpx.Response(201, json=PAYMENT))

    payment = adapter_for(script).create_payment(NEW_PAYMENT, idempotency_key="qbo:realm-1:payment:88")

    [request] = script.requests
    assert (request.method, request.url.path) == ("POST", "/tenants/acme/payments")
    assert request.headers["Idempotency-Key"] == "qbo:realm-1:payment:88"
    assert script.bodies() == [
        {
            "customer_id": "cus_000001",
            "date": "2026-03-01",
            "amount": "120.00",
            "method": "ACH",
            "applied_to": [{"invoice_id": "inv_000002", "amount": "100.00"}],
        }
    ]
    assert (payment.id, payment.status) == ("pay_000007", "posted")


def test_given_an_empty_idempotency_key_when_creating_a_payment_then_value_error_and_no_request() -> None:
    script = Scripted()

    with pytest.raises(ValueError, match="idempotency key"):
        adapter_for(script).create_payment(NEW_PAYMENT, idempotency_key="")

    assert script.requests == []


def test_given_a_connection_error_then_success_when_creating_a_payment_then_the_same_key_is_sent_again() -> (
    None
):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    script = Scripted(refuse, httpx.Response(201, json=PAYMENT))

    adapter_for(script).create_payment(NEW_PAYMENT, idempotency_key="k-88")

    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["k-88", "k-88"]
    assert script.bodies()[0] == script.bodies()[1]


def test_given_endless_throttling_when_creating_a_payment_then_source_unavailable_after_four_tries() -> None:
    script = Scripted(*[httpx.Response(429, headers={"Retry-After": "1"}) for _ in range(4)])
    slept: list[float] = []

    with pytest.raises(SourceUnavailable):
        adapter_for(script, slept).create_payment(NEW_PAYMENT, idempotency_key="k-89")

    assert len(script.requests) == 4
    assert slept == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("status", "code"), [(409, "idempotency_key_reused"), (422, "validation_failed"), (428, "x")]
)
def test_given_a_refusal_when_creating_a_payment_then_source_rejected_and_no_retry(
    status: int, code: str
) -> None:
    script = Scripted(error(status, code, [{"loc": "applied_to.0.amount", "type": "exceeds_open_amount"}]))

    with pytest.raises(SourceRejected) as caught:
        adapter_for(script).create_payment(NEW_PAYMENT, idempotency_key="k-90")

    assert (caught.value.source_status, caught.value.source_code) == (status, code)
    assert len(script.requests) == 1


# -- void_payment --------------------------------------------------------------------------------


def test_given_a_payment_when_voided_then_a_bodiless_post_to_its_void_route_returns_it_void() -> None:
    script = Scripted(httpx.Response(200, json={**PAYMENT, "version": 2, "status": "void"}))

    payment = adapter_for(script).void_payment("pay_000007")

    [request] = script.requests
    assert (request.method, request.url.path) == ("POST", "/tenants/acme/payments/pay_000007/void")
    assert request.content == b""
    assert "Idempotency-Key" not in request.headers
    assert (payment.status, payment.version) == ("void", 2)


def test_given_a_502_then_success_when_voiding_then_the_void_is_retried() -> None:
    script = Scripted(error(502, "bad_gateway"), httpx.Response(200, json={**PAYMENT, "status": "void"}))

    assert adapter_for(script).void_payment("pay_000007").status == "void"
    assert len(script.requests) == 2


def test_given_an_unknown_payment_when_voided_then_source_not_found() -> None:
    with pytest.raises(SourceNotFound):
        adapter_for(Scripted(error(404, "not_found"))).void_payment("pay_424242")


def test_given_a_deleted_payment_when_voided_then_source_rejected_object_deleted() -> None:
    with pytest.raises(SourceRejected) as caught:
        adapter_for(Scripted(error(409, "object_deleted"))).void_payment("pay_000007")

    assert (caught.value.source_status, caught.value.source_code) == (409, "object_deleted")
