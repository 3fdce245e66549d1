"""Settings through the admin API: versioned writes, validation, and the audit trail."""

# ruff: noqa: F811  (the admin_api fixture is imported from the support module)

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qbosync.source.models import ReferenceEntry
from qbosync.store.config import AuditRecord, VersionConflict
from tests.support.admin_api import ADMIN, TENANT_A, AdminApi, admin_api  # noqa: F401

BASE = f"/tenants/{TENANT_A}"


def _settings_with(api: AdminApi, section: str, values: dict[str, Any]) -> dict[str, Any]:
    body, _tag = api.read(f"{BASE}/settings")
    settings: dict[str, Any] = body["settings"]
    settings[section] = {**settings[section], **values}
    return settings


def _put(api: AdminApi, settings: Any, if_match: str | None = '"0"', **kwargs: Any) -> tuple[int, Any]:
    headers = {"If-Match": if_match} if if_match is not None else {}
    status, _headers, body = api.call("PUT", f"{BASE}/settings", body=settings, headers=headers, **kwargs)
    return status, body


def test_given_a_new_tenant_when_settings_are_read_then_the_seeds_defaults_come_at_version_0(
    admin_api: AdminApi,
) -> None:
    body, tag = admin_api.read(f"{BASE}/settings")

    assert tag == '"0"'
    assert body["settings"]["prefixes"]["invoice"] == {"enabled": True, "value": "INV-"}
    assert body["settings"]["prefixes"]["payment"] == {"enabled": True, "value": "PMT-"}
    assert body["settings"]["sync"]["qbo_to_source_customers"] is False


def test_given_no_if_match_when_settings_are_put_then_428_and_nothing_changes(admin_api: AdminApi) -> None:
    status, body = _put(admin_api, {}, if_match=None)
    _stored, tag = admin_api.read(f"{BASE}/settings")

    assert (status, body["error"]["code"], tag) == (428, "precondition_required", '"0"')


def test_given_an_if_match_that_is_not_an_etag_when_put_then_422_names_the_header(
    admin_api: AdminApi,
) -> None:
    status, body = _put(admin_api, {}, if_match="yesterday")

    assert (status, body["error"]["code"]) == (422, "validation_failed")
    assert body["error"]["details"][0]["loc"] == "header.if-match"


def test_given_two_admins_editing_settings_when_both_save_then_the_second_gets_409(
    admin_api: AdminApi,
) -> None:
    first, _ = _put(admin_api, _settings_with(admin_api, "sync", {"payments": False}))

    second, body = _put(admin_api, _settings_with(admin_api, "sync", {"products": False}), sub="admin-other")
    stored, _tag = admin_api.read(f"{BASE}/settings")

    assert (first, second, body["error"]["code"]) == (200, 409, "version_conflict")
    assert stored["settings"]["sync"]["products"] is True


def test_given_an_unknown_field_when_settings_are_put_then_422_names_it(admin_api: AdminApi) -> None:
    status, body = _put(admin_api, {"sync": {"invoices": True, "vendors": True}})

    assert status == 422
    assert [detail["loc"] for detail in body["error"]["details"]] == ["body.sync.vendors"]


def test_given_a_prefix_too_long_for_qbo_doc_numbers_when_put_then_422(admin_api: AdminApi) -> None:
    settings = _settings_with(admin_api, "prefixes", {"invoice": {"enabled": True, "value": "INVOICE-2026-"}})

    status, body = _put(admin_api, settings)

    assert (status, body["error"]["code"]) == (422, "validation_failed")
    assert body["error"]["details"][0]["loc"] == "body.prefixes.invoice.value"


def test_given_the_same_credit_and_write_off_prefix_when_put_then_422(admin_api: AdminApi) -> None:
    settings = _settings_with(admin_api, "prefixes", {"write_off": {"enabled": True, "value": "CN-"}})

    status, _body = _put(admin_api, settings)

    assert status == 422


