"""The QBO company settings that change what a sync does, shown with the connection.

Kaseya BMS shows them on connect; here they sit next to the prerequisites on
``GET /tenants/{t}/qbo/connection``. All come from CompanyInfo and Preferences (qbo-api.md §CompanyInfo,
§Automated Sales Tax, §Multi-currency), read at most once per cache period per tenant, because the
connection screen is polled while an admin connects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from qbosync.sync.reference import REFERENCE_CACHE_SECONDS, ReferenceCache, ReferenceReader

PLAN_CACHE_KIND = "qbo-plan"


class QboPlanDetails(BaseModel):
    """What the admin should know about the connected company before configuring the sync.

    ``automated_sales_tax`` is on when ``TaxPrefs.PartnerTaxEnabled`` is present at all; it is
    ``automated_sales_tax_set_up`` only when that flag is true (Intuit: false means on, not set up).
    """

    edition: str | None
    multi_currency: bool
    home_currency: str | None
    track_inventory: bool
    account_numbers: bool
    automated_sales_tax: bool
    automated_sales_tax_set_up: bool


def _section(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    return value if isinstance(value, Mapping) else {}


def plan_details(company_info: Mapping[str, Any], preferences: Mapping[str, Any]) -> QboPlanDetails:
    """The plan details from QBO's CompanyInfo and Preferences answers (wrapped or not)."""
    info = _section(company_info, "CompanyInfo") or company_info
    prefs = _section(preferences, "Preferences") or preferences
    name_values = info.get("NameValue") or []
    edition = next(
        (
            str(pair.get("Value"))
            for pair in name_values
            if isinstance(pair, Mapping) and pair.get("Name") == "OfferingSku"
        ),
        None,
    )
    currency = _section(prefs, "CurrencyPrefs")
    tax = _section(prefs, "TaxPrefs")
    home = _section(currency, "HomeCurrency").get("value")
    return QboPlanDetails(
        edition=edition,
        multi_currency=currency.get("MultiCurrencyEnabled") is True,
        home_currency=str(home) if home else None,
        track_inventory=_section(prefs, "ProductAndServicesPrefs").get("QuantityOnHand") is True,
        account_numbers=_section(prefs, "AccountingInfoPrefs").get("UseAccountNumbers") is True,
        automated_sales_tax="PartnerTaxEnabled" in tax,
        automated_sales_tax_set_up=tax.get("PartnerTaxEnabled") is True,
    )


def read_plan_details(
    tenant_id: str,
    reader: Callable[[], ReferenceReader],
    cache: ReferenceCache,
    clock: Callable[[], float],
    *,
    refresh: bool = False,
) -> QboPlanDetails:
    """The connected company's plan details, from the reference cache while it is young; ``reader`` is
    called only on a miss."""
    if not refresh:
        cached = cache.get(tenant_id, PLAN_CACHE_KIND, clock())
        if cached:
            return QboPlanDetails.model_validate(cached[0])
    qbo = reader()
    details = plan_details(qbo.company_info(), qbo.preferences())
    cache.put(tenant_id, PLAN_CACHE_KIND, [details.model_dump()], clock() + REFERENCE_CACHE_SECONDS)
    return details
