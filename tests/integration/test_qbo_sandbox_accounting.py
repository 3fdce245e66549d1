"""The accounting API over HTTP (in-process, httpx.ASGITransport): QBO's envelopes and QBO's faults."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp, Receive, Scope, Send

from local.qbo_sandbox.accounting import build_accounting_app
from local.qbo_sandbox.company import Company
from local.qbo_sandbox.entities import SPECS_BY_PATH
from local.qbo_sandbox.faultbody import COMPANY_TIMEZONE
from local.qbo_sandbox.seed import seed_company

REALM = "9341453050108822"


class BindCompany:
    """Test-only stand-in for the core app's guard: puts the company in the scope."""

    def __init__(self, app: ASGIApp, company: Company) -> None:
        self.app = app
        self.company = company

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["qbo.company"] = self.company
        await self.app(scope, receive, send)


class Api:
    """Synchronous calls to the in-process accounting app."""

    def __init__(self, company: Company) -> None:
        self.app = BindCompany(build_accounting_app(), company)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://qbo.test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, content=json.dumps(body), **kwargs)

    def query(self, text: str) -> httpx.Response:
        return self.call("POST", "/query", content=text, headers={"Content-Type": "application/text"})


@pytest.fixture
def company() -> Company:
    return seed_company(REALM, "Sandbox Company_US_1", 3)


@pytest.fixture
def api(company: Company) -> Api:
    return Api(company)


def fault_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"Fault", "time"}
    error: dict[str, Any] = body["Fault"]["Error"][0]
    assert set(error) == {"Message", "Detail", "code", "element"}
    return error


def design_item(company: Company) -> str:
    return next(i["Id"] for i in company.records["Item"].values() if i["Name"] == "Design")


def an_invoice(api: Api, company: Company, customer_id: str, amount: float = 150.0) -> dict[str, Any]:
    body = {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": amount,
                "SalesItemLineDetail": {
                    "ItemRef": {"value": design_item(company)},
                    "Qty": 2,
                    "UnitPrice": amount / 2,
                },
            }
        ],
    }
    answer: dict[str, Any] = api.post("/invoice?minorversion=75", body).json()["Invoice"]
    return answer


def a_customer(api: Api, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = api.post("/customer", {"DisplayName": name}).json()["Customer"]
    return answer


# ----- single-entity envelopes ------------------------------------------------------------------------


def test_given_a_customer_body_when_posted_then_the_envelope_holds_the_entity_and_a_time(api: Api) -> None:
    response = api.post("/customer?minorversion=65", {"DisplayName": "Envelope Co"})
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"Customer", "time"}
    assert body["Customer"]["SyncToken"] == "0"
    assert response.headers["intuit_tid"].startswith("1-")


def test_given_python_quickbooks_defaults_when_a_customer_is_posted_then_it_is_accepted(api: Api) -> None:
    body = {
        "Active": True,
        "Balance": 0,
        "CompanyName": "",
        "DisplayName": "PyQB Co",
        "GivenName": "",
        "OpenBalanceDate": "",
        "SyncToken": 0,
        "Taxable": True,
        "domain": "QBO",
        "sparse": False,
    }
    created = api.post("/customer", body).json()["Customer"]
    assert "GivenName" not in created
    assert created["DisplayName"] == "PyQB Co"


def test_given_an_existing_customer_when_read_then_the_same_record_comes_back(api: Api) -> None:
    created = a_customer(api, "Read Co")
    assert api.call("GET", f"/customer/{created['Id']}").json()["Customer"] == created


def test_given_a_missing_customer_when_read_then_610_fault_with_status_400(api: Api) -> None:
    response = api.call("GET", "/customer/424242")
    assert (response.status_code, fault_of(response)["code"]) == (400, "610")


def test_given_a_full_update_when_posted_then_synctoken_advances(api: Api) -> None:
    created = a_customer(api, "Update Co")
    updated = api.post("/customer", {**created, "Notes": "now with notes"}).json()["Customer"]
    assert (updated["SyncToken"], updated["Notes"]) == ("1", "now with notes")


