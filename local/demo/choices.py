"""What the demo's admin chooses on the first seed's configuration screens, as a person reading both
lists would: by name, looked up in the admin API's live reference data of both sides
(``/qbo/reference/{kind}`` and ``/source/reference/{kind}``), never by a hard-coded id or code.

Each ``choose_*`` function takes the lists as the APIs return them and either returns the rows or
settings to send, or raises ``StepFailed`` naming the choice QBO or the source cannot satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from local.demo.narration import StepFailed

Entries = list[dict[str, Any]]

# Bank transfers have no QBO payment method of their own; bookkeepers record them like checks.
PAYMENT_METHOD_FALLBACK = "Check"
PRODUCT_INCOME_ACCOUNT = "Sales of Product Income"
SERVICE_INCOME_ACCOUNT = "Services"
PRODUCT_GL_WORDS = ("hardware", "software")
ITEM_TYPE_FOR_PRODUCT_TYPE = {"hardware": "NonInventory", "software": "NonInventory"}
DEFAULT_ITEM_TYPE = "Service"
ONE_TIME_DEFAULT_ITEM = "Services"
RECURRING_DEFAULT_ITEM = "Hours"
INVOICE_TAX_CODE = "TAX"
INVOICE_CLASS = "Consulting"
# The seed's advice: customers created from QBO get the e-mailed monthly bill profile.
NEW_CUSTOMER_BILL_PROFILE_WORDS = ("monthly", "email")
UNMATCHED_ITEM_PRODUCT_TYPE = "service"
# Distinct from the source's own "INV-"/"PMT-" numbers, so synced documents stand out in QBO.
PREFIXES = {"invoice": "RV-", "payment": "RVP-", "credit_note": "RVC-", "write_off": "RVW-"}


@dataclass(frozen=True)
class QboLists:
    """QBO's live reference lists, by the admin API's kind."""

    entries: dict[str, Entries]

    def id_of(self, kind: str, name: str, entry_type: str | None = None) -> str:
        for entry in self.entries[kind]:
            right_type = entry_type is None or entry.get("type") == entry_type
            if entry["name"] == name and entry.get("active", True) and right_type:
                return str(entry["id"])
        of_type = f" of type {entry_type}" if entry_type else ""
        raise StepFailed(f"QBO has no active {kind} entry named {name!r}{of_type}")

    def name_of(self, kind: str, entry_id: str) -> str:
        return next((str(e["name"]) for e in self.entries[kind] if str(e["id"]) == entry_id), entry_id)


def payment_method_rows(source_methods: Entries, qbo: QboLists) -> Entries:
    """Each source method to the QBO method its name contains ("Credit card: Visa" → Visa), else Check."""
    fallback = qbo.id_of("payment-methods", PAYMENT_METHOD_FALLBACK)
    rows = []
    for method in source_methods:
        lowered = method["name"].lower()
        matches = [
            entry
            for entry in qbo.entries["payment-methods"]
            if entry.get("active", True) and entry["name"].lower() in lowered
        ]
        best = max(matches, key=lambda entry: len(entry["name"]))["id"] if matches else fallback
        rows.append({"source_key": method["code"], "qbo_id": str(best)})
    return rows


def gl_code_rows(source_codes: Entries, qbo: QboLists) -> Entries:
    """Product sales to QBO's product income account, everything else to service income."""
    product_income = qbo.id_of("accounts", PRODUCT_INCOME_ACCOUNT, "Income")
    service_income = qbo.id_of("accounts", SERVICE_INCOME_ACCOUNT, "Income")
    return [
        {
            "source_key": code["code"],
            "qbo_id": product_income
            if any(word in code["name"].lower() for word in PRODUCT_GL_WORDS)
            else service_income,
        }
        for code in source_codes
    ]


def product_type_rows(source_types: Entries) -> Entries:
    """Goods become NonInventory items, the rest Service items (QBO's item types are a fixed set)."""
    return [
        {
            "source_key": kind["code"],
            "qbo_id": ITEM_TYPE_FOR_PRODUCT_TYPE.get(kind["code"], DEFAULT_ITEM_TYPE),
        }
        for kind in source_types
    ]


def unmatched_qbo_item_product(products: Entries, product_types: Entries | None = None) -> dict[str, Any]:
    """The source product a QBO item nobody mapped becomes: the first active service (the source's
    ``products`` list, whose ``type`` is the product type), else the first active product of a product
    type named as a service (a source whose type codes are ids, such as Rev.io)."""
    for product in products:
        if product.get("type") == UNMATCHED_ITEM_PRODUCT_TYPE and product.get("active", True):
            return product
    service_types = {
        entry["code"] for entry in product_types or [] if UNMATCHED_ITEM_PRODUCT_TYPE in entry["name"].lower()
    }
    for product in products:
        if product.get("type") in service_types and product.get("active", True):
            return product
    raise StepFailed("the source has no active service product to stand for unmatched QBO items")


def new_customer_bill_profile(profiles: Entries) -> str:
    """The bill profile for customers created from QBO: the e-mailed monthly one, by name."""
    for profile in profiles:
        name = profile["name"].lower()
        if all(word in name for word in NEW_CUSTOMER_BILL_PROFILE_WORDS) and profile.get("active", True):
            return str(profile["code"])
    raise StepFailed("the source has no active e-mailed monthly bill profile for customers created in QBO")


def configured_settings(
    current: dict[str, Any],
    qbo: QboLists,
    source_lists: dict[str, Entries],
    fallback_product: dict[str, Any],
) -> dict[str, Any]:
    """The settings document with the seed's choices applied to what the API returned.

    Both QBO → source flows are on: customers created in QBO get the seed's bill profile, and payments
    entered in QBO against synced invoices are recorded with the first source payment method when
    their QBO method maps to none.
    """
    bill_profile = new_customer_bill_profile(source_lists["bill-profiles"])
    if not source_lists["payment-methods"]:
        raise StepFailed("the source has no payment method for payments entered in QBO")
    settings = dict(current)
    settings["sync"] = {**current["sync"], "qbo_to_source_customers": True, "qbo_to_source_payments": True}
    settings["prefixes"] = {name: {"enabled": True, "value": value} for name, value in PREFIXES.items()}
    settings["qbo_defaults"] = {
        "invoice_tax_code_id": qbo.id_of("tax-codes", INVOICE_TAX_CODE),
        "invoice_class_id": qbo.id_of("classes", INVOICE_CLASS),
        "unmatched_one_time_item_id": qbo.id_of("items", ONE_TIME_DEFAULT_ITEM),
        "unmatched_recurring_item_id": qbo.id_of("items", RECURRING_DEFAULT_ITEM),
    }
    settings["source_defaults"] = {
        **current["source_defaults"],
        "unmatched_qbo_item_product_id": fallback_product["code"],
        "new_customer_bill_profile_id": bill_profile,
        "qbo_payment_method_code": source_lists["payment-methods"][0]["code"],
    }
    settings["deletion_policy"] = "delete"  # so the demo can show a deletion; paid invoices are voided
    # Going live today: the documents the demo writes are dated today, so they are created in QBO.
    settings["onboarding"] = {**current.get("onboarding", {}), "go_live_date": date.today().isoformat()}
    return settings
