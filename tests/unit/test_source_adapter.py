"""``HttpSourceAdapter`` against the source sandbox, in-process: paging, errors, retries, creation."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from local.source_sandbox import SandboxConfig, build_app
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.errors import SourceInvalidResponse, SourceNotFound, SourceRejected, SourceUnavailable
from qbosync.source.http import HttpSourceAdapter
from qbosync.source.models import NewSourceCustomer, NewSourceProduct, SourceCustomer
from qbosync.source.port import SourcePort
from tests.support.fakes import TopOfRange

BASE_URL = "http://source-sandbox"


SANDBOX_NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app() -> Starlette:
    config = SandboxConfig.for_tenants(["acme", "globex"], customers=37, products=11, invoices=6)
    return build_app(config, clock=lambda: SANDBOX_NOW)


@pytest.fixture
def http(app: Starlette) -> Iterator[httpx.Client]:
    with in_process_client(app, BASE_URL) as client:
        yield client


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def adapter(http: httpx.Client, slept: list[float]) -> HttpSourceAdapter:
    return HttpSourceAdapter(BASE_URL, "acme", "sk_sandbox_acme", http, sleep=slept.append, rng=TopOfRange())


def inject(http: httpx.Client, status: int, count: int) -> None:
    http.post("/_sandbox/faults", json={"status": status, "count": count}).raise_for_status()


def test_given_the_source_port_when_compared_with_the_adapter_then_every_method_matches_by_signature() -> (
    None
):
    port_methods = {n: m for n, m in vars(SourcePort).items() if callable(m) and not n.startswith("_")}

    mismatched = [
        name
        for name, method in port_methods.items()
        if list(inspect.signature(method).parameters)
        != list(inspect.signature(getattr(HttpSourceAdapter, name, lambda: None)).parameters)
    ]

    assert len(port_methods) == 21
    assert mismatched == []


def test_given_37_customers_when_paged_by_10_then_every_customer_is_returned_once(
    adapter: HttpSourceAdapter,
) -> None:
    seen: list[SourceCustomer] = []
    cursor: str | None = None
    while True:
        page = adapter.list_customers(cursor=cursor, limit=10)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [c.id for c in seen] == [f"cus_{n:06d}" for n in range(1, 38)]


def test_given_a_product_id_when_read_then_a_typed_product_is_returned(adapter: HttpSourceAdapter) -> None:
    product = adapter.get_product("prd_000003")

    assert product.id == "prd_000003"
    assert product.billing in {"one_time", "recurring"}


def test_given_documents_when_read_then_invoice_payment_and_credit_note_parse(
    adapter: HttpSourceAdapter,
) -> None:
    payment = adapter.get_payment("pay_000001")
    invoice = adapter.get_invoice(payment.applied_to[0].invoice_id)
    credit_note = adapter.get_credit_note("cn_000001")

    assert invoice.total == payment.amount
    assert credit_note.kind == "credit"


def test_given_an_unknown_invoice_when_read_then_source_not_found(adapter: HttpSourceAdapter) -> None:
    with pytest.raises(SourceNotFound):
        adapter.get_invoice("inv_424242")


def test_given_two_503s_when_reading_then_the_adapter_retries_with_backoff_and_succeeds(
    adapter: HttpSourceAdapter, http: httpx.Client, slept: list[float]
) -> None:
    inject(http, 503, count=2)

    customer = adapter.get_customer("cus_000001")

    assert customer.id == "cus_000001"
    assert slept == [0.25, 0.5]


def test_given_the_source_keeps_answering_503_when_reading_then_source_unavailable_after_max_attempts(
    adapter: HttpSourceAdapter, http: httpx.Client, slept: list[float]
) -> None:
    inject(http, 503, count=10)

    with pytest.raises(SourceUnavailable) as caught:
        adapter.get_customer("cus_000001")

    assert caught.value.status == 502
    assert len(slept) == 3  # four attempts, three waits


def test_given_a_429_when_reading_then_it_is_retried(
    adapter: HttpSourceAdapter, http: httpx.Client, slept: list[float]
) -> None:
    inject(http, 429, count=1)

    adapter.list_products(limit=5)

    assert len(slept) == 1


def test_given_a_400_when_reading_then_it_is_not_retried(
    adapter: HttpSourceAdapter, http: httpx.Client, slept: list[float]
) -> None:
    inject(http, 400, count=1)

    with pytest.raises(SourceRejected) as caught:
        adapter.get_customer("cus_000001")

    assert caught.value.source_status == 400
    assert slept == []


def test_given_a_wrong_api_key_when_reading_then_source_rejected_without_the_key_in_the_error(
    http: httpx.Client,
) -> None:
    adapter = HttpSourceAdapter(BASE_URL, "acme", "sk_not_the_key", http, sleep=lambda _: None)

    with pytest.raises(SourceRejected) as caught:
        adapter.list_customers()

    assert caught.value.source_status == 401
    assert caught.value.source_code == "invalid_api_key"
    assert "sk_not_the_key" not in str(caught.value.to_body())
    assert "sk_not_the_key" not in repr(adapter)


def test_given_connection_errors_when_reading_then_they_are_retried_then_source_unavailable() -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    adapter = HttpSourceAdapter(
        BASE_URL, "acme", "sk_sandbox_acme", http, max_attempts=3, sleep=lambda _: None
    )

    with pytest.raises(SourceUnavailable):
        adapter.get_invoice("inv_000001")

    assert len(attempts) == 3


def test_given_a_retry_after_header_when_throttled_then_the_wait_honours_it() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={"items": []})]
    )
    http = httpx.Client(transport=httpx.MockTransport(lambda _: next(answers)))
    slept: list[float] = []
    adapter = HttpSourceAdapter(BASE_URL, "acme", "k", http, sleep=slept.append)

    assert adapter.list_payment_methods() == []
    assert slept == [3.0]


def test_given_a_2xx_body_that_breaks_the_contract_when_read_then_source_invalid_response() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"id": "x"})))
    adapter = HttpSourceAdapter(BASE_URL, "acme", "k", http, sleep=lambda _: None)

    with pytest.raises(SourceInvalidResponse):
        adapter.get_invoice("x")


def test_given_the_same_idempotency_key_when_creating_twice_then_the_same_customer_comes_back(
    adapter: HttpSourceAdapter, app: Starlette
) -> None:
    new = NewSourceCustomer(display_name="Initech", email="ap@initech.example", bill_profile_id="BP-ANNUAL")

    first = adapter.create_customer(new, idempotency_key="qbo:realm-1:customer:58")
    second = adapter.create_customer(new, idempotency_key="qbo:realm-1:customer:58")

    assert first == second
    assert app.state.sandbox.created["customers"] == 1


def test_given_a_503_on_create_when_retried_then_exactly_one_product_is_created(
    adapter: HttpSourceAdapter, app: Starlette, http: httpx.Client
) -> None:
    inject(http, 503, count=1)
    new = NewSourceProduct(name="Widget", product_type="hardware", gl_code="4100-HW", unit_price="12.50")

    product = adapter.create_product(new, idempotency_key="qbo:realm-1:item:9")

    assert product.name == "Widget"
    assert app.state.sandbox.created["products"] == 1


def test_given_a_product_with_an_unknown_tax_code_when_created_then_source_rejected_with_details(
    adapter: HttpSourceAdapter,
) -> None:
    new = NewSourceProduct(name="Widget", product_type="hardware", tax_code="MARS")

    with pytest.raises(SourceRejected) as caught:
        adapter.create_product(new, idempotency_key="k-mars")

    assert caught.value.source_code == "validation_failed"
    assert caught.value.details[0]["loc"] == "tax_code"


def test_given_the_reference_lists_when_read_then_each_is_typed(adapter: HttpSourceAdapter) -> None:
    accounts = adapter.list_accounts()
    tax_codes = adapter.list_tax_codes()

    assert {a.account_type for a in accounts} >= {"income", "expense", "asset", "liability"}
    assert any(t.rate == 0 for t in tax_codes)
    assert adapter.list_payment_methods()
    assert adapter.list_gl_codes()
    assert adapter.list_product_types()
    assert adapter.list_bill_profiles()


def test_given_updated_since_when_listing_invoices_then_only_changed_ones_return(
    adapter: HttpSourceAdapter, http: httpx.Client
) -> None:
    since = datetime(2030, 1, 1, tzinfo=UTC)  # after the seed data, before the sandbox's clock
    http.post("/_sandbox/tenants/acme/invoices/inv_000002/void").raise_for_status()

    page = adapter.list_invoices(updated_since=since)

    assert [(i.id, i.status) for i in page.items] == [("inv_000002", "void")]


def test_given_a_limit_above_500_when_listing_then_value_error_before_any_request(
    adapter: HttpSourceAdapter,
) -> None:
    with pytest.raises(ValueError, match="limit"):
        adapter.list_customers(limit=501)
