"""The Rev.io adapter: mapping of each object, paging with shifted pages, throttling, idempotent writes."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.revio_emulator.app import EmulatorConfig, build_app
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.config import SourceAdapterCredentials, SourceAdapterKind, TenantSourceConfig
from qbosync.source.errors import SourceNotFound, SourceRejected, SourceUnavailable
from qbosync.source.models import NewAppliedAmount, NewSourceCustomer, NewSourcePayment, SourceCustomerUpdate
from qbosync.source.registry import SourceAdapterMisconfigured, default_registry
from qbosync.source.revio.adapter import (
    RevioAdapter,
    decode_cursor,
    idempotency_marker,
    marked_reference,
    unmarked_reference,
)
from qbosync.source.revio.client import RevioClient, RevioCredentials
from qbosync.source.revio.write_keys import CLAIM_LEASE, InMemoryWriteKeys, WriteKey, body_hash

CONFIG = EmulatorConfig(customers=9, products=4, bills=4)
CREDENTIALS = RevioCredentials(CONFIG.username, CONFIG.client_code, CONFIG.password, CONFIG.subscription_key)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[tuple[RevioAdapter, httpx.Client]]:
    with in_process_client(build_app(CONFIG), base_url="http://revio") as http:
        client = RevioClient(CREDENTIALS, base_url="http://revio/v1", http=http, sleep=lambda _: None)
        yield RevioAdapter("acme", client), http


def canned(routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> RevioAdapter:
    """An adapter whose Rev.io answers ``routes[path]`` (a body, or a list of responses in turn)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        planned = routes[request.url.path]
        if isinstance(planned, list) and planned and isinstance(planned[0], httpx.Response):
            return planned.pop(0)
        return httpx.Response(200, json=planned)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    return RevioAdapter(
        "acme", RevioClient(CREDENTIALS, base_url="http://revio/v1", http=http, sleep=lambda _: None)
    )


def listing(*records: dict[str, Any], has_more: bool = False) -> dict[str, Any]:
    return {"ok": True, "has_more": has_more, "record_count": len(records), "records": list(records)}


# -- mapping ------------------------------------------------------------------------------------


def test_given_a_business_customer_when_read_then_its_billing_address_gives_name_address_and_profile() -> (
    None
):
    adapter = canned(
        {
            "/v1/Customers/1001": {
                "ok": True,
                "customer_id": 1001,
                "bill_profile_id": 3,
                "status": "ACTIVE",
                "email": "ap@northwind.example",
                "billing_address": {
                    "company_name": "Northwind",
                    "first_name": "Linus",
                    "last_name": "Hopper",
                    "line_1": "917 Main St",
                    "city": "Fresno",
                    "state_or_province": "CA",
                    "postal_code": "93650",
                    "country_code": "US",
                },
            }
        }
    )

    customer = adapter.get_customer("1001")

    assert (customer.id, customer.display_name, customer.given_name, customer.bill_profile_id) == (
        "1001",
        "Northwind",
        "Linus",
        "3",
    )
    assert customer.billing_address is not None
    assert (customer.billing_address.region, customer.active, customer.version) == ("CA", True, 1)


def test_given_a_person_without_company_when_read_then_the_display_name_is_the_persons_name() -> None:
    adapter = canned(
        {
            "/v1/Customers/7": {
                "customer_id": 7,
                "status": "CLOSED",
                "billing_address": {"first_name": "Ada", "last_name": "Byron"},
            }
        }
    )

    customer = adapter.get_customer("7")

    assert (customer.display_name, customer.company_name, customer.active) == ("Ada Byron", None, False)


def test_given_a_catalog_product_when_read_then_rate_type_ledger_and_tax_class_become_codes() -> None:
    adapter = canned(
        {
            "/v1/Products/2001": {
                "product_id": 2001,
                "product_type_id": 4,
                "description": "Managed endpoint Pro",
                "code_1": "MEP",
                "rate": 45.5,
                "ledger_code_id": 9,
                "tax_class_id": 2,
                "active": True,
            }
        }
    )

    product = adapter.get_product("2001")

    assert (product.name, product.sku, product.unit_price, product.billing) == (
        "Managed endpoint Pro",
        "MEP",
        Decimal("45.50"),
        "recurring",
    )
    assert (product.product_type, product.gl_code, product.income_account, product.tax_code) == (
        "4",
        "9",
        "9",
        "2",
    )


