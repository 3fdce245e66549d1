"""The company's record index: look-ups stay true to the query language as records change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.qbo_sandbox.company import Company
from local.qbo_sandbox.faultbody import QboFaultError
from local.qbo_sandbox.index import index_key
from local.qbo_sandbox.query import evaluate_query, parse_query
from local.qbo_sandbox.seed import seed_company


def _company() -> Company:
    return seed_company("4620816365000000001", "Index Co", 1, now=datetime(2026, 12, 1, tzinfo=UTC))


def _names(answer: dict[str, Any], entity: str = "Customer") -> list[str]:
    return [row["DisplayName"] for row in answer.get(entity, [])]


def test_given_text_numbers_and_dates_when_keyed_then_keys_follow_query_equality() -> None:
    assert index_key("Acme Ltd") == index_key("ACME LTD")
    assert index_key("001") == index_key(1) == index_key("1.0")
    assert index_key("2026-12-01") is None, "dates compare by calendar day: left to a scan"
    assert index_key(True) is None


def test_given_a_renamed_customer_when_queried_by_either_name_then_only_the_new_name_finds_it() -> None:
    company = _company()
    created = company.create("Customer", {"DisplayName": "Old Name Co"})

    company.update("Customer", {**created, "DisplayName": "New Name Co"})

    assert _names(company.query("select * from Customer where DisplayName = 'old name co'")) == []
    assert _names(company.query("select * from Customer where DisplayName = 'NEW NAME CO'")) == [
        "New Name Co"
    ]


def test_given_a_renamed_customer_when_another_takes_the_old_name_then_it_is_not_a_duplicate() -> None:
    company = _company()
    created = company.create("Customer", {"DisplayName": "Freed Name"})
    company.update("Customer", {**created, "DisplayName": "Taken Name"})

    company.create("Customer", {"DisplayName": "Freed Name"})

    with pytest.raises(QboFaultError) as raised:
        company.create("Vendor", {"DisplayName": "taken name"})
    assert raised.value.code == "6240"


def test_given_an_in_list_of_ids_when_queried_then_the_indexed_answer_matches_a_full_scan() -> None:
    company = _company()
    ids = [company.create("Customer", {"DisplayName": f"Listed {n}"})["Id"] for n in range(3)]

    text = f"select * from Customer where Id in ('{ids[0]}', '0{ids[2]}') and Active = true"  # noqa: S608

    indexed = company.query(text)

    scanned = evaluate_query(parse_query(text), company.records["Customer"].values(), "Customer")
    assert _names(indexed) == _names(scanned) == ["Listed 0", "Listed 2"]


def test_given_a_deleted_invoice_when_its_doc_number_is_queried_then_nothing_and_the_number_is_free() -> None:
    company = _company()
    customer = company.create("Customer", {"DisplayName": "Doc Co"})
    item_id = next(i["Id"] for i in company.records["Item"].values() if i.get("Type") == "Service")
    line = {
        "Amount": 10,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item_id}},
    }
    invoice = company.create(
        "Invoice", {"CustomerRef": {"value": customer["Id"]}, "DocNumber": "X-77", "Line": [line]}
    )

    company.delete("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]})

    assert company.query("select * from Invoice where DocNumber = 'X-77'") == {}
    company.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "DocNumber": "X-77", "Line": [line]})


def test_given_a_snapshot_when_restored_then_name_look_ups_work_on_the_restored_records() -> None:
    company = _company()
    company.create("Customer", {"DisplayName": "Snapshotted Co"})

    restored = Company.from_snapshot(company.to_snapshot())

    assert _names(restored.query("select * from Customer where DisplayName = 'Snapshotted Co'")) == [
        "Snapshotted Co"
    ]
    with pytest.raises(QboFaultError):
        restored.create("Employee", {"DisplayName": "Snapshotted Co"})
