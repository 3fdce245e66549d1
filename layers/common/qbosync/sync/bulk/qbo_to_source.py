"""QBO → source: QBO customers and items that no link names yet, after the source pages are done.

Customers are created in the source with the configured bill profile (when that flow is on), under an
idempotency key per QBO id, so a retry gets the same source customer back. Items follow the
unmatched-item rule: each is linked to the default source product.
"""

from __future__ import annotations

from qbosync.qbo.client import request_id_for
from qbosync.store.links import Link
from qbosync.sync.bulk.common import Tally
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.records.customers import new_source_customer
from qbosync.sync.records.items import ITEM_TYPES_FOR_PRODUCTS, unmatched_item_source_key
from qbosync.sync.records.links import CUSTOMER, ITEM, new_link

LINK_PAGE = 500


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


def customers_to_source(context: PageContext) -> Tally | None:
    """Create QBO customers without a link in the source; None when the flow is off or unconfigured."""
    settings = context.config.settings
    profile = settings.source_defaults.new_customer_bill_profile_id
    if not (settings.sync.customers and settings.sync.qbo_to_source_customers and profile):
        return None
    tally = Tally()
    linked = _links_by_qbo_id(context, CUSTOMER)
    for row in context.qbo.iter_query("Customer"):
        qbo_id = str(row["Id"])
        existing = linked.get(qbo_id)
        if existing is not None:
            _made_by_this_run(tally, existing, context)
            continue
        key = request_id_for(context.tenant_id, "Customer", qbo_id, "", "create-in-source")
        created = context.source.create_customer(
            new_source_customer(row, profile, settings.field_ownership.customers), key
        )
        context.links.put_many(
            [
                new_link(
                    context.tenant_id,
                    CUSTOMER,
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
    linked = _links_by_qbo_id(context, ITEM)
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
                ITEM,
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
