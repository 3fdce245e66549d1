"""QBO → source choices: the source payment method of a payment entered in QBO, and the fields a
customer created in QBO carries into the source (per field ownership)."""

from __future__ import annotations

from typing import Any

from qbosync.sync.configuration import CustomerFieldOwnership, MappingRow, SourceDefaults
from qbosync.sync.pull.payments import source_payment_method
from qbosync.sync.records.customers import new_source_customer

CHECK = "3"
CARD = "5"


def _rows(*pairs: tuple[str, str]) -> list[MappingRow]:
    return [MappingRow(source_key=key, qbo_id=qbo_id, qbo_name=f"QBO {qbo_id}") for key, qbo_id in pairs]


# Alphabetical order would pick ACH; the rows come in that order on purpose.
SEVERAL_TO_CHECK = _rows(("ACH", CHECK), ("CHEQUE", CHECK), ("WIRE", CHECK), ("VISA", CARD))


def test_given_several_methods_map_to_one_qbo_method_when_a_per_method_choice_is_set_then_it_wins() -> None:
    defaults = SourceDefaults(qbo_payment_method_code="ACH", qbo_payment_method_choices={CHECK: "CHEQUE"})

    assert source_payment_method(CHECK, SEVERAL_TO_CHECK, defaults).method == "CHEQUE"


def test_given_several_methods_map_to_one_qbo_method_when_the_default_is_one_of_them_then_it_is_used() -> (
    None
):
    defaults = SourceDefaults(qbo_payment_method_code="WIRE")

    assert source_payment_method(CHECK, SEVERAL_TO_CHECK, defaults).method == "WIRE"


def test_given_several_source_methods_map_to_one_qbo_method_when_nothing_chooses_then_none_is_guessed() -> (
    None
):
    choice = source_payment_method(CHECK, SEVERAL_TO_CHECK, SourceDefaults(qbo_payment_method_code="VISA"))

    assert choice.method is None
    assert "ACH, CHEQUE, WIRE" in choice.problem
    assert "qbo_payment_method_choices['3']" in choice.problem


def test_given_one_source_method_maps_to_the_qbo_method_when_chosen_then_it_is_used_over_the_default() -> (
    None
):
    choice = source_payment_method(CARD, SEVERAL_TO_CHECK, SourceDefaults(qbo_payment_method_code="ACH"))

    assert choice.method == "VISA"


def test_given_an_unmapped_qbo_method_when_chosen_then_the_default_is_used_or_the_fix_is_named() -> None:
    assert source_payment_method(
        "99", SEVERAL_TO_CHECK, SourceDefaults(qbo_payment_method_code="ACH")
    ).method == ("ACH")
    missing = source_payment_method("", SEVERAL_TO_CHECK, SourceDefaults())
    assert missing.method is None
    assert "qbo_payment_method_code" in missing.problem


QBO_CUSTOMER: dict[str, Any] = {
    "Id": "58",
    "DisplayName": "Harbor Lights LLC",
    "CompanyName": "Harbor Lights",
    "PrimaryEmailAddr": {"Address": "ap@harbor.example"},
    "PrimaryPhone": {"FreeFormNumber": "(555) 010-7788"},
    "BillAddr": {
        "Line1": "12 Pier Rd",
        "City": "Monterey",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "93940",
    },
    "Active": True,
}


def test_given_default_ownership_when_a_qbo_customer_reaches_the_source_then_address_email_phone_go_too() -> (
    None
):
    created = new_source_customer(QBO_CUSTOMER, "BP-STD", CustomerFieldOwnership())

    assert (created.display_name, created.email, created.phone, created.bill_profile_id) == (
        "Harbor Lights LLC",
        "ap@harbor.example",
        "(555) 010-7788",
        "BP-STD",
    )
    assert created.billing_address is not None
    assert (created.billing_address.line1, created.billing_address.region) == ("12 Pier Rd", "CA")


def test_given_the_source_owns_contact_and_address_when_a_qbo_customer_reaches_it_then_they_stay_empty() -> (
    None
):
    ownership = CustomerFieldOwnership(contact="source", billing_address="source")

    created = new_source_customer(QBO_CUSTOMER, "BP-STD", ownership)

    assert (created.display_name, created.company_name) == ("Harbor Lights LLC", "Harbor Lights")
    assert (created.email, created.phone, created.billing_address) == (None, None, None)
