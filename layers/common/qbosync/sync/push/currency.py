"""A document's currency in QBO: refused visibly when QBO cannot take it, never booked as home currency.

Intuit's rules (``qbo-api.md`` §10): multi-currency is a company preference switched on in QBO's UI and
never off; each customer has one currency, chosen when it is created; ``CurrencyRef.value`` is the ISO
code and ``ExchangeRate`` is home units per one foreign unit; a payment sent without a rate is booked at 1.

The rate qbosync sends for a foreign document: the source's ``exchange_rate`` when it has one, else
QBO's own rate for the document's date (``GET /exchangerate``). QBO answers a rate of exactly 1 when it
has none for that currency, so 1 for a foreign currency is refused as unknown rather than booked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from qbosync.qbo.client import QboClient
from qbosync.store.events import ReasonCode
from qbosync.sync.push.refusals import Refused


@dataclass(frozen=True)
class CompanyBooks:
    """What QBO's Preferences say about money: the home currency, multi-currency, Automated Sales Tax."""

    home: str
    multi_currency: bool
    automated_sales_tax: bool

    @classmethod
    def of(cls, preferences: dict[str, Any]) -> CompanyBooks:
        prefs = preferences.get("CurrencyPrefs") or {}
        home = (prefs.get("HomeCurrency") or {}).get("value") or "USD"
        return cls(
            home=str(home),
            multi_currency=prefs.get("MultiCurrencyEnabled") is True,
            automated_sales_tax=(preferences.get("TaxPrefs") or {}).get("PartnerTaxEnabled") is True,
        )


@dataclass(frozen=True)
class DocumentCurrency:
    """The currency fields one QBO transaction gets (none in a single-currency company)."""

    code: str
    rate: Decimal | None

    def fields(self) -> dict[str, Any]:
        """``CurrencyRef`` and ``ExchangeRate`` for the body; empty in a single-currency company."""
        if self.rate is None:
            return {}
        return {"CurrencyRef": {"value": self.code}, "ExchangeRate": self.rate}


class CurrencyRules:
    """One tenant's currency decisions (QBO's Preferences, customer currencies and rates read once; a
    customer whose link keeps its currency is never read)."""

    def __init__(self, qbo: QboClient) -> None:
        self._qbo = qbo
        self._company: CompanyBooks | None = None
        self._rates: dict[tuple[str, date], Decimal] = {}
        self._customer_currency: dict[str, str] = {}

    def use(self, qbo: QboClient) -> None:
        """Read through this batch's client (a reconnection gives the tenant a new one)."""
        self._qbo = qbo

    @property
    def company(self) -> CompanyBooks:
        if self._company is None:
            self._company = CompanyBooks.of(self._qbo.preferences())
        return self._company

    def new_customer_fields(self, currency: str) -> dict[str, Any]:
        """``CurrencyRef`` for a customer created for a document: the customer takes its currency."""
        company = self.company
        if not company.multi_currency:
            return {}
        return {"CurrencyRef": {"value": currency}}

    def for_document(  # noqa: PLR0917 - a document's currency facts and its customer's
        self,
        what: str,
        currency: str,
        source_rate: Decimal | None,
        on: date,
        customer_id: str,
        customer_currency: str | None = None,
    ) -> DocumentCurrency:
        """The currency and rate of a document, or ``Refused`` with the reason QBO cannot take it.
        ``customer_currency``: the customer's currency from its link; None (a link recorded before
        links kept it) reads the customer from QBO once."""
        company = self.company
        if currency != company.home and not company.multi_currency:
            raise Refused(
                ReasonCode.CURRENCY_NOT_ENABLED,
                f"{what} is in {currency}, but QBO's home currency is {company.home} and multi-currency"
                " is off: switch multi-currency on in QBO, then retry (it is never booked as"
                f" {company.home})",
            )
        if not company.multi_currency:
            return DocumentCurrency(currency, None)
        customer_currency = customer_currency or self._customer(customer_id)
        if customer_currency != currency:
            raise Refused(
                ReasonCode.CURRENCY_MISMATCH,
                f"{what} is in {currency}, but its QBO customer {customer_id} is in {customer_currency}"
                " (QBO keeps one currency per customer)",
            )
        if currency == company.home:
            return DocumentCurrency(currency, Decimal(1))
        return DocumentCurrency(currency, source_rate or self._qbo_rate(what, currency, on))

    def _customer(self, customer_id: str) -> str:
        if customer_id not in self._customer_currency:
            customer = self._qbo.read("Customer", customer_id)
            code = (customer.get("CurrencyRef") or {}).get("value") or self.company.home
            self._customer_currency[customer_id] = str(code)
        return self._customer_currency[customer_id]

    def _qbo_rate(self, what: str, currency: str, on: date) -> Decimal:
        key = (currency, on)
        if key not in self._rates:
            rate = Decimal(str(self._qbo.exchange_rate(currency, on).get("Rate", "1")))
            if rate <= 0 or rate == 1:
                raise Refused(
                    ReasonCode.EXCHANGE_RATE_UNKNOWN,
                    f"{what} is in {currency} without an exchange rate from the source, and QBO has no"
                    f" {currency} rate for {on.isoformat()}: add the rate in QBO or send it from the source",
                )
            self._rates[key] = rate
        return self._rates[key]
