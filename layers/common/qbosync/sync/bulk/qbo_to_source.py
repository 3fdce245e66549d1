"""QBO → source: QBO customers and items that no link names yet, after the source pages are done.

Customers are created in the source with the configured bill profile (when that flow is on), under an
idempotency key per QBO id, so a retry gets the same source customer back. Items follow the
unmatched-item rule: each is linked to the default source product.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbosync.qbo.client import request_id_for
from qbosync.source.models import NewSourceCustomer
from qbosync.store.links import Link
from qbosync.sync.bulk.common import Tally, new_link
from qbosync.sync.bulk.models import CUSTOMER_LINK_ENTITY, ITEM_LINK_ENTITY
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.customer_fields import source_values_of

LINK_PAGE = 500
ITEM_TYPES_FOR_PRODUCTS = frozenset({"Service", "NonInventory", "Inventory"})


def unmatched_item_source_key(default_product_id: str, qbo_item_id: str) -> str:
    """The link key of a QBO item that follows the unmatched-item rule.

    Links are one per source record, and many QBO items share the one default product, so the key
    names both; the QBO side is found through the link's qbo_id as usual.
    """
    return f"{default_product_id}~qbo-item-{qbo_item_id}"


def _links_by_qbo_id(context: PageContext, entity: str) -> dict[str, Link]:
    found: dict[str, Link] = {}
    cursor: str | None = None
    while True:
        page = context.links.list(context.tenant_id, entity, limit=LINK_PAGE, cursor=cursor)
        for link in page.items:
            found.setdefault(link.qbo_id, link)
        cursor = page.cursor
        if cursor is None:
            return found


def _made_by_this_run(tally: Tally, link: Link, context: PageContext) -> None:
    if link.origin == "qbo" and link.updated_at >= context.config.run_started_at:
        tally.count_link("qbo")


def new_source_customer(row: Mapping[str, Any], bill_profile_id: str) -> NewSourceCustomer:
    """The source customer for a QBO customer: its names, contact details and active flag, read as
    ``source_values_of`` reads them for later edits, with the chosen bill profile. The billing address
    is not carried at creation."""
    values = {name: value for name, value in source_values_of(row).items() if name != "billing_address"}
    return NewSourceCustomer(**values, bill_profile_id=bill_profile_id)


def customers_to_source(context: PageContext) -> Tally | None:
    """Create QBO customers without a link in the source; None when the flow is off or unconfigured."""
    settings = context.config.settings
    profile = settings.source_defaults.new_customer_bill_profile_id
    if not (settings.sync.customers and settings.sync.qbo_to_source_customers and profile):
        return None
    tally = Tally()
    linked = _links_by_qbo_id(context, CUSTOMER_LINK_ENTITY)
    for row in context.qbo.iter_query("Customer"):
        qbo_id = str(row["Id"])
        existing = linked.get(qbo_id)
        if existing is not None:
            _made_by_this_run(tally, existing, context)
            continue
        key = request_id_for(context.tenant_id, "Customer", qbo_id, "", "create-in-source")
        created = context.source.create_customer(new_source_customer(row, profile), key)
        context.links.put_many(
            [
                new_link(
                    context.tenant_id,
                    CUSTOMER_LINK_ENTITY,
                    created.id,
                    created.version,
                    row,
                    "qbo",
                    context.clock(),
                )
            ]
        )
        tally.count_link("qbo")
    return tally


def items_to_default_product(context: PageContext) -> Tally | None:
    """Link QBO items without a link to the default source product; None when there is none."""
    settings = context.config.settings
    default_product = settings.source_defaults.unmatched_qbo_item_product_id
    if not (settings.sync.products and default_product):
        return None
    tally = Tally()
    linked = _links_by_qbo_id(context, ITEM_LINK_ENTITY)
    new_links = []
    for row in context.qbo.iter_query("Item"):
        if row.get("Type") not in ITEM_TYPES_FOR_PRODUCTS:
            continue
        qbo_id = str(row["Id"])
        existing = linked.get(qbo_id)
        if existing is not None:
            if (
                existing.origin == "matched"
                and existing.source_id.startswith(f"{default_product}~")
                and existing.updated_at >= context.config.run_started_at
            ):
                tally.count_link("matched")
            continue
        new_links.append(
            new_link(
                context.tenant_id,
                ITEM_LINK_ENTITY,
                unmatched_item_source_key(default_product, qbo_id),
                1,
                row,
                "matched",
                context.clock(),
            )
        )
        tally.count_link("matched")
    if new_links:
        context.links.put_many(new_links)
    return tally
