"""QBO items → the source: products belong to the source; an unlinked QBO item follows the unmatched-item
rule (linked to the default source product)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbosync.store.events import EventWarning, WarningCode
from qbosync.sync.pull.context import PullContext, PullOutcome
from qbosync.sync.pull.echo import is_echo
from qbosync.sync.records.items import ITEM_TYPES_FOR_PRODUCTS, unmatched_item_source_key
from qbosync.sync.records.links import new_link
from qbosync.sync.records.messages import EntityChange

ITEM = "Item"


class ItemPull(PullContext):
    """Applies QBO item changes."""

    def _item(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome:
        settings = self.settings_for(tenant_id)
        if not settings.sync.products:
            return PullOutcome("skipped", "product sync is off")
        link = self.links.get_by_qbo_id(tenant_id, ITEM, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None:
            if is_echo(link, row):
                return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
            return PullOutcome("skipped", "the source owns products; QBO item edits are not copied back")
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO item was deleted")
        if row.get("Type") not in ITEM_TYPES_FOR_PRODUCTS:
            return PullOutcome("skipped", f"QBO items of type {row.get('Type')} are not synced")
        default_product = settings.source_defaults.unmatched_qbo_item_product_id
        if not default_product:
            return PullOutcome("skipped", "no default source product is configured for unmatched QBO items")
        self.links.put(
            new_link(
                tenant_id,
                ITEM,
                unmatched_item_source_key(default_product, change.entity_id),
                1,
                row,
                "matched",
                self.clock(),
            )
        )
        return PullOutcome(
            "applied",
            f"linked to the default source product {default_product}",
            warnings=(
                EventWarning.of(
                    WarningCode.DEFAULT_PRODUCT_USED,
                    f"QBO item {change.entity_id} ({row.get('Name')}) has no source product of its own:"
                    f" it stands for the default source product {default_product}",
                ),
            ),
        )