def test_given_a_sparse_update_when_posted_then_other_fields_stay(api: Api) -> None:
    created = api.post("/customer", {"DisplayName": "Sparse Http Co", "Notes": "stay"}).json()["Customer"]
    body = {"Id": created["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Sparse Http Inc"}
    assert api.post("/customer", body).json()["Customer"]["Notes"] == "stay"


def test_given_a_stale_synctoken_when_posted_then_5010_fault(api: Api) -> None:
    created = a_customer(api, "Stale Http Co")
    api.post("/customer", {**created, "Notes": "a"})
    response = api.post("/customer", {**created, "Notes": "b"})
    assert (response.status_code, fault_of(response)["code"]) == (400, "5010")


def test_given_an_invoice_when_deleted_then_the_deleted_status_envelope_is_returned(
    api: Api, company: Company
) -> None:
    customer = a_customer(api, "Delete Http Co")
    invoice = an_invoice(api, company, customer["Id"])
    body = api.post(
        "/invoice?operation=delete", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}
    ).json()
    assert body["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": invoice["Id"]}


def test_given_an_invoice_when_voided_then_amounts_are_zero(api: Api, company: Company) -> None:
    customer = a_customer(api, "Void Http Co")
    invoice = an_invoice(api, company, customer["Id"])
    voided = api.post("/invoice?operation=void", {"Id": invoice["Id"], "SyncToken": "0"}).json()["Invoice"]
    assert (voided["TotalAmt"], voided["Balance"], voided["PrivateNote"]) == (0.0, 0.0, "Voided")


