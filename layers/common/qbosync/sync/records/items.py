"""A source product as a QBO item: its body, whether the mappings allow creating it, and the
unmatched-item rule's link key (QBO items linked to the default source product)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from qbosync.source.models import SourceProduct

CREATABLE_ITEM_TYPES = frozenset({"Service", "NonInventory"})
ITEM_TYPES_FOR_PRODUCTS = frozenset({"Service", "NonInventory", "Inventory"})
"""QBO item types that stand for a source product (the unmatched-item rule links these)."""


def item_body(product: SourceProduct, item_type: str, income_account_id: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": name,
        "Type": item_type,
        "IncomeAccountRef": {"value": income_account_id},
        "UnitPrice": product.unit_price,
    }
    if product.description:
        body["Description"] = product.description[:4000]
    if product.sku:
        body["Sku"] = product.sku[:100]
    return body


class ItemMappingGap(StrEnum):
    """Why the mappings do not let a source product become a QBO item."""

    NO_PRODUCT_TYPE_MAPPING = "no_product_type_mapping"
    ITEM_TYPE_NEEDS_INVENTORY = "item_type_needs_inventory"
    NO_GL_CODE_ON_PRODUCT = "no_gl_code_on_product"
    NO_GL_CODE_MAPPING = "no_gl_code_mapping"


@dataclass(frozen=True)
class MappingProblem:
    gap: ItemMappingGap
    message: str


def find_mapping_problem(
    product: SourceProduct, product_types: Mapping[str, str], gl_codes: Mapping[str, str]
) -> MappingProblem | None:
    """Why this product cannot be created in QBO with these mappings (code and message), or None."""
    item_type = product_types.get(product.product_type)
    if item_type is None:
        return MappingProblem(
            ItemMappingGap.NO_PRODUCT_TYPE_MAPPING, f"no product-types mapping for {product.product_type!r}"
        )
    if item_type not in CREATABLE_ITEM_TYPES:
        return MappingProblem(
            ItemMappingGap.ITEM_TYPE_NEEDS_INVENTORY,
            f"product type {product.product_type!r} maps to {item_type}, which needs inventory accounts",
        )
    if not product.gl_code:
        return MappingProblem(
            ItemMappingGap.NO_GL_CODE_ON_PRODUCT,
            "the product has no GL code, so it has no QBO income account",
        )
    if product.gl_code not in gl_codes:
        message = f"no gl-codes mapping for {product.gl_code!r}"
        return MappingProblem(ItemMappingGap.NO_GL_CODE_MAPPING, message)
    return None


def mapping_problem(
    product: SourceProduct, product_types: Mapping[str, str], gl_codes: Mapping[str, str]
) -> str | None:
    """Why this product cannot be created in QBO with these mappings, or None if it can."""
    problem = find_mapping_problem(product, product_types, gl_codes)
    return None if problem is None else problem.message


def unmatched_item_source_key(default_product_id: str, qbo_item_id: str) -> str:
    """The link key of a QBO item that follows the unmatched-item rule.

    Links are one per source record, and many QBO items share the one default product, so the key
    names both; the QBO side is found through the link's qbo_id as usual.
    """
    return f"{default_product_id}~qbo-item-{qbo_item_id}"
