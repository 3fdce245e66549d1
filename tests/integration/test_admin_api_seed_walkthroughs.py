"""Both seeds' configuration screens, set through the admin API, validated and read back."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

from typing import Any

from tests.support.admin_api import TENANT_A, AdminApi, admin_api  # noqa: F401

BASE = f"/tenants/{TENANT_A}"


def _replace_mapping(api: AdminApi, kind: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    _body, tag = api.read(f"{BASE}/mappings/{kind}")
    status, headers, body = api.call(
        "PUT", f"{BASE}/mappings/{kind}", body={"rows": rows}, headers={"If-Match": tag}
    )
    assert status == 200, body
    assert headers["etag"] == f'"{body["version"]}"'
    return body


def _replace_settings(api: AdminApi, change: dict[str, Any]) -> dict[str, Any]:
    current, tag = api.read(f"{BASE}/settings")
    settings = current["settings"]
    for section, values in change.items():
        if isinstance(values, dict):
            settings[section] = {**settings[section], **values}
        else:
            settings[section] = values
    status, _headers, body = api.call("PUT", f"{BASE}/settings", body=settings, headers={"If-Match": tag})
    assert status == 200, body
    return body


def _configure_first_seed(api: AdminApi) -> None:
    _replace_mapping(
        api, "payment-methods", [{"source_key": "CC", "qbo_id": "3"}, {"source_key": "CHECK", "qbo_id": "2"}]
    )
    _replace_mapping(
        api, "gl-codes", [{"source_key": "4000", "qbo_id": "1"}, {"source_key": "4100", "qbo_id": "2"}]
    )
    _replace_mapping(
        api,
        "product-types",
        [
            {"source_key": "service", "qbo_id": "Service"},
            {"source_key": "hardware", "qbo_id": "NonInventory"},
        ],
    )
    _replace_settings(
        api,
        {
            "sync": {"qbo_to_source_customers": True},
            "prefixes": {
                "invoice": {"enabled": True, "value": "RIO-"},
                "payment": {"enabled": True, "value": "PAY-"},
            },
            "qbo_defaults": {
                "invoice_tax_code_id": "NON",
                "invoice_class_id": "101",
                "unmatched_one_time_item_id": "11",
                "unmatched_recurring_item_id": "10",
            },
            "source_defaults": {
                "unmatched_qbo_item_product_id": "P-1",
                "new_customer_bill_profile_id": "BP-MONTHLY",
            },
        },
    )


def test_given_the_first_seeds_choices_when_set_through_the_api_then_every_mapping_reads_back_named(
    admin_api: AdminApi,
) -> None:
    _configure_first_seed(admin_api)

    payment, _ = admin_api.read(f"{BASE}/mappings/payment-methods")
    gl_codes, _ = admin_api.read(f"{BASE}/mappings/gl-codes")
    product_types, _ = admin_api.read(f"{BASE}/mappings/product-types")

    assert payment["rows"] == [
        {"source_key": "CC", "qbo_id": "3", "qbo_name": "Visa"},
        {"source_key": "CHECK", "qbo_id": "2", "qbo_name": "Check"},
    ]
    assert gl_codes["rows"] == [
        {"source_key": "4000", "qbo_id": "1", "qbo_name": "Services"},
        {"source_key": "4100", "qbo_id": "2", "qbo_name": "Sales of Product Income"},
    ]
    assert [row["qbo_id"] for row in product_types["rows"]] == ["NonInventory", "Service"]
    assert payment["version"] == gl_codes["version"] == product_types["version"] == 1


def test_given_the_first_seeds_choices_when_set_through_the_api_then_the_settings_read_back(
    admin_api: AdminApi,
) -> None:
    _configure_first_seed(admin_api)

    body, tag = admin_api.read(f"{BASE}/settings")

    assert tag == '"1"'
    assert body["settings"]["qbo_defaults"] == {
        "invoice_tax_code_id": "NON",
        "invoice_class_id": "101",
        "unmatched_one_time_item_id": "11",
        "unmatched_recurring_item_id": "10",
    }
    assert body["settings"]["source_defaults"] == {
        "unmatched_qbo_item_product_id": "P-1",
        "new_customer_bill_profile_id": "BP-MONTHLY",
        "qbo_payment_method_code": None,
        "qbo_payment_method_choices": {},
    }
    assert body["settings"]["prefixes"]["invoice"] == {"enabled": True, "value": "RIO-"}
    assert body["settings"]["sync"]["qbo_to_source_customers"] is True


def test_given_the_first_seed_configured_when_preflight_runs_then_nothing_fails(admin_api: AdminApi) -> None:
    _configure_first_seed(admin_api)

    report, _ = admin_api.read(f"{BASE}/preflight")

    assert report["ok"] is True, [c for c in report["checks"] if c["status"] == "fail"]


def _configure_second_seed(api: AdminApi) -> None:
    _replace_mapping(
        api,
        "income-accounts",
        [{"source_key": "4-1000", "qbo_id": "15"}, {"source_key": "5-2000", "qbo_id": "16"}],
    )
    _replace_mapping(api, "gl-accounts", [{"source_key": "1-1100", "qbo_id": "35"}])
    _replace_mapping(
        api, "tax-codes", [{"source_key": "EXEMPT", "qbo_id": "NON"}, {"source_key": "CA", "qbo_id": "2"}]
    )
    _replace_settings(
        api,
        {
            "prefixes": {
                "credit_note": {"enabled": True, "value": "CR-"},
                "write_off": {"enabled": True, "value": "WO-"},
            }
        },
    )


def test_given_the_second_seeds_choices_when_set_through_the_api_then_every_map_reads_back_named(
    admin_api: AdminApi,
) -> None:
    _configure_second_seed(admin_api)

    income, _ = admin_api.read(f"{BASE}/mappings/income-accounts")
    gl_accounts, _ = admin_api.read(f"{BASE}/mappings/gl-accounts")
    tax, _ = admin_api.read(f"{BASE}/mappings/tax-codes")
    settings, _ = admin_api.read(f"{BASE}/settings")

    assert income["rows"] == [
        {"source_key": "4-1000", "qbo_id": "15", "qbo_name": "Professional Fees"},
        {"source_key": "5-2000", "qbo_id": "16", "qbo_name": "Disbursements"},
    ]
    assert gl_accounts["rows"] == [{"source_key": "1-1100", "qbo_id": "35", "qbo_name": "Checking"}]
    assert tax["rows"] == [
        {"source_key": "CA", "qbo_id": "2", "qbo_name": "California"},
        {"source_key": "EXEMPT", "qbo_id": "NON", "qbo_name": "NON"},
    ]
    assert settings["settings"]["prefixes"]["credit_note"] == {"enabled": True, "value": "CR-"}


def test_given_the_second_seeds_income_map_when_items_are_listed_then_mapped_items_are_marked(
    admin_api: AdminApi,
) -> None:
    _configure_second_seed(admin_api)

    listing, _ = admin_api.read(f"{BASE}/qbo/reference/items")

    marked = {entry["id"]: entry["mapped_from"] for entry in listing["entries"] if entry["mapped"]}
    assert marked == {"15": ["4-1000"], "16": ["5-2000"]}
