"""Field ownership of customers: who owns which group, and what each side is sent when the owner edits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from qbosync.source.models import Address, SourceCustomer
from qbosync.sync.configuration import CustomerFieldOwnership, TenantSettings
from qbosync.sync.records.customers import customer_body, qbo_update_from_source, source_update_from_qbo

ALL_GROUPS = ("name", "contact", "billing_address", "active")


def _source_customer(**fields: Any) -> SourceCustomer:
    base: dict[str, Any] = {
        "id": "cus_000001",
        "version": 3,
        "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
        "display_name": "Northwind Traders",
        "company_name": "Northwind Traders",
        "email": "ap@northwind.example",
        "phone": "+1-555-0001",
        "billing_address": Address(line1="917 Main St", city="Fresno", region="CA", postal_code="93650"),
        "active": True,
    }
    return SourceCustomer.model_validate({**base, **fields})


def _qbo_row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": "58",
        "SyncToken": "4",
        "DisplayName": "Northwind Traders",
        "CompanyName": "Northwind Traders",
        "PrimaryEmailAddr": {"Address": "ap@northwind.example"},
        "PrimaryPhone": {"FreeFormNumber": "+1-555-0001"},
        "BillAddr": {
            "Id": "12",
            "Line1": "917 Main St",
            "City": "Fresno",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "93650",
        },
        "Active": True,
    }
    return {**base, **fields}


def test_given_default_settings_when_asked_who_owns_a_customer_then_it_is_the_side_it_started_in() -> None:
    ownership = TenantSettings().field_ownership.customers

    assert ownership.groups_owned_by("qbo", started_in_qbo=True) == ALL_GROUPS
    assert ownership.groups_owned_by("source", started_in_qbo=False) == ALL_GROUPS
    assert ownership.groups_owned_by("qbo", started_in_qbo=False) == ()


def test_given_contact_owned_by_qbo_when_asked_for_a_source_customer_then_only_contact_is_qbos() -> None:
    ownership = CustomerFieldOwnership(contact="qbo")

    assert ownership.groups_owned_by("qbo", started_in_qbo=False) == ("contact",)
    assert ownership.owner("name", started_in_qbo=False) == "source"


def test_given_an_unknown_owner_or_group_when_settings_are_read_then_they_are_refused() -> None:
    with pytest.raises(ValidationError, match="name"):
        TenantSettings.model_validate({"field_ownership": {"customers": {"name": "accountant"}}})
    with pytest.raises(ValidationError, match="notes"):
        TenantSettings.model_validate({"field_ownership": {"customers": {"notes": "qbo"}}})
    with pytest.raises(ValidationError, match="drift_policy"):
        TenantSettings.model_validate({"drift_policy": "ignore"})


def test_given_qbo_changed_the_email_when_qbo_owns_contact_then_the_patch_carries_only_the_email() -> None:
    row = _qbo_row(PrimaryEmailAddr={"Address": "billing@northwind.example"}, DisplayName="Renamed")

    patch = source_update_from_qbo(row, _source_customer(), ("contact",))

    assert patch is not None
    assert patch.model_dump(exclude_unset=True) == {"email": "billing@northwind.example"}


def test_given_qbo_holds_the_sources_values_when_compared_then_there_is_nothing_to_patch() -> None:
    assert source_update_from_qbo(_qbo_row(), _source_customer(), ALL_GROUPS) is None


def test_given_qbo_cleared_the_phone_and_moved_the_address_when_qbo_owns_them_then_both_are_patched() -> None:
    row = _qbo_row(
        PrimaryPhone=None, BillAddr={"Line1": "1 New Rd", "City": "Reno", "CountrySubDivisionCode": "NV"}
    )

    patch = source_update_from_qbo(row, _source_customer(), ("contact", "billing_address"))

    assert patch is not None
    assert patch.model_dump(exclude_unset=True) == {
        "phone": None,
        "billing_address": {
            "line1": "1 New Rd",
            "line2": None,
            "city": "Reno",
            "region": "NV",
            "postal_code": None,
            "country": None,
        },
    }


def test_given_qbo_deleted_the_customer_when_qbo_owns_active_then_the_patch_deactivates_only() -> None:
    patch = source_update_from_qbo(None, _source_customer(), ALL_GROUPS)

    assert patch is not None and patch.model_dump(exclude_unset=True) == {"active": False}


def test_given_a_deactivated_source_customer_when_the_source_owns_active_then_qbo_is_sent_active_false() -> (
    None
):
    fields = qbo_update_from_source(_source_customer(active=False), ("active",))

    assert fields == {"Active": False}


def test_given_the_source_owns_names_only_when_building_the_qbo_update_then_contact_fields_are_left_out() -> (
    None
):
    fields = qbo_update_from_source(_source_customer(display_name="Northwind Two"), ("name",))

    assert fields == {"DisplayName": "Northwind Two", "CompanyName": "Northwind Traders"}


def test_given_a_company_name_too_long_for_qbo_when_built_then_it_is_cut_and_kept_in_notes() -> None:
    long_name = "Northwind Traders International Holdings and Subsidiaries of the Americas"
    customer = SourceCustomer(
        id="cus_1",
        version=1,
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        display_name="Northwind",
        company_name=long_name,
    )

    body = customer_body(customer, "Northwind")

    assert body["CompanyName"] == long_name[:50]
    assert body["Notes"] == f"Company name: {long_name}"


def test_given_a_customer_billed_in_eur_when_its_body_is_built_then_qbo_creates_it_in_eur() -> None:
    customer = SourceCustomer(
        id="cus_2",
        version=1,
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        display_name="Cafe",
        currency="EUR",
    )

    assert customer_body(customer, "Cafe")["CurrencyRef"] == {"value": "EUR"}
    assert "CurrencyRef" not in customer_body(customer.model_copy(update={"currency": None}), "Cafe")
