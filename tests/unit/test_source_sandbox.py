"""The source sandbox, driven in-process: paging, auth, bad input, idempotent creation, control API."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.source_sandbox import SandboxConfig, build_app
from local.source_sandbox.inprocess import in_process_client
from local.source_sandbox.state import SandboxState
from qbosync.source.models import SourceCustomer, SourceWebhook
from qbosync.source.signing import verify

ACME = {"Authorization": "Bearer sk_sandbox_acme"}
GLOBEX = {"Authorization": "Bearer sk_sandbox_globex"}
NEW_CUSTOMER = {"display_name": "Initech", "company_name": "Initech", "bill_profile_id": "BP-ANNUAL"}


def build(**options: Any) -> Starlette:
    return build_app(
        SandboxConfig.for_tenants(["acme", "globex"], customers=23, products=9, invoices=4, **options)
    )


@contextmanager
def sandbox(**options: Any) -> Iterator[httpx.Client]:
    with in_process_client(build(**options)) as client:
        yield client


@pytest.fixture
def app() -> Starlette:
    return build()


@pytest.fixture
def client(app: Starlette) -> Iterator[httpx.Client]:
    with in_process_client(app) as in_process:
        yield in_process


def state_of(app: Starlette) -> SandboxState:
    state = app.state.sandbox
    assert isinstance(state, SandboxState)
    return state


def walk(client: httpx.Client, path: str, limit: int) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, params=params, headers=ACME).json()
        pages += 1
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages


# -- paging ------------------------------------------------------------------------------------


def test_given_23_customers_when_walked_with_limit_5_then_each_appears_exactly_once_in_order(
    client: httpx.Client,
) -> None:
    ids, pages = walk(client, "/tenants/acme/customers", limit=5)

    assert ids == [f"cus_{n:06d}" for n in range(1, 24)]
    assert pages == 5


def test_given_a_limit_equal_to_the_count_when_listed_then_one_page_with_no_next_cursor(
    client: httpx.Client,
) -> None:
    page = client.get("/tenants/acme/products", params={"limit": 9}, headers=ACME).json()

    assert len(page["items"]) == 9
    assert page["next_cursor"] is None


def test_given_a_customer_created_mid_walk_when_the_walk_continues_then_it_appears_once_at_the_end(
    client: httpx.Client,
) -> None:
    first = client.get("/tenants/acme/customers", params={"limit": 20}, headers=ACME).json()
    created = client.post(
        "/tenants/acme/customers", json=NEW_CUSTOMER, headers={**ACME, "Idempotency-Key": "k-mid"}
    ).json()

    rest = client.get(
        "/tenants/acme/customers", params={"limit": 20, "cursor": first["next_cursor"]}, headers=ACME
    ).json()

    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert ids[-1] == created["id"]
    assert len(ids) == len(set(ids)) == 24


def test_given_a_deleted_customer_when_listed_then_it_is_hidden_unless_include_deleted(
    client: httpx.Client,
) -> None:
    client.delete("/_sandbox/tenants/acme/customers/cus_000002")

    default = walk(client, "/tenants/acme/customers", limit=500)[0]
    everything = client.get(
        "/tenants/acme/customers", params={"limit": 500, "include_deleted": "true"}, headers=ACME
    ).json()

    assert "cus_000002" not in default
    assert "cus_000002" in [c["id"] for c in everything["items"]]


def test_given_updated_since_when_invoices_are_listed_then_only_later_changes_are_returned(
    client: httpx.Client,
) -> None:
    changed = client.put("/_sandbox/tenants/acme/invoices/inv_000003", json={"due_date": "2026-12-31"}).json()

    page = client.get(
        "/tenants/acme/invoices", params={"updated_since": changed["updated_at"]}, headers=ACME
    ).json()

    assert [i["id"] for i in page["items"]] == ["inv_000003"]


@pytest.mark.parametrize("limit", ["0", "501", "ten", "-1"])
def test_given_a_limit_out_of_range_when_listed_then_400_invalid_limit(
    client: httpx.Client, limit: str
) -> None:
    response = client.get("/tenants/acme/customers", params={"limit": limit}, headers=ACME)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_limit"


@pytest.mark.parametrize("cursor", ["garbage!", "eyJ4IjoxfQ"])
def test_given_a_cursor_the_sandbox_did_not_issue_when_listed_then_400_invalid_cursor(
    client: httpx.Client, cursor: str
) -> None:
    response = client.get("/tenants/acme/customers", params={"cursor": cursor}, headers=ACME)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_given_a_products_cursor_when_used_on_customers_then_400_invalid_cursor(client: httpx.Client) -> None:
    cursor = client.get("/tenants/acme/products", params={"limit": 1}, headers=ACME).json()["next_cursor"]

    response = client.get("/tenants/acme/customers", params={"cursor": cursor}, headers=ACME)

    assert response.status_code == 400


# -- auth --------------------------------------------------------------------------------------


def test_given_no_api_key_when_reading_then_401_with_a_bearer_challenge(client: httpx.Client) -> None:
    response = client.get("/tenants/acme/customers")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "missing_api_key"


def test_given_a_wrong_api_key_when_reading_then_401(client: httpx.Client) -> None:
    response = client.get("/tenants/acme/customers", headers={"Authorization": "Bearer sk_wrong_key"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_given_another_tenants_api_key_when_reading_then_401(client: httpx.Client) -> None:
    response = client.get("/tenants/acme/customers/cus_000001", headers=GLOBEX)

    assert response.status_code == 401


def test_given_an_unknown_tenant_when_reading_then_401_not_revealing_whether_it_exists(
    client: httpx.Client,
) -> None:
    response = client.get("/tenants/nobody/customers", headers=ACME)

    assert response.status_code == 401


# -- reads and bad input -----------------------------------------------------------------------


def test_given_a_customer_id_when_read_then_the_body_parses_as_the_contract_model(
    client: httpx.Client,
) -> None:
    body = client.get("/tenants/acme/customers/cus_000007", headers=ACME).json()

    customer = SourceCustomer.model_validate(body)
    assert customer.id == "cus_000007"
    assert customer.version == 1


def test_given_an_unknown_invoice_when_read_then_404_not_found(client: httpx.Client) -> None:
    response = client.get("/tenants/acme/invoices/inv_999999", headers=ACME)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_given_an_unknown_collection_when_read_then_404_unknown_collection(client: httpx.Client) -> None:
    response = client.get("/tenants/acme/widgets", headers=ACME)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_collection"


def test_given_the_reference_lists_when_read_then_each_has_entries(client: httpx.Client) -> None:
    kinds = ["payment-methods", "gl-codes", "product-types", "accounts", "tax-codes", "bill-profiles"]

    sizes = {kind: len(client.get(f"/tenants/acme/{kind}", headers=ACME).json()["items"]) for kind in kinds}

    assert all(size > 0 for size in sizes.values()), sizes


def test_given_seeded_products_when_listed_then_both_billing_kinds_and_every_product_type_appear(
    app: Starlette,
) -> None:
    products = list(state_of(app).iter_objects("acme", "products"))

    assert {p.billing for p in products} == {"one_time", "recurring"}  # type: ignore[attr-defined]
    assert len({p.product_type for p in products}) == 8  # type: ignore[attr-defined]


def test_given_the_same_seed_when_built_twice_then_the_data_is_identical() -> None:
    with sandbox() as first, sandbox() as second:
        a = first.get("/tenants/acme/customers", params={"limit": 500}, headers=ACME).json()
        b = second.get("/tenants/acme/customers", params={"limit": 500}, headers=ACME).json()

    assert a == b


def test_given_malformed_json_when_creating_a_customer_then_400_malformed_json(client: httpx.Client) -> None:
    response = client.post(
        "/tenants/acme/customers",
        content=b"{not json",
        headers={**ACME, "Idempotency-Key": "k1", "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_given_a_wrong_content_type_when_creating_a_customer_then_415(client: httpx.Client) -> None:
    response = client.post(
        "/tenants/acme/customers",
        content=b"display_name=x",
        headers={**ACME, "Idempotency-Key": "k1", "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 415


def test_given_a_customer_without_a_display_name_when_created_then_422_naming_the_field(
    client: httpx.Client,
) -> None:
    response = client.post(
        "/tenants/acme/customers", json={"company_name": "X"}, headers={**ACME, "Idempotency-Key": "k2"}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [d["loc"] for d in error["details"]] == ["display_name"]


def test_given_an_unknown_bill_profile_when_a_customer_is_created_then_422_and_nothing_is_created(
    app: Starlette, client: httpx.Client
) -> None:
    response = client.post(
        "/tenants/acme/customers",
        json={**NEW_CUSTOMER, "bill_profile_id": "BP-NOPE"},
        headers={**ACME, "Idempotency-Key": "k3"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["type"] == "unknown_reference"
    assert state_of(app).created["customers"] == 0


def test_given_a_product_with_an_unknown_gl_code_when_created_then_422(client: httpx.Client) -> None:
    product = {"name": "Widget", "product_type": "hardware", "gl_code": "9999-NOPE", "unit_price": "10.00"}

    response = client.post("/tenants/acme/products", json=product, headers={**ACME, "Idempotency-Key": "k4"})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == "gl_code"


def test_given_no_idempotency_key_when_creating_a_customer_then_428(client: httpx.Client) -> None:
    response = client.post("/tenants/acme/customers", json=NEW_CUSTOMER, headers=ACME)

    assert response.status_code == 428
    assert response.json()["error"]["code"] == "idempotency_key_required"


def test_given_invoices_when_posted_to_through_the_source_api_then_405(client: httpx.Client) -> None:
    response = client.post("/tenants/acme/invoices", json={}, headers={**ACME, "Idempotency-Key": "k5"})

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# -- idempotent creation -----------------------------------------------------------------------


def test_given_the_same_idempotency_key_twice_when_creating_a_customer_then_one_customer_is_created(
    app: Starlette, client: httpx.Client
) -> None:
    headers = {**ACME, "Idempotency-Key": "qbo-customer-58"}

    first = client.post("/tenants/acme/customers", json=NEW_CUSTOMER, headers=headers)
    second = client.post("/tenants/acme/customers", json=NEW_CUSTOMER, headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert state_of(app).created["customers"] == 1
    assert len(walk(client, "/tenants/acme/customers", limit=500)[0]) == 24


def test_given_a_reused_idempotency_key_with_another_body_when_creating_then_409(
    client: httpx.Client,
) -> None:
    headers = {**ACME, "Idempotency-Key": "qbo-customer-59"}
    client.post("/tenants/acme/customers", json=NEW_CUSTOMER, headers=headers)

    response = client.post(
        "/tenants/acme/customers", json={**NEW_CUSTOMER, "display_name": "Other"}, headers=headers
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_given_the_same_key_in_two_tenants_when_creating_then_each_tenant_gets_its_own_customer(
    client: httpx.Client,
) -> None:
    a = client.post("/tenants/acme/customers", json=NEW_CUSTOMER, headers={**ACME, "Idempotency-Key": "k"})
    b = client.post(
        "/tenants/globex/customers", json=NEW_CUSTOMER, headers={**GLOBEX, "Idempotency-Key": "k"}
    )

    assert a.headers["Idempotent-Replayed"] == b.headers["Idempotent-Replayed"] == "false"


# -- the control API: versions and webhooks ------------------------------------------------------


def test_given_an_invoice_when_updated_through_the_control_api_then_its_version_bumps(
    client: httpx.Client,
) -> None:
    before = client.get("/tenants/acme/invoices/inv_000001", headers=ACME).json()

    after = client.put("/_sandbox/tenants/acme/invoices/inv_000001", json={"status": "paid"}).json()

    assert after["version"] == before["version"] + 1
    assert after["status"] == "paid"


def test_given_a_new_invoice_when_created_then_lines_are_priced_from_products_and_totalled(
    client: httpx.Client,
) -> None:
    product = client.get("/tenants/acme/products/prd_000002", headers=ACME).json()

    invoice = client.post(
        "/_sandbox/tenants/acme/invoices",
        json={"customer_id": "cus_000001", "lines": [{"product_id": "prd_000002", "quantity": 3}]},
    ).json()

    assert invoice["version"] == 1
    assert invoice["lines"][0]["unit_price"] == product["unit_price"]
    assert float(invoice["total"]) == pytest.approx(3 * float(product["unit_price"]))


def test_given_an_invoice_for_an_unknown_customer_when_created_then_422_and_no_webhook(
    client: httpx.Client,
) -> None:
    response = client.post(
        "/_sandbox/tenants/acme/invoices", json={"customer_id": "cus_999999", "lines": [{"quantity": 1}]}
    )

    assert response.status_code == 422
    assert client.get("/_sandbox/webhooks").json()["items"] == []


def test_given_a_change_when_made_then_a_webhook_event_names_the_object_and_new_version(
    client: httpx.Client,
) -> None:
    client.post("/_sandbox/tenants/acme/payments/pay_000001/void")

    [delivery] = client.get("/_sandbox/webhooks").json()["items"]

    event = SourceWebhook.model_validate(delivery["event"])
    assert event.type == "payment.voided"
    assert (event.object.kind, event.object.id, event.object.version) == ("payment", "pay_000001", 2)
    assert event.tenant_id == "acme"


def test_given_a_void_invoice_when_voided_again_then_409_object_void(client: httpx.Client) -> None:
    client.post("/_sandbox/tenants/acme/invoices/inv_000001/void")

    response = client.post("/_sandbox/tenants/acme/invoices/inv_000001/void")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "object_void"


def test_given_a_customer_when_voided_then_400_void_not_supported(client: httpx.Client) -> None:
    response = client.post("/_sandbox/tenants/acme/customers/cus_000001/void")

    assert response.status_code == 400


def test_given_deliver_false_when_a_change_is_made_then_its_webhook_is_dropped(client: httpx.Client) -> None:
    client.delete("/_sandbox/tenants/acme/credit-notes/cn_000001", params={"deliver": "false"})

    [delivery] = client.get("/_sandbox/webhooks").json()["items"]

    assert delivery["status"] == "dropped"
    assert delivery["event"]["type"] == "credit_note.deleted"


def test_given_an_unknown_field_in_an_update_when_applied_then_422_and_the_version_is_unchanged(
    client: httpx.Client,
) -> None:
    response = client.put("/_sandbox/tenants/acme/customers/cus_000001", json={"colour": "blue"})

    assert response.status_code == 422
    assert client.get("/tenants/acme/customers/cus_000001", headers=ACME).json()["version"] == 1


# -- delivery to a receiver, in-process --------------------------------------------------------


def recording_receiver(received: list[tuple[dict[str, str], bytes]]) -> Starlette:
    async def receive(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return JSONResponse({"ok": True}, status_code=202)

    return Starlette(routes=[Route("/webhooks/source/{tenant_id}", receive, methods=["POST"])])


def test_given_held_webhooks_when_flushed_shuffled_twice_each_then_each_copy_arrives_signed() -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    config = SandboxConfig.for_tenants(
        ["acme"],
        customers=3,
        products=3,
        invoices=2,
        webhooks={"url": "http://qbosync/webhooks/source/{tenant_id}", "mode": "hold"},
    )
    app = build_app(config, webhook_transport=httpx.ASGITransport(app=recording_receiver(received)))
    with in_process_client(app) as client:
        for n in range(1, 3):
            client.put(f"/_sandbox/tenants/acme/invoices/inv_{n:06d}", json={"due_date": "2026-12-31"})

        flushed = client.post(
            "/_sandbox/webhooks/flush", json={"shuffle": True, "seed": 1, "copies": 2}
        ).json()

    assert [d["status"] for d in flushed["items"]] == ["delivered", "delivered"]
    assert len(received) == 4
    for headers, body in received:
        verify(
            "whsec_sandbox_acme",
            headers["x-source-timestamp"],
            headers["x-source-signature"],
            body,
            now=int(headers["x-source-timestamp"]),
        )
    assert {SourceWebhook.model_validate_json(body).object.id for _, body in received} == {
        "inv_000001",
        "inv_000002",
    }


def test_given_a_receiver_that_fails_once_when_flushed_then_the_sandbox_retries_and_delivers() -> None:
    calls: list[int] = []

    async def flaky(request: Request) -> Response:
        calls.append(1)
        return JSONResponse({}, status_code=503 if len(calls) == 1 else 200)

    receiver = Starlette(routes=[Route("/hook", flaky, methods=["POST"])])
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    config = SandboxConfig.for_tenants(
        ["acme"], customers=2, products=2, invoices=1, webhooks={"url": "http://qbosync/hook", "mode": "hold"}
    )
    app = build_app(config, webhook_transport=httpx.ASGITransport(app=receiver), webhook_sleep=no_wait)
    with in_process_client(app) as client:
        client.delete("/_sandbox/tenants/acme/products/prd_000001")
        [delivery] = client.post("/_sandbox/webhooks/flush", json={}).json()["items"]

    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 200]
    assert len(slept) == 1


# -- counters and faults -----------------------------------------------------------------------


def test_given_requests_when_stats_are_read_then_they_are_counted_by_route(client: httpx.Client) -> None:
    client.get("/tenants/acme/customers", headers=ACME)
    client.get("/tenants/acme/customers/cus_000001", headers=ACME)
    client.get("/tenants/acme/customers/cus_000002", headers=ACME)

    stats = client.get("/_sandbox/stats").json()

    assert stats["requests"]["GET /tenants/{tenant_id}/customers"] == 1
    assert stats["requests"]["GET /tenants/{tenant_id}/customers/{id}"] == 2


def test_given_an_injected_503_when_the_next_request_arrives_then_it_fails_once_then_recovers(
    client: httpx.Client,
) -> None:
    client.post("/_sandbox/faults", json={"status": 503, "count": 1})

    failed = client.get("/tenants/acme/customers/cus_000001", headers=ACME)
    recovered = client.get("/tenants/acme/customers/cus_000001", headers=ACME)

    assert failed.status_code == 503
    assert recovered.status_code == 200


def test_given_a_fault_with_a_bad_status_when_injected_then_422(client: httpx.Client) -> None:
    response = client.post("/_sandbox/faults", json={"status": 200})

    assert response.status_code == 422


def test_given_a_snapshot_file_when_the_sandbox_restarts_then_changes_survive(tmp_path: Any) -> None:
    snapshot = tmp_path / "source.json"
    with sandbox(snapshot_path=snapshot) as first:
        first.put("/_sandbox/tenants/acme/customers/cus_000001", json={"email": "new@example.com"})

    with sandbox(snapshot_path=snapshot) as second:
        restored = second.get("/tenants/acme/customers/cus_000001", headers=ACME).json()

    assert restored["email"] == "new@example.com"
    assert restored["version"] == 2


def test_given_deliver_false_in_a_create_body_when_applied_then_the_object_exists_and_its_webhook_is_dropped(
    client: httpx.Client,
) -> None:
    created = client.post(
        "/_sandbox/tenants/acme/customers", json={"display_name": "Quiet Co", "deliver": False}
    ).json()

    [delivery] = client.get("/_sandbox/webhooks").json()["items"]
    assert delivery["status"] == "dropped"
    assert client.get(f"/tenants/acme/customers/{created['id']}", headers=ACME).status_code == 200


def test_given_immediate_mode_when_a_change_is_made_then_the_background_worker_delivers_it() -> None:
    arrived: queue.Queue[bytes] = queue.Queue()

    async def receive(request: Request) -> Response:
        arrived.put(await request.body())
        return JSONResponse({}, status_code=204)

    receiver = Starlette(routes=[Route("/webhooks/source/{tenant_id}", receive, methods=["POST"])])
    config = SandboxConfig.for_tenants(
        ["acme"],
        customers=2,
        products=2,
        invoices=1,
        webhooks={"url": "http://q/webhooks/source/{tenant_id}"},
    )
    app = build_app(config, webhook_transport=httpx.ASGITransport(app=receiver))
    with in_process_client(app) as client:
        client.put("/_sandbox/tenants/acme/products/prd_000002", json={"unit_price": "99.00"})
        body = arrived.get(timeout=10)

    event = SourceWebhook.model_validate_json(body)
    assert (event.type, event.object.id, event.object.version) == ("product.updated", "prd_000002", 2)