def test_given_qbo_defaults_that_are_missing_inactive_or_wrong_when_put_then_each_is_named(
    admin_api: AdminApi,
) -> None:
    settings = _settings_with(
        admin_api,
        "qbo_defaults",
        {
            "invoice_tax_code_id": "3",
            "invoice_class_id": "999",
            "unmatched_one_time_item_id": "17",
            "unmatched_recurring_item_id": "10",
        },
    )

    status, body = _put(admin_api, settings)

    assert (status, body["error"]["code"]) == (422, "invalid_settings")
    assert [(d["field"], d["reason"]) for d in body["error"]["details"]] == [
        ("qbo_defaults.invoice_tax_code_id", "inactive"),
        ("qbo_defaults.invoice_class_id", "not_found"),
        ("qbo_defaults.unmatched_one_time_item_id", "wrong_type"),
    ]


def test_given_no_connection_when_settings_without_qbo_targets_are_put_then_they_are_stored(
    admin_api: AdminApi,
) -> None:
    admin_api.connections.by_tenant.clear()

    status, body = _put(admin_api, _settings_with(admin_api, "sync", {"credit_notes": False}))

    assert (status, body["version"]) == (200, 1)


def test_given_no_connection_when_settings_naming_qbo_targets_are_put_then_409_not_connected(
    admin_api: AdminApi,
) -> None:
    admin_api.connections.by_tenant.clear()

    status, body = _put(admin_api, _settings_with(admin_api, "qbo_defaults", {"invoice_class_id": "100"}))

    assert (status, body["error"]["code"]) == (409, "not_connected")


def test_given_malformed_json_when_settings_are_put_then_400(admin_api: AdminApi) -> None:
    status, body = _put(admin_api, None, raw_body='{"sync": {"invoices": tru')

    assert (status, body["error"]["code"]) == (400, "malformed_json")


def test_given_a_settings_change_when_the_audit_is_read_then_it_names_who_when_before_and_after(
    admin_api: AdminApi,
) -> None:
    _put(admin_api, _settings_with(admin_api, "sync", {"payments": False}))

    page, _ = admin_api.read(f"{BASE}/audit")

    entry = page["entries"][0]
    assert (entry["actor"], entry["action"], entry["target"], entry["version"]) == (
        ADMIN,
        "settings.replaced",
        "settings",
        1,
    )
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None
    assert (entry["before"]["sync"]["payments"], entry["after"]["sync"]["payments"]) == (True, False)


def test_given_several_changes_when_the_audit_is_paged_then_newest_come_first_across_pages(
    admin_api: AdminApi,
) -> None:
    admin_api.source.payment_methods.append(ReferenceEntry(code="ACH", name="Bank transfer"))
    for version, method in enumerate(["CC", "CHECK", "ACH"]):
        admin_api.call(
            "PUT",
            f"{BASE}/mappings/payment-methods",
            body={"rows": [{"source_key": method, "qbo_id": "1"}]},
            headers={"If-Match": f'"{version}"'},
        )

    first, _ = admin_api.read(f"{BASE}/audit", query={"limit": "2"})
    second, _ = admin_api.read(f"{BASE}/audit", query={"limit": "2", "cursor": first["next_cursor"]})

    versions = [entry["version"] for entry in first["entries"] + second["entries"]]
    assert versions == [3, 2, 1]
    assert second["next_cursor"] is None
    assert first["entries"][0]["after"] == [{"source_key": "ACH", "qbo_id": "1", "qbo_name": "Cash"}]


def test_given_a_cursor_this_api_never_issued_when_the_audit_is_read_then_400(admin_api: AdminApi) -> None:
    status, _headers, body = admin_api.call("GET", f"{BASE}/audit", query={"cursor": "U0VUVElOR1M"})

    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


def test_given_a_refused_change_when_the_audit_is_read_then_it_is_not_there(admin_api: AdminApi) -> None:
    admin_api.call(
        "PUT",
        f"{BASE}/mappings/gl-codes",
        body={"rows": [{"source_key": "4000", "qbo_id": "35"}]},
        headers={"If-Match": '"0"'},
    )

    page, _ = admin_api.read(f"{BASE}/audit")

    assert page["entries"] == []


