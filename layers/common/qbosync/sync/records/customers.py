"""A customer on both sides: the QBO body of a source customer, the source customer of a QBO one, and
each group of fields by owner (what to write where an owner's edit must go).

The groups are those of ``CustomerFieldOwnership`` (``name``, ``contact``, ``billing_address``,
``active``). Copying is one-way per group: the owner's values are written to the other side, never
merged. A value emptied on the owning side is emptied in the source; QBO's sparse update cannot
clear a field by omission, so an emptied source field leaves QBO's value as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qbosync.source.models import Address, NewSourceCustomer, SourceCustomer, SourceCustomerUpdate
from qbosync.sync.configuration import CustomerFieldGroup, CustomerFieldOwnership
from qbosync.sync.records.names import QBO_DISPLAY_NAME_MAX

QBO_NOTES_MAX = 2000

QBO_KEYS: dict[CustomerFieldGroup, tuple[str, ...]] = {
    "name": ("DisplayName", "CompanyName", "GivenName", "FamilyName"),
    "contact": ("PrimaryEmailAddr", "PrimaryPhone"),
    "billing_address": ("BillAddr",),
    "active": ("Active",),
}
SOURCE_FIELDS: dict[CustomerFieldGroup, tuple[str, ...]] = {
    "name": ("display_name", "company_name", "given_name", "family_name"),
    "contact": ("email", "phone"),
    "billing_address": ("billing_address",),
    "active": ("active",),
}


QBO_FIELD_LIMITS = {"company_name": 50, "given_name": 100, "family_name": 100, "phone": 30}
"""What ``customer_body`` cuts each source field to: QBO's lengths (CompanyName 50, fault 2050 beyond)."""


def truncated_customer_fields(customer: SourceCustomer) -> list[str]:
    """The source fields ``customer_body`` has to cut to fit QBO, by name."""
    return [name for name, limit in QBO_FIELD_LIMITS.items() if len(getattr(customer, name) or "") > limit]


def customer_body(customer: SourceCustomer, display_name: str) -> dict[str, Any]:
    """The QBO Customer for a source customer (only the fields the source has)."""
    body: dict[str, Any] = {"DisplayName": display_name[:QBO_DISPLAY_NAME_MAX]}
    if customer.company_name:
        body["CompanyName"] = customer.company_name[: QBO_FIELD_LIMITS["company_name"]]
        if len(customer.company_name) > QBO_FIELD_LIMITS["company_name"]:
            # QBO refuses a longer CompanyName (2050); the full name stays readable in the notes.
            body["Notes"] = f"Company name: {customer.company_name}"[:QBO_NOTES_MAX]
    if customer.given_name:
        body["GivenName"] = customer.given_name[: QBO_FIELD_LIMITS["given_name"]]
    if customer.family_name:
        body["FamilyName"] = customer.family_name[: QBO_FIELD_LIMITS["family_name"]]
    if customer.email:
        body["PrimaryEmailAddr"] = {"Address": customer.email}
    if customer.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": customer.phone[: QBO_FIELD_LIMITS["phone"]]}
    if customer.currency is not None:
        # QBO sets a customer's currency once, at creation (multi-currency companies only).
        body["CurrencyRef"] = {"value": customer.currency}
    address = customer.billing_address
    if address is not None:
        bill = {
            "Line1": address.line1,
            "Line2": address.line2,
            "City": address.city,
            "CountrySubDivisionCode": address.region,
            "PostalCode": address.postal_code,
            "Country": address.country,
        }
        body["BillAddr"] = {key: value for key, value in bill.items() if value}
    return body


def _text(value: Any) -> str | None:
    """A QBO string field as the source holds it: None for missing or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _nested(row: Mapping[str, Any], key: str, field: str) -> str | None:
    inner = row.get(key)
    return _text(inner.get(field)) if isinstance(inner, Mapping) else None


def _address_of(row: Mapping[str, Any]) -> Address | None:
    bill = row.get("BillAddr")
    if not isinstance(bill, Mapping):
        return None
    address = Address(
        line1=_text(bill.get("Line1")),
        line2=_text(bill.get("Line2")),
        city=_text(bill.get("City")),
        region=_text(bill.get("CountrySubDivisionCode")),
        postal_code=_text(bill.get("PostalCode")),
        country=_text(bill.get("Country")),
    )
    return None if address == Address() else address


def source_values_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A QBO customer's fields under the source's names (the ones ownership can copy)."""
    return {
        "display_name": _text(row.get("DisplayName"))
        or _text(row.get("CompanyName"))
        or f"QBO customer {row['Id']}",
        "company_name": _text(row.get("CompanyName")),
        "given_name": _text(row.get("GivenName")),
        "family_name": _text(row.get("FamilyName")),
        "email": _nested(row, "PrimaryEmailAddr", "Address"),
        "phone": _nested(row, "PrimaryPhone", "FreeFormNumber"),
        "billing_address": _address_of(row),
        "active": bool(row.get("Active", True)),
    }


def _normalised(value: Any) -> Any:
    if isinstance(value, Address):
        return None if value == Address() else value
    if isinstance(value, str):
        return value.strip() or None
    return value


def source_update_from_qbo(
    row: Mapping[str, Any] | None, current: SourceCustomer, groups: Iterable[CustomerFieldGroup]
) -> SourceCustomerUpdate | None:
    """The source patch that brings QBO's values of ``groups`` to the source; None when they agree.

    ``row`` None means QBO deleted (or merged away) the customer: only ``active`` has a value then.
    """
    wanted = source_values_of(row) if row is not None else {"active": False}
    changes: dict[str, Any] = {}
    for group in groups:
        for name in SOURCE_FIELDS[group]:
            if name in wanted and _normalised(getattr(current, name)) != _normalised(wanted[name]):
                value = wanted[name]
                changes[name] = value.model_dump() if isinstance(value, Address) else value
    return SourceCustomerUpdate.model_validate(changes) if changes else None


def qbo_update_from_source(customer: SourceCustomer, groups: Iterable[CustomerFieldGroup]) -> dict[str, Any]:
    """The QBO sparse-update fields that carry the source's values of ``groups`` (no Id, no SyncToken)."""
    body = {
        **customer_body(customer, customer.display_name),
        "Active": customer.active and not customer.deleted,
    }
    keys = {key for group in groups for key in QBO_KEYS[group]}
    return {key: value for key, value in body.items() if key in keys}


def new_source_customer(
    row: Mapping[str, Any], bill_profile_id: str, ownership: CustomerFieldOwnership
) -> NewSourceCustomer:
    """The source customer for a QBO customer, read as ``source_values_of`` reads later edits, with the
    chosen bill profile: the fields of every group QBO owns for a customer that started in QBO (by
    default all of them: names, e-mail and phone, billing address); a group the source owns is left
    for the source to fill. The display name is always carried (the source requires one)."""
    values = source_values_of(row)
    groups = ownership.groups_owned_by("qbo", started_in_qbo=True)
    carried = {name for group in groups for name in SOURCE_FIELDS[group]} | {"display_name"}
    fields = {name: value for name, value in values.items() if name in carried}
    return NewSourceCustomer(**fields, bill_profile_id=bill_profile_id)
