"""QBO's wire envelopes, checked with raw httpx: what any client (not only python-quickbooks) parses.

Shapes come from the shared QBO reference (`reference/qbo-api.md`: Intuit API reference samples, SDKs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from tests.conformance.harness import (
    WEBHOOK_VERIFIER_TOKEN,
    SandboxProcess,
    WebhookReceiver,
    authorize,
    connect,
    new_auth_client,
    unique_name,
)

TID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")


def _headers(auth_client: AuthClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth_client.access_token}", "Accept": "application/json"}


def _post(http: httpx.Client, url: str, auth_client: AuthClient, body: Any, **params: str) -> httpx.Response:
    return http.post(url, headers=_headers(auth_client), json=body, params={"minorversion": "75", **params})


def _query(http: httpx.Client, sandbox: SandboxProcess, auth_client: AuthClient, text: str) -> httpx.Response:
    return http.get(
        sandbox.api(str(auth_client.realm_id), "query"),
        headers=_headers(auth_client),
        params={"query": text, "minorversion": "75"},
    )


def _create_customer(http: httpx.Client, sandbox: SandboxProcess, auth_client: AuthClient) -> dict[str, Any]:
    answer = _post(
        http,
        sandbox.api(str(auth_client.realm_id), "customer"),
        auth_client,
        {"DisplayName": unique_name("Env")},
    )
    assert answer.status_code == 200, f"creating a customer failed: {answer.status_code} {answer.text}"
    customer: dict[str, Any] = answer.json()["Customer"]
    return customer


def _assert_fault(answer: httpx.Response, code: str | None = None) -> dict[str, Any]:
    """QBO's Fault envelope: {"Fault": {"Error": [{Message, Detail, code, element}], "type"}, "time"}."""
    assert 400 <= answer.status_code < 500, (
        f"QBO refuses with a 4xx; the sandbox answered {answer.status_code}"
    )
    try:
        body = answer.json()
    except ValueError:
        pytest.fail(f"QBO's faults are JSON; the sandbox sent {answer.text[:300]!r}")
    assert set(body) == {"Fault", "time"}, (
        f"QBO's envelope is exactly Fault + time; sandbox sent keys {set(body)}"
    )
    fault = body["Fault"]
    assert set(fault) == {"Error", "type"}, f"Fault holds Error and type; sandbox sent {fault}"
    assert fault["type"] in {
        "ValidationFault",
        "SystemFault",
        "AuthenticationFault",
        "AuthorizationFault",
        "SERVICE",
    }
    assert isinstance(fault["Error"], list) and fault["Error"], "Fault.Error is a non-empty list"
    for error in fault["Error"]:
        assert set(error) == {"Message", "Detail", "code", "element"}, (
            f"an Error has 4 members; sandbox: {error}"
        )
        assert isinstance(error["code"], str), f"QBO's error code is a string; sandbox sent {error['code']!r}"
    if code is not None:
        assert fault["Error"][0]["code"] == code, (
            f"QBO answers code {code}; the sandbox sent {fault['Error']}"
        )
    return body


def _line(item_id: str, amount: float) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": amount},
    }


def _service_item(http: httpx.Client, sandbox: SandboxProcess, auth_client: AuthClient) -> str:
    """A new service item (on a seeded income account), created with raw calls; its Id."""
    accounts = _query(http, sandbox, auth_client, "SELECT * FROM Account WHERE AccountType = 'Income'")
    account = accounts.json()["QueryResponse"]["Account"][0]
    answer = _post(
        http,
        sandbox.api(str(auth_client.realm_id), "item"),
        auth_client,
        {"Name": unique_name("EnvItem"), "Type": "Service", "IncomeAccountRef": {"value": account["Id"]}},
    )
    assert answer.status_code == 200, f"creating an item failed: {answer.text}"
    return str(answer.json()["Item"]["Id"])


@pytest.fixture(scope="module")
def item_id(sandbox: SandboxProcess, auth_a: AuthClient) -> str:
    with httpx.Client(timeout=10) as http:
        return _service_item(http, sandbox, auth_a)


# ---------------------------------------------------------------- API envelopes


