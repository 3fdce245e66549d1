"""QBO's faults reach python-quickbooks as its own exception classes, carrying QBO's error codes.

python-quickbooks maps an HTTP 401 to AuthorizationException(error_code=401) before reading the body,
and any other body with a `Fault` by its numeric code (`QuickBooks.handle_exceptions`):
1-499 Authorization, 500-599 Unsupported, 610 ObjectNotFound, 600-1999 General, 2000-4999 Validation,
10000+ Severe, anything else the base QuickbooksException. So QBO's 5010, 6140 and 6240 arrive as the base
class, 403's code 3100 and 429's code 3001 as ValidationException.
"""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
    SevereException,
    ValidationException,
)
from quickbooks.objects.customer import Customer
from quickbooks.objects.item import Item
from quickbooks.objects.vendor import Vendor

from tests.conformance.harness import (
    SandboxProcess,
    connect,
    quickbooks_client,
    set_faults,
    unique_name,
)
from tests.conformance.records import create_customer, create_invoice, create_item, income_account

POLL_LIMIT = 500


def _raised(exc: QuickbooksException) -> str:
    return (
        f"{type(exc).__name__}(error_code={exc.error_code!r}, message={exc.message!r}, detail={exc.detail!r})"
    )


@pytest.fixture(scope="module")
def item(qb: QuickBooks) -> Item:
    return create_item(qb, income_account(qb))


def test_given_a_stale_sync_token_when_a_customer_is_saved_then_code_5010_arrives_as_quickbooks_exception(
    qb: QuickBooks,
) -> None:
    stale = Customer.get(create_customer(qb).Id, qb=qb)
    fresh = Customer.get(stale.Id, qb=qb)
    fresh.Notes = "first writer wins"
    fresh.save(qb=qb)
    stale.Notes = "second writer is stale"

    with pytest.raises(QuickbooksException) as raised:
        stale.save(qb=qb)

    assert (type(raised.value), raised.value.error_code) == (QuickbooksException, 5010), (
        "QBO answers a stale SyncToken with code 5010 (Stale Object Error); "
        f"client raised {_raised(raised.value)}"
    )


def test_given_a_seeded_vendor_when_a_customer_takes_its_name_then_code_6240_arrives(qb: QuickBooks) -> None:
    vendors = Vendor.all(qb=qb)
    assert vendors, "the seeded company has vendors"
    customer = Customer()
    customer.DisplayName = vendors[0].DisplayName

    with pytest.raises(QuickbooksException) as raised:
        customer.save(qb=qb)

    assert (type(raised.value), raised.value.error_code) == (QuickbooksException, 6240), (
        "DisplayName is unique across Customer, Vendor and Employee: QBO answers 6240 Duplicate Name Exists; "
        f"client raised {_raised(raised.value)}"
    )
    assert raised.value.message == "Duplicate Name Exists Error"


def test_given_an_invoice_number_in_use_when_another_invoice_takes_it_then_code_6140_arrives(
    qb: QuickBooks, item: Item
) -> None:
    customer = create_customer(qb)
    doc_number = f"C{uuid.uuid4().hex[:12]}"
    create_invoice(qb, customer, item, doc_number=doc_number)

    with pytest.raises(QuickbooksException) as raised:
        create_invoice(qb, customer, item, doc_number=doc_number)

    assert (type(raised.value), raised.value.error_code) == (QuickbooksException, 6140), (
        "QBO refuses a duplicate DocNumber with 6140 Duplicate Document Number; "
        f"client raised {_raised(raised.value)}"
    )


def test_given_an_id_that_does_not_exist_when_read_then_object_not_found_610(qb: QuickBooks) -> None:
    with pytest.raises(ObjectNotFoundException) as raised:
        Customer.get("987654321", qb=qb)

    assert raised.value.error_code == 610, (
        f"QBO answers 610 Object Not Found; client raised {_raised(raised.value)}"
    )


def test_given_a_revoked_connection_when_python_quickbooks_calls_then_authorization_exception_401(
    sandbox: SandboxProcess,
) -> None:
    auth_client = connect(sandbox)
    client = quickbooks_client(sandbox, auth_client)
    auth_client.revoke(token=auth_client.refresh_token)

    with pytest.raises(AuthorizationException) as raised:
        Customer.count(qb=client)

    assert raised.value.error_code == 401, (
        f"a revoked connection's access token gets HTTP 401 at QBO; client raised {_raised(raised.value)}"
    )


def test_given_a_forced_401_when_python_quickbooks_calls_then_authorization_exception_401(
    faults: SandboxProcess, qb: QuickBooks
) -> None:
    set_faults(faults, force_401_next=1)

    with pytest.raises(AuthorizationException) as raised:
        Customer.count(qb=qb)

    assert raised.value.error_code == 401, f"client raised {_raised(raised.value)}"


def test_given_one_forced_401_when_the_next_call_is_made_then_it_succeeds(
    faults: SandboxProcess, qb: QuickBooks
) -> None:
    set_faults(faults, force_401_next=1)
    with pytest.raises(AuthorizationException):
        Customer.count(qb=qb)

    total = Customer.count(qb=qb)

    assert isinstance(total, int), "force_401_next=1 affects exactly one call"