def test_given_a_bill_with_charges_when_read_then_it_is_an_invoice_with_a_line_per_charge_and_its_tax() -> (
    None
):
    seen: list[httpx.Request] = []
    adapter = canned(
        {
            "/v1/Bills/5001": {
                "bill_id": 5001,
                "customer_id": 1001,
                "amount_due": 110.0,
                "due_date": "2026-02-10T00:00:00",
                "created_date": "2026-01-11T08:00:00",
            },
            "/v1/Charges": listing(
                {
                    "charge_id": 1,
                    "bill_id": 5001,
                    "customer_id": 1001,
                    "product_id": 2001,
                    "description": "Plan",
                    "quantity": 2,
                    "rate": 50,
                    "amount": 108.0,
                    "tax_amount": 8.0,
                },
                {
                    "charge_id": 2,
                    "bill_id": 5001,
                    "customer_id": 1001,
                    "description": "Setup",
                    "quantity": 1,
                    "rate": 2,
                },
            ),
        },
        seen,
    )

    invoice = adapter.get_invoice("5001")

    assert [(line.id, line.product_id, line.amount) for line in invoice.lines] == [
        ("chg_1", "2001", Decimal("100.00")),
        ("chg_2", None, Decimal("2.00")),
    ]
    assert (
        invoice.number,
        invoice.issue_date.isoformat(),
        invoice.tax_total,
        invoice.total,
        invoice.status,
    ) == (
        "5001",
        "2026-01-11",
        Decimal("8.00"),
        Decimal("110.00"),
        "open",
    )
    assert seen[1].url.params["search.bill_id"] == "5001"


def test_given_a_bill_with_nothing_due_when_read_then_it_is_paid() -> None:
    adapter = canned(
        {
            "/v1/Bills/5002": {
                "bill_id": 5002,
                "customer_id": 1,
                "amount_due": 0,
                "total": 10,
                "created_date": "2026-01-11T08:00:00",
            },
            "/v1/Charges": listing(),
        }
    )

    assert adapter.get_invoice("5002").status == "paid"


def test_given_a_payment_on_a_bill_when_read_then_it_applies_to_that_invoice_and_void_maps_to_void() -> None:
    adapter = canned(
        {
            "/v1/Payments/8001": {
                "payment_id": 8001,
                "customer_id": 1001,
                "amount": 120,
                "payment_type": "ACH",
                "reference_number": "REF1",
                "bill_id": 5001,
                "status": "VOID",
                "created_date": "2026-02-01T09:00:00",
            },
        }
    )

    payment = adapter.get_payment("8001")

    assert (payment.method, payment.reference, payment.status, payment.date.isoformat()) == (
        "ACH",
        "REF1",
        "void",
        "2026-02-01",
    )
    assert [(a.invoice_id, a.amount) for a in payment.applied_to] == [("5001", Decimal("120.00"))]


@pytest.mark.parametrize(("credit_type", "kind"), [("CREDIT", "credit"), ("WRITE_OFF", "write_off")])
def test_given_a_credit_when_read_then_its_type_decides_credit_or_write_off(
    credit_type: str, kind: str
) -> None:
    adapter = canned(
        {
            "/v1/Credits/9001": {
                "credit_id": 9001,
                "customer_id": 1001,
                "amount": 5,
                "credit_type": credit_type,
                "bill_id": 5001,
                "created_date": "2026-01-16T00:00:00",
            },
        }
    )

    note = adapter.get_credit_note("9001")

    assert (note.kind, note.total, note.status, note.applied_to[0].invoice_id) == (
        kind,
        Decimal("5.00"),
        "applied",
        "5001",
    )


