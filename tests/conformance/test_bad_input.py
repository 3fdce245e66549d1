"""Bad input never gets a 500: QBO answers every malformed request with its Fault envelope and a 4xx."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.invoice import Invoice

from tests.conformance.harness import SandboxProcess
from tests.conformance.records import create_customer, create_item, income_account, sales_line


def _headers(auth_client: AuthClient, content_type: str = "application/json") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {auth_client.access_token}",
        "Accept": "application/json",
        "Content-Type": content_type,
    }


def _fault_codes(answer: httpx.Response) -> list[str]:
    """The Fault's codes, failing with what the sandbox sent if it is not QBO's envelope."""
    assert 400 <= answer.status_code < 500, (
        f"QBO answers bad input with a 4xx Fault; the sandbox answered {answer.status_code}: "
        f"{answer.text[:300]}"
    )
    try:
        body = answer.json()
    except ValueError:
        pytest.fail(f"QBO's faults are JSON; the sandbox sent {answer.text[:300]!r}")
    assert isinstance(body, dict) and "Fault" in body, (
        f"QBO answers with a Fault envelope; sandbox sent {body}"
    )
    errors = body["Fault"]["Error"]
    assert all(isinstance(error["code"], str) for error in errors)
    return [error["code"] for error in errors]


def _batch_item(index: int) -> dict[str, Any]:
    return {"bId": f"b{index}", "operation": "create", "Customer": {"DisplayName": f"Big {uuid.uuid4().hex}"}}


_YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

# (name, method, path, content type, raw body): each one a request QBO refuses.
BAD_REQUESTS: list[tuple[str, str, str, str, bytes]] = [
    ("malformed-json", "POST", "customer", "application/json", b'{"DisplayName": "unterminated'),
    ("json-array-body", "POST", "customer", "application/json", b'[{"DisplayName": "in a list"}]'),
    ("json-null-body", "POST", "customer", "application/json", b"null"),
    ("empty-body", "POST", "customer", "application/json", b""),
    (
        "number-for-a-name",
        "POST",
        "customer",
        "application/json",
        b'{"DisplayName": 12345, "Active": "maybe"}',
    ),
    ("object-for-a-boolean", "POST", "customer", "application/json", b'{"DisplayName": "x y", "Active": {}}'),
    (
        "string-for-line-list",
        "POST",
        "invoice",
        "application/json",
        b'{"CustomerRef": {"value": "1"}, "Line": "x"}',
    ),
    (
        "text-for-an-amount",
        "POST",
        "invoice",
        "application/json",
        b'{"CustomerRef": {"value": "1"}, "Line": [{"Amount": "lots", "DetailType": "SalesItemLineDetail"}]}',
    ),
    ("invoice-without-lines", "POST", "invoice", "application/json", b'{"CustomerRef": {"value": "1"}}'),
    (
        "update-without-sync-token",
        "POST",
        "customer",
        "application/json",
        b'{"Id": "1", "DisplayName": "no token"}',
    ),
    (
        "update-of-a-missing-id",
        "POST",
        "customer",
        "application/json",
        b'{"Id": "987654321", "SyncToken": "0", "DisplayName": "ghost"}',
    ),
    ("non-numeric-id", "GET", "customer/not-a-number", "application/json", b""),
    ("unknown-entity-read", "GET", "frobnicator/1", "application/json", b""),
    ("unknown-entity-create", "POST", "frobnicator", "application/json", b'{"Name": "x"}'),
    ("taxcode-create", "POST", "taxcode", "application/json", b'{"Name": "made up"}'),
    (
        "unknown-operation",
        "POST",
        "invoice?operation=explode",
        "application/json",
        b'{"Id": "1", "SyncToken": "0"}',
    ),
    ("batch-not-a-list", "POST", "batch", "application/json", b'{"BatchItemRequest": "everything"}'),
    ("batch-malformed", "POST", "batch", "application/json", b'{"BatchItemRequest": ['),
    ("cdc-without-entities", "GET", "cdc?changedSince=2026-01-01", "application/json", b""),
    (
        "cdc-older-than-30-days",
        "GET",
        "cdc?entities=Customer&changedSince=2000-01-01",
        "application/json",
        b"",
    ),
    ("cdc-bad-date", "GET", "cdc?entities=Customer&changedSince=yesterday", "application/json", b""),
    ("query-missing", "GET", "query", "application/json", b""),
    (
        "query-with-or",
        "POST",
        "query",
        "application/text",
        b"SELECT * FROM Customer WHERE Id = '1' OR Id = '2'",
    ),
    ("query-unknown-entity", "POST", "query", "application/text", b"SELECT * FROM Frobnicator"),
    ("query-garbage", "POST", "query", "application/text", b"DROP TABLE Customer"),
    (
        "query-unterminated-string",
        "POST",
        "query",
        "application/text",
        b"SELECT * FROM Customer WHERE Id = '1",
    ),
    (
        "query-max-results-over-1000",
        "POST",
        "query",
        "application/text",
        b"SELECT * FROM Customer MAXRESULTS 1001",
    ),
    (
        "payment-method-name-over-31",
        "POST",
        "paymentmethod",
        "application/json",
        b'{"Name": "' + b"x" * 32 + b'"}',
    ),
    ("name-with-a-colon", "POST", "customer", "application/json", b'{"DisplayName": "Parent:Child"}'),
    (
        "email-without-at",
        "POST",
        "customer",
        "application/json",
        b'{"DisplayName": "No At", "PrimaryEmailAddr": {"Address": "nobody.example.com"}}',
    ),
    ("customer-without-any-name", "POST", "customer", "application/json", b'{"Notes": "who am I"}'),
    ("cdc-of-taxcode", "GET", f"cdc?entities=TaxCode&changedSince={_YESTERDAY}", "application/json", b""),
    (
        "request-id-over-50",
        "POST",
        "customer?requestid=" + "r" * 51,
        "application/json",
        b'{"DisplayName": "Long Rid"}',
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_given_a_malformed_request_when_sent_then_a_4xx_fault_comes_back_not_a_500(
    sandbox: SandboxProcess, auth_a: AuthClient, case: tuple[str, str, str, str, bytes]
) -> None:
    _, method, path, content_type, body = case
    url = sandbox.api(str(auth_a.realm_id), path)

    answer = httpx.request(method, url, headers=_headers(auth_a, content_type), content=body, timeout=10)

    assert _fault_codes(answer)


def test_given_31_items_when_a_batch_is_sent_then_it_is_refused_whole_with_a_fault(
    sandbox: SandboxProcess, auth_a: AuthClient
) -> None:
    request = {"BatchItemRequest": [_batch_item(index) for index in range(31)]}

    answer = httpx.post(
        sandbox.api(str(auth_a.realm_id), "batch"), headers=_headers(auth_a), json=request, timeout=10
    )

    assert _fault_codes(answer), "QBO takes at most 30 items per batch"
    names = [item["Customer"]["DisplayName"] for item in request["BatchItemRequest"]]
    count = httpx.get(
        sandbox.api(str(auth_a.realm_id), "query"),
        headers=_headers(auth_a),
        params={"query": f"SELECT COUNT(*) FROM Customer WHERE DisplayName IN ('{names[0]}', '{names[30]}')"},  # noqa: S608 (QBO query text, not SQL)
        timeout=10,
    )
    assert count.json()["QueryResponse"].get("totalCount", 0) == 0, "a refused batch creates nothing"


def test_given_31_items_when_a_batch_is_sent_then_the_fault_code_is_1040_batch_size_exceeded(
    sandbox: SandboxProcess, auth_a: AuthClient
) -> None:
    request = {"BatchItemRequest": [_batch_item(index) for index in range(31)]}

    answer = httpx.post(
        sandbox.api(str(auth_a.realm_id), "batch"), headers=_headers(auth_a), json=request, timeout=10
    )

    assert _fault_codes(answer) == ["1040"], (
        "QBO's error-code table: 1040 'Batch size exceeds allowed limit' (at most 30 items per batch)"
    )


def test_given_a_query_with_or_when_sent_then_the_fault_is_code_4000(
    sandbox: SandboxProcess, auth_a: AuthClient
) -> None:
    answer = httpx.post(
        sandbox.api(str(auth_a.realm_id), "query"),
        headers=_headers(auth_a, "application/text"),
        content=b"SELECT * FROM Customer WHERE Id = '1' OR Id = '2'",
        timeout=10,
    )

    assert _fault_codes(answer) == ["4000"], "QBO refuses OR (and any unparsable query) with code 4000"


def test_given_a_wrong_type_when_a_customer_is_posted_then_the_fault_is_code_2010_and_nothing_is_created(
    sandbox: SandboxProcess, auth_a: AuthClient
) -> None:
    name = f"Typed {uuid.uuid4().hex[:8]}"

    answer = httpx.post(
        sandbox.api(str(auth_a.realm_id), "customer"),
        headers=_headers(auth_a),
        json={"DisplayName": name, "Active": {"not": "a boolean"}},
        timeout=10,
    )

    assert _fault_codes(answer) == ["2010"], "QBO's binder refuses a wrong type with 2010 (invalid property)"
    count = httpx.get(
        sandbox.api(str(auth_a.realm_id), "query"),
        headers=_headers(auth_a),
        params={"query": f"SELECT COUNT(*) FROM Customer WHERE DisplayName = '{name}'"},  # noqa: S608 (QBO query text)
        timeout=10,
    )
    assert count.json()["QueryResponse"].get("totalCount", 0) == 0


@pytest.mark.parametrize(
    ("name", "content_type", "body"),
    [
        pytest.param(*case, id=case[0])
        for case in (
            ("grant-type-missing", "application/x-www-form-urlencoded", b"code=x"),
            ("grant-type-unknown", "application/x-www-form-urlencoded", b"grant_type=password&username=a"),
            (
                "json-instead-of-form",
                "application/json",
                b'{"grant_type": "refresh_token", "refresh_token": "x"}',
            ),
            ("binary-garbage", "application/x-www-form-urlencoded", bytes(range(256))),
            ("refresh-without-token", "application/x-www-form-urlencoded", b"grant_type=refresh_token"),
        )
    ],
)
def test_given_a_malformed_token_request_when_sent_then_an_oauth_error_4xx_comes_back(
    sandbox: SandboxProcess, name: str, content_type: str, body: bytes
) -> None:
    token_endpoint = httpx.get(sandbox.discovery_url, timeout=10).json()["token_endpoint"]

    answer = httpx.post(
        token_endpoint,
        auth=(sandbox.client_id, sandbox.client_secret),
        headers={"Content-Type": content_type, "Accept": "application/json"},
        content=body,
        timeout=10,
    )

    assert 400 <= answer.status_code < 500, (
        f"{name}: QBO answers 4xx; the sandbox answered {answer.status_code}"
    )
    assert isinstance(answer.json().get("error"), str), (
        f"RFC 6749 error JSON expected; sandbox sent {answer.text}"
    )


def test_given_a_doc_number_over_21_characters_when_an_invoice_is_saved_then_it_is_refused(
    qb: QuickBooks,
) -> None:
    customer = create_customer(qb)
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(sales_line(create_item(qb, income_account(qb)), 10))
    invoice.DocNumber = "D" * 22

    with pytest.raises(QuickbooksException):
        invoice.save(qb=qb)

    assert Invoice.count(f"CustomerRef = '{customer.Id}'", qb=qb) == 0, (
        "QBO limits DocNumber to 21 characters and writes nothing; the sandbox created an invoice"
    )
