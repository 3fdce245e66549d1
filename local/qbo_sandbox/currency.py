"""Multi-currency as Intuit documents it (manage-multiple-currencies page; qbo-api.md §10).

A company has one home currency, fixed for its life; multi-currency is switched on in QBO's UI and can
never be switched off. Each customer (and vendor) has one currency, set when it is created. A sales form
or payment is in its customer's currency; `CurrencyRef.value` is the ISO code and `ExchangeRate` is the
number of home-currency units one foreign unit is worth. The home-currency amounts (`HomeTotalAmt`,
`HomeBalance`) are the document's amounts times that rate, rounded to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from local.qbo_sandbox.always_sent import CURRENCY_NAMES
from local.qbo_sandbox.entities import business_fault
from local.qbo_sandbox.faultbody import QboFaultError

CENT = Decimal("0.01")
# Transactions priced in a currency, and those of them that carry an open balance.
CURRENCY_TRANSACTIONS = frozenset({"Invoice", "CreditMemo", "SalesReceipt", "Estimate", "Payment"})
BALANCE_TRANSACTIONS = frozenset({"Invoice", "CreditMemo", "SalesReceipt"})


def to_cent(amount: Decimal) -> Decimal:
    """Half-up to the cent, the rounding the sandbox uses for every derived amount."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def unknown_currency(code: str, element: str) -> QboFaultError:
    return QboFaultError(
        400,
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : Currency {code} is not a currency QuickBooks supports",
        element=element,
    )


def multi_currency_off(code: str, home: str, element: str) -> QboFaultError:
    """A foreign currency in a company that has not switched multi-currency on."""
    return business_fault(
        f"Multicurrency is not enabled for this company: {code} can not be used; "
        f"every record is in the home currency {home}.",
        element,
    )


def currency_mismatch(code: str, customer_code: str) -> QboFaultError:
    """A transaction in a currency other than its customer's."""
    return business_fault(
        f"The currency of the transaction ({code}) must be the currency of the customer ({customer_code}).",
        "CurrencyRef",
    )


def currency_change(code: str, was: str) -> QboFaultError:
    """A name's currency is set once, when it is created."""
    return business_fault(
        f"The currency can not be changed once it is set (it is {was}, not {code}).", "CurrencyRef"
    )


def checked_code(code: str, element: str) -> str:
    if code not in CURRENCY_NAMES:
        raise unknown_currency(code, element)
    return code


@dataclass
class ExchangeRateTable:
    """The company's rates (home units per one foreign unit) by currency and as-of date."""

    rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def set(self, code: str, as_of: date, rate: Decimal) -> None:
        self.rates.setdefault(code, {})[as_of.isoformat()] = rate

    def find(self, code: str, as_of: date) -> tuple[date, Decimal] | None:
        """The rate in force on `as_of`: the latest one set on or before that date."""
        known = [day for day in self.rates.get(code, {}) if day <= as_of.isoformat()]
        if not known:
            return None
        day = max(known)
        return date.fromisoformat(day), self.rates[code][day]

    def to_snapshot(self) -> dict[str, dict[str, str]]:
        return {code: {day: str(rate) for day, rate in by_day.items()} for code, by_day in self.rates.items()}

    @classmethod
    def from_snapshot(cls, data: dict[str, dict[str, str]]) -> ExchangeRateTable:
        return cls(
            {code: {day: Decimal(rate) for day, rate in by_day.items()} for code, by_day in data.items()}
        )


def rate_of(value: Any, element: str = "ExchangeRate") -> Decimal:
    """An exchange rate from a request: a positive number."""
    try:
        rate = Decimal(str(value))
    except ArithmeticError:
        rate = Decimal(0)
    if not rate.is_finite() or rate <= 0:
        raise business_fault(f"ExchangeRate must be a positive number, not {value}.", element)
    return rate