@pytest.mark.parametrize("params", ["operation=update&include=void", "operation=void"])
def test_given_a_payment_when_voided_by_either_form_then_it_is_voided(
    api: Api, company: Company, params: str
) -> None:
    customer = a_customer(api, "Void Pay Http Co")
    invoice = an_invoice(api, company, customer["Id"])
    payment_body = {
        "CustomerRef": {"value": customer["Id"]},
        "TotalAmt": 150,
        "Line": [{"Amount": 150, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    payment = api.post("/payment", payment_body).json()["Payment"]
    voided = api.post(f"/payment?{params}", {"Id": payment["Id"], "SyncToken": "0", "sparse": True}).json()
    assert (voided["Payment"]["TotalAmt"], voided["Payment"]["Line"]) == (0.0, [])


def test_given_a_customer_when_deleted_then_a_fault_not_a_deletion(api: Api) -> None:
    created = a_customer(api, "Undeletable Co")
    response = api.post("/customer?operation=delete", {"Id": created["Id"], "SyncToken": "0"})
    assert (response.status_code, fault_of(response)["code"]) == (400, "500")


def test_given_company_info_when_read_by_realm_id_then_the_company_is_described(api: Api) -> None:
    info = api.call("GET", f"/companyinfo/{REALM}").json()["CompanyInfo"]
    assert (info["CompanyName"], info["Country"]) == ("Sandbox Company_US_1", "US")


def test_given_preferences_when_read_then_the_accounting_prefs_are_there(api: Api) -> None:
    prefs = api.call("GET", "/preferences").json()["Preferences"]
    assert prefs["AccountingInfoPrefs"]["ClassTrackingPerTxnLine"] is True


# ----- requestid --------------------------------------------------------------------------------------


def test_given_a_repeated_requestid_when_posted_again_then_the_first_answer_returns_and_nothing_is_written(
    api: Api, company: Company
) -> None:
    first = api.post("/customer?requestid=abc-123", {"DisplayName": "Once Co"})
    again = api.post("/customer?requestid=abc-123", {"DisplayName": "Once Co"})
    assert again.json() == first.json()
    assert sum(1 for c in company.records["Customer"].values() if c["DisplayName"] == "Once Co") == 1


def test_given_a_requestid_over_50_characters_when_posted_then_it_is_refused(api: Api) -> None:
    response = api.post(f"/customer?requestid={'r' * 51}", {"DisplayName": "Long Request Co"})
    assert fault_of(response)["element"] == "requestid"


# ----- query ------------------------------------------------------------------------------------------


def test_given_a_posted_query_when_run_then_the_query_response_envelope_is_returned(api: Api) -> None:
    body = api.query("select * from Customer maxresults 3").json()
    assert set(body) == {"QueryResponse", "time"}
    assert (len(body["QueryResponse"]["Customer"]), body["QueryResponse"]["maxResults"]) == (3, 3)


def test_given_a_get_query_when_run_then_it_answers_like_the_posted_form(api: Api) -> None:
    body = api.call("GET", "/query", params={"query": "select count(*) from Customer"}).json()
    assert body["QueryResponse"] == {"totalCount": 10}


def test_given_a_query_with_no_match_when_run_then_query_response_is_empty(api: Api) -> None:
    assert api.query("select * from Invoice where DocNumber = 'none'").json()["QueryResponse"] == {}


def test_given_a_bad_query_when_run_then_4000_fault(api: Api) -> None:
    response = api.query("select * from Customer where Id = '1' or Id = '2'")
    assert (response.status_code, fault_of(response)["code"]) == (400, "4000")


def test_given_an_unknown_entity_in_a_query_when_run_then_a_4001_invalid_query_fault(api: Api) -> None:
    fault = fault_of(api.query("select * from Spaceship"))
    assert (fault["code"], fault["Message"]) == ("4001", "Invalid query")


# ----- batch ------------------------------------------------------------------------------------------


def test_given_mixed_batch_items_when_posted_then_each_item_answers_for_itself(api: Api) -> None:
    taken = next(iter(api.query("select * from Vendor").json()["QueryResponse"]["Vendor"]))["DisplayName"]
    items = [
        {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
        {"bId": "2", "operation": "create", "Customer": {"DisplayName": taken}},
        {"bId": "3", "Query": "select count(*) from Term"},
    ]
    response = api.post("/batch", {"BatchItemRequest": items})
    answers = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    assert response.status_code == 200
    assert answers["1"]["Customer"]["DisplayName"] == "Batch One"
    assert answers["2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["3"]["QueryResponse"] == {"totalCount": 4}


def test_given_a_batch_delete_and_void_when_posted_then_both_are_applied(api: Api, company: Company) -> None:
    customer = a_customer(api, "Batch Void Co")
    one = an_invoice(api, company, customer["Id"])
    two = an_invoice(api, company, customer["Id"])
    items = [
        {"bId": "d", "operation": "delete", "Invoice": {"Id": one["Id"], "SyncToken": "0"}},
        {
            "bId": "v",
            "operation": "update",
            "optionsData": "void",
            "Invoice": {"Id": two["Id"], "SyncToken": "0"},
        },
    ]
    answers = {
        i["bId"]: i for i in api.post("/batch", {"BatchItemRequest": items}).json()["BatchItemResponse"]
    }
    assert answers["d"]["Invoice"]["status"] == "Deleted"
    assert answers["v"]["Invoice"]["PrivateNote"] == "Voided"


def test_given_31_batch_items_when_posted_then_the_whole_request_is_refused(
    api: Api, company: Company
) -> None:
    items = [{"bId": str(n), "operation": "create", "Class": {"Name": f"Class {n}"}} for n in range(31)]
    response = api.post("/batch", {"BatchItemRequest": items})
    assert (response.status_code, fault_of(response)["code"]) == (400, "1040")
    assert len(company.records["Class"]) == 3


def test_given_a_batch_with_a_requestid_when_repeated_then_it_is_replayed(api: Api, company: Company) -> None:
    items = [{"bId": "a", "operation": "create", "Class": {"Name": "Replayed Class"}}]
    first = api.post("/batch?requestid=batch-1", {"BatchItemRequest": items}).json()
    again = api.post("/batch?requestid=batch-1", {"BatchItemRequest": items}).json()
    assert again == first
    assert [c["Name"] for c in company.records["Class"].values()].count("Replayed Class") == 1


def test_given_a_batch_item_for_an_unknown_entity_when_posted_then_only_that_item_faults(api: Api) -> None:
    items = [{"bId": "x", "operation": "create", "Spaceship": {"Name": "Enterprise"}}]
    answer = api.post("/batch", {"BatchItemRequest": items}).json()["BatchItemResponse"][0]
    assert answer["Fault"]["Error"][0]["code"] == "500"


# ----- CDC --------------------------------------------------------------------------------------------


def test_given_recent_changes_when_cdc_is_asked_then_the_cdc_envelope_lists_them(
    api: Api, company: Company
) -> None:
    customer = a_customer(api, "Cdc Http Co")
    since = (datetime.now(COMPANY_TIMEZONE) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    body = api.call("GET", "/cdc", params={"entities": "Customer,Invoice", "changedSince": since}).json()
    responses = body["CDCResponse"][0]["QueryResponse"]
    assert [r["Id"] for r in responses[0]["Customer"]] == [customer["Id"]]
    assert len(responses) == 1


def test_given_no_recent_changes_when_cdc_is_asked_then_the_empty_shape_is_returned(api: Api) -> None:
    today = datetime.now(COMPANY_TIMEZONE).date().isoformat()
    body = api.call("GET", "/cdc", params={"entities": "Customer", "changedSince": today}).json()
    assert body["CDCResponse"] == [{"QueryResponse": [{}]}]


def test_given_a_window_of_40_days_when_cdc_is_asked_then_a_fault(api: Api) -> None:
    old = (datetime.now(COMPANY_TIMEZONE) - timedelta(days=40)).date().isoformat()
    response = api.call("GET", "/cdc", params={"entities": "Customer", "changedSince": old})
    assert (response.status_code, fault_of(response)["element"]) == (400, "changedSince")


# ----- bad input --------------------------------------------------------------------------------------


def test_given_malformed_json_when_posted_then_2010_fault_not_500(api: Api) -> None:
    response = api.call("POST", "/customer", content=b'{"DisplayName": "Broken"')
    assert (response.status_code, fault_of(response)["code"]) == (400, "2010")


def test_given_a_json_array_body_when_posted_then_2010_fault(api: Api) -> None:
    assert fault_of(api.post("/invoice", [1, 2, 3]))["code"] == "2010"


def test_given_a_number_field_holding_text_when_posted_then_2010_names_the_field(
    api: Api, company: Company
) -> None:
    customer = a_customer(api, "Typed Co")
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [{"Amount": "lots", "DetailType": "SalesItemLineDetail"}],
    }
    assert fault_of(api.post("/invoice", body))["element"] == "Line[0].Amount"


def test_given_a_reference_given_as_a_string_when_posted_then_2010_fault(api: Api) -> None:
    body = {"CustomerRef": "1", "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail"}]}
    assert fault_of(api.post("/invoice", body))["code"] == "2010"


def test_given_an_invoice_without_lines_when_posted_then_2020_required_param(api: Api) -> None:
    assert fault_of(api.post("/invoice", {"CustomerRef": {"value": "1"}}))["code"] == "2020"


def test_given_an_unknown_entity_path_when_posted_then_a_fault_body(api: Api) -> None:
    response = api.post("/spaceship", {"Name": "x"})
    assert (response.status_code, fault_of(response)["code"]) == (400, "500")


def test_given_an_unsupported_method_when_called_then_a_fault_body(api: Api) -> None:
    response = api.call("DELETE", "/customer/1")
    assert (response.status_code, fault_of(response)["code"]) == (400, "500")


def test_given_a_write_to_a_read_only_entity_when_posted_then_a_fault(api: Api) -> None:
    assert fault_of(api.post("/taxcode", {"Name": "NEW"}))["code"] == "500"


def test_given_a_batch_that_is_not_an_object_when_posted_then_2010(api: Api) -> None:
    assert fault_of(api.post("/batch", {"BatchItemRequest": "all of them"}))["code"] == "2010"


# ----- fuzz: whatever arrives, the answer is QBO-shaped and never a 500 --------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "CustomerRef",
    "Line",
    "TotalAmt",
    "DisplayName",
    "Name",
    "Type",
    "TxnDate",
    "Id",
    "SyncToken",
    "sparse",
]
OPERATIONS = ["", "?operation=delete", "?operation=void", "?operation=update&include=void"]


@cache
def seeded_snapshot() -> dict[str, Any]:
    """Seeded once per session; every example restores its own copy."""
    return seed_company(REALM, "Fuzz Co", 11).to_snapshot()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(sorted(SPECS_BY_PATH)),
    operation=st.sampled_from(OPERATIONS),
    field=st.sampled_from(FIELDS),
    value=JSON_VALUES,
)
def test_given_any_json_in_any_field_when_posted_then_the_answer_is_never_a_500(
    path: str, operation: str, field: str, value: Any
) -> None:
    api = Api(Company.from_snapshot(seeded_snapshot()))
    body = {
        "CustomerRef": {"value": "1"},
        "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail"}],
        "Id": "1",
    }
    response = api.post(f"/{path}{operation}", {**body, field: value})
    assert response.status_code in (200, 400)
    assert set(response.json()) in ({"Fault", "time"}, {SPECS_BY_PATH[path].name, "time"})


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="SELCTFROMWHEINADBYXUPsectfromwhere *=<>()',%0123456789\\", max_size=60))
def test_given_any_query_text_when_run_then_the_answer_is_a_query_response_or_a_fault(text: str) -> None:
    response = Api(Company.from_snapshot(seeded_snapshot())).query(text)
    assert response.status_code in (200, 400)
    assert set(response.json()) in ({"Fault", "time"}, {"QueryResponse", "time"})
