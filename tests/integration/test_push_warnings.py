""" "Synced with warnings": a done event lists where qbosync improvised, and the events API filters them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.events import events_router
from qbosync.store.events import WarningCode
from qbosync.store.tenants import TenantRepository
from qbosync.sync.configuration import MappingKind, MappingRowInput, QboDefaults, TenantSettings
from qbosync.sync.retry.replay import EventReplay
from qbosync.sync.retry.requeue import EventRequeue
from tests.support.push_world import FakeLambdaContext, PushWorld, push_world

LONG_NUMBER = "2026-CLIENT-00042-RENEWAL"


@pytest.fixture
def world(main_table: str) -> Iterator[PushWorld]:
    with push_world(customers=2, products=2) as built:
        service_item = next(row for row in built.qbo_rows("Item") if row.get("Type") == "Service")
        built.configure(
            TenantSettings(qbo_defaults=QboDefaults(unmatched_one_time_item_id=str(service_item["Id"])))
        )
        yield built


class _NoPullQueue:
    def send_all(self, bodies: Any) -> None:
        raise AssertionError("nothing is retried here")


@pytest.fixture
def api(world: PushWorld) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    replay = EventReplay(
        world.events, EventRequeue(push_queue=world.receiver.queue, pull_queue=_NoPullQueue())
    )
    app.include_router(events_router(ApiDependencies(tenants=TenantRepository()), replay=lambda: replay))
    return app


def _list(api: APIGatewayHttpResolver, **query: str) -> tuple[int, Any]:
    path = "/tenants/acme/sync/events"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "queryStringParameters": query,
        "headers": {"content-type": "application/json"},
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
    return int(answer["statusCode"]), json.loads(answer["body"])


def _push(world: PushWorld, **invoice: Any) -> dict[str, Any]:
    created = world.change("POST", "invoices", {"customer_id": world.first_customer_id()} | invoice)
    world.deliver_all()
    world.drain()
    return created


def test_given_a_number_longer_than_qbo_holds_when_pushed_then_the_event_is_done_with_a_shortened_warning(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    created = _push(world, number=LONG_NUMBER, lines=[{"product_id": world.product_ids()[0]}])

    _status, page = _list(api, status="done_with_warnings")

    [item] = page["items"]
    assert (item["source_object_id"], item["status"], item["outcome"]) == (
        created["id"],
        "done",
        "done_with_warnings",
    )
    assert [warning["code"] for warning in item["warnings"]] == ["doc_number_shortened"]
    assert LONG_NUMBER in item["warnings"][0]["message"]
    written = world.qbo_rows("Invoice")[-1]
    assert len(written["DocNumber"]) == 21


def test_given_a_line_without_a_product_when_pushed_then_the_default_item_is_named_as_a_warning(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    _push(world, lines=[{"description": "Travel", "unit_price": "40.00"}])

    _status, page = _list(api, status="done", warning=WarningCode.DEFAULT_ITEM_USED.value)

    [item] = page["items"]
    assert [warning["code"] for warning in item["warnings"]] == ["default_item_used"]
    assert "unmatched one-time" in item["warnings"][0]["message"]


def test_given_one_plain_and_one_improvised_push_when_filtered_by_warning_then_each_list_holds_its_own(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    plain = _push(world, lines=[{"product_id": world.product_ids()[0]}])
    shortened = _push(world, number=LONG_NUMBER, lines=[{"product_id": world.product_ids()[0]}])

    _s, done = _list(api, status="done")
    _s, warned = _list(api, status="done_with_warnings")
    _s, defaulted = _list(api, status="done_with_warnings", warning="default_item_used")

    outcomes = {item["source_object_id"]: item["outcome"] for item in done["items"]}
    assert outcomes == {plain["id"]: "done", shortened["id"]: "done_with_warnings"}
    assert [item["source_object_id"] for item in warned["items"]] == [shortened["id"]]
    assert defaulted["items"] == []


def test_given_a_warning_filter_on_failed_events_when_listed_then_422_names_the_parameter(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    status, body = _list(api, status="failed", warning="name_suffixed")
    unknown, _body = _list(api, status="done", warning="no_such_warning")

    assert (status, body["error"]["details"][0]["loc"]) == (422, ["query", "warning"])
    assert unknown == 422


def test_given_tax_codes_mapped_but_not_this_one_when_a_line_uses_it_then_the_tax_code_warning_names_it(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    tax_code = world.qbo_rows("TaxCode")[0]
    world.map(MappingKind.TAX_CODES, [MappingRowInput(source_key="CA", qbo_id=str(tax_code["Id"]))])

    _push(world, lines=[{"product_id": world.product_ids()[0], "tax_code": "NY"}])

    _status, page = _list(api, status="done_with_warnings", warning="tax_code_not_mapped")
    [item] = page["items"]
    assert "'NY'" in item["warnings"][0]["message"]


def test_given_a_customer_name_longer_than_qbo_holds_when_its_invoice_is_pushed_then_the_cut_is_a_warning(
    world: PushWorld, api: APIGatewayHttpResolver
) -> None:
    customer = world.change("POST", "customers", {"display_name": "Long Co", "company_name": "L" * 150})

    _push(world, customer_id=customer["id"], lines=[{"product_id": world.product_ids()[0]}])

    _status, page = _list(api, status="done_with_warnings", warning="field_truncated")
    [item] = page["items"]
    assert "company_name" in item["warnings"][0]["message"]
    [qbo_customer] = world.qbo_rows("Customer", "DisplayName = 'Long Co'")
    assert len(qbo_customer["CompanyName"]) == 50
