"""The emulator's data: Rev.io-shaped records per collection, seeded deterministically, with counters.

Records are plain dicts in Rev.io's field names (``customer_id``, ``bill_id``...). Lists answer newest
first, so a record created while a client walks the pages shifts every later page by one: the case the
adapter's de-duplication exists for. Every change appends a notification for the webhook outbox.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

EMULATOR_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

COLLECTIONS: dict[str, str] = {
    "Customers": "customer_id",
    "Products": "product_id",
    "Bills": "bill_id",
    "Charges": "charge_id",
    "Payments": "payment_id",
    "Credits": "credit_id",
    "BillProfiles": "bill_profile_id",
    "ProductTypes": "product_type_id",
    "LedgerCodes": "ledger_code_id",
    "TaxClasses": "tax_class_id",
}
EVENT_RESOURCE = {
    "Customers": "customer",
    "Products": "product",
    "Bills": "bill",
    "Payments": "payment",
    "Credits": "credit",
}
_FIRST_ID = {
    "Customers": 1001,
    "Products": 2001,
    "Bills": 5001,
    "Charges": 7001,
    "Payments": 8001,
    "Credits": 9001,
}
_COMPANIES = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Wingtip")
_SUFFIXES = ("Traders", "Networks", "Holdings", "Telecom", "Systems", "Partners")
_CITIES = (
    ("Fresno", "CA", "93650"),
    ("Austin", "TX", "78701"),
    ("Albany", "NY", "12207"),
    ("Boise", "ID", "83702"),
)


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: str | None
    path_contains: str | None


@dataclass
class Notification:
    event_id: int
    event_type: str
    object_id: int | None
    created_date: str


@dataclass
class EmulatorState:
    """Every record of one Rev.io client, the faults to inject, and what was asked of it."""

    clock_start: datetime = EMULATOR_EPOCH
    records: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in COLLECTIONS}
    )
    next_ids: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    notifications: list[Notification] = field(default_factory=list)
    receivers: dict[int, dict[str, Any]] = field(default_factory=dict)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    ticks: int = 0

    def now(self) -> str:
        """A deterministic clock: one second later per change, so seeded data and tests repeat exactly."""
        self.ticks += 1
        return (self.clock_start + timedelta(seconds=self.ticks)).isoformat().replace("+00:00", "Z")

    def create(self, collection: str, fields: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        id_field = COLLECTIONS[collection]
        new_id = self.next_ids.get(collection, _FIRST_ID.get(collection, 1))
        self.next_ids[collection] = new_id + 1
        record = {**fields, id_field: new_id}
        record.setdefault("created_date", self.now())
        self.records[collection][new_id] = record
        if notify:
            self.notify(collection, "created", new_id)
        return record

    def change(
        self, collection: str, record_id: int, fields: dict[str, Any], action: str = "updated"
    ) -> dict[str, Any]:
        record = self.records[collection][record_id]
        record.update(fields)
        self.notify(collection, action, record_id)
        return record

    def notify(self, collection: str, action: str, object_id: int) -> None:
        resource = EVENT_RESOURCE.get(collection)
        if resource is None:
            return
        self.notifications.append(
            Notification(len(self.notifications) + 1, f"{resource} {action}", object_id, self.now())
        )

    def listing(self, collection: str, filters: dict[str, str]) -> list[dict[str, Any]]:
        """Matching records, newest first (Rev.io's order is not documented; see docs/revio.md)."""
        rows = [row for row in self.records[collection].values() if _matches(row, filters)]
        return sorted(rows, key=lambda row: row[COLLECTIONS[collection]], reverse=True)

    def take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and (fault.path_contains is None or fault.path_contains in path):
                fault.remaining -= 1
                return fault
        return None


def _matches(row: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(str(row.get(name)) == value for name, value in filters.items())


def seed(
    state: EmulatorState, *, customers: int = 20, products: int = 12, bills: int = 8, seed_value: int = 7
) -> None:
    """Reference data, then customers, products, bills with charges, payments on about half the bills,
    one credit and one write-off; all without notifications (they existed before anyone listened)."""
    rng = random.Random(seed_value)
    profiles = [
        state.create("BillProfiles", {"description": name, "active": True}, notify=False)
        for name in ("Monthly email statement", "Paper statement")
    ]
    types = [
        state.create("ProductTypes", {"description": name, "active": True}, notify=False)
        for name in ("Managed services", "Voice lines", "Hardware")
    ]
    ledgers = [
        state.create("LedgerCodes", {"code": code, "description": name, "active": True}, notify=False)
        for code, name in (
            ("4000", "Managed services revenue"),
            ("4100", "Telecom revenue"),
            ("4500", "Hardware sales"),
        )
    ]
    taxes = [
        state.create("TaxClasses", {"description": name, "rate": rate, "active": True}, notify=False)
        for name, rate in (("Taxable", "8.25"), ("Exempt", "0"))
    ]
    for index in range(customers):
        city, region, postal = _CITIES[index % len(_CITIES)]
        company = f"{_COMPANIES[index % len(_COMPANIES)]} {_SUFFIXES[index % len(_SUFFIXES)]} {index + 1}"
        state.create(
            "Customers",
            {
                "account_number": f"ACCT-{index + 1:04d}",
                "bill_profile_id": profiles[index % 2]["bill_profile_id"],
                "status": "ACTIVE",
                "email": f"ap{index + 1}@customer.example",
                "phone": f"+1-555-{index + 1:04d}",
                "billing_address": {
                    "company_name": company,
                    "first_name": "Pat",
                    "last_name": f"Lee{index + 1}",
                    "line_1": f"{100 + index} Main St",
                    "line_2": None,
                    "city": city,
                    "state_or_province": region,
                    "postal_code": postal,
                    "country_code": "US",
                },
                "finance": {"balance": "0.00"},
            },
            notify=False,
        )
    for index in range(products):
        state.create(
            "Products",
            {
                "description": f"Service plan {index + 1}",
                "code_1": f"SKU-{index + 1:03d}",
                "code_2": None,
                "product_type_id": types[index % len(types)]["product_type_id"],
                "ledger_code_id": ledgers[index % len(ledgers)]["ledger_code_id"],
                "tax_class_id": taxes[index % len(taxes)]["tax_class_id"],
                "rate": str(Decimal(rng.randrange(1000, 20000)) / 100),
                "active": True,
                "currency_code": "USD",
            },
            notify=False,
        )
    customer_ids = sorted(state.records["Customers"])
    product_ids = sorted(state.records["Products"])
    for index in range(bills):
        customer_id = customer_ids[index % len(customer_ids)]
        bill = create_bill(
            state,
            customer_id,
            [(rng.choice(product_ids), rng.randrange(1, 4)) for _ in range(2)],
            notify=False,
        )
        if index % 2 == 0:
            state.create(
                "Payments",
                {
                    "customer_id": customer_id,
                    "amount": bill["total"],
                    "reference_number": f"CHK-{index + 1:04d}",
                    "payment_type": "CHECK",
                    "bill_id": bill["bill_id"],
                    "status": "POSTED",
                },
                notify=False,
            )
            bill["amount_due"] = "0.00"
    first_open = next(b for b in state.records["Bills"].values() if b["amount_due"] != "0.00")
    for credit_type in ("CREDIT", "WRITE_OFF"):
        state.create(
            "Credits",
            {
                "customer_id": first_open["customer_id"],
                "amount": "5.00",
                "credit_type": credit_type,
                "bill_id": first_open["bill_id"],
                "description": "Service credit" if credit_type == "CREDIT" else "Balance written off",
                "status": "APPLIED",
            },
            notify=False,
        )


def replace_bill_lines(state: EmulatorState, bill_id: int, lines: list[tuple[int, int]]) -> dict[str, Any]:
    """Someone edits a bill's charges in Rev.io: the old charges go, the new ones are priced, the total and
    amount due follow (less what payments on the bill already settled), one "bill updated" notification."""
    bill = state.records["Bills"][bill_id]
    for charge_id in [
        cid for cid, charge in state.records["Charges"].items() if charge["bill_id"] == bill_id
    ]:
        del state.records["Charges"][charge_id]
    paid = Decimal(bill["total"]) - Decimal(bill["amount_due"])
    total = _add_charges(state, bill, lines)
    return state.change(
        "Bills", bill_id, {"total": str(total), "amount_due": str(max(total - paid, Decimal("0")))}
    )


def _add_charges(state: EmulatorState, bill: dict[str, Any], lines: list[tuple[int, int]]) -> Decimal:
    total = Decimal("0")
    for product_id, quantity in lines:
        product = state.records["Products"][product_id]
        rate = Decimal(str(product["rate"]))
        amount = (rate * quantity).quantize(Decimal("0.01"))
        total += amount
        state.create(
            "Charges",
            {
                "bill_id": bill["bill_id"],
                "customer_id": bill["customer_id"],
                "product_id": product_id,
                "description": product["description"],
                "quantity": quantity,
                "rate": str(rate),
                "amount": str(amount),
                "tax_amount": "0.00",
            },
            notify=False,
        )
    return total


def create_bill(
    state: EmulatorState, customer_id: int, lines: list[tuple[int, int]], *, notify: bool = True
) -> dict[str, Any]:
    """A bill and its charges, priced from the products; totals as Rev.io would show them."""
    bill = state.create(
        "Bills",
        {
            "customer_id": customer_id,
            "amount_due": "0.00",
            "total": "0.00",
            "status": "OPEN",
            "due_date": None,
        },
        notify=False,
    )
    total = _add_charges(state, bill, lines)
    bill.update({"total": str(total), "amount_due": str(total), "due_date": bill["created_date"]})
    if notify:
        state.notify("Bills", "created", bill["bill_id"])
    return bill
