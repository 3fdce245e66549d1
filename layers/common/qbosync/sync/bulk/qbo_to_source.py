"""QBO → source: QBO customers and items that no link names yet, after the source pages are done.

Customers are created in the source with the configured bill profile (when that flow is on), under an
idempotency key per QBO id, so a retry gets the same source customer back. Items follow the
unmatched-item rule: each is linked to the default source product.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from qbosync.qbo.client import QUERY_PAGE_SIZE, request_id_for
from qbosync.store.links import Link
from qbosync.store.onboarding import PlanAction, PlanEntry, json_body
from qbosync.sync.bulk.common import Tally
from qbosync.sync.bulk.models import QBO_CUSTOMERS_ENTITY, QBO_ITEMS_ENTITY
from qbosync.sync.bulk.page_context import PageContext
from qbosync.sync.bulk.skips import SkipReason
from qbosync.sync.records.customers import new_source_customer
from qbosync.sync.records.items import ITEM_TYPES_FOR_PRODUCTS, unmatched_item_source_key
from qbosync.sync.records.links import CUSTOMER, ITEM, new_link

LINK_PAGE = 500
CREATE_IN_SOURCE = "create_in_source"
DEFAULT_PRODUCT = "default_product"
AWAITING_DECISION = SkipReason.AMBIGUOUS_MATCH
"""A QBO record among an open suggestion's candidates waits with it: nothing is created or linked."""


@dataclass(frozen=True)
class QboRecordDecision:
    """What the QBO → source step does with one QBO record nothing links (the dry run's plan entry:
    keyed by the QBO id, as the source record does not exist yet)."""

    entity: str
    row: dict[str, Any]
    action: PlanAction
    code: str
    reason: str
    source_body: dict[str, Any] | None = None

    @property
    def qbo_id(self) -> str:
        return str(self.row["Id"])

    def entry(self) -> PlanEntry:
        return PlanEntry(
            entity=self.entity,
            source_id=self.qbo_id,
            source_version=int(self.row.get("SyncToken") or 0),
            action=self.action,
            reason_code=self.code,
            reason=self.reason,
            qbo_id=self.qbo_id,
            source_body=json_body(self.source_body),
        )


def links_by_qbo_id(context: PageContext, entity: str) -> dict[str, Link]:
    found: dict[str, Link] = {}
    cursor: str | None = None
    while True:
        page = context.links.list(context.tenant_id, entity, limit=LINK_PAGE, cursor=cursor)
        for link in page.items:
            found.setdefault(link.qbo_id, link)
        cursor = page.cursor
        if cursor is None:
            return found


