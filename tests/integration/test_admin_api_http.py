"""The admin API's HTTP surface: OpenAPI and docs, sample events, methods and media types."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

import json

import pytest

from functions.api.app import lambda_handler
from tests.support.admin_api import (
    ROOT,
    TENANT_A,
    AdminApi,
    admin_api,  # noqa: F401
)
from tests.support.lambda_context import LambdaContextStub


def test_given_the_api_when_openapi_json_is_read_without_a_token_then_it_describes_every_route(
    admin_api: AdminApi,
) -> None:
    status, headers, spec = admin_api.call("GET", "/openapi.json", tenants=None)

    assert (status, headers["content-type"]) == (200, "application/json")
    assert spec["info"]["title"] == "qbosync admin API"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "admin JWT",
    }
    assert set(spec["paths"]) == {
        "/tenants/{tenant_id}/settings",
        "/tenants/{tenant_id}/mappings/{kind}",
        "/tenants/{tenant_id}/mappings/{kind}/{source_key}",
        "/tenants/{tenant_id}/audit",
        "/tenants/{tenant_id}/qbo/reference/{kind}",
        "/tenants/{tenant_id}/source/reference/{kind}",
        "/tenants/{tenant_id}/preflight",
        "/tenants/{tenant_id}/qbo/connect",
        "/tenants/{tenant_id}/qbo/connection",
        "/oauth/callback",
        "/qbo/disconnected",
        "/qbo/reconnect",
        "/tenants/{tenant_id}/sync/initial",
        "/tenants/{tenant_id}/sync/runs/{run_id}",
        "/tenants/{tenant_id}/sync/runs/{run_id}/resume",
        "/tenants/{tenant_id}/sync/events",
        "/tenants/{tenant_id}/sync/events/{event_id}/retry",
        "/budget",
        "/tenants/{tenant_id}/read-budget",
        "/tenants/{tenant_id}/reconcile",
        "/tenants/{tenant_id}/links/import",
        "/tenants/{tenant_id}/suggestions",
        "/tenants/{tenant_id}/suggestions/{entity}/{source_id}/decision",
        "/tenants/{tenant_id}/sync/plans/{plan_id}",
        "/tenants/{tenant_id}/sync/plans/{plan_id}/download",
        "/tenants/{tenant_id}/sync/runs/{run_id}/undo",
        "/tenants/{tenant_id}/sync/pause",
        "/tenants/{tenant_id}/sync/resume",
        "/tenants/{tenant_id}/reports/reconciliation",
        "/tenants/{tenant_id}/sync/events/{event_id}/accept-variance",
    }


def test_given_the_api_when_docs_are_read_without_a_token_then_swagger_ui_is_served(
    admin_api: AdminApi,
) -> None:
    status, headers, body = admin_api.call("GET", "/docs", tenants=None)

    assert (status, headers["content-type"]) == (200, "text/html")
    assert "SwaggerUIBundle" in body


def test_given_a_known_path_when_called_with_an_undeclared_method_then_405_names_the_allowed_ones(
    admin_api: AdminApi,
) -> None:
    status, headers, body = admin_api.call("POST", f"/tenants/{TENANT_A}/settings", body={})

    assert (status, body["error"]["code"], headers["allow"]) == (405, "method_not_allowed", "GET, PATCH, PUT")


def test_given_an_unknown_path_when_called_then_404_in_the_error_shape(admin_api: AdminApi) -> None:
    status, _headers, body = admin_api.call("GET", f"/tenants/{TENANT_A}/invoices")

    assert (status, body["error"]["code"]) == (404, "route_not_found")


@pytest.mark.parametrize(
    "media_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"]
)
def test_given_a_body_that_is_not_json_when_put_then_415(admin_api: AdminApi, media_type: str) -> None:
    status, _headers, body = admin_api.call(
        "PUT",
        f"/tenants/{TENANT_A}/settings",
        raw_body="sync=on",
        headers={"Content-Type": media_type, "If-Match": '"0"'},
    )

    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")


# In the order an admin would send them: the delete removes a row the mapping put created.
SAMPLE_STORY = [
    "api_get_settings.json",
    "api_put_settings.json",
    "api_put_mappings.json",
    "api_delete_mapping.json",
    "api_get_reference.json",
    "api_get_source_reference.json",
    "api_get_preflight.json",
    "api_get_audit.json",
]


def test_given_the_sample_events_when_replayed_in_order_then_each_succeeds(admin_api: AdminApi) -> None:
    statuses = {}
    for name in SAMPLE_STORY:
        event = json.loads((ROOT / "events" / name).read_text())
        statuses[name] = lambda_handler(event, LambdaContextStub(), deps=admin_api.deps)["statusCode"]

    assert statuses == dict.fromkeys(SAMPLE_STORY, 200)


def test_given_the_deployed_collaborators_when_a_sample_event_is_handled_then_the_tenant_registry_is_used(
    admin_api: AdminApi,
) -> None:
    from functions.api.app import resolver

    resolver.cache_clear()
    event = json.loads((ROOT / "events" / "api_get_settings.json").read_text())
    unknown = json.loads(json.dumps(event).replace("acme-law", "initech"))
    try:
        known_status = lambda_handler(event, LambdaContextStub())["statusCode"]
        unknown_reply = lambda_handler(unknown, LambdaContextStub())
    finally:
        resolver.cache_clear()

    assert (known_status, unknown_reply["statusCode"]) == (200, 404)
    assert json.loads(unknown_reply["body"])["error"]["code"] == "unknown_tenant"
