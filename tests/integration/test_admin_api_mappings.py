"""Mappings through the admin API: every kind of bad row refused by name, deletes, kinds, reference data."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

from typing import Any

import pytest

from tests.support.admin_api import TENANT_A, AdminApi, admin_api  # noqa: F401

BASE = f"/tenants/{TENANT_A}"


def _qbo_side(body: Any) -> list[dict[str, Any]]:
    """The problems of a refusal other than source keys the fake source does not list."""
    return [d for d in body["error"]["details"] if d["reason"] != "unknown_source_value"]


def _put(api: AdminApi, kind: str, rows: list[dict[str, str]], if_match: str = '"0"') -> tuple[int, Any]:
    status, _headers, body = api.call(
        "PUT", f"{BASE}/mappings/{kind}", body={"rows": rows}, headers={"If-Match": if_match}
    )
    return status, body


@pytest.mark.parametrize(
    ("kind", "row", "reason"),
    [
        ("payment-methods", {"source_key": "AMEX", "qbo_id": "999"}, "not_found"),
        ("payment-methods", {"source_key": "DINERS", "qbo_id": "5"}, "inactive"),
        ("gl-codes", {"source_key": "4000", "qbo_id": "35"}, "wrong_type"),
        ("gl-codes", {"source_key": "4200", "qbo_id": "3"}, "inactive"),
        ("product-types", {"source_key": "bundle", "qbo_id": "Group"}, "wrong_type"),
        ("income-accounts", {"source_key": "4-1000", "qbo_id": "13"}, "wrong_type"),
        ("income-accounts", {"source_key": "4-1100", "qbo_id": "17"}, "wrong_type"),
        ("income-accounts", {"source_key": "4-1200", "qbo_id": "14"}, "inactive"),
        ("gl-accounts", {"source_key": "1-1100", "qbo_id": "4040"}, "not_found"),
        ("gl-accounts", {"source_key": "1-1100", "qbo_id": "1"}, "wrong_type"),
        ("gl-accounts", {"source_key": "1-1100", "qbo_id": "84"}, "wrong_type"),
        ("tax-codes", {"source_key": "OLD", "qbo_id": "3"}, "inactive"),
        ("tax-codes", {"source_key": "GST", "qbo_id": "GST"}, "not_found"),
    ],
)
def test_given_a_bad_row_when_put_then_it_is_refused_with_its_source_key_and_reason(
    admin_api: AdminApi, kind: str, row: dict[str, str], reason: str
) -> None:
    status, body = _put(admin_api, kind, [row])

    assert status == 422
    assert body["error"]["code"] == "invalid_mapping"
    assert [(d["source_key"], d["qbo_id"], d["reason"]) for d in _qbo_side(body)] == [
        (row["source_key"], row["qbo_id"], reason)
    ]


def test_given_several_bad_rows_and_a_good_one_when_put_then_every_bad_row_is_named_and_nothing_changes(
    admin_api: AdminApi,
) -> None:
    rows = [
        {"source_key": "4000", "qbo_id": "1"},
        {"source_key": "4100", "qbo_id": "35"},
        {"source_key": "4200", "qbo_id": "77"},
        {"source_key": "4300", "qbo_id": "2"},
        {"source_key": "4300", "qbo_id": "1"},
    ]

    status, body = _put(admin_api, "gl-codes", rows)
    stored, tag = admin_api.read(f"{BASE}/mappings/gl-codes")

    assert status == 422
    assert [(d["source_key"], d["reason"]) for d in _qbo_side(body)] == [
        ("4100", "wrong_type"),
        ("4200", "not_found"),
        ("4300", "duplicate_source_key"),
        ("4300", "duplicate_source_key"),
    ]
    assert all(d["message"] for d in body["error"]["details"])
    assert (stored["rows"], tag) == ([], '"0"')


def test_given_a_row_with_an_unknown_field_when_put_then_422_names_the_field(admin_api: AdminApi) -> None:
    status, body = _put(admin_api, "gl-codes", [{"source_key": "4000", "qbo_id": "1", "qbo_name": "x"}])

    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    assert any("qbo_name" in detail["loc"] for detail in body["error"]["details"])


def test_given_an_unknown_kind_when_read_written_or_deleted_then_404_unknown_mapping_kind(
    admin_api: AdminApi,
) -> None:
    replies = [
        admin_api.call("GET", f"{BASE}/mappings/currencies"),
        admin_api.call("PUT", f"{BASE}/mappings/currencies", body={"rows": []}, headers={"If-Match": '"0"'}),
        admin_api.call("DELETE", f"{BASE}/mappings/currencies/USD", headers={"If-Match": '"0"'}),
    ]

    assert [(status, body["error"]["code"]) for status, _h, body in replies] == [
        (404, "unknown_mapping_kind")
    ] * 3


def test_given_a_stored_mapping_when_one_row_is_deleted_then_the_rest_remain(admin_api: AdminApi) -> None:
    _put(
        admin_api,
        "payment-methods",
        [{"source_key": "CC", "qbo_id": "3"}, {"source_key": "CHECK", "qbo_id": "2"}],
    )

    status, headers, body = admin_api.call(
        "DELETE", f"{BASE}/mappings/payment-methods/CC", headers={"If-Match": '"1"'}
    )

    assert status == 200
    assert headers["etag"] == '"2"'
    assert body["rows"] == [{"source_key": "CHECK", "qbo_id": "2", "qbo_name": "Check"}]


def test_given_no_such_row_when_deleted_then_404_and_nothing_changes(admin_api: AdminApi) -> None:
    _put(admin_api, "payment-methods", [{"source_key": "CC", "qbo_id": "3"}])

    status, _headers, body = admin_api.call(
        "DELETE", f"{BASE}/mappings/payment-methods/ACH", headers={"If-Match": '"1"'}
    )
    _stored, tag = admin_api.read(f"{BASE}/mappings/payment-methods")

    assert (status, body["error"]["code"], tag) == (404, "mapping_not_found", '"1"')


def test_given_a_delete_without_if_match_when_sent_then_428(admin_api: AdminApi) -> None:
    _put(admin_api, "payment-methods", [{"source_key": "CC", "qbo_id": "3"}])

    status, _headers, body = admin_api.call("DELETE", f"{BASE}/mappings/payment-methods/CC")

    assert (status, body["error"]["code"]) == (428, "precondition_required")


def test_given_two_admins_editing_the_same_mapping_when_both_save_then_the_second_gets_409(
    admin_api: AdminApi,
) -> None:
    _body, tag = admin_api.read(f"{BASE}/mappings/tax-codes")
    first, _ = _put(admin_api, "tax-codes", [{"source_key": "EXEMPT", "qbo_id": "NON"}], tag)

    second, body = _put(admin_api, "tax-codes", [{"source_key": "CA", "qbo_id": "2"}], tag)

    assert (first, second, body["error"]["code"]) == (200, 409, "version_conflict")


def test_given_a_mapping_when_a_target_list_is_read_then_entries_are_marked_with_their_sources(
    admin_api: AdminApi,
) -> None:
    _put(
        admin_api, "gl-codes", [{"source_key": "4000", "qbo_id": "1"}, {"source_key": "4100", "qbo_id": "1"}]
    )
    _put(admin_api, "gl-accounts", [{"source_key": "1-1100", "qbo_id": "35"}])

    listing, _ = admin_api.read(f"{BASE}/qbo/reference/accounts")

    marked = {entry["id"]: entry["mapped_from"] for entry in listing["entries"] if entry["mapped"]}
    assert marked == {"1": ["4000", "4100"], "35": ["1-1100"]}


def test_given_a_recent_read_when_reference_data_is_read_again_then_qbo_is_not_queried(
    admin_api: AdminApi,
) -> None:
    admin_api.read(f"{BASE}/qbo/reference/classes")
    admin_api.read(f"{BASE}/qbo/reference/classes")

    assert admin_api.qbo.queries.count("Class") == 1


def test_given_a_recent_read_when_refresh_is_asked_then_qbo_is_queried_again(admin_api: AdminApi) -> None:
    admin_api.read(f"{BASE}/qbo/reference/terms")
    admin_api.qbo.entities["Term"].append({"Id": "7", "Name": "Net 60", "Type": "STANDARD", "Active": True})

    listing, _ = admin_api.read(f"{BASE}/qbo/reference/terms", query={"refresh": "true"})

    assert [entry["name"] for entry in listing["entries"]] == ["Due on receipt", "Net 30", "Net 60"]


def test_given_reference_entries_when_listed_then_inactive_ones_are_shown_as_inactive(
    admin_api: AdminApi,
) -> None:
    listing, _ = admin_api.read(f"{BASE}/qbo/reference/payment-methods")

    assert {entry["name"]: entry["active"] for entry in listing["entries"]}["Diners Club"] is False


def test_given_a_disconnected_tenant_when_reference_data_is_read_then_409_not_connected(
    admin_api: AdminApi,
) -> None:
    admin_api.connections.by_tenant.clear()

    status, _headers, body = admin_api.call("GET", f"{BASE}/qbo/reference/items")

    assert (status, body["error"]["code"]) == (409, "not_connected")


def test_given_a_tenant_needing_reauth_when_a_qbo_mapping_is_put_then_409_not_connected(
    admin_api: AdminApi,
) -> None:
    from tests.support.admin_api import Connection

    admin_api.connections.by_tenant[TENANT_A] = Connection("needs_reauth", "9130350000000001")

    status, body = _put(admin_api, "gl-codes", [{"source_key": "4000", "qbo_id": "1"}])

    assert (status, body["error"]["code"]) == (409, "not_connected")
    assert body["error"]["message"].startswith("QuickBooks Online refused the stored sign-in")
    assert "is needs_reauth" not in body["error"]["message"]
    assert body["error"]["details"] == [{"status": "needs_reauth"}]


def test_given_an_unknown_reference_kind_when_read_then_404(admin_api: AdminApi) -> None:
    status, _headers, body = admin_api.call("GET", f"{BASE}/qbo/reference/vendors")

    assert (status, body["error"]["code"]) == (404, "unknown_reference_kind")


def test_given_source_keys_the_source_does_not_have_when_put_then_each_is_refused_by_field_and_value(
    admin_api: AdminApi,
) -> None:
    rows = [
        {"source_key": "CC", "qbo_id": "3"},
        {"source_key": "BITCOIN", "qbo_id": "2"},
        {"source_key": "WAMPUM", "qbo_id": "999"},
    ]

    status, body = _put(admin_api, "payment-methods", rows)
    stored, tag = admin_api.read(f"{BASE}/mappings/payment-methods")

    assert (status, body["error"]["code"]) == (422, "invalid_mapping")
    assert [(d["field"], d["source_key"], d["reason"]) for d in body["error"]["details"]] == [
        ("source_key", "BITCOIN", "unknown_source_value"),
        ("source_key", "WAMPUM", "unknown_source_value"),
        ("qbo_id", "WAMPUM", "not_found"),
    ]
    assert "BITCOIN" in body["error"]["details"][0]["message"]
    assert (stored["rows"], tag) == ([], '"0"')


def test_given_an_empty_qbo_id_and_other_bad_rows_when_put_then_every_bad_row_is_named(
    admin_api: AdminApi,
) -> None:
    rows = [
        {"source_key": "4000", "qbo_id": ""},
        {"source_key": "4100", "qbo_id": "35"},
        {"source_key": "", "qbo_id": "1"},
    ]

    status, body = _put(admin_api, "gl-codes", rows)

    assert (status, body["error"]["code"]) == (422, "invalid_mapping")
    assert [(d["field"], d["source_key"], d["reason"]) for d in body["error"]["details"]] == [
        ("qbo_id", "4000", "empty"),
        ("qbo_id", "4100", "wrong_type"),
        ("source_key", "", "empty"),
    ]


def test_given_a_mapping_when_the_source_list_is_read_then_mapped_entries_name_their_qbo_targets(
    admin_api: AdminApi,
) -> None:
    _put(admin_api, "payment-methods", [{"source_key": "CC", "qbo_id": "3"}])

    listing, _ = admin_api.read(f"{BASE}/source/reference/payment-methods")

    assert listing["kind"] == "payment-methods"
    assert listing["complete"] is True
    assert [(e["code"], e["mapped"], e["mapped_to"]) for e in listing["entries"]] == [
        ("CHECK", False, []),
        ("CC", True, ["3"]),
    ]


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("gl-codes", ["4100", "4000"]),
        ("product-types", ["hardware", "service"]),
        ("income-accounts", ["5-2000", "4-1000"]),
        ("gl-accounts", ["1-1100"]),
        ("tax-codes", ["CA", "EXEMPT"]),
        ("bill-profiles", ["BP-MONTHLY"]),
        ("products", ["P-1", "P-2"]),
    ],
)
def test_given_each_source_list_when_read_then_its_entries_come_sorted_by_name(
    admin_api: AdminApi, kind: str, codes: list[str]
) -> None:
    listing, _ = admin_api.read(f"{BASE}/source/reference/{kind}")

    assert [entry["code"] for entry in listing["entries"]] == codes


def test_given_a_recent_read_when_a_source_list_is_read_again_then_the_cache_answers_until_refresh(
    admin_api: AdminApi,
) -> None:
    from qbosync.source.models import ReferenceEntry

    admin_api.read(f"{BASE}/source/reference/bill-profiles")
    admin_api.source.bill_profiles.append(ReferenceEntry(code="BP-PAPER", name="Paper invoices"))

    cached, _ = admin_api.read(f"{BASE}/source/reference/bill-profiles")
    refreshed, _ = admin_api.read(f"{BASE}/source/reference/bill-profiles", query={"refresh": "true"})

    assert [e["code"] for e in cached["entries"]] == ["BP-MONTHLY"]
    assert [e["code"] for e in refreshed["entries"]] == ["BP-MONTHLY", "BP-PAPER"]


def test_given_an_unknown_source_reference_kind_when_read_then_404_names_the_kinds(
    admin_api: AdminApi,
) -> None:
    status, _headers, body = admin_api.call("GET", f"{BASE}/source/reference/vendors")

    assert (status, body["error"]["code"]) == (404, "unknown_reference_kind")
    assert "bill-profiles" in body["error"]["details"][0]["allowed"]


def test_given_a_source_offering_no_list_of_a_kind_when_rows_of_that_kind_are_put_then_only_qbo_is_checked(
    admin_api: AdminApi,
) -> None:
    admin_api.source.payment_methods = []

    status, body = _put(admin_api, "payment-methods", [{"source_key": "ANYTHING", "qbo_id": "2"}])

    assert (status, [row["source_key"] for row in body["rows"]]) == (200, ["ANYTHING"])


def test_given_a_product_type_mapping_when_qbo_item_types_are_read_then_the_fixed_set_is_marked_without_qbo(
    admin_api: AdminApi,
) -> None:
    _put(admin_api, "product-types", [{"source_key": "hardware", "qbo_id": "NonInventory"}])
    admin_api.connections.by_tenant.clear()  # a fixed set: no QBO read, no connection needed

    listing, _ = admin_api.read(f"{BASE}/qbo/reference/item-types")

    assert [(e["id"], e["mapped_from"]) for e in listing["entries"]] == [
        ("Service", []),
        ("NonInventory", ["hardware"]),
        ("Inventory", []),
    ]
