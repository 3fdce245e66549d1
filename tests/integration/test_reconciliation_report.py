"""The reconciliation report, over the API, on a seeded period with one difference of each kind."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.reports import reports_router
from qbosync.store.tenants import TenantRepository
from qbosync.sync.reports import ReconciliationReporter
from tests.support.push_world import FakeLambdaContext, PushWorld, push_world


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=4, products=2, company_books_ttl=timedelta(0)) as built:
        built.configure()
        yield built


@pytest.fixture
def api(world: PushWorld) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    deps = ApiDependencies(tenants=TenantRepository())
    reporter = ReconciliationReporter(world.tenant_id, world.qbo, world.source, world.links)
    app.include_router(reports_router(deps, reporter=lambda _tenant: reporter))
    return app


def _get(
    api: APIGatewayHttpResolver, query: dict[str, str], accept: str = "application/json"
) -> tuple[int, str, str]:
    path = "/tenants/acme/reports/reconciliation"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "queryStringParameters": query,
        "headers": {"accept": accept},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "authorizer": {"jwt": {"claims": {"sub": "admin-1", "qbosync_tenants": "acme"}, "scopes": []}},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    answer = api.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]
    content_type = str((answer.get("headers") or {}).get("Content-Type", ""))
    return int(answer["statusCode"]), content_type, str(answer["body"])


def _seed_one_difference_of_each_kind(world: PushWorld) -> dict[str, dict[str, Any]]:
    """Invoices: one that agrees, and one each missing in QBO, missing in the source, voided in QBO,
    voided in the source, drifted (due date edited in QBO) and with a variance (QBO's tax)."""
    customers = [world.first_customer_id(i) for i in range(4)]
    seeded = {
        "agrees": world.new_invoice(customers[0], lines=1),
        "voided_in_qbo": world.new_invoice(customers[1], lines=1),
        "voided_in_source": world.new_invoice(customers[2], lines=1),
        "drift": world.new_invoice(
            customers[3], lines=2, due_date=(date.today() + timedelta(days=30)).isoformat()
        ),
    }
    world.deliver_all()
    world.drain()
    world.void_in_qbo("Invoice", world.linked("Invoice", seeded["voided_in_qbo"]["id"]).qbo_id, "void-1")
    world.edit_in_qbo(
        "Invoice", world.linked("Invoice", seeded["drift"]["id"]).qbo_id, {"DueDate": "2031-01-31"}, "edit-1"
    )
    world.change("POST", f"invoices/{seeded['voided_in_source']['id']}/void")
    seeded["missing_in_qbo"] = world.new_invoice(customers[0], lines=1)
    world.held_webhooks()  # never delivered: neither the void nor the new invoice reaches QBO
    response = world.qbo_http.post(
        f"/_sandbox/realms/{world.realm_id}/preferences", json={"automated_sales_tax": True}
    )
    assert response.status_code == 200
    seeded["variance"] = world.change(
        "POST",
        "invoices",
        {
            "customer_id": customers[1],
            "lines": [
                {
                    "product_id": world.product_ids()[0],
                    "quantity": "1",
                    "unit_price": "100.00",
                    "tax_code": "CA",
                }
            ],
            "tax_total": "9.00",  # the sandbox's AST charges 7.25% + 1.5% = 8.75
        },
    )
    world.deliver_all()
    world.drain()
    agreeing = world.qbo.read("Invoice", world.linked("Invoice", seeded["agrees"]["id"]).qbo_id)
    seeded["missing_in_source"] = world.qbo.create(
        "Invoice",
        {
            "CustomerRef": agreeing["CustomerRef"],
            "TxnDate": agreeing["TxnDate"],
            "DocNumber": "HAND-1",
            "Line": [{**agreeing["Line"][0], "Id": None}],
        },
        "hand-entered-1",
    )
    return seeded


def _period(seeded: dict[str, dict[str, Any]]) -> dict[str, str]:
    day = date.fromisoformat(seeded["agrees"]["issue_date"])
    return {"from": (day - timedelta(days=1)).isoformat(), "to": (day + timedelta(days=1)).isoformat()}


def test_given_a_period_with_one_difference_of_each_kind_when_reported_then_each_is_listed_with_why(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    seeded = _seed_one_difference_of_each_kind(world)

    status, _type, body = _get(api, _period(seeded))

    assert status == 200
    report = json.loads(body)
    by_source = {row["source_id"]: row for row in report["differences"] if row["source_id"]}
    kinds = {
        name: by_source[doc["id"]]["difference"] for name, doc in seeded.items() if doc.get("id") in by_source
    }
    assert kinds == {
        "voided_in_qbo": "voided_in_qbo",
        "voided_in_source": "voided_in_source",
        "drift": "drift",
        "missing_in_qbo": "missing_in_qbo",
        "variance": "variance",
    }
    assert "due date 2031-01-31 in QBO" in by_source[seeded["drift"]["id"]]["why"]
    variance = by_source[seeded["variance"]["id"]]
    assert (Decimal(variance["source_total"]), Decimal(variance["qbo_total"])) == (
        Decimal("109.00"),
        Decimal("108.75"),
    )
    [hand] = [row for row in report["differences"] if row["source_id"] is None]
    assert (hand["difference"], hand["qbo_id"]) == ("missing_in_source", seeded["missing_in_source"]["Id"])
    assert seeded["agrees"]["id"] not in by_source
    invoices_in_source = next(t for t in report["source"] if t["kind"] == "invoice")
    invoices_in_qbo = next(t for t in report["qbo"] if t["kind"] == "invoice")
    assert invoices_in_source["documents"] == 6
    assert invoices_in_qbo["documents"] == 6  # five pushed (one missing) and one entered by hand


def test_given_the_same_period_when_asked_for_csv_then_one_line_per_document_with_its_difference(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    seeded = _seed_one_difference_of_each_kind(world)

    status, content_type, body = _get(api, {**_period(seeded), "format": "csv"})
    _status, accepted_type, accepted = _get(api, _period(seeded), accept="text/csv")

    assert status == 200 and content_type.startswith("text/csv")
    assert accepted_type.startswith("text/csv") and accepted == body
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 7
    assert sorted(row["difference"] for row in rows if row["difference"]) == sorted(
        ["voided_in_qbo", "voided_in_source", "drift", "missing_in_qbo", "variance", "missing_in_source"]
    )


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"from": "soon", "to": "2026-01-01"},
    ],
    ids=["ends-before-it-starts", "longer-than-a-year", "not-a-date"],
)
def test_given_a_bad_period_when_reported_then_422_with_the_error_shape(
    api: APIGatewayHttpResolver, query: dict[str, str]
) -> None:
    status, _type, body = _get(api, query)

    assert status == 422
    error = json.loads(body)["error"]
    assert error["code"] and error["message"] and isinstance(error["details"], list)
