"""The control plane's company settings and the exchange-rate endpoint, over HTTP in process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from local.qbo_sandbox.app import build_app
from local.qbo_sandbox.config import SandboxConfig
from tests.integration.test_qbo_sandbox_accounting import Api, fault_of


def call(app: Starlette, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(send())


@pytest.fixture
def app() -> Starlette:
    return build_app(SandboxConfig(realm_count=1))


def preferences_path(app: Starlette) -> str:
    realm = next(iter(app.state.sandbox.companies))
    return f"/_sandbox/realms/{realm}/preferences"


def test_given_a_plain_company_when_ast_and_multi_currency_are_switched_on_then_preferences_show_them(
    app: Starlette,
) -> None:
    path = preferences_path(app)
    before = call(app, "GET", path).json()
    assert (
        "PartnerTaxEnabled" not in before["TaxPrefs"]
        and before["CurrencyPrefs"]["MultiCurrencyEnabled"] is False
    )
    answer = call(
        app,
        "POST",
        path,
        json={"multi_currency": True, "automated_sales_tax": True, "exchange_rates": {"EUR": 1.08}},
    )
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert (after["CurrencyPrefs"]["MultiCurrencyEnabled"], after["TaxPrefs"]["PartnerTaxEnabled"]) == (
        True,
        True,
    )


def test_given_a_seeded_company_when_its_home_currency_is_changed_then_the_control_plane_answers_409(
    app: Starlette,
) -> None:
    answer = call(app, "POST", preferences_path(app), json={"home_currency": "EUR"})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "home_currency_fixed"


@pytest.mark.parametrize(
    "body",
    [{"multi_currency": "maybe"}, {"home_currency": "euro"}, {"exchange_rates": {"EUR": -1}}, {"colour": 1}],
)
def test_given_a_malformed_change_when_posted_then_the_control_plane_answers_400(
    app: Starlette, body: dict[str, Any]
) -> None:
    answer = call(app, "POST", preferences_path(app), json=body)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()["error"]) == {"code", "message", "details"}


def test_given_a_rate_for_a_single_currency_company_when_posted_then_the_control_plane_answers_400(
    app: Starlette,
) -> None:
    answer = call(app, "POST", preferences_path(app), json={"exchange_rates": {"EUR": 1.1}})
    assert answer.status_code == 400
    assert "Multicurrency is not enabled" in answer.json()["error"]["message"]


def test_given_an_unknown_realm_when_its_preferences_are_read_then_the_control_plane_answers_404(
    app: Starlette,
) -> None:
    answer = call(app, "GET", "/_sandbox/realms/123/preferences")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_realm"


def test_given_a_malformed_as_of_date_when_a_rate_is_read_then_qbo_answers_2010(app: Starlette) -> None:
    company = next(iter(app.state.sandbox.companies.values()))
    company.configure(multi_currency=True)
    api = Api(company)
    answer = api.call("GET", "/exchangerate", params={"sourcecurrencycode": "EUR", "asofdate": "tomorrow"})
    assert answer.status_code == 400
    assert fault_of(answer)["code"] == "2010"
    missing = api.call("GET", "/exchangerate")
    assert fault_of(missing)["code"] == "2020"
