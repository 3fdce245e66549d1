"""QboClient against a MockTransport standing in for QBO: parsing, retries, refresh, requestid."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from qbosync.qbo.client import (
    BatchItem,
    BatchTooLarge,
    CdcWindowExceeded,
    InvalidRequestId,
    QboClient,
    QboRequestInvalid,
    qbo_literal,
    request_id_for,
)
from qbosync.qbo.faults import (
    QboAuthenticationFault,
    QboDuplicateName,
    QboServerFault,
    QboStaleObject,
    QboUncertainOutcome,
    QboUnreachable,
)
from qbosync.qbo.governor import InMemoryGovernorStore, RealmGovernor
from qbosync.settings import QboLimits

REALM = "9130000000001"
BASE = "https://qbo.test"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FIRST_TOKEN = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..first-access-token"
SECOND_TOKEN = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..second-access-token"

Reply = httpx.Response | Exception


class FakeTokens:
    """An AccessTokenProvider whose refresh hands out the next token and records what was rejected."""

    def __init__(self) -> None:
        self.current = FIRST_TOKEN
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.current

    def refresh_after_unauthorized(self, rejected: str) -> str:
        self.rejected.append(rejected)
        self.current = SECOND_TOKEN
        return self.current


class FakeQbo:
    """Answers each request with the next scripted reply (a response, or an exception to raise)."""

    def __init__(self, *replies: Reply | Callable[[httpx.Request], Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if callable(reply) and not isinstance(reply, httpx.Response):
            reply = reply(request)
        if isinstance(reply, Exception):
            raise reply
        return reply


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _client(
    qbo: FakeQbo,
    tokens: FakeTokens | None = None,
    sleep: RecordingSleep | None = None,
    governor: RealmGovernor | None = None,
    max_attempts: int = 5,
) -> QboClient:
    return QboClient(
        REALM,
        tokens or FakeTokens(),
        governor,
        BASE,
        http=httpx.Client(transport=httpx.MockTransport(qbo)),
        max_attempts=max_attempts,
        clock=lambda: NOW,
        sleep=sleep or RecordingSleep(),
        rng=random.Random(1),
    )


def _ok(body: Mapping[str, object]) -> httpx.Response:
    return httpx.Response(
        200, json={**body, "time": "2026-01-01T00:00:00-08:00"}, headers={"intuit_tid": "1-ok"}
    )


def _fault(status: int, code: str, fault_type: str = "ValidationFault") -> httpx.Response:
    body = {"Fault": {"Error": [{"Message": "Error", "Detail": "", "code": code}], "type": fault_type}}
    return httpx.Response(status, json=body, headers={"intuit_tid": "1-fault"})


CUSTOMER = {"Customer": {"Id": "1", "SyncToken": "0", "DisplayName": "Acme", "Balance": 10.05}}


def test_given_a_customer_when_read_then_the_entity_is_returned_with_exact_amounts() -> None:
    qbo = FakeQbo(_ok(CUSTOMER))
    customer = _client(qbo).read("Customer", "1")
    assert customer["DisplayName"] == "Acme"
    assert customer["Balance"] == Decimal("10.05")
    request = qbo.requests[0]
    assert request.url.path == f"/v3/company/{REALM}/customer/1"
    assert request.url.params["minorversion"] == "75"
    assert request.headers["Authorization"] == f"Bearer {FIRST_TOKEN}"


def test_given_a_create_when_sent_then_it_carries_the_requestid_and_a_json_body() -> None:
    qbo = FakeQbo(_ok(CUSTOMER))
    _client(qbo).create("Customer", {"DisplayName": "Acme", "Balance": Decimal("1.10")}, "req-1")
    request = qbo.requests[0]
    assert request.method == "POST"
    assert request.url.path.endswith("/customer")
    assert request.url.params["requestid"] == "req-1"
    assert json.loads(request.content) == {"DisplayName": "Acme", "Balance": 1.1}


def test_given_a_429_when_called_then_it_backs_off_and_retries_without_real_sleep() -> None:
    sleep = RecordingSleep()
    qbo = FakeQbo(_fault(429, "3001", "SERVICE"), _ok(CUSTOMER))
    assert _client(qbo, sleep=sleep).read("Customer", "1")["Id"] == "1"
    assert len(qbo.requests) == 2
    assert len(sleep.calls) == 1
    assert 0 <= sleep.calls[0] <= 0.5  # full jitter below the first backoff ceiling


def test_given_a_429_with_retry_after_when_called_then_the_wait_is_what_qbo_asked() -> None:
    sleep = RecordingSleep()
    throttled = httpx.Response(429, content=b"", headers={"Retry-After": "7"})
    _client(FakeQbo(throttled, _ok(CUSTOMER)), sleep=sleep).read("Customer", "1")
    assert sleep.calls == [7.0]


def test_given_a_429_with_a_governor_when_called_then_the_whole_realm_is_penalised() -> None:
    store = InMemoryGovernorStore()
    now = [NOW]

    def advance(seconds: float) -> None:
        now[0] += seconds

    # One request per shared count (no lease), so the count shows the throttled call and its retry.
    governor = RealmGovernor(store, QboLimits(lease_requests=1), clock=lambda: now[0], sleep=advance)
    throttled = httpx.Response(429, content=b"", headers={"Retry-After": "7"})
    client = QboClient(
        REALM,
        FakeTokens(),
        governor,
        BASE,
        http=httpx.Client(transport=httpx.MockTransport(FakeQbo(throttled, _ok(CUSTOMER)))),
        clock=lambda: now[0],
        sleep=advance,
    )
    client.read("Customer", "1")
    assert store.penalty_until(REALM) == NOW + 7.0
    assert store.requests_counted(REALM, int(NOW // 60)) == 2


def test_given_server_errors_when_called_then_backoff_grows_and_the_call_succeeds() -> None:
    sleep = RecordingSleep()
    qbo = FakeQbo(httpx.Response(503), httpx.Response(500), _ok(CUSTOMER))
    _client(qbo, sleep=sleep).read("Customer", "1")
    assert len(sleep.calls) == 2
    assert 0 <= sleep.calls[0] <= 0.5
    assert 0 <= sleep.calls[1] <= 1.0


def test_given_a_connection_error_on_a_read_when_called_then_it_is_retried() -> None:
    qbo = FakeQbo(httpx.ConnectError("refused"), _ok(CUSTOMER))
    assert _client(qbo).read("Customer", "1")["Id"] == "1"
    assert len(qbo.requests) == 2


def test_given_qbo_stays_down_when_attempts_run_out_on_a_read_then_unreachable_is_raised() -> None:
    qbo = FakeQbo(*[httpx.ReadTimeout("slow") for _ in range(3)])
    with pytest.raises(QboUnreachable):
        _client(qbo, max_attempts=3).read("Customer", "1")
    assert len(qbo.requests) == 3


def test_given_a_validation_fault_when_called_then_it_is_raised_without_retry() -> None:
    sleep = RecordingSleep()
    qbo = FakeQbo(_fault(400, "6240"))
    with pytest.raises(QboDuplicateName) as raised:
        _client(qbo, sleep=sleep).create("Customer", {"DisplayName": "Acme"}, "req-1")
    assert len(qbo.requests) == 1
    assert sleep.calls == []
    assert raised.value.intuit_tid == "1-fault"


def test_given_an_expired_token_when_called_then_it_refreshes_once_and_succeeds() -> None:
    tokens = FakeTokens()
    qbo = FakeQbo(_fault(401, "3200", "AUTHENTICATION"), _ok(CUSTOMER))
    assert _client(qbo, tokens=tokens).read("Customer", "1")["Id"] == "1"
    assert tokens.rejected == [FIRST_TOKEN]
    assert qbo.requests[1].headers["Authorization"] == f"Bearer {SECOND_TOKEN}"


def test_given_the_refreshed_token_is_rejected_too_when_called_then_authentication_fails() -> None:
    tokens = FakeTokens()
    qbo = FakeQbo(_fault(401, "3200"), _fault(401, "3200"))
    with pytest.raises(QboAuthenticationFault):
        _client(qbo, tokens=tokens).read("Customer", "1")
    assert tokens.rejected == [FIRST_TOKEN]


def test_given_a_dropped_connection_after_a_write_was_sent_when_retried_then_the_requestid_is_the_same() -> (
    None
):
    qbo = FakeQbo(
        httpx.RemoteProtocolError("server disconnected"), httpx.ReadTimeout("no answer"), _ok(CUSTOMER)
    )
    created = _client(qbo).create("Customer", {"DisplayName": "Acme"}, "req-42")
    assert created["Id"] == "1"
    assert [r.url.params["requestid"] for r in qbo.requests] == ["req-42", "req-42", "req-42"]
    assert len({r.content for r in qbo.requests}) == 1


def test_given_a_write_whose_answer_never_arrives_when_attempts_run_out_then_the_outcome_is_uncertain() -> (
    None
):
    qbo = FakeQbo(*[httpx.ReadTimeout("no answer") for _ in range(3)])
    with pytest.raises(QboUncertainOutcome) as raised:
        _client(qbo, max_attempts=3).create("Invoice", {"DocNumber": "INV-1"}, "req-7")
    assert (raised.value.request_id, raised.value.entity) == ("req-7", "Invoice")


def test_given_a_write_that_never_connected_when_attempts_run_out_then_it_is_unreachable_not_uncertain() -> (
    None
):
    qbo = FakeQbo(*[httpx.ConnectError("refused") for _ in range(2)])
    with pytest.raises(QboUnreachable):
        _client(qbo, max_attempts=2).create("Invoice", {"DocNumber": "INV-1"}, "req-7")


def test_given_a_fault_inside_an_http_200_when_called_then_it_is_raised() -> None:
    body = {
        "Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010"}], "type": "ValidationFault"}
    }
    with pytest.raises(QboStaleObject):
        _client(FakeQbo(httpx.Response(200, json=body))).update(
            "Customer", {"Id": "1", "SyncToken": "0"}, "r"
        )


def test_given_an_update_without_sync_token_when_called_then_nothing_is_sent() -> None:
    qbo = FakeQbo()
    with pytest.raises(QboRequestInvalid):
        _client(qbo).update("Customer", {"Id": "1"}, "req-1")
    assert qbo.requests == []


def test_given_a_sparse_update_when_sent_then_the_body_is_marked_sparse() -> None:
    qbo = FakeQbo(_ok(CUSTOMER))
    _client(qbo).sparse_update("Customer", {"Id": "1", "SyncToken": "0", "Active": False}, "req-1")
    assert json.loads(qbo.requests[0].content)["sparse"] is True


def test_given_a_payment_when_voided_then_it_is_a_sparse_update_with_include_void() -> None:
    qbo = FakeQbo(_ok({"Payment": {"Id": "5", "SyncToken": "2", "TotalAmt": 0}}))
    _client(qbo).void("Payment", "5", "1", "req-void")
    request = qbo.requests[0]
    assert (request.url.params["operation"], request.url.params["include"]) == ("update", "void")
    assert json.loads(request.content) == {"Id": "5", "SyncToken": "1", "sparse": True}


def test_given_an_invoice_when_deleted_then_the_delete_operation_is_posted() -> None:
    qbo = FakeQbo(_ok({"Invoice": {"Id": "33", "status": "Deleted", "domain": "QBO"}}))
    assert _client(qbo).delete("Invoice", "33", "4", "req-del")["status"] == "Deleted"
    assert qbo.requests[0].url.params["operation"] == "delete"


def test_given_a_requestid_longer_than_50_when_writing_then_it_is_refused() -> None:
    with pytest.raises(InvalidRequestId):
        _client(FakeQbo()).create("Customer", {}, "x" * 51)


def _page(rows: int, start: int) -> httpx.Response:
    customers = [{"Id": str(start + i)} for i in range(rows)]
    query_response: dict[str, object] = {"startPosition": start, "maxResults": rows}
    if rows:
        query_response["Customer"] = customers
    return _ok({"QueryResponse": query_response})


def test_given_more_rows_than_a_page_when_queried_all_then_pages_are_read_until_a_short_one() -> None:
    qbo = FakeQbo(_page(2, 1), _page(2, 3), _page(1, 5))
    rows = _client(qbo).query_all("Customer", where="Active = true", page_size=2)
    assert [row["Id"] for row in rows] == ["1", "2", "3", "4", "5"]
    queries = [r.url.params["query"] for r in qbo.requests]
    assert queries == [
        "SELECT * FROM Customer WHERE Active = true ORDERBY Id STARTPOSITION 1 MAXRESULTS 2",
        "SELECT * FROM Customer WHERE Active = true ORDERBY Id STARTPOSITION 3 MAXRESULTS 2",
        "SELECT * FROM Customer WHERE Active = true ORDERBY Id STARTPOSITION 5 MAXRESULTS 2",
    ]


def test_given_an_exact_multiple_of_the_page_when_queried_all_then_an_empty_page_ends_it() -> None:
    qbo = FakeQbo(_page(2, 1), _page(0, 3))
    assert len(list(_client(qbo).iter_query("Customer", page_size=2))) == 2


def test_given_a_count_query_when_called_then_total_count_is_returned() -> None:
    qbo = FakeQbo(_ok({"QueryResponse": {"totalCount": 42}}))
    assert _client(qbo).count("Invoice") == 42
    assert qbo.requests[0].url.params["query"] == "SELECT COUNT(*) FROM Invoice"


def test_given_a_value_with_quotes_when_quoted_then_it_is_escaped() -> None:
    assert qbo_literal("O'Brien\\Co") == "'O\\'Brien\\\\Co'"


def test_given_31_items_when_batched_then_it_is_refused_before_sending() -> None:
    qbo = FakeQbo()
    items = [BatchItem(bid=f"b{i}", entity="Customer", operation="create", body={}) for i in range(31)]
    with pytest.raises(BatchTooLarge):
        _client(qbo).batch(items, "batch-1")
    assert qbo.requests == []


def test_given_a_batch_with_a_failing_item_when_sent_then_each_result_is_typed_in_request_order() -> None:
    answer = {
        "BatchItemResponse": [
            {
                "bId": "b2",
                "Fault": {
                    "Error": [{"Message": "Duplicate Name Exists Error", "code": "6240"}],
                    "type": "ValidationFault",
                },
            },
            {"bId": "b1", "Customer": {"Id": "10", "SyncToken": "0"}},
        ]
    }
    qbo = FakeQbo(_ok(answer))
    items = [
        BatchItem(bid="b1", entity="Customer", operation="create", body={"DisplayName": "A"}),
        BatchItem(bid="b2", entity="Customer", operation="create", body={"DisplayName": "B"}),
    ]
    results = _client(qbo).batch(items, "batch-1")
    assert [r.bid for r in results] == ["b1", "b2"]
    assert results[0].entity == {"Id": "10", "SyncToken": "0"}
    assert isinstance(results[1].fault, QboDuplicateName)
    sent = json.loads(qbo.requests[0].content)["BatchItemRequest"]
    assert sent[0] == {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "A"}}


def test_given_a_batch_item_without_an_answer_when_sent_then_its_result_is_a_fault() -> None:
    qbo = FakeQbo(_ok({"BatchItemResponse": []}))
    results = _client(qbo).batch([BatchItem(bid="b1", query="SELECT * FROM Item")], None)
    assert isinstance(results[0].fault, QboServerFault)


def test_given_changed_since_older_than_30_days_when_cdc_is_asked_then_it_is_refused() -> None:
    qbo = FakeQbo()
    too_old = datetime.fromtimestamp(NOW, tz=UTC) - timedelta(days=31)
    with pytest.raises(CdcWindowExceeded):
        _client(qbo).cdc(["Customer"], too_old)
    assert qbo.requests == []


def test_given_changes_when_cdc_is_asked_then_they_are_grouped_by_entity() -> None:
    answer = {
        "CDCResponse": [
            {
                "QueryResponse": [
                    {"Customer": [{"Id": "1"}], "startPosition": 1, "maxResults": 1},
                    {"Invoice": [{"Id": "979", "status": "Deleted", "domain": "QBO"}], "startPosition": 1},
                ]
            }
        ]
    }
    qbo = FakeQbo(_ok(answer))
    since = datetime.fromtimestamp(NOW, tz=UTC) - timedelta(days=2)
    changes = _client(qbo).cdc(["Customer", "Invoice", "Item"], since)
    assert changes == {
        "Customer": [{"Id": "1"}],
        "Invoice": [{"Id": "979", "status": "Deleted", "domain": "QBO"}],
        "Item": [],
    }
    assert qbo.requests[0].url.params["entities"] == "Customer,Invoice,Item"


def test_given_the_same_source_change_when_request_ids_are_derived_then_they_are_equal_and_short() -> None:
    first = request_id_for("tenant-1", "Invoice", "inv-9", "v3", "create")
    assert first == request_id_for("tenant-1", "Invoice", "inv-9", "v3", "create")
    assert len(first) <= 36
    assert first != request_id_for("tenant-1", "Invoice", "inv-9", "v4", "create")
    assert first != request_id_for("tenant-2", "Invoice", "inv-9", "v3", "create")


def test_given_qbo_echoes_the_token_when_calls_fail_then_no_log_or_error_contains_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        body = {"fault": {"error": [{"message": f"bad {token}", "detail": f"Token {token}", "code": "3200"}]}}
        return httpx.Response(401, json=body)

    caplog.set_level(logging.DEBUG)
    with pytest.raises(QboAuthenticationFault) as raised:
        _client(FakeQbo(echo, echo)).read("Customer", "1")

    logged = " ".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert caplog.records
    for token in (FIRST_TOKEN, SECOND_TOKEN):
        assert token not in logged
        assert token not in str(raised.value)
        assert token not in repr(raised.value)


def test_given_a_200_that_is_not_json_when_called_then_a_server_fault_is_raised() -> None:
    with pytest.raises(QboServerFault):
        _client(FakeQbo(httpx.Response(200, content=b"<html>maintenance</html>"))).read("Customer", "1")


def test_given_a_batch_id_longer_than_10_with_a_requestid_when_batched_then_it_is_refused() -> None:
    qbo = FakeQbo()
    with pytest.raises(InvalidRequestId):
        _client(qbo).batch([BatchItem(bid="b" * 11, query="SELECT * FROM Item")], "batch-1")
    assert qbo.requests == []


def test_given_a_5xx_on_a_batch_write_without_requestid_when_sent_then_it_is_not_retried() -> None:
    qbo = FakeQbo(httpx.Response(500), _ok({"BatchItemResponse": []}))
    item = BatchItem(bid="b1", entity="Customer", operation="create", body={"DisplayName": "A"})
    with pytest.raises(QboUncertainOutcome):
        _client(qbo).batch([item], None)
    assert len(qbo.requests) == 1


def test_given_a_batch_with_requestid_when_sent_then_the_governor_counts_it_as_a_batch() -> None:
    store = InMemoryGovernorStore()
    governor = RealmGovernor(
        store, QboLimits(batch_requests_per_window=1), clock=lambda: NOW, sleep=RecordingSleep()
    )
    qbo = FakeQbo(_ok({"BatchItemResponse": [{"bId": "b1", "QueryResponse": {"Item": []}}]}))
    results = _client(qbo, governor=governor).batch(
        [BatchItem(bid="b1", query="SELECT * FROM Item")], "batch-1"
    )
    assert results[0].query_response == {"Item": []}
    assert qbo.requests[0].url.params["requestid"] == "batch-1"
    assert not store.try_count_request(REALM, int(NOW // 60), 500, batch=True, batch_limit=1)
