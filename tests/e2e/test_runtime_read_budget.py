"""The read budget's routes through the started local runtime's front door (routes from template.yaml)."""

from __future__ import annotations

from tests.e2e.conftest import RunningRuntime


def test_given_an_admin_token_when_reading_the_budget_then_the_app_totals_and_the_tenants_view_answer(
    runtime: RunningRuntime,
) -> None:
    headers = {"Authorization": f"Bearer {runtime.admin_token('acme-psa')}"}
    with runtime.http() as http:
        app = http.get("/budget", headers=headers)
        tenant = http.get("/tenants/acme-psa/read-budget", headers=headers)
        anonymous = http.get("/budget")

    assert app.status_code == 200, app.text
    assert (app.json()["allowance"], app.json()["level"]) == (500_000, "normal")
    assert tenant.status_code == 200, tenant.text
    assert tenant.json()["reconcile"]["backstop_interval_seconds"] == 86_400
    assert anonymous.status_code == 401


def test_given_a_tenant_without_a_qbo_connection_when_asking_for_a_reconciliation_then_409_not_connected(
    runtime: RunningRuntime,
) -> None:
    headers = {"Authorization": f"Bearer {runtime.admin_token('lawfirm-co')}"}
    with runtime.http() as http:
        response = http.post("/tenants/lawfirm-co/reconcile", headers=headers)

    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_connected")
