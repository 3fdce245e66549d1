"""One page of source products → QBO items: skip the linked, match by name, create what is mapped.

The item type comes from the product-types mapping and the income account (``IncomeAccountRef``) from
the gl-codes mapping, as frozen for the run. A product either mapping does not cover is skipped with
the reason, so an admin sees what to map before re-running. An item created under a cut or suffixed
name is counted as a warning of the run (the push's ``WarningCode``s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from qbosync.source.models import SourceProduct
from qbosync.store.events import WarningCode
from qbosync.store.onboarding import PlanAction, PlanEntry, json_body
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

    links = []
    to_create: dict[str, SourceProduct] = {}
    creations: list[Creation] = []
    for decision in decide_products(context, tally, pending):
        product = decision.product
        if context.departs_from_plan(decision.entry()):
            tally.skip(product.id, SkipReason.PLAN_CHANGED, "changed since the plan this run follows")
        elif decision.action is PlanAction.MATCH and decision.match is not None:
            origin: Literal["qbosync", "matched"] = (
                "qbosync" if created_during_run(decision.match, config.run_started_at) else "matched"
            )
            links.append(
                new_link(
                    context.tenant_id,
                    ITEM,
                    product.id,
                    product.version,
                    decision.match,
                    origin,
                    context.clock(),
                )
            )
            tally.count_link(origin)
            if origin == "qbosync":  # an earlier attempt of this run created it: its warnings still count
                warn_of_improvisations(tally, product, decision.match)
        elif decision.action is PlanAction.CREATE and decision.body is not None:
            to_create[product.id] = product
            creations.append(Creation(product.id, product.version, decision.body))
        else:
            tally.skip(product.id, SkipReason(decision.code), decision.reason)
    if links:
        context.links.put_many(links)
    settle_linked(context.ledger, context.tenant_id, ITEM, linked + [link.source_id for link in links])
    _create(context, tally, to_create, creations)
    return tally


@dataclass(frozen=True)
class ProductDecision:
    """What a run does with one unlinked source product, and why (the dry run's plan entry)."""

    product: SourceProduct
    action: PlanAction
    code: str
    reason: str
    match: dict[str, Any] | None = None
    body: dict[str, Any] | None = None

    def entry(self) -> PlanEntry:
        """This decision as a dry run's plan records it."""
        return PlanEntry(
            entity=ITEM,
            source_id=self.product.id,
            source_version=self.product.version,
            action=self.action,
            reason_code=self.code,
            reason=self.reason,
            qbo_id=str(self.match["Id"]) if self.match is not None else None,
            qbo_body=json_body(self.body),
        )


def decide_products(
    context: PageContext, tally: Tally, pending: list[SourceProduct]
) -> list[ProductDecision]:
    """Match by name, create what the mappings cover, skip the rest: what the real run does and what a
    dry run plans (QBO queries counted in ``tally``; nothing written)."""
    config = context.config
    names = [qbo_item_name(product.name) for product in pending]
    if config.settings.name_collision_policy == "suffix":
        names += [suffixed_item_name(product.name) for product in pending]
    by_name: dict[str, dict[str, Any]] = {}
    for row in query_in(context.qbo, tally, "Item", "Name", names):
        by_name.setdefault(name_key(str(row.get("Name", ""))), row)

    decisions = []
    for product in pending:
        match = by_name.get(name_key(qbo_item_name(product.name)))
        if match is None and config.settings.name_collision_policy == "suffix":
            match = by_name.get(name_key(suffixed_item_name(product.name)))
        if match is not None:
            decisions.append(
                ProductDecision(product, PlanAction.MATCH, "matched", "a QBO item has its name", match)
            )
            continue
        problem = find_mapping_problem(product, config.product_types, config.gl_codes)
        if problem is not None:
            code = SkipReason.for_mapping_gap(problem.gap).value
            decisions.append(ProductDecision(product, PlanAction.SKIP, code, problem.message))
            continue
        body = item_body(
            product,
            config.product_types[product.product_type],
            config.gl_codes[str(product.gl_code)],
            qbo_item_name(product.name),
        )
        decisions.append(
            ProductDecision(product, PlanAction.CREATE, "no_match", "no QBO item has its name", body=body)
        )
    return decisions


def _create(
    context: PageContext, tally: Tally, products: dict[str, SourceProduct], creations: list[Creation]
) -> None:
    if not creations:
        return
    config = context.config

    def record(created: list[tuple[Creation, dict[str, Any]]]) -> None:
        context.record_created_links(ITEM, created)
        for creation, row in created:
            warn_of_improvisations(tally, products[creation.source_id], row)

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


def warn_of_improvisations(tally: Tally, product: SourceProduct, created: Mapping[str, Any]) -> None:
    """Where the QBO item this run created differs from the source product: a name cut to QBO's rules
    (100 characters, no ``:``), a suffixed name (QBO had the name already). The push's warnings."""
    qbo_name = str(created.get("Name", ""))
    fitted = qbo_item_name(product.name)
    if fitted != product.name:
        tally.warn(
            product.id,
            WarningCode.NAME_TRUNCATED,
            f"product {product.id}: {product.name!r} is {fitted!r} in QBO (QBO item names hold 100"
            " characters and no ':')",
        )
    if name_key(qbo_name) == name_key(suffixed_item_name(product.name)):
        tally.warn(
            product.id,
            WarningCode.NAME_SUFFIXED,
            f"product {product.id}: QBO has an item named {fitted!r} already (perhaps inactive), so it"
            f" is {qbo_name!r} in QBO",
        )
