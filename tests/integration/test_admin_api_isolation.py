"""Tenant isolation on every admin route: a token for A reads and changes nothing of B."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

from typing import Any

import pytest

from tests.support.admin_api import (
    TENANT_A,
    TENANT_B,
    AdminApi,
    admin_api,  # noqa: F401
)

ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/tenants/{t}/settings", None),
    ("PUT", "/tenants/{t}/settings", {}),
    ("GET", "/tenants/{t}/mappings/gl-codes", None),
    ("PUT", "/tenants/{t}/mappings/gl-codes", {"rows": [{"source_key": "4000", "qbo_id": "1"}]}),
    ("DELETE", "/tenants/{t}/mappings/gl-codes/4000", None),
    ("GET", "/tenants/{t}/audit", None),
    ("GET", "/tenants/{t}/qbo/reference/accounts", None),
    ("GET", "/tenants/{t}/preflight", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]


def _call(api: AdminApi, route: tuple[str, str, Any], tenant: str, **kwargs: Any) -> tuple[int, Any]:
    method, path, body = route
    status, _headers, reply = api.call(
        method, path.format(t=tenant), body=body, headers={"If-Match": '"0"'}, **kwargs
    )
    return status, reply


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_given_a_token_for_a_when_a_route_of_b_is_called_then_403_tenant_forbidden(
    admin_api: AdminApi, route: tuple[str, str, Any]
) -> None:
    status, body = _call(admin_api, route, TENANT_B, tenants=TENANT_A)

    assert (status, body["error"]["code"]) == (403, "tenant_forbidden")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_given_no_jwt_claims_when_a_route_is_called_then_401(
    admin_api: AdminApi, route: tuple[str, str, Any]
) -> None:
    status, body = _call(admin_api, route, TENANT_A, tenants=None)

    assert (status, body["error"]["code"]) == (401, "unauthorized")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_given_a_token_naming_an_unknown_tenant_when_its_route_is_called_then_404_unknown_tenant(
    admin_api: AdminApi, route: tuple[str, str, Any]
) -> None:
    status, body = _call(admin_api, route, "initech", tenants="initech")

    assert (status, body["error"]["code"]) == (404, "unknown_tenant")


def test_given_a_for_a_mapping_when_b_reads_the_same_kind_then_b_sees_none_of_it(admin_api: AdminApi) -> None:
    admin_api.call(
        "PUT",
        f"/tenants/{TENANT_A}/mappings/gl-codes",
        body={"rows": [{"source_key": "4000", "qbo_id": "1"}]},
        headers={"If-Match": '"0"'},
    )

    body, tag = admin_api.read(f"/tenants/{TENANT_B}/mappings/gl-codes", tenants=TENANT_B)
    audit, _ = admin_api.read(f"/tenants/{TENANT_B}/audit", tenants=TENANT_B)

    assert (body["rows"], tag, audit["entries"]) == ([], '"0"', [])


def test_given_api_gateways_flattened_claim_when_both_tenants_are_named_then_both_are_granted(
    admin_api: AdminApi,
) -> None:
    claim = f"[{TENANT_A} {TENANT_B}]"

    statuses = [
        admin_api.call("GET", f"/tenants/{t}/settings", tenants=claim)[0] for t in (TENANT_A, TENANT_B)
    ]

    assert statuses == [200, 200]