def test_given_an_unknown_id_when_read_then_the_fault_envelope_has_code_610_as_a_string(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    answer = http.get(sandbox.api(str(auth_a.realm_id), "customer/987654321"), headers=_headers(auth_a))

    body = _assert_fault(answer, code="610")
    assert datetime.fromisoformat(body["time"]).utcoffset() is not None, (
        "time carries the company's UTC offset"
    )


def test_given_an_api_call_when_answered_then_the_response_carries_an_intuit_tid_header(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    realm = str(auth_a.realm_id)

    ok = http.get(sandbox.api(realm, f"companyinfo/{realm}"), headers=_headers(auth_a))
    refused = http.get(sandbox.api(realm, "customer/987654321"), headers=_headers(auth_a))

    for answer in (ok, refused):
        tid = answer.headers.get("intuit_tid", "")
        assert TID.match(tid), (
            f"QBO stamps every response with intuit_tid like 1-628f0be4-…; sandbox sent {tid!r}"
        )


def test_given_a_create_when_answered_then_the_entity_is_wrapped_with_time_and_server_members(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    answer = _post(
        http, sandbox.api(str(auth_a.realm_id), "customer"), auth_a, {"DisplayName": unique_name("Wrapped")}
    )

    body = answer.json()
    assert set(body) == {"Customer", "time"}, (
        f"QBO wraps a single entity as {{Customer, time}}; sandbox: {set(body)}"
    )
    customer = body["Customer"]
    assert (customer["domain"], customer["sparse"], customer["SyncToken"]) == ("QBO", False, "0")
    assert set(customer["MetaData"]) >= {"CreateTime", "LastUpdatedTime"}
    assert answer.headers["content-type"].startswith("application/json")


def test_given_a_delete_when_answered_then_the_body_has_status_deleted_and_no_sync_token(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client, item_id: str
) -> None:
    realm = str(auth_a.realm_id)
    customer = _create_customer(http, sandbox, auth_a)
    created = _post(
        http,
        sandbox.api(realm, "creditmemo"),
        auth_a,
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [_line(item_id, 5)],
        },
    )
    assert created.status_code == 200, f"creating a credit memo failed: {created.text}"
    memo = created.json()["CreditMemo"]

    answer = _post(
        http,
        sandbox.api(realm, "creditmemo"),
        auth_a,
        {"Id": memo["Id"], "SyncToken": memo["SyncToken"]},
        operation="delete",
    )

    assert answer.status_code == 200
    assert answer.json()["CreditMemo"] == {"status": "Deleted", "domain": "QBO", "Id": memo["Id"]}, (
        "QBO answers a delete with exactly {status: Deleted, domain: QBO, Id}"
    )


def test_given_customers_when_queried_then_query_response_has_start_position_max_results_and_the_list(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    _create_customer(http, sandbox, auth_a)
    _create_customer(http, sandbox, auth_a)

    answer = _query(http, sandbox, auth_a, "SELECT * FROM Customer STARTPOSITION 1 MAXRESULTS 2")

    assert answer.status_code == 200, answer.text
    response = answer.json()["QueryResponse"]
    assert response["startPosition"] == 1
    assert isinstance(response["Customer"], list) and len(response["Customer"]) == 2
    assert response["maxResults"] == len(response["Customer"]), "QBO's maxResults is the count returned"


def test_given_no_match_when_queried_then_query_response_is_an_empty_object(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    answer = _query(
        http,
        sandbox,
        auth_a,
        f"SELECT * FROM Customer WHERE DisplayName = 'none {uuid.uuid4().hex}'",  # noqa: S608
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["QueryResponse"] == {}, "QBO answers an empty result with QueryResponse {}"


def test_given_a_count_query_when_answered_then_only_total_count_is_returned(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    _create_customer(http, sandbox, auth_a)

    answer = _query(http, sandbox, auth_a, "SELECT COUNT(*) FROM Customer")

    response = answer.json()["QueryResponse"]
    assert set(response) == {"totalCount"}, (
        f"COUNT(*) answers QueryResponse {{totalCount}}; sandbox: {response}"
    )
    assert isinstance(response["totalCount"], int) and response["totalCount"] >= 1


def test_given_the_library_form_when_a_query_is_posted_as_application_text_then_it_is_served(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    answer = http.post(
        sandbox.api(str(auth_a.realm_id), "query"),
        headers={**_headers(auth_a), "Content-Type": "application/text"},
        params={"minorversion": "75"},
        content="SELECT COUNT(*) FROM Customer",
    )

    assert answer.status_code == 200, f"python-quickbooks POSTs queries as application/text: {answer.text}"
    assert "totalCount" in answer.json()["QueryResponse"]


def test_given_a_batch_with_a_good_and_a_bad_item_when_sent_then_http_200_and_a_fault_per_failing_item(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    taken = _create_customer(http, sandbox, auth_a)
    request = {
        "BatchItemRequest": [
            {"bId": "good", "operation": "create", "Customer": {"DisplayName": unique_name("BatchOk")}},
            {"bId": "dup", "operation": "create", "Customer": {"DisplayName": taken["DisplayName"]}},
            {"bId": "q", "Query": "SELECT COUNT(*) FROM Customer"},
        ]
    }

    answer = _post(http, sandbox.api(str(auth_a.realm_id), "batch"), auth_a, request)

    assert answer.status_code == 200, (
        f"QBO answers a batch with HTTP 200 even when items fail; got {answer.status_code}"
    )
    items = {item["bId"]: item for item in answer.json()["BatchItemResponse"]}
    assert set(items) == {"good", "dup", "q"}, f"every item answers under its bId; sandbox: {list(items)}"
    assert "Customer" in items["good"] and "Fault" not in items["good"]
    assert items["dup"]["Fault"]["Error"][0]["code"] == "6240"
    assert set(items["dup"]["Fault"]) == {"Error", "type"}
    assert "totalCount" in items["q"]["QueryResponse"]


def test_given_changes_when_cdc_is_read_raw_then_the_nesting_and_deleted_markers_match_qbo(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client, item_id: str
) -> None:
    realm = str(auth_a.realm_id)
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    customer = _create_customer(http, sandbox, auth_a)
    memo = _post(
        http,
        sandbox.api(realm, "creditmemo"),
        auth_a,
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [_line(item_id, 5)],
        },
    ).json()["CreditMemo"]
    _post(
        http,
        sandbox.api(realm, "creditmemo"),
        auth_a,
        {"Id": memo["Id"], "SyncToken": "0"},
        operation="delete",
    )

    answer = http.get(
        sandbox.api(realm, "cdc"),
        headers=_headers(auth_a),
        params={"entities": "Customer,CreditMemo", "changedSince": since, "minorversion": "75"},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"CDCResponse", "time"}
    groups = body["CDCResponse"][0]["QueryResponse"]
    assert isinstance(groups, list), "CDCResponse[0].QueryResponse is a list with one object per entity"
    by_entity = {key: group for group in groups for key in group if key in {"Customer", "CreditMemo"}}
    assert customer["Id"] in {c["Id"] for c in by_entity["Customer"]["Customer"]}
    assert by_entity["Customer"]["startPosition"] == 1
    deleted = [m for m in by_entity["CreditMemo"]["CreditMemo"] if m["Id"] == memo["Id"]]
    assert len(deleted) == 1 and deleted[0]["status"] == "Deleted" and deleted[0]["domain"] == "QBO"
    assert "LastUpdatedTime" in deleted[0]["MetaData"], "deleted markers carry MetaData.LastUpdatedTime"


def test_given_a_token_for_realm_a_when_realm_b_is_called_then_403_fault_code_3100(
    sandbox: SandboxProcess, auth_a: AuthClient, realm_b: str, http: httpx.Client
) -> None:
    answer = http.get(sandbox.api(realm_b, f"companyinfo/{realm_b}"), headers=_headers(auth_a))

    assert answer.status_code == 403, (
        f"another company's data is refused with 403; sandbox said {answer.status_code}"
    )
    _assert_fault(answer, code="3100")


def test_given_a_revoked_token_when_the_api_is_called_then_401(
    sandbox: SandboxProcess, http: httpx.Client
) -> None:
    auth_client = connect(sandbox)
    auth_client.revoke(token=auth_client.access_token)
    realm = str(auth_client.realm_id)

    answer = http.get(sandbox.api(realm, f"companyinfo/{realm}"), headers=_headers(auth_client))

    assert answer.status_code == 401, (
        f"QBO answers a revoked token with 401; sandbox said {answer.status_code}"
    )
    assert TID.match(answer.headers.get("intuit_tid", ""))


def test_given_an_exhausted_window_when_the_api_is_called_then_429_fault_code_3001(
    exhausted: tuple[SandboxProcess, AuthClient], http: httpx.Client
) -> None:
    throttled_sandbox, auth_client = exhausted
    realm = str(auth_client.realm_id)

    answer = http.get(throttled_sandbox.api(realm, f"companyinfo/{realm}"), headers=_headers(auth_client))

    assert answer.status_code == 429
    body = _assert_fault(answer, code="3001")
    assert "ThrottleExceeded" in body["Fault"]["Error"][0]["Message"]


def test_given_an_invoice_when_created_raw_then_ids_are_strings_amounts_numbers_and_times_have_offsets(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client, item_id: str
) -> None:
    customer = _create_customer(http, sandbox, auth_a)

    answer = _post(
        http,
        sandbox.api(str(auth_a.realm_id), "invoice"),
        auth_a,
        {"CustomerRef": {"value": customer["Id"]}, "Line": [_line(item_id, 12.5)]},
    )

    invoice = answer.json()["Invoice"]
    assert isinstance(invoice["Id"], str) and isinstance(invoice["SyncToken"], str), (
        "QBO sends Id/SyncToken as strings"
    )
    assert isinstance(invoice["TotalAmt"], int | float) and invoice["TotalAmt"] == 12.5, (
        "amounts are JSON numbers"
    )
    assert invoice["CustomerRef"]["value"] == customer["Id"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", invoice["TxnDate"]), (
        f"TxnDate is a date; got {invoice['TxnDate']!r}"
    )
    created = datetime.fromisoformat(invoice["MetaData"]["CreateTime"])
    assert created.utcoffset() is not None, "MetaData times carry an offset like 2014-09-19T13:16:17-07:00"


def test_given_one_requestid_when_a_batch_is_sent_twice_then_the_answer_repeats_and_nothing_doubles(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    realm = str(auth_a.realm_id)
    name = unique_name("BatchRid")
    request = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": name}}]}
    request_id = uuid.uuid4().hex

    first = _post(http, sandbox.api(realm, "batch"), auth_a, request, requestid=request_id)
    again = _post(http, sandbox.api(realm, "batch"), auth_a, request, requestid=request_id)

    ids = [a.json()["BatchItemResponse"][0].get("Customer", {}).get("Id") for a in (first, again)]
    assert ids[0] and ids[0] == ids[1], (
        f"a repeated requestid returns the original answer (QBO); got Ids {ids}"
    )
    count = _query(http, sandbox, auth_a, f"SELECT COUNT(*) FROM Customer WHERE DisplayName = '{name}'")  # noqa: S608
    assert count.json()["QueryResponse"]["totalCount"] == 1


def test_given_30_items_when_a_batch_is_sent_then_all_are_answered(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    items = [{"bId": f"q{index}", "Query": "SELECT COUNT(*) FROM Customer"} for index in range(30)]

    answer = _post(http, sandbox.api(str(auth_a.realm_id), "batch"), auth_a, {"BatchItemRequest": items})

    assert answer.status_code == 200, (
        f"30 items is QBO's batch limit, not over it; sandbox: {answer.text[:300]}"
    )
    assert len(answer.json()["BatchItemResponse"]) == 30


def test_given_a_date_only_changed_since_when_cdc_is_read_then_it_is_accepted(
    sandbox: SandboxProcess, auth_a: AuthClient, http: httpx.Client
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    answer = http.get(
        sandbox.api(str(auth_a.realm_id), "cdc"),
        headers=_headers(auth_a),
        params={"entities": "Customer", "changedSince": yesterday, "minorversion": "75"},
    )

    assert answer.status_code == 200, (
        f"changedSince may be a date or a dateTime (QBO); sandbox: {answer.text[:300]}"
    )
    assert isinstance(answer.json()["CDCResponse"][0]["QueryResponse"], list)


# ---------------------------------------------------------------- OAuth token endpoint


def _exchange(sandbox: SandboxProcess, code: str, **headers: str) -> httpx.Response:
    return httpx.post(
        new_auth_client(sandbox).token_endpoint,
        auth=(sandbox.client_id, sandbox.client_secret),
        headers={"Accept": "application/json", **headers},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": sandbox.redirect_uri},
        timeout=10,
    )


def test_given_a_code_when_exchanged_raw_then_the_token_response_has_qbo_fields_and_no_store(
    sandbox: SandboxProcess,
) -> None:
    code = authorize(sandbox, new_auth_client(sandbox))["code"]

    answer = _exchange(sandbox, code)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {
        "token_type",
        "access_token",
        "expires_in",
        "refresh_token",
        "x_refresh_token_expires_in",
    }, (
        "without openid and without the opt-in header QBO sends exactly these fields; "
        f"sandbox sent {set(body)}"
    )
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert isinstance(body["x_refresh_token_expires_in"], int) and body["x_refresh_token_expires_in"] > 3600
    assert "no-store" in answer.headers.get("cache-control", ""), "token responses must not be cached"
    assert TID.match(answer.headers.get("intuit_tid", "")), "token responses carry intuit_tid"


def test_given_the_opt_in_header_when_a_code_is_exchanged_then_the_hard_expiry_is_included(
    sandbox: SandboxProcess,
) -> None:
    code = authorize(sandbox, new_auth_client(sandbox))["code"]

    answer = _exchange(sandbox, code, **{"x-include-refresh-token-hard-expires-in": "true"})

    hard = answer.json().get("x_refresh_token_hard_expires_in")
    assert isinstance(hard, int) and hard > answer.json()["x_refresh_token_expires_in"], (
        f"the opt-in header adds x_refresh_token_hard_expires_in (about 5 years); sandbox sent {hard!r}"
    )


def test_given_an_unknown_code_when_exchanged_raw_then_400_invalid_grant_with_tid_and_no_store(
    sandbox: SandboxProcess,
) -> None:
    answer = _exchange(sandbox, "AB11-not-a-code")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "no-store" in answer.headers.get("cache-control", "")
    assert TID.match(answer.headers.get("intuit_tid", ""))


# ---------------------------------------------------------------- webhooks


@pytest.fixture(scope="module")
def webhook_auth(webhook_endpoint: tuple[SandboxProcess, WebhookReceiver]) -> AuthClient:
    return connect(webhook_endpoint[0])


def test_given_a_configured_webhook_when_a_customer_is_created_then_the_signature_is_hmac_of_the_raw_body(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    customer = _create_customer(http, webhook_sandbox, webhook_auth)

    headers, body, _ = receiver.wait_for("Customer", customer["Id"], "Create")[0]

    expected = base64.b64encode(
        hmac.new(WEBHOOK_VERIFIER_TOKEN.encode(), body, hashlib.sha256).digest()
    ).decode()
    assert headers.get("intuit-signature") == expected, (
        "intuit-signature is base64(HMAC-SHA256(verifier token, raw body)); "
        f"sandbox sent {headers.get('intuit-signature')!r}"
    )


def test_given_a_configured_webhook_when_a_customer_is_created_then_the_body_is_an_event_notification(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    customer = _create_customer(http, webhook_sandbox, webhook_auth)

    headers, body, _ = receiver.wait_for("Customer", customer["Id"], "Create")[0]

    assert headers.get("content-type", "").startswith("application/json")
    notifications = json.loads(body)["eventNotifications"]
    assert [n["realmId"] for n in notifications] == [str(webhook_auth.realm_id)], "one notification per realm"
    entities = notifications[0]["dataChangeEvent"]["entities"]
    event = next(e for e in entities if e["id"] == customer["Id"])
    assert set(event) >= {"name", "id", "operation", "lastUpdated"}, (
        f"QBO's entity event members; sandbox: {event}"
    )
    assert datetime.fromisoformat(event["lastUpdated"].replace("Z", "+00:00")).tzinfo is not None


def test_given_a_configured_webhook_when_a_customer_is_updated_then_an_update_event_is_posted(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    customer = _create_customer(http, webhook_sandbox, webhook_auth)
    url = webhook_sandbox.api(str(webhook_auth.realm_id), "customer")

    answer = _post(
        http, url, webhook_auth, {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "changed"}
    )

    assert answer.status_code == 200, answer.text
    assert receiver.wait_for("Customer", customer["Id"], "Update")


def test_given_a_configured_webhook_when_a_credit_memo_is_deleted_then_a_delete_event_is_posted(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    realm = str(webhook_auth.realm_id)
    customer = _create_customer(http, webhook_sandbox, webhook_auth)
    item_id = _service_item(http, webhook_sandbox, webhook_auth)
    memo = _post(
        http,
        webhook_sandbox.api(realm, "creditmemo"),
        webhook_auth,
        {"CustomerRef": {"value": customer["Id"]}, "Line": [_line(item_id, 5)]},
    ).json()["CreditMemo"]

    _post(
        http,
        webhook_sandbox.api(realm, "creditmemo"),
        webhook_auth,
        {"Id": memo["Id"], "SyncToken": "0"},
        operation="delete",
    )

    assert receiver.wait_for("CreditMemo", memo["Id"], "Delete")


def test_given_the_endpoint_fails_once_when_a_change_is_notified_then_the_same_signed_body_is_sent_again(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    with receiver.changed:
        receiver.fail_next = 1
    customer = _create_customer(http, webhook_sandbox, webhook_auth)

    deliveries = receiver.wait_for("Customer", customer["Id"], "Create", copies=2)

    (first_headers, first_body, first_status), (again_headers, again_body, again_status) = deliveries[:2]

    assert (first_status, again_status) == (500, 200)
    assert again_body == first_body, "QBO retries a failed delivery with the same payload"
    assert again_headers["intuit-signature"] == first_headers["intuit-signature"]


def test_given_a_webhook_when_python_quickbooks_validates_its_signature_then_it_is_valid(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    customer = _create_customer(http, webhook_sandbox, webhook_auth)
    headers, body, _ = receiver.wait_for("Customer", customer["Id"], "Create")[0]

    valid = QuickBooks(minorversion=75).validate_webhook_signature(
        body.decode("utf-8"), headers["intuit-signature"], WEBHOOK_VERIFIER_TOKEN
    )

    assert valid, "python-quickbooks' own validate_webhook_signature must accept the sandbox's signature"


def test_given_a_configured_webhook_when_an_invoice_is_voided_then_a_void_event_is_posted(
    webhook_endpoint: tuple[SandboxProcess, WebhookReceiver], webhook_auth: AuthClient, http: httpx.Client
) -> None:
    webhook_sandbox, receiver = webhook_endpoint
    realm = str(webhook_auth.realm_id)
    customer = _create_customer(http, webhook_sandbox, webhook_auth)
    item_id = _service_item(http, webhook_sandbox, webhook_auth)
    invoice = _post(
        http,
        webhook_sandbox.api(realm, "invoice"),
        webhook_auth,
        {"CustomerRef": {"value": customer["Id"]}, "Line": [_line(item_id, 8)]},
    ).json()["Invoice"]

    _post(
        http,
        webhook_sandbox.api(realm, "invoice"),
        webhook_auth,
        {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]},
        operation="void",
    )

    assert receiver.wait_for("Invoice", invoice["Id"], "Void"), "legacy webhooks report a void as Void"


# ---------------------------------------------------------------- CloudEvents webhooks


def test_given_cloudevents_format_when_a_customer_is_created_then_a_signed_cloudevents_array_is_posted(
    cloudevents_endpoint: tuple[SandboxProcess, WebhookReceiver], http: httpx.Client
) -> None:
    process, app = cloudevents_endpoint
    auth_client = connect(process)
    customer = _create_customer(http, process, auth_client)

    headers, body, _ = app.wait_for("Customer", customer["Id"], "Create")[0]

    expected = base64.b64encode(
        hmac.new(WEBHOOK_VERIFIER_TOKEN.encode(), body, hashlib.sha256).digest()
    ).decode()
    assert headers.get("intuit-signature") == expected, "CloudEvents are signed like the legacy format"
    event = next(e for e in json.loads(body) if e["intuitentityid"] == customer["Id"])
    assert {key: event[key] for key in ("specversion", "type", "datacontenttype", "intuitaccountid")} == {
        "specversion": "1.0",
        "type": "qbo.customer.created.v1",
        "datacontenttype": "application/json",
        "intuitaccountid": str(auth_client.realm_id),
    }
    assert event["id"] and str(event["source"]).startswith("intuit.") and isinstance(event["data"], dict)
