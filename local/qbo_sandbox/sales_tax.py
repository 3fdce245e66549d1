"""Automated Sales Tax (AST) as an AST company shows it to the API (qbo-api.md §10).

Intuit's blog posts of 2017-12-11, 2018-03-28 and 2018-05-11 (the AST FAQ) give the rules: tax comes from
the ship-to address, else the company address; a transaction has one `TxnTaxDetail.TxnTaxCodeRef`, which
AST picks; lines carry only TAX or NON, and since 2018-08-10 a line without a tax code counts as TAX; an
explicit tax amount in the request is honoured and prorated across the rates of the code AST picks.

Intuit's engine and its rates are not public (and Intuit's own sandbox companies do not run it), so the
sandbox uses a small, fixed table of combined rates per state, each made of a state and a local component.
Rounding rule chosen here: each component's tax is rounded half-up to the cent on the taxable total, and
`TotalTax` is the sum of the rounded components (so `TotalTax` always equals the sum of its `TaxLine`s; a
source that rounds the combined rate once can differ by a cent, as quickbooks-ruby#547 reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from local.qbo_sandbox.currency import to_cent
from local.qbo_sandbox.entities import number_out

# state -> (state component %, local component %); states not listed charge no tax (rate 0).
AST_RATES: dict[str, tuple[Decimal, Decimal]] = {
    "CA": (Decimal("7.25"), Decimal("1.5")),
    "NY": (Decimal("4"), Decimal("4.875")),
    "TX": (Decimal("6.25"), Decimal("2")),
    "WA": (Decimal("6.5"), Decimal("3.85")),
    "FL": (Decimal("6"), Decimal("1")),
    "IL": (Decimal("6.25"), Decimal("4")),
}
NO_TAX_STATE = "--"


@dataclass(frozen=True)
class TaxComponent:
    rate_id: str
    name: str
    percent: Decimal


@dataclass(frozen=True)
class AstTaxCode:
    """The tax code AST picks for one state, with its rate components."""

    code_id: str
    name: str
    components: tuple[TaxComponent, ...]


def ast_code_name(state: str) -> str:
    return "AST no tax" if state == NO_TAX_STATE else f"AST {state}"


def tax_detail(
    code: AstTaxCode, taxable: Decimal, requested_total: Decimal | None
) -> tuple[Decimal, dict[str, Any]]:
    """The TotalTax and `TxnTaxDetail` of a transaction: computed, or the requested total prorated."""
    if requested_total is None:
        amounts = [to_cent(taxable * part.percent / 100) for part in code.components]
    else:
        amounts = prorate(requested_total, [part.percent for part in code.components])
    total = sum(amounts, Decimal(0))
    lines = [
        {
            "Amount": number_out(amount),
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": part.rate_id, "name": part.name},
                "PercentBased": True,
                "TaxPercent": number_out(part.percent),
                "NetAmountTaxable": number_out(taxable),
            },
        }
        for part, amount in zip(code.components, amounts, strict=True)
    ]
    detail = {
        "TxnTaxCodeRef": {"value": code.code_id, "name": code.name},
        "TotalTax": number_out(total),
        "TaxLine": lines,
    }
    return total, detail


def prorate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` in proportion to `weights`, to the cent, the last share taking the rounding remainder."""
    if not weights:
        return []
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        return [total] + [Decimal("0.00")] * (len(weights) - 1)
    shares = [to_cent(total * weight / weight_sum) for weight in weights[:-1]]
    return [*shares, to_cent(total) - sum(shares, Decimal(0))]