def test_given_a_token_for_realm_a_when_used_on_realm_b_then_code_3100_arrives_as_validation_exception(
    sandbox: SandboxProcess, auth_a: AuthClient, realm_b: str
) -> None:
    trespasser = quickbooks_client(sandbox, auth_a, company_id=realm_b)

    with pytest.raises(QuickbooksException) as raised:
        Customer.count(qb=trespasser)

    assert (type(raised.value), raised.value.error_code) == (ValidationException, 3100), (
        "QBO answers a token used on another company with 403 ApplicationAuthorizationFailed (code 3100), "
        f"which python-quickbooks maps by code to ValidationException; client raised {_raised(raised.value)}"
    )


def test_given_every_call_fails_with_a_server_error_when_python_quickbooks_calls_then_severe_10000(
    faults: SandboxProcess, qb: QuickBooks
) -> None:
    set_faults(faults, error_rate=1.0)

    with pytest.raises(SevereException) as raised:
        Customer.count(qb=qb)

    assert raised.value.error_code == 10000, (
        f"QBO's 500/503 carry a SystemFault with code 10000; client raised {_raised(raised.value)}"
    )


# ---------------------------------------------------------------- throttling (own sandboxes)


def test_given_the_realm_used_its_request_window_when_python_quickbooks_calls_then_code_3001(
    exhausted: tuple[SandboxProcess, AuthClient],
) -> None:
    throttled_sandbox, auth_client = exhausted
    client = quickbooks_client(throttled_sandbox, auth_client)

    with pytest.raises(QuickbooksException) as raised:
        Customer.count(qb=client)

    assert (type(raised.value), raised.value.error_code) == (ValidationException, 3001), (
        "QBO answers an exhausted request window with 429 ThrottleExceeded (code 3001), "
        "which python-quickbooks "
        f"maps by code to ValidationException; client raised {_raised(raised.value)}"
    )


def test_given_a_request_in_flight_when_the_concurrency_limit_is_one_then_a_second_call_gets_3001(
    one_at_a_time_sandbox: SandboxProcess,
) -> None:
    auth_client = connect(one_at_a_time_sandbox)
    client = quickbooks_client(one_at_a_time_sandbox, auth_client)
    set_faults(one_at_a_time_sandbox, latency_ms=2000)
    reset = httpx.post(one_at_a_time_sandbox.control("stats/reset"), timeout=5)
    assert reset.status_code == 200, f"/_sandbox/stats/reset refused: {reset.text}"
    slow = threading.Thread(target=Customer.count, kwargs={"qb": client})
    slow.start()
    try:
        _wait_until_in_flight(one_at_a_time_sandbox, auth_client.realm_id)

        with pytest.raises(QuickbooksException) as raised:
            Customer.count(qb=quickbooks_client(one_at_a_time_sandbox, auth_client))
    finally:
        set_faults(one_at_a_time_sandbox, latency_ms=0)
        slow.join(timeout=10)

    assert (type(raised.value), raised.value.error_code) == (ValidationException, 3001), (
        "more concurrent requests than allowed get 429 code 3001 at QBO; "
        f"client raised {_raised(raised.value)}"
    )


def _wait_until_in_flight(sandbox: SandboxProcess, realm_id: str) -> None:
    """Poll the sandbox's stats until the slow request holds its concurrency slot (bounded, no sleep)."""
    for _ in range(POLL_LIMIT):
        stats = httpx.get(sandbox.control("stats"), timeout=5).json()
        if stats.get("peak_concurrency_by_realm", {}).get(realm_id, 0) >= 1:
            return
    pytest.fail(f"the slow request never showed up in /_sandbox/stats after {POLL_LIMIT} polls")


def test_given_duplicate_names_are_per_namespace_when_an_item_takes_a_customer_name_then_it_is_accepted(
    qb: QuickBooks,
) -> None:
    name = unique_name("Shared")
    create_customer(qb, DisplayName=name)
    item = Item()
    item.Name = name
    item.Type = "Service"
    item.IncomeAccountRef = income_account(qb).to_ref()

    created = item.save(qb=qb)

    assert created.Name == name, "Item names are unique among items only, not against customers (QBO)"


def test_given_a_write_whose_answer_was_lost_when_retried_with_its_requestid_then_one_customer_exists(
    faults: SandboxProcess, qb: QuickBooks
) -> None:
    name = unique_name("Lost")
    request_id = uuid.uuid4().hex
    set_faults(faults, drop_after_commit_rate=1.0)
    lost = Customer()
    lost.DisplayName = name
    with pytest.raises(requests.exceptions.RequestException):
        lost.save(qb=qb, request_id=request_id)
    set_faults(faults, drop_after_commit_rate=0.0)
    retry = Customer()
    retry.DisplayName = name

    saved = retry.save(qb=qb, request_id=request_id)

    assert saved.DisplayName == name
    assert Customer.count(f"DisplayName = '{name}'", qb=qb) == 1, (
        "the first write was committed before the connection dropped; a retry with the same requestid must "
        "return it, not create a second customer (or fail with 6240)"
    )
