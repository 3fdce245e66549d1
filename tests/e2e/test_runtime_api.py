"""The admin API function behind the started runtime: its public routes and tenant isolation."""

from __future__ import annotations

from tests.e2e.conftest import RunningRuntime


def test_given_the_runtime_when_fetching_openapi_json_then_the_api_describes_itself(
    runtime: RunningRuntime,
) -> None:
    with runtime.http() as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    assert "openapi" in response.json()


def test_given_tenant_a_token_when_calling_tenant_b_path_then_403(runtime: RunningRuntime) -> None:
    with runtime.http() as http:
        response = http.get(
            "/tenants/lawfirm-co/settings",
            headers={"Authorization": f"Bearer {runtime.admin_token('acme-psa')}"},
        )
    assert response.status_code == 403
    assert "error" in response.json()