def test_given_a_write_that_lost_the_race_after_its_version_check_when_stored_then_409_and_no_audit_entry(
    admin_api: AdminApi,
) -> None:
    record = AuditRecord(
        actor=ADMIN, action="settings.replaced", target="settings", before={}, after={}, at=datetime.now(UTC)
    )
    admin_api.deps.settings.replace(TENANT_A, {"schema_version": 1}, 0, record)

    with pytest.raises(VersionConflict):
        admin_api.deps.settings.replace(TENANT_A, {"schema_version": 1}, 0, record)

    page, _ = admin_api.read(f"{BASE}/audit")
    assert len(page["entries"]) == 1


def _patch(api: AdminApi, patch: Any, if_match: str | None = '"0"') -> tuple[int, Any]:
    headers = {"If-Match": if_match} if if_match is not None else {}
    headers["Content-Type"] = "application/merge-patch+json"
    status, _headers, body = api.call("PATCH", f"{BASE}/settings", body=patch, headers=headers)
    return status, body


def test_given_a_body_leaving_sections_out_when_put_then_422_names_each_missing_one_and_nothing_resets(
    admin_api: AdminApi,
) -> None:
    settings = _settings_with(admin_api, "qbo_defaults", {"invoice_class_id": "100"})
    _put(admin_api, settings)
    partial = {"sync": settings["sync"], "prefixes": settings["prefixes"]}
    del partial["sync"]["credit_notes"]

    status, body = _put(admin_api, partial, if_match='"1"')
    stored, tag = admin_api.read(f"{BASE}/settings")

    assert (status, body["error"]["code"]) == (422, "settings_incomplete")
    missing = [detail["loc"] for detail in body["error"]["details"]]
    assert "body.sync.credit_notes" in missing
    assert {"body.qbo_defaults", "body.source_defaults", "body.field_ownership"} <= set(missing)
    assert (stored["settings"]["qbo_defaults"]["invoice_class_id"], tag) == ("100", '"1"')


def test_given_a_merge_patch_when_sent_then_only_the_named_fields_change(admin_api: AdminApi) -> None:
    _put(admin_api, _settings_with(admin_api, "qbo_defaults", {"invoice_class_id": "100"}))

    status, body = _patch(admin_api, {"sync": {"payments": False}, "drift_policy": "heal"}, if_match='"1"')

    assert (status, body["version"]) == (200, 2)
    assert body["settings"]["sync"]["payments"] is False
    assert body["settings"]["sync"]["invoices"] is True
    assert body["settings"]["drift_policy"] == "heal"
    assert body["settings"]["qbo_defaults"]["invoice_class_id"] == "100"


def test_given_a_merge_patch_with_null_when_sent_then_that_field_returns_to_its_default(
    admin_api: AdminApi,
) -> None:
    _put(admin_api, _settings_with(admin_api, "qbo_defaults", {"invoice_class_id": "100"}))

    status, body = _patch(admin_api, {"qbo_defaults": {"invoice_class_id": None}}, if_match='"1"')

    assert (status, body["settings"]["qbo_defaults"]["invoice_class_id"]) == (200, None)


def test_given_no_if_match_when_settings_are_patched_then_428(admin_api: AdminApi) -> None:
    status, body = _patch(admin_api, {"drift_policy": "heal"}, if_match=None)

    assert (status, body["error"]["code"]) == (428, "precondition_required")


def test_given_an_old_if_match_when_settings_are_patched_then_412_and_nothing_changes(
    admin_api: AdminApi,
) -> None:
    _put(admin_api, _settings_with(admin_api, "sync", {"payments": False}))

    status, body = _patch(admin_api, {"drift_policy": "heal"}, if_match='"0"')
    stored, tag = admin_api.read(f"{BASE}/settings")

    assert (status, body["error"]["code"]) == (412, "precondition_failed")
    assert (stored["settings"]["drift_policy"], tag) == ("report", '"1"')


def test_given_a_patch_that_makes_the_settings_invalid_when_sent_then_422_names_the_field(
    admin_api: AdminApi,
) -> None:
    status, body = _patch(admin_api, {"sync": {"vendors": True}, "drift_policy": "ignore"})

    assert (status, body["error"]["code"]) == (422, "validation_failed")
    assert {detail["loc"] for detail in body["error"]["details"]} == {"sync.vendors", "drift_policy"}