def test_given_reference_data_when_listed_then_each_list_has_codes_and_payment_methods_are_payment_types(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, _ = emulator

    assert {entry.code for entry in adapter.list_payment_methods()} >= {"CREDIT_CARD", "ACH"}
    assert [entry.name for entry in adapter.list_bill_profiles()] == [
        "Paper statement",
        "Monthly email statement",
    ]
    assert {entry.account_type for entry in adapter.list_accounts()} == {"income"}
    assert {entry.code for entry in adapter.list_gl_codes()} == {
        entry.code for entry in adapter.list_accounts()
    }
    assert [tax.rate for tax in adapter.list_tax_codes()] == [Decimal("0"), Decimal("8.25")]
    assert len(adapter.list_product_types()) == 3


def test_given_an_id_that_is_not_a_rev_io_id_when_read_then_it_is_not_found_without_a_request() -> None:
    adapter = canned({})

    with pytest.raises(SourceNotFound):
        adapter.get_customer("cus_1")


# -- requests -----------------------------------------------------------------------------------


def test_given_credentials_when_a_request_is_sent_then_it_has_basic_auth_with_client_code_and_key() -> None:
    seen: list[httpx.Request] = []
    adapter = canned({"/v1/Customers": listing()}, seen)

    adapter.list_customers()

    decoded = base64.b64decode(seen[0].headers["authorization"].removeprefix("Basic ")).decode()
    assert decoded == f"{CONFIG.username}@{CONFIG.client_code}:{CONFIG.password}"
    assert seen[0].headers["ocp-apim-subscription-key"] == CONFIG.subscription_key
    assert (seen[0].url.params["search.page"], seen[0].url.params["search.page_size"]) == ("1", "100")


def test_given_a_429_with_retry_after_when_read_then_the_adapter_waits_that_long_and_retries() -> None:
    waits: list[float] = []
    answers = [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=listing())]
    http = httpx.Client(transport=httpx.MockTransport(lambda _: answers.pop(0)))
    client = RevioClient(CREDENTIALS, base_url="http://revio/v1", http=http, sleep=waits.append)

    RevioAdapter("acme", client).list_customers()

    assert waits == [3.0]
    assert client.requests_sent == 2


def test_given_429s_without_retry_after_when_read_then_the_adapter_backs_off_then_gives_up() -> None:
    waits: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(429)))
    client = RevioClient(
        CREDENTIALS,
        base_url="http://revio/v1",
        http=http,
        sleep=waits.append,
        max_attempts=4,
        backoff_seconds=1.0,
        max_backoff_seconds=8.0,
        rng=random.Random(1),
    )

    with pytest.raises(SourceUnavailable):
        RevioAdapter("acme", client).list_customers()

    assert len(waits) == 3
    assert all(wait <= ceiling for wait, ceiling in zip(waits, (1.0, 2.0, 4.0), strict=True))


