"""One page of source products → QBO items: skip the linked, match by name, create what is mapped.

The item type comes from the product-types mapping and the income account (``IncomeAccountRef``) from
the gl-codes mapping, as frozen for the run. A product either mapping does not cover is skipped with
the reason, so an admin sees what to map before re-running.
"""

from __future__ import annotations

from typing import Any, Literal

from qbosync.source.models import SourceProduct
from qbosync.sync.bulk.common import (
    BatchLedger,
    Creation,
    Tally,
    create_with_name_policy,
    created_during_run,
    noted_link,
    query_in,
    records_to_sync,
    settle_linked,
)
from qbosync.sync.bulk.models import PageDescriptor
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.records.items import find_mapping_problem, item_body
from qbosync.sync.records.links import ITEM, new_link
from qbosync.sync.records.names import name_key, qbo_item_name, suffixed_item_name


def sync_product_page(context: PageContext, page: PageDescriptor) -> Tally:
    """Sync one page of source products into QBO items; links are recorded before this returns."""
    tally = Tally()
    config = context.config
    listing = context.source.list_products(page.cursor, page.limit)
    linked: list[str] = []
    pending = records_to_sync(
        listing.items,
        tally,
        lambda source_id: noted_link(context.links.get(context.tenant_id, ITEM, source_id), linked),
        config.run_started_at,
    )
    if not pending:
        settle_linked(context.ledger, context.tenant_id, ITEM, linked)
        return tally

    names = [qbo_item_name(product.name) for product in pending]
    if config.settings.name_collision_policy == "suffix":
        names += [suffixed_item_name(product.name) for product in pending]
    by_name: dict[str, dict[str, Any]] = {}
    for row in query_in(context.qbo, tally, "Item", "Name", names):
        by_name.setdefault(name_key(str(row.get("Name", ""))), row)

    links = []
    to_create: dict[str, SourceProduct] = {}
    creations: list[Creation] = []
    for product in pending:
        match = by_name.get(name_key(qbo_item_name(product.name)))
        if match is None and config.settings.name_collision_policy == "suffix":
            match = by_name.get(name_key(suffixed_item_name(product.name)))
        if match is not None:
            origin: Literal["qbosync", "matched"] = (
                "qbosync" if created_during_run(match, config.run_started_at) else "matched"
            )
            links.append(
                new_link(
                    context.tenant_id,
                    ITEM,
                    product.id,
                    product.version,
                    match,
                    origin,
                    context.clock(),
                )
            )
            tally.count_link(origin)
            continue
        problem = find_mapping_problem(product, config.product_types, config.gl_codes)
        if problem is not None:
            tally.skip(product.id, SkipReason.for_mapping_gap(problem.gap), problem.message)
            continue
        to_create[product.id] = product
        creations.append(
            Creation(
                product.id,
                product.version,
                item_body(
                    product,
                    config.product_types[product.product_type],
                    config.gl_codes[str(product.gl_code)],
                    qbo_item_name(product.name),
                ),
            )
        )
    if links:
        context.links.put_many(links)
    settle_linked(context.ledger, context.tenant_id, ITEM, linked + [link.source_id for link in links])
    _create(context, tally, to_create, creations)
    return tally


def _create(
    context: PageContext, tally: Tally, products: dict[str, SourceProduct], creations: list[Creation]
) -> None:
    if not creations:
        return
    config = context.config

    def record(created: list[tuple[Creation, dict[str, Any]]]) -> None:
        context.record_created_links(ITEM, created)

    def renamed(creation: Creation) -> Creation:
        product = products[creation.source_id]
        return Creation(
            creation.source_id,
            creation.source_version,
            {**creation.body, "Name": suffixed_item_name(product.name)},
        )

    create_with_name_policy(
        context.qbo,
        tally,
        tenant_id=context.tenant_id,
        entity="Item",
        creations=creations,
        batch_size=context.batch_size,
        on_created=record,
        writes=BatchLedger(context.ledger, context.clock),
        policy=config.settings.name_collision_policy,
        renamed=renamed,
        name_taken="name conflict: another QBO item (perhaps inactive) uses this name",
        both_taken="name conflict: the item name and its suffixed form are both taken",
    )