def qbo_rows(context: PageContext, tally: Tally, entity: str) -> list[dict[str, Any]]:
    """Every QBO record of ``entity``, its query pages counted as reads."""
    rows = context.qbo.query_all(entity)
    for _page in range(len(rows) // QUERY_PAGE_SIZE + 1):
        tally.count_read()
    return rows


def _made_by_this_run(tally: Tally, link: Link, context: PageContext) -> None:
    if link.origin == "qbo" and link.updated_at >= context.config.run_started_at:
        tally.count_link("qbo")


def customers_to_source_enabled(context: PageContext) -> bool:
    settings = context.config.settings
    profile = settings.source_defaults.new_customer_bill_profile_id
    return bool(settings.sync.customers and settings.sync.qbo_to_source_customers and profile)


def items_to_default_product_enabled(context: PageContext) -> bool:
    settings = context.config.settings
    return bool(settings.sync.products and settings.source_defaults.unmatched_qbo_item_product_id)


def decide_customers_to_source(
    context: PageContext, rows: list[dict[str, Any]], linked: Collection[str], held: Mapping[str, str]
) -> list[QboRecordDecision]:
    """Each QBO customer no link (``linked``: their QBO ids) names is created in the source, but for the
    candidates of open suggestions (``held``: QBO id → the source record waiting for an admin)."""
    settings = context.config.settings
    profile = str(settings.source_defaults.new_customer_bill_profile_id)
    return [
        _held(QBO_CUSTOMERS_ENTITY, row, held[str(row["Id"])])
        if str(row["Id"]) in held
        else QboRecordDecision(
            QBO_CUSTOMERS_ENTITY,
            row,
            PlanAction.CREATE,
            CREATE_IN_SOURCE,
            f"no source customer is linked to it: created in the source with bill profile {profile}",
            new_source_customer(row, profile, settings.field_ownership.customers).model_dump(
                mode="json", exclude_none=True
            ),
        )
        for row in rows
        if str(row["Id"]) not in linked
    ]


def decide_items_to_default_product(
    context: PageContext, rows: list[dict[str, Any]], linked: Collection[str], held: Mapping[str, str]
) -> list[QboRecordDecision]:
    """Each QBO item (of the product types) no link names is linked to the default source product, but
    for the candidates of open suggestions (``held``)."""
    default_product = context.config.settings.source_defaults.unmatched_qbo_item_product_id
    return [
        _held(QBO_ITEMS_ENTITY, row, held[str(row["Id"])])
        if str(row["Id"]) in held
        else QboRecordDecision(
            QBO_ITEMS_ENTITY,
            row,
            PlanAction.MATCH,
            DEFAULT_PRODUCT,
            f"no source product is linked to it: linked to the default product {default_product}",
        )
        for row in rows
        if row.get("Type") in ITEM_TYPES_FOR_PRODUCTS and str(row["Id"]) not in linked
    ]


def _held(entity: str, row: dict[str, Any], source_id: str) -> QboRecordDecision:
    return QboRecordDecision(
        entity,
        row,
        PlanAction.SKIP,
        AWAITING_DECISION.value,
        f"a candidate of the open suggestion for source record {source_id}: it waits for the admin",
    )


def held_by_suggestions(context: PageContext, entity: str) -> dict[str, str]:
    """QBO id → source id, for every candidate of an open suggestion whose source record is still unlinked
    (the real run's pages recorded them)."""
    if context.suggestions is None:
        return {}
    return {
        candidate.qbo_id: suggestion.source_id
        for suggestion in context.suggestions.open_for(context.tenant_id, entity)
        if context.links.get(context.tenant_id, entity, suggestion.source_id) is None
        for candidate in suggestion.candidates
    }


def _departs(context: PageContext, tally: Tally, decision: QboRecordDecision) -> bool:
    if not context.departs_from_plan(decision.entry()):
        return False
    tally.skip(decision.qbo_id, SkipReason.PLAN_CHANGED, "changed since the plan this run follows")
    return True


def customers_to_source(context: PageContext) -> Tally | None:
    """Create QBO customers without a link in the source; None when the flow is off or unconfigured."""
    if not customers_to_source_enabled(context):
        return None
    tally = Tally()
    linked = links_by_qbo_id(context, CUSTOMER)
    rows = qbo_rows(context, tally, "Customer")
    for row in rows:
        existing = linked.get(str(row["Id"]))
        if existing is not None:
            _made_by_this_run(tally, existing, context)
    profile = str(context.config.settings.source_defaults.new_customer_bill_profile_id)
    ownership = context.config.settings.field_ownership.customers
    held = held_by_suggestions(context, CUSTOMER)
    for decision in decide_customers_to_source(context, rows, linked, held):
        if _departs(context, tally, decision):
            continue
        if decision.action is PlanAction.SKIP:
            tally.skip(decision.qbo_id, AWAITING_DECISION, decision.reason)
            continue
        key = request_id_for(context.tenant_id, "Customer", decision.qbo_id, "", "create-in-source")
        created = context.source.create_customer(new_source_customer(decision.row, profile, ownership), key)
        context.links.put_many(
            [
                new_link(
                    context.tenant_id,
                    CUSTOMER,
                    created.id,
                    created.version,
                    decision.row,
                    "qbo",
                    context.clock(),
                )
            ]
        )
        tally.count_link("qbo")
    return tally


def items_to_default_product(context: PageContext) -> Tally | None:
    """Link QBO items without a link to the default source product; None when there is none."""
    if not items_to_default_product_enabled(context):
        return None
    default_product = str(context.config.settings.source_defaults.unmatched_qbo_item_product_id)
    tally = Tally()
    linked = links_by_qbo_id(context, ITEM)
    rows = qbo_rows(context, tally, "Item")
    for row in rows:
        existing = linked.get(str(row["Id"]))
        if (
            existing is not None
            and existing.origin == "matched"
            and existing.source_id.startswith(f"{default_product}~")
            and existing.updated_at >= context.config.run_started_at
        ):
            tally.count_link("matched")
    new_links = []
    held = held_by_suggestions(context, ITEM)
    for decision in decide_items_to_default_product(context, rows, linked, held):
        if _departs(context, tally, decision):
            continue
        if decision.action is PlanAction.SKIP:
            tally.skip(decision.qbo_id, AWAITING_DECISION, decision.reason)
            continue
        new_links.append(
            new_link(
                context.tenant_id,
                ITEM,
                unmatched_item_source_key(default_product, decision.qbo_id),
                1,
                decision.row,
                "matched",
                context.clock(),
            )
        )
        tally.count_link("matched")
    if new_links:
        context.links.put_many(new_links)
    return tally