def test_given_the_emulator_throttles_once_when_read_then_the_read_succeeds(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    http.post("/_emulator/faults", json={"status": 429, "count": 1, "retry_after": 1}).raise_for_status()

    assert len(adapter.list_customers().items) == CONFIG.customers


# -- paging -------------------------------------------------------------------------------------


def test_given_records_created_during_a_walk_when_pages_shift_then_no_record_comes_back_twice(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    first = adapter.list_customers(limit=4)
    for name in ("New A", "New B"):  # newest first: both push every later page down
        http.post(
            "/_emulator/Customers", json={"status": "ACTIVE", "billing_address": {"company_name": name}}
        )
    ids = [customer.id for customer in first.items]
    cursor = first.next_cursor
    while cursor:
        page = adapter.list_customers(cursor=cursor, limit=4)
        ids.extend(customer.id for customer in page.items)
        cursor = page.next_cursor

    assert len(ids) == len(set(ids)) == CONFIG.customers


def test_given_a_cursor_the_adapter_did_not_issue_when_decoded_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="cursor"):
        decode_cursor("not-a-cursor")


def test_given_updated_since_when_listed_then_only_records_whose_content_changed_since_come_back(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    before = adapter.list_products(limit=50).items
    cutoff = max(product.updated_at for product in before)
    http.patch(f"/_emulator/Products/{before[0].id}", json={"rate": "99.00"}).raise_for_status()

    changed = adapter.list_products(limit=50, updated_since=cutoff)

    assert [(p.id, p.version, p.unit_price) for p in changed.items if p.updated_at > cutoff] == [
        (before[0].id, 2, Decimal("99.00"))
    ]


# -- writes -------------------------------------------------------------------------------------


def test_given_a_retried_customer_create_when_sent_again_then_the_first_customer_comes_back(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    new = NewSourceCustomer(display_name="Initech", email="ap@initech.example", bill_profile_id="1")

    first = adapter.create_customer(new, "realm-1:customer:58")
    again = adapter.create_customer(new, "realm-1:customer:58")

    assert first.id == again.id
    assert http.get("/_emulator/stats").json()["requests"]["POST /v1/Customers"] == 1
    record = adapter._client.request("GET", f"/Customers/{first.id}").json()
    assert record["account_number"] == idempotency_marker("realm-1:customer:58")


def test_given_a_qbo_payment_recorded_twice_when_voided_twice_then_one_payment_and_one_void_reach_rev_io(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    invoice = next(i for i in adapter.list_invoices(limit=50).items if i.status == "open")
    payment = NewSourcePayment(
        customer_id=invoice.customer_id,
        date=NOW.date(),
        amount=invoice.total,
        method="ACH",
        applied_to=[NewAppliedAmount(invoice_id=invoice.id, amount=invoice.total)],
    )

    created = adapter.create_payment(payment, "realm-1:payment:77")
    replayed = adapter.create_payment(payment, "realm-1:payment:77")
    voided = adapter.void_payment(created.id)
    voided_again = adapter.void_payment(created.id)

    assert created.id == replayed.id
    assert adapter.get_invoice(invoice.id).status == "open"  # the void put the amount back
    assert (voided.status, voided_again.version) == ("void", voided.version)
    assert http.get("/_emulator/stats").json()["requests"]["POST /v1/Payments/{id}/void"] == 1


def test_given_a_payment_above_the_bills_amount_due_when_recorded_then_422_and_nothing_reaches_rev_io(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    invoice = next(i for i in adapter.list_invoices(limit=50).items if i.status == "open")
    other = next(c for c in adapter.list_customers(limit=50).items if c.id != invoice.customer_id)
    too_much = NewSourcePayment(
        customer_id=invoice.customer_id,
        date=NOW.date(),
        amount=invoice.total,
        method="ACH",
        applied_to=[
            NewAppliedAmount(invoice_id=invoice.id, amount=invoice.total),
            NewAppliedAmount(invoice_id=invoice.id, amount=Decimal("0.01")),
        ],
    )
    not_theirs = too_much.model_copy(
        update={
            "customer_id": other.id,
            "applied_to": [NewAppliedAmount(invoice_id=invoice.id, amount=Decimal(1))],
        }
    )

    with pytest.raises(SourceRejected) as above:
        adapter.create_payment(too_much, "realm-1:payment:over")
    with pytest.raises(SourceRejected) as foreign:
        adapter.create_payment(not_theirs, "realm-1:payment:foreign")

    assert (above.value.source_status, above.value.source_code) == (422, "validation_failed")
    assert [(d["loc"], d["type"]) for d in above.value.details] == [
        ("applied_to.1.amount", "exceeds_open_amount")
    ]
    assert [(d["loc"], d["type"]) for d in foreign.value.details] == [
        ("applied_to.0.invoice_id", "invoice_of_another_customer")
    ]
    assert http.get("/_emulator/stats").json()["requests"].get("POST /v1/Payments", 0) == 0


def test_given_a_bill_paid_in_full_when_another_payment_is_recorded_against_it_then_it_is_refused(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, _http = emulator
    invoice = next(i for i in adapter.list_invoices(limit=50).items if i.status == "open")
    payment = NewSourcePayment(
        customer_id=invoice.customer_id,
        date=NOW.date(),
        amount=invoice.total,
        method="ACH",
        applied_to=[NewAppliedAmount(invoice_id=invoice.id, amount=invoice.total)],
    )
    first = adapter.create_payment(payment, "realm-1:payment:first")

    with pytest.raises(SourceRejected) as refused:
        adapter.create_payment(payment, "realm-1:payment:second")

    assert [d["type"] for d in refused.value.details] == ["exceeds_open_amount"]
    # A replay of the first key is answered by its marker before the check: the same payment.
    assert adapter.create_payment(payment, "realm-1:payment:first").id == first.id


class StepClock:
    """The adapter's clock for its key claims: moved by the test, never by time passing."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def keyed() -> Iterator[tuple[RevioAdapter, httpx.Client, InMemoryWriteKeys, StepClock]]:
    keys, clock = InMemoryWriteKeys(), StepClock()
    with in_process_client(build_app(CONFIG), base_url="http://revio") as http:
        client = RevioClient(CREDENTIALS, base_url="http://revio/v1", http=http, sleep=lambda _: None)
        yield RevioAdapter("acme", client, write_keys=keys, clock=clock), http, keys, clock


def full_payment(adapter: RevioAdapter) -> NewSourcePayment:
    invoice = next(i for i in adapter.list_invoices(limit=50).items if i.status == "open")
    return NewSourcePayment(
        customer_id=invoice.customer_id,
        date=NOW.date(),
        amount=invoice.total,
        method="ACH",
        applied_to=[NewAppliedAmount(invoice_id=invoice.id, amount=invoice.total)],
    )


def posts(http: httpx.Client, route: str = "POST /v1/Payments") -> int:
    return int(http.get("/_emulator/stats").json()["requests"].get(route, 0))


def test_given_a_key_used_with_one_body_when_used_with_another_then_409_and_nothing_is_written(
    keyed: tuple[RevioAdapter, httpx.Client, InMemoryWriteKeys, StepClock],
) -> None:
    adapter, http, _keys, _clock = keyed
    payment = full_payment(adapter)
    adapter.create_payment(payment, "realm-1:payment:9")

    with pytest.raises(SourceRejected) as refused:
        adapter.create_payment(payment.model_copy(update={"method": "CHECK"}), "realm-1:payment:9")

    assert (refused.value.source_status, refused.value.source_code) == (409, "idempotency_key_reused")
    assert posts(http) == 1


def test_given_a_settled_key_when_replayed_then_the_recorded_payment_is_read_without_a_search(
    keyed: tuple[RevioAdapter, httpx.Client, InMemoryWriteKeys, StepClock],
) -> None:
    adapter, http, _keys, _clock = keyed
    payment = full_payment(adapter)
    created = adapter.create_payment(payment, "realm-1:payment:10")
    searches = posts(http, "GET /v1/Payments")

    replayed = adapter.create_payment(payment, "realm-1:payment:10")

    assert replayed.id == created.id
    assert (posts(http), posts(http, "GET /v1/Payments")) == (1, searches)


def test_given_another_try_holding_the_key_when_the_same_create_runs_then_it_waits_until_the_lease_ends(
    keyed: tuple[RevioAdapter, httpx.Client, InMemoryWriteKeys, StepClock],
) -> None:
    adapter, http, keys, clock = keyed
    payment = full_payment(adapter)
    marker = idempotency_marker("realm-1:payment:11")
    # Another worker claimed the key a moment ago and has not written yet (or died before it did).
    keys.claim(
        WriteKey(marker, body_hash(payment.model_dump(mode="json")), clock.now), stale_before=clock.now
    )

    with pytest.raises(SourceUnavailable):
        adapter.create_payment(payment, "realm-1:payment:11")
    posted_while_held = posts(http)
    clock.now += CLAIM_LEASE + timedelta(seconds=1)
    created = adapter.create_payment(payment, "realm-1:payment:11")

    assert posted_while_held == 0
    assert posts(http) == 1
    assert adapter.create_payment(payment, "realm-1:payment:11").id == created.id


def test_given_a_try_that_died_after_rev_io_created_the_payment_when_retried_then_it_is_found_not_repeated(
    keyed: tuple[RevioAdapter, httpx.Client, InMemoryWriteKeys, StepClock],
) -> None:
    adapter, http, keys, clock = keyed
    payment = full_payment(adapter)
    marker = idempotency_marker("realm-1:payment:12")
    # The first try claimed the key, Rev.io created the payment, and the try died before the settle.
    keys.claim(
        WriteKey(marker, body_hash(payment.model_dump(mode="json")), clock.now), stale_before=clock.now
    )
    dead_try = RevioAdapter(
        "acme",
        RevioClient(CREDENTIALS, base_url="http://revio/v1", http=http),
        write_keys=InMemoryWriteKeys(),
    )
    first = dead_try.create_payment(payment, "realm-1:payment:12")

    found_while_held = adapter.create_payment(payment, "realm-1:payment:12")
    clock.now += CLAIM_LEASE + timedelta(seconds=1)
    found_after_lease = adapter.create_payment(payment, "realm-1:payment:12")

    assert found_while_held.id == found_after_lease.id == first.id
    assert posts(http) == 1


def test_given_a_customer_update_when_applied_then_it_is_a_json_patch_and_a_repeat_sends_nothing(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    customer = adapter.list_customers(limit=1).items[0]
    changes = SourceCustomerUpdate(email="billing@new.example", active=False)

    updated = adapter.update_customer(customer.id, changes)
    repeated = adapter.update_customer(customer.id, changes)

    assert (updated.email, updated.active, updated.version) == (
        "billing@new.example",
        False,
        customer.version + 1,
    )
    assert repeated.version == updated.version
    assert http.get("/_emulator/stats").json()["requests"]["PATCH /v1/Customers/{id}"] == 1


# -- the registry ---------------------------------------------------------------------------------


def test_given_a_tenant_that_names_revio_when_built_then_the_registry_returns_the_revio_adapter() -> None:
    config = TenantSourceConfig(
        adapter=SourceAdapterKind.REVIO, base_url="https://restapi.rev.io/v1", options={"client_code": "acme"}
    )
    secrets = SourceAdapterCredentials.model_validate(
        {"username": "api", "password": "pw", "subscription_key": "key"}
    )

    adapter = default_registry().build("acme", config, secrets, default_base_url="http://unused")

    assert isinstance(adapter, RevioAdapter)


def test_given_a_revio_tenant_without_its_secrets_when_built_then_it_is_misconfigured_naming_each() -> None:
    config = TenantSourceConfig(adapter=SourceAdapterKind.REVIO, base_url="https://restapi.rev.io/v1")

    with pytest.raises(SourceAdapterMisconfigured) as refused:
        default_registry().build("acme", config, SourceAdapterCredentials(), default_base_url="http://unused")

    assert [d["missing"] for d in refused.value.details] == [
        "username",
        "password",
        "subscription_key",
        "client_code",
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("QBO-CHK-2001", "QBO-CHK-2001"), (None, None)],
)
def test_given_a_payment_reference_when_marked_for_look_before_write_then_reading_it_back_strips_the_marker(
    reference: str | None, expected: str | None
) -> None:
    marked = marked_reference(reference, idempotency_marker("realm:pay:1"))

    assert idempotency_marker("realm:pay:1") in marked
    assert unmarked_reference(marked) == expected
    assert unmarked_reference("CHK-0001") == "CHK-0001"


def test_given_few_changed_records_over_many_rev_io_pages_when_listed_since_then_one_page_holds_them_all(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    everything = adapter.list_customers(limit=50).items
    cutoff = max(customer.updated_at for customer in everything)
    for customer in (everything[0], everything[-1]):  # the first and the last Rev.io page
        http.patch(f"/_emulator/Customers/{customer.id}", json={"email": f"new-{customer.id}@x.example"})

    page = adapter.list_customers(limit=2, updated_since=cutoff)

    changed = [customer.id for customer in page.items if customer.updated_at > cutoff]
    assert sorted(changed) == sorted([everything[0].id, everything[-1].id])
    assert page.next_cursor is None


def test_given_a_walk_stopped_mid_page_when_resumed_then_nothing_is_skipped_or_repeated(
    emulator: tuple[RevioAdapter, httpx.Client],
) -> None:
    adapter, http = emulator
    cutoff = max(customer.updated_at for customer in adapter.list_customers(limit=50).items)
    for customer_id in ("1001", "1002", "1003"):  # three changes on one Rev.io page of four
        http.patch(f"/_emulator/Customers/{customer_id}", json={"phone": "+1-555-9999"})

    first = adapter.list_customers(limit=2, updated_since=cutoff)
    rest = adapter.list_customers(cursor=first.next_cursor, limit=2, updated_since=cutoff)

    changed = [c.id for c in first.items + rest.items if c.updated_at > cutoff]
    assert sorted(changed) == ["1001", "1002", "1003"]
    assert len(first.items) == 2


def test_given_wrong_credentials_when_read_then_rev_io_refuses_and_nothing_is_retried() -> None:
    wrong = RevioCredentials(CONFIG.username, CONFIG.client_code, "not-the-password", CONFIG.subscription_key)
    with in_process_client(build_app(CONFIG), base_url="http://revio") as http:
        client = RevioClient(wrong, base_url="http://revio/v1", http=http, sleep=lambda _: None)

        with pytest.raises(SourceRejected) as refused:
            RevioAdapter("acme", client).list_customers()

    assert (refused.value.source_status, client.requests_sent) == (401, 1)


def test_given_two_revio_tenants_when_built_then_each_keeps_its_own_versions_unless_given_a_store() -> None:
    from qbosync.source.revio.versions import InMemoryVersionStore

    config = TenantSourceConfig(
        adapter=SourceAdapterKind.REVIO, base_url="http://revio/v1", options={"client_code": "acme"}
    )
    secrets = SourceAdapterCredentials.model_validate(
        {"username": "u", "password": "p", "subscription_key": "k"}
    )
    given = InMemoryVersionStore()

    acme = default_registry().build("acme", config, secrets, default_base_url="http://unused")
    globex = default_registry().build("globex", config, secrets, default_base_url="http://unused")
    durable = default_registry().build(
        "acme", config, secrets, default_base_url="http://unused", version_store=given
    )

    assert (
        isinstance(acme, RevioAdapter)
        and isinstance(globex, RevioAdapter)
        and isinstance(durable, RevioAdapter)
    )
    assert acme._versions._store is not globex._versions._store
    assert durable._versions._store is given
