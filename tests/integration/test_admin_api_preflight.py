"""Preflight through the admin API: each prerequisite of the seeds reported with a reason and a fix."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

from typing import Any

from qbosync.qbo.faults import QboServerFault
from qbosync.source.errors import SourceUnavailable
from qbosync.source.models import ReferenceEntry, SourceAccount
from tests.support.admin_api import (
    TENANT_A,
    AdminApi,
    Connection,
    admin_api,  # noqa: F401
    make_product,
)

BASE = f"/tenants/{TENANT_A}"


def _checks(api: AdminApi) -> tuple[bool, dict[str, dict[str, Any]]]:
    report, _ = api.read(f"{BASE}/preflight")
    return report["ok"], {check["id"]: check for check in report["checks"]}


def _set_settings(api: AdminApi, section: str, values: dict[str, Any]) -> None:
    body, tag = api.read(f"{BASE}/settings")
    body["settings"][section] = {**body["settings"][section], **values}
    status, _h, reply = api.call("PUT", f"{BASE}/settings", body=body["settings"], headers={"If-Match": tag})
    assert status == 200, reply


def test_given_no_connection_when_preflight_runs_then_the_connection_fails_with_a_fix(
    admin_api: AdminApi,
) -> None:
    admin_api.connections.by_tenant.clear()

    ok, checks = _checks(admin_api)

    assert ok is False
    assert checks["connection"]["status"] == "fail"
    assert "connect" in checks["connection"]["fix"]
    assert checks["accrual_basis"]["status"] == "warn"


def test_given_a_connection_needing_reauth_when_preflight_runs_then_it_fails(admin_api: AdminApi) -> None:
    admin_api.connections.by_tenant[TENANT_A] = Connection("needs_reauth", "9130350000000001")

    _ok, checks = _checks(admin_api)

    assert checks["connection"]["reason"] == (
        "QuickBooks Online refused the stored sign-in (it expired or was revoked) (status needs_reauth)"
    )


def test_given_a_cash_basis_company_when_preflight_runs_then_accrual_basis_fails(admin_api: AdminApi) -> None:
    admin_api.qbo.report_basis = "Cash"

    _ok, checks = _checks(admin_api)

    assert checks["accrual_basis"]["status"] == "fail"
    assert "Accrual" in checks["accrual_basis"]["fix"]


def test_given_an_accrual_company_when_preflight_runs_then_accrual_basis_passes(admin_api: AdminApi) -> None:
    _ok, checks = _checks(admin_api)

    assert checks["accrual_basis"]["status"] == "pass"


def test_given_no_zero_rate_tax_code_when_preflight_runs_then_it_fails(admin_api: AdminApi) -> None:
    admin_api.qbo.entities["TaxCode"] = [c for c in admin_api.qbo.entities["TaxCode"] if c["Id"] != "NON"]

    _ok, checks = _checks(admin_api)

    assert checks["zero_rate_tax_code"]["status"] == "fail"


def test_given_a_tax_code_whose_rates_are_all_zero_when_preflight_runs_then_it_passes(
    admin_api: AdminApi,
) -> None:
    admin_api.qbo.entities["TaxCode"] = [
        {
            "Id": "8",
            "Name": "Zero rated",
            "Active": True,
            "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "2"}}]},
        },
    ]

    _ok, checks = _checks(admin_api)

    assert checks["zero_rate_tax_code"]["status"] == "pass"


def test_given_a_mapped_target_deactivated_in_qbo_when_preflight_runs_then_the_drift_is_named(
    admin_api: AdminApi,
) -> None:
    admin_api.call(
        "PUT",
        f"{BASE}/mappings/payment-methods",
        body={"rows": [{"source_key": "CC", "qbo_id": "3"}]},
        headers={"If-Match": '"0"'},
    )
    admin_api.qbo.deactivate("PaymentMethod", "3")

    ok, checks = _checks(admin_api)

    assert ok is False
    assert checks["mapping_targets"]["status"] == "fail"
    assert "payment-methods 'CC'" in checks["mapping_targets"]["reason"]


def test_given_invoices_on_without_defaults_when_preflight_runs_then_each_missing_default_fails(
    admin_api: AdminApi,
) -> None:
    _ok, checks = _checks(admin_api)

    assert [
        checks[c]["status"]
        for c in ("invoice_tax_code", "unmatched_one_time_item", "unmatched_recurring_item")
    ] == ["fail"] * 3


def test_given_customers_from_qbo_on_without_a_bill_profile_when_preflight_runs_then_it_fails(
    admin_api: AdminApi,
) -> None:
    _set_settings(admin_api, "sync", {"qbo_to_source_customers": True})

    _ok, checks = _checks(admin_api)

    assert checks["new_customer_bill_profile"]["status"] == "fail"
    assert checks["new_customer_bill_profile"]["fix"] == "set source_defaults.new_customer_bill_profile_id"


def test_given_a_defaulted_qbo_item_deactivated_when_preflight_runs_then_settings_targets_fail(
    admin_api: AdminApi,
) -> None:
    _set_settings(admin_api, "qbo_defaults", {"unmatched_recurring_item_id": "10"})
    admin_api.qbo.deactivate("Item", "10")

    _ok, checks = _checks(admin_api)

    assert checks["settings_targets"]["status"] == "fail"
    assert "unmatched_recurring_item_id" in checks["settings_targets"]["reason"]


def test_given_source_codes_without_mappings_when_preflight_runs_then_they_are_a_warning_naming_them(
    admin_api: AdminApi,
) -> None:
    admin_api.call(
        "PUT",
        f"{BASE}/mappings/tax-codes",
        body={"rows": [{"source_key": "EXEMPT", "qbo_id": "NON"}]},
        headers={"If-Match": '"0"'},
    )

    _ok, checks = _checks(admin_api)

    assert checks["unmapped_source_codes"]["status"] == "warn"
    assert "tax-codes: CA;" in checks["unmapped_source_codes"]["reason"] + ";"
    assert "EXEMPT" not in checks["unmapped_source_codes"]["reason"]


def test_given_a_product_using_an_unmapped_gl_code_when_preflight_runs_then_the_code_is_named(
    admin_api: AdminApi,
) -> None:
    admin_api.source.products.append(make_product("P-3", "Training", "service", gl_code="4999"))

    _ok, checks = _checks(admin_api)

    assert "gl-codes: 4000, 4100, 4999" in checks["unmapped_source_codes"]["reason"]


def test_given_no_product_mappings_when_preflight_runs_then_it_warns_which_products_the_sync_would_skip(
    admin_api: AdminApi,
) -> None:
    _ok, checks = _checks(admin_api)

    check = checks["product_mappings_in_use"]
    assert check["status"] == "warn"  # a warning: the sync may still run, and will list the skips
    assert "would skip 2 of 2 active products" in check["reason"]
    assert "no_product_type_mapping: 2 (hardware, service)" in check["reason"]
    assert "product types" in check["fix"]


def test_given_product_types_mapped_but_a_gl_code_not_when_preflight_runs_then_the_gl_code_is_the_warning(
    admin_api: AdminApi,
) -> None:
    for kind, rows in (
        (
            "product-types",
            [
                {"source_key": "service", "qbo_id": "Service"},
                {"source_key": "hardware", "qbo_id": "NonInventory"},
            ],
        ),
        ("gl-codes", [{"source_key": "4000", "qbo_id": "1"}]),
    ):
        status, _h, reply = admin_api.call(
            "PUT", f"{BASE}/mappings/{kind}", body={"rows": rows}, headers={"If-Match": '"0"'}
        )
        assert status == 200, reply

    _ok, checks = _checks(admin_api)

    check = checks["product_mappings_in_use"]
    assert check["status"] == "warn"
    assert "would skip 1 of 2 active products" in check["reason"]
    assert "no_gl_code_mapping: 1 (4100)" in check["reason"]
    assert "no_product_type_mapping" not in check["reason"]


def test_given_every_product_mapped_when_preflight_runs_then_products_in_use_pass(
    admin_api: AdminApi,
) -> None:
    for kind, rows in (
        (
            "product-types",
            [
                {"source_key": "service", "qbo_id": "Service"},
                {"source_key": "hardware", "qbo_id": "NonInventory"},
            ],
        ),
        ("gl-codes", [{"source_key": "4000", "qbo_id": "1"}, {"source_key": "4100", "qbo_id": "2"}]),
    ):
        status, _h, reply = admin_api.call(
            "PUT", f"{BASE}/mappings/{kind}", body={"rows": rows}, headers={"If-Match": '"0"'}
        )
        assert status == 200, reply

    _ok, checks = _checks(admin_api)

    assert checks["product_mappings_in_use"]["status"] == "pass"


def test_given_more_products_than_preflight_reads_when_it_runs_then_it_says_how_many_were_checked(
    admin_api: AdminApi,
) -> None:
    admin_api.source.products = [make_product(f"P-{n}", f"Item {n}", "service") for n in range(1001)]

    _ok, checks = _checks(admin_api)

    assert checks["unmapped_source_codes"]["reason"].endswith("(products: first 1000 checked)")


def test_given_an_unreadable_source_when_preflight_runs_then_unmapped_codes_is_a_warning_not_an_error(
    admin_api: AdminApi,
) -> None:
    def unavailable(tenant_id: str) -> Any:
        raise SourceUnavailable("source timed out")

    admin_api.deps.source_reader_for = unavailable

    _ok, checks = _checks(admin_api)

    assert checks["unmapped_source_codes"]["status"] == "warn"
    assert "SourceUnavailable" in checks["unmapped_source_codes"]["reason"]
    assert checks["product_mappings_in_use"]["status"] == "warn"
    assert checks["product_mappings_in_use"]["reason"].startswith("not checked:")
    assert checks["deposit_account_mappings"]["reason"].startswith("not checked:")


def test_given_qbo_failing_to_list_entries_when_preflight_runs_then_it_reports_what_it_could_not_check(
    admin_api: AdminApi,
) -> None:
    admin_api.call(
        "PUT",
        f"{BASE}/mappings/payment-methods",
        body={"rows": [{"source_key": "CC", "qbo_id": "3"}]},
        headers={"If-Match": '"0"'},
    )

    def query_failing(entity: str, where: str = "") -> list[dict[str, Any]]:
        raise QboServerFault("QBO is down", status=503)

    admin_api.qbo.query_all = query_failing  # type: ignore[method-assign]

    _ok, checks = _checks(admin_api)

    assert checks["mapping_targets"]["status"] == "warn"
    assert checks["mapping_targets"]["reason"].startswith("not checked: QuickBooks Online could not list")


def test_given_source_defaults_the_source_no_longer_has_when_preflight_runs_then_each_fails_by_value(
    admin_api: AdminApi,
) -> None:
    _set_settings(admin_api, "sync", {"qbo_to_source_customers": True, "qbo_to_source_payments": True})
    _set_settings(
        admin_api,
        "source_defaults",
        {"new_customer_bill_profile_id": "BP-MONTHLY", "qbo_payment_method_code": "CC"},
    )
    admin_api.source.bill_profiles = [ReferenceEntry(code="BP-QUARTERLY", name="Quarterly")]

    ok, checks = _checks(admin_api)

    assert ok is False
    assert checks["new_customer_bill_profile"]["status"] == "fail"
    assert "'BP-MONTHLY'" in checks["new_customer_bill_profile"]["reason"]
    assert "source/reference/bill-profiles" in checks["new_customer_bill_profile"]["fix"]
    assert (checks["qbo_payment_method"]["status"], checks["qbo_payment_method"]["reason"]) == (
        "pass",
        "set to 'CC', which the source has",
    )


def test_given_a_mapping_from_a_code_the_source_dropped_when_preflight_runs_then_mapping_source_keys_fails(
    admin_api: AdminApi,
) -> None:
    admin_api.call(
        "PUT",
        f"{BASE}/mappings/payment-methods",
        body={"rows": [{"source_key": "CC", "qbo_id": "3"}]},
        headers={"If-Match": '"0"'},
    )
    admin_api.source.payment_methods = [p for p in admin_api.source.payment_methods if p.code != "CC"]

    _ok, checks = _checks(admin_api)

    assert checks["mapping_source_keys"]["status"] == "fail"
    assert "payment-methods 'CC'" in checks["mapping_source_keys"]["reason"]


def test_given_an_unreadable_source_when_preflight_runs_then_set_source_defaults_only_warn(
    admin_api: AdminApi,
) -> None:
    _set_settings(admin_api, "sync", {"qbo_to_source_customers": True})
    _set_settings(admin_api, "source_defaults", {"new_customer_bill_profile_id": "BP-MONTHLY"})

    def unreachable(_tenant: str) -> Any:
        raise SourceUnavailable("the source is down")

    admin_api.deps.source_reader_for = unreachable

    _ok, checks = _checks(admin_api)

    assert checks["new_customer_bill_profile"]["status"] == "warn"
    assert "not checked" in checks["new_customer_bill_profile"]["reason"]


def test_given_a_source_offering_no_bill_profiles_when_preflight_runs_then_the_default_warns_unchecked(
    admin_api: AdminApi,
) -> None:
    admin_api.source.bill_profiles = []
    _set_settings(admin_api, "sync", {"qbo_to_source_customers": True})
    _set_settings(admin_api, "source_defaults", {"new_customer_bill_profile_id": "BP-ANY"})

    _ok, checks = _checks(admin_api)

    assert checks["new_customer_bill_profile"]["status"] == "warn"
    assert "lists no bill-profiles" in checks["new_customer_bill_profile"]["reason"]


def test_given_the_same_home_currency_and_one_currency_when_preflight_runs_then_currencies_pass(
    admin_api: AdminApi,
) -> None:
    _ok, checks = _checks(admin_api)

    assert checks["currencies"]["status"] == "pass"


def test_given_qbo_s_home_currency_is_not_the_source_s_when_preflight_runs_then_currencies_fail(
    admin_api: AdminApi,
) -> None:
    admin_api.qbo.currency_prefs = {"HomeCurrency": {"value": "GBP"}}

    ok, checks = _checks(admin_api)

    assert ok is False
    assert checks["currencies"]["status"] == "fail"
    assert "GBP" in checks["currencies"]["reason"] and "USD" in checks["currencies"]["reason"]


def test_given_the_source_bills_in_eur_and_multi_currency_is_off_when_preflight_runs_then_it_fails(
    admin_api: AdminApi,
) -> None:
    admin_api.source.invoice_currencies = ["USD", "EUR"]

    _ok, checks = _checks(admin_api)

    assert checks["currencies"]["status"] == "fail"
    assert "EUR" in checks["currencies"]["reason"] and "Multicurrency" in checks["currencies"]["fix"]


def test_given_the_source_bills_in_eur_and_multi_currency_is_on_when_preflight_runs_then_it_passes(
    admin_api: AdminApi,
) -> None:
    admin_api.source.invoice_currencies = ["USD", "EUR"]
    admin_api.qbo.currency_prefs = {"HomeCurrency": {"value": "USD"}, "MultiCurrencyEnabled": True}

    _ok, checks = _checks(admin_api)

    assert checks["currencies"]["status"] == "pass"
    assert "EUR" in checks["currencies"]["reason"]


def test_given_payments_on_and_source_bank_accounts_unmapped_when_preflight_runs_then_it_warns_naming_them(
    admin_api: AdminApi,
) -> None:
    admin_api.source.accounts += [
        SourceAccount(code="1-1200", name="Trust Bank", account_type="asset"),
        SourceAccount(code="1-1900", name="Closed Bank", account_type="asset", active=False),
        SourceAccount(code="2-1000", name="Sales Tax Payable", account_type="liability"),
    ]

    _ok, checks = _checks(admin_api)

    check = checks["deposit_account_mappings"]
    assert check["status"] == "warn"
    assert "2 active source bank or asset account(s)" in check["reason"]
    assert "1-1100 (Operating Bank), 1-1200 (Trust Bank);" in check["reason"]
    assert "missing_mapping" in check["reason"]
    assert "gl-accounts" in check["fix"]


def test_given_every_source_bank_account_mapped_when_preflight_runs_then_deposit_accounts_pass(
    admin_api: AdminApi,
) -> None:
    status, _h, reply = admin_api.call(
        "PUT",
        f"{BASE}/mappings/gl-accounts",
        body={"rows": [{"source_key": "1-1100", "qbo_id": "35"}]},
        headers={"If-Match": '"0"'},
    )
    assert status == 200, reply

    _ok, checks = _checks(admin_api)

    assert checks["deposit_account_mappings"]["status"] == "pass"


def test_given_payments_off_when_preflight_runs_then_unmapped_bank_accounts_do_not_warn(
    admin_api: AdminApi,
) -> None:
    _set_settings(admin_api, "sync", {"payments": False})

    _ok, checks = _checks(admin_api)

    assert checks["deposit_account_mappings"] == {
        "id": "deposit_account_mappings",
        "status": "pass",
        "reason": "payments are not synced",
        "fix": "",
    }
