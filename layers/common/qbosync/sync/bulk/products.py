"""One page of source products → QBO items: skip the linked, match by SKU then by name, ask an admin
when several QBO items fit, create what is mapped.

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
from qbosync.store.onboarding import (
    Candidate,
    CandidateReason,
    PlanAction,
    PlanEntry,
    SuggestionStatus,
    json_body,
)
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
from qbosync.sync.bulk.models import PageDescriptor, RunConfig
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.records.items import find_mapping_problem, item_body, unmatched_item_source_key
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
        elif decision.action is PlanAction.MATCH:
            match = decision.match or context.qbo.read("Item", str(decision.chosen_qbo_id))
            origin: Literal["qbosync", "matched"] = (
                "qbosync" if created_during_run(match, config.run_started_at) else "matched"
            )
            links.append(
                new_link(context.tenant_id, ITEM, product.id, product.version, match, origin, context.clock())
            )
            tally.count_link(origin)
            if origin == "qbosync":  # an earlier attempt of this run created it: its warnings still count
                warn_of_improvisations(tally, product, match)
        elif decision.action is PlanAction.CREATE and decision.body is not None:
            to_create[product.id] = product
            creations.append(Creation(product.id, product.version, decision.body))
        else:
            tally.skip(product.id, SkipReason(decision.code), decision.reason)
            if decision.action is PlanAction.SUGGESTION:
                context.open_suggestion(ITEM, product.id, product.name, decision.candidates)
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
    candidates: tuple[Candidate, ...] = ()
    chosen_qbo_id: str | None = None
    """The QBO item an admin confirmed (``match`` is its row when the page's queries found it)."""

    def entry(self) -> PlanEntry:
        """This decision as a dry run's plan records it."""
        return PlanEntry(
            entity=ITEM,
            source_id=self.product.id,
            source_version=self.product.version,
            action=self.action,
            reason_code=self.code,
            reason=self.reason,
            qbo_id=str(self.match["Id"]) if self.match is not None else self.chosen_qbo_id,
            qbo_body=json_body(self.body),
            candidates=list(self.candidates),
        )


def decide_products(
    context: PageContext, tally: Tally, pending: list[SourceProduct]
) -> list[ProductDecision]:
    """Follow an admin's decision, else match by SKU, then by name (several fitting QBO items make a
    suggestion for an admin), create what the mappings cover, skip the rest: what the real run does and
    what a dry run plans (QBO queries counted in ``tally``; nothing written)."""
    config = context.config
    items = _QboItems(context, tally, pending)
    decisions = []
    for product in pending:
        decided = _decided(context, product, items)
        if decided is not None:
            decisions.append(decided)
            continue
        by_sku = items.by_sku.get(name_key(product.sku), []) if product.sku else []
        by_name = items.by_name.get(name_key(qbo_item_name(product.name)), [])
        if not by_name and config.settings.name_collision_policy == "suffix":
            by_name = items.by_name.get(name_key(suffixed_item_name(product.name)), [])
        found, what = (by_sku, "SKU") if by_sku else (by_name, "name")
        if len(found) == 1:
            decisions.append(
                ProductDecision(product, PlanAction.MATCH, "matched", f"a QBO item has its {what}", found[0])
            )
            continue
        if found:
            decisions.append(
                ProductDecision(
                    product,
                    PlanAction.SUGGESTION,
                    SkipReason.AMBIGUOUS_MATCH.value,
                    f"ambiguous: {len(found)} QBO items have this {what}; confirm one, or create or skip",
                    candidates=items.candidates(product, found),
                )
            )
            continue
        decisions.append(_create_or_skip(product, config))
    return decisions


def _create_or_skip(product: SourceProduct, config: RunConfig) -> ProductDecision:
    problem = find_mapping_problem(product, config.product_types, config.gl_codes)
    if problem is not None:
        code = SkipReason.for_mapping_gap(problem.gap).value
        return ProductDecision(product, PlanAction.SKIP, code, problem.message)
    body = item_body(
        product,
        config.product_types[product.product_type],
        config.gl_codes[str(product.gl_code)],
        qbo_item_name(product.name),
    )
    return ProductDecision(
        product, PlanAction.CREATE, "no_match", "no QBO item has its SKU or name", body=body
    )


class _QboItems:
    """The QBO items a page could match, by SKU and by name (one ``IN`` query each, more only when the
    values do not fit one URL; none for SKUs when no product of the page has one)."""

    def __init__(self, context: PageContext, tally: Tally, pending: list[SourceProduct]) -> None:
        self._context = context
        names = [qbo_item_name(product.name) for product in pending]
        if context.config.settings.name_collision_policy == "suffix":
            names += [suffixed_item_name(product.name) for product in pending]
        skus = [product.sku for product in pending if product.sku]
        rows = query_in(context.qbo, tally, "Item", "Name", names)
        rows += query_in(context.qbo, tally, "Item", "Sku", skus) if skus else []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        self.by_sku: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            qbo_id = str(row.get("Id"))
            if qbo_id in self.by_id:
                continue
            self.by_id[qbo_id] = row
            self.by_name.setdefault(name_key(str(row.get("Name", ""))), []).append(row)
            if row.get("Sku"):
                self.by_sku.setdefault(name_key(str(row["Sku"])), []).append(row)

    def candidates(self, product: SourceProduct, rows: list[dict[str, Any]]) -> tuple[Candidate, ...]:
        """Why each QBO item is a candidate, strongest first: the income-accounts mapping names it for
        the product's income account (existing mapping); it is linked today only as an unmatched item
        of the default product (link); its SKU; its name."""
        config = self._context.config
        mapped = config.income_accounts.get(product.income_account or "")
        default_product = config.settings.source_defaults.unmatched_qbo_item_product_id
        found = []
        for row in rows:
            qbo_id = str(row.get("Id"))
            reasons = []
            if mapped == qbo_id:
                reasons.append(CandidateReason.EXISTING_MAPPING)
            if default_product and self._linked_to_default(qbo_id, default_product):
                reasons.append(CandidateReason.LINK)
            if product.sku and name_key(str(row.get("Sku") or "")) == name_key(product.sku):
                reasons.append(CandidateReason.EXACT_SKU)
            if name_key(str(row.get("Name", ""))) in (
                name_key(qbo_item_name(product.name)),
                name_key(suffixed_item_name(product.name)),
            ):
                reasons.append(CandidateReason.EXACT_NAME)
            found.append(Candidate(qbo_id=qbo_id, name=str(row.get("Name", "")), reasons=reasons))
        return tuple(found)

    def _linked_to_default(self, qbo_id: str, default_product: str) -> bool:
        context = self._context
        link = context.links.get_by_qbo_id(context.tenant_id, ITEM, qbo_id)
        return link is not None and link.source_id == unmatched_item_source_key(default_product, qbo_id)


def _decided(context: PageContext, product: SourceProduct, items: _QboItems) -> ProductDecision | None:
    """An admin's decision on this product's ambiguous match, remembered across runs."""
    if context.suggestions is None:
        return None
    suggestion = context.suggestions.get(context.tenant_id, ITEM, product.id)
    if suggestion is None or suggestion.status is SuggestionStatus.OPEN:
        return None
    if suggestion.status is SuggestionStatus.CONFIRMED and suggestion.chosen_qbo_id is not None:
        return ProductDecision(
            product,
            PlanAction.MATCH,
            "confirmed_by_admin",
            f"an admin confirmed QBO item {suggestion.chosen_qbo_id}",
            items.by_id.get(suggestion.chosen_qbo_id),
            chosen_qbo_id=suggestion.chosen_qbo_id,
        )
    if suggestion.status is SuggestionStatus.CREATE_NEW:
        created = _create_or_skip(product, context.config)
        if created.action is PlanAction.CREATE:
            return ProductDecision(
                product,
                PlanAction.CREATE,
                "create_confirmed_by_admin",
                "an admin chose to create a new one",
                body=created.body,
            )
        return created
    return ProductDecision(
        product, PlanAction.SKIP, SkipReason.SKIPPED_BY_ADMIN.value, "an admin chose to skip it"
    )


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