def test_given_source_defaults_the_source_does_not_have_when_put_then_each_is_named_with_its_value(
    admin_api: AdminApi,
) -> None:
    settings = _settings_with(
        admin_api,
        "source_defaults",
        {
            "new_customer_bill_profile_id": "BP-NOPE",
            "unmatched_qbo_item_product_id": "prd_nope",
            "qbo_payment_method_code": "BITCOIN",
        },
    )
    settings["qbo_defaults"]["invoice_class_id"] = "999"

    status, body = _put(admin_api, settings)

    assert (status, body["error"]["code"]) == (422, "invalid_settings")
    assert sorted(
        (d["field"], d.get("value") or d.get("qbo_id"), d["reason"]) for d in body["error"]["details"]
    ) == [
        ("qbo_defaults.invoice_class_id", "999", "not_found"),
        ("source_defaults.new_customer_bill_profile_id", "BP-NOPE", "unknown_source_value"),
        ("source_defaults.qbo_payment_method_code", "BITCOIN", "unknown_source_value"),
        ("source_defaults.unmatched_qbo_item_product_id", "prd_nope", "unknown_source_value"),
    ]


def test_given_a_payment_method_choice_of_an_unknown_source_method_when_patched_then_422_names_it(
    admin_api: AdminApi,
) -> None:
    status, body = _patch(admin_api, {"source_defaults": {"qbo_payment_method_choices": {"1": "WAMPUM"}}})

    assert (status, body["error"]["code"]) == (422, "invalid_settings")
    assert (
        "source_defaults.qbo_payment_method_choices.1",
        "WAMPUM",
        "unknown_source_value",
    ) in [(d["field"], d.get("value"), d["reason"]) for d in body["error"]["details"]]


def test_given_source_defaults_the_source_has_when_patched_then_they_are_stored_and_marked_in_its_lists(
    admin_api: AdminApi,
) -> None:
    status, _body = _patch(
        admin_api,
        {"source_defaults": {"new_customer_bill_profile_id": "BP-MONTHLY", "qbo_payment_method_code": "CC"}},
    )
    profiles, _ = admin_api.read(f"{BASE}/source/reference/bill-profiles")

    assert status == 200
    assert profiles["entries"][0]["default_for"] == ["source_defaults.new_customer_bill_profile_id"]
    assert profiles["entries"][0]["mapped"] is True


def test_given_the_openapi_document_then_closed_sets_are_enums_and_if_match_is_required(
    admin_api: AdminApi,
) -> None:
    _status, _headers, spec = admin_api.call("GET", "/openapi.json", tenants=None)

    def parameter(path: str, method: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(
            p for p in spec["paths"][path][method]["parameters"] if p["name"] == name
        )
        return found

    mapping_kind = parameter("/tenants/{tenant_id}/mappings/{kind}", "put", "kind")
    source_kind = parameter("/tenants/{tenant_id}/source/reference/{kind}", "get", "kind")
    assert "income-accounts" in mapping_kind["schema"]["enum"]
    assert "bill-profiles" in source_kind["schema"]["enum"]
    assert "terms" in parameter("/tenants/{tenant_id}/qbo/reference/{kind}", "get", "kind")["schema"]["enum"]
    for path, method in (
        ("/tenants/{tenant_id}/settings", "put"),
        ("/tenants/{tenant_id}/settings", "patch"),
        ("/tenants/{tenant_id}/mappings/{kind}", "put"),
        ("/tenants/{tenant_id}/mappings/{kind}/{source_key}", "delete"),
    ):
        assert parameter(path, method, "if-match")["required"] is True


def test_given_a_patch_setting_the_go_live_date_when_saved_then_the_pushes_waiting_for_it_are_released(
    admin_api: AdminApi,
) -> None:
    released_for: list[str] = []
    admin_api.deps.go_live_set = lambda tenant_id: released_for.append(tenant_id) or 0
    status, _body = _patch(admin_api, {"drift_policy": "report"})
    assert (status, released_for) == (200, [])  # no go-live date yet: nothing waits to be released

    status, _body = _patch(admin_api, {"onboarding": {"go_live_date": "2026-12-01"}}, if_match='"1"')

    assert (status, released_for) == (200, [TENANT_A])
