"""QBO customers → the source, per field ownership: new QBO customers created in the source with the
default bill profile; edits of the groups QBO owns patched into the source; merges followed."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from qbosync.qbo.client import request_id_for
from qbosync.source.models import SourceCustomer, SourceCustomerUpdate
from qbosync.store.events import EventWarning, WarningCode
from qbosync.store.links import Link, StaleSourceVersion
from qbosync.sync.configuration import TenantSettings
from qbosync.sync.pull.context import PullContext, PullOutcome
from qbosync.sync.pull.echo import is_echo, sync_token
from qbosync.sync.records.customers import new_source_customer, source_update_from_qbo
from qbosync.sync.records.links import new_link
from qbosync.sync.records.messages import EntityChange

CUSTOMER = "Customer"


class CustomerPull(PullContext):
    """Applies QBO customer changes."""

    def _customer(  # noqa: PLR0911 - a decision table: one return per rule
        self, tenant_id: str, change: EntityChange, given: Mapping[str, Any] | None
    ) -> PullOutcome:
        settings = self.settings_for(tenant_id)
        if not settings.sync.customers:
            return PullOutcome("skipped", "customer sync is off")
        if change.operation == "Merge" and change.deleted_id:
            return self._merged_customer(tenant_id, settings, change)
        link = self.links.get_by_qbo_id(tenant_id, CUSTOMER, change.entity_id)
        known = self._known_echo(link, change, given)
        if known is not None:
            return known
        row = self._current(tenant_id, change, given)
        if link is not None:
            return self._linked_customer_changed(tenant_id, settings, link, change, row)
        if row is None:
            return PullOutcome("skipped", "an unlinked QBO customer was deleted")
        profile = settings.source_defaults.new_customer_bill_profile_id
        if not settings.sync.qbo_to_source_customers:
            return PullOutcome("skipped", "creating source customers from QBO is off")
        if not profile:
            return PullOutcome(
                "failed", "no default bill profile is configured for customers created from QBO"
            )
        if not row.get("Active", True):
            return PullOutcome("skipped", "an inactive QBO customer is not created in the source")
        # The same key as the initial sync's, so the two flows never create one customer twice.
        key = request_id_for(tenant_id, CUSTOMER, change.entity_id, "", "create-in-source")
        created = self.source_for(tenant_id).create_customer(
            new_source_customer(row, profile, settings.field_ownership.customers), key
        )
        self.links.put(new_link(tenant_id, CUSTOMER, created.id, created.version, row, "qbo", self.clock()))
        return PullOutcome("applied", f"created source customer {created.id}", warnings=_invented_name(row))

    def _linked_customer_changed(
        self,
        tenant_id: str,
        settings: TenantSettings,
        link: Link,
        change: EntityChange,
        row: Mapping[str, Any] | None,
    ) -> PullOutcome:
        """Copy the groups of fields QBO owns to the source customer; leave the source's own alone."""
        if is_echo(link, row):
            return PullOutcome("unchanged", "QBO holds what qbosync last wrote")
        ownership = settings.field_ownership.customers
        qbo_groups = ownership.groups_owned_by("qbo", started_in_qbo=link.origin == "qbo")
        what = "deleted" if row is None else "made inactive" if not row.get("Active", True) else "edited"
        if row is None and "active" not in qbo_groups:
            return PullOutcome(
                "skipped",
                f"QBO customer {change.entity_id} was deleted; the source owns whether source customer"
                f" {link.source_id} is active (field_ownership.customers.active), so it stays",
            )
        if not qbo_groups:
            return PullOutcome(
                "skipped",
                f"QBO customer {change.entity_id} was {what}; the source owns every field of source"
                f" customer {link.source_id}, so QBO edits are not copied back",
            )
        source = self.source_for(tenant_id)
        current = source.get_customer(link.source_id)
        patch = source_update_from_qbo(row, current, qbo_groups)
        if patch is None or current.deleted:
            self._relink(link, row)
            why = "the source customer is deleted" if current.deleted else "it already has QBO's values"
            return PullOutcome(
                "unchanged", f"source customer {link.source_id} not changed: {why} ({', '.join(qbo_groups)})"
            )
        updated = source.update_customer(link.source_id, patch)
        self._relink(link, row, patched=updated, before=current.version)
        fields = ", ".join(sorted(patch.model_dump(exclude_unset=True)))
        return PullOutcome(
            "applied",
            f"QBO customer {change.entity_id} was {what}: source customer {link.source_id} now has"
            f" QBO's {fields}",
        )

    def _relink(
        self,
        link: Link,
        row: Mapping[str, Any] | None,
        patched: SourceCustomer | None = None,
        before: int = 0,
    ) -> None:
        """Record QBO's SyncToken just seen, and the source version qbosync's own patch made.

        The link's ``source_version`` moves to ``patched.version`` only when the link had seen the
        version the patch was made on (``before``): a source edit not yet sent to QBO stays pending
        for the reconciliation, which sends the fields the source owns.
        """
        version = link.source_version
        if patched is not None and link.source_version >= before:
            version = max(patched.version, link.source_version)
        # A newer source version linked already (StaleSourceVersion) is fine: its change brings the rest.
        with suppress(StaleSourceVersion):
            self.links.put(
                link.model_copy(
                    update={
                        "sync_token": sync_token(row) if row is not None else link.sync_token,
                        "source_version": version,
                        "updated_at": self.clock(),
                    }
                )
            )

    def _merged_customer(self, tenant_id: str, settings: TenantSettings, change: EntityChange) -> PullOutcome:
        """QBO merged ``deleted_id`` into ``entity_id``: point the loser's link at the survivor, and
        deactivate the loser's source customer when QBO owns whether it is active."""
        loser_id = change.deleted_id or ""
        loser = self.links.get_by_qbo_id(tenant_id, CUSTOMER, loser_id)
        if loser is None:
            return PullOutcome("skipped", "the merged-away QBO customer was not linked")
        survivor_row = self._current(tenant_id, change, None)
        survivor = self.links.get_by_qbo_id(tenant_id, CUSTOMER, change.entity_id)
        repointed = loser.model_copy(
            update={
                "qbo_id": change.entity_id,
                "sync_token": sync_token(survivor_row) if survivor_row else None,
                "updated_at": self.clock(),
            }
        )
        self.links.put(repointed)
        merged = f"QBO merged customer {loser_id} into {change.entity_id}"
        if survivor is None or survivor.source_id == loser.source_id:
            return PullOutcome("applied", f"{merged}; source customer {loser.source_id} now maps to it")
        ownership = settings.field_ownership.customers
        if ownership.owner("active", started_in_qbo=loser.origin == "qbo") == "source":
            return PullOutcome(
                "unsupported",
                f"{merged}; source customers {loser.source_id} and {survivor.source_id} now both map to"
                " it: merge them in the source by hand (the source owns whether customers are active)",
            )
        source = self.source_for(tenant_id)
        current = source.get_customer(loser.source_id)
        if current.active:
            updated = source.update_customer(loser.source_id, SourceCustomerUpdate(active=False))
            self._relink(repointed, survivor_row, patched=updated, before=current.version)
        return PullOutcome(
            "applied",
            f"{merged}: source customer {loser.source_id} is deactivated; source customer"
            f" {survivor.source_id} carries on",
        )


def _invented_name(row: Mapping[str, Any]) -> tuple[EventWarning, ...]:
    """A QBO customer with neither a display nor a company name is created under ``QBO customer <id>``."""
    if str(row.get("DisplayName") or "").strip() or str(row.get("CompanyName") or "").strip():
        return ()
    return (
        EventWarning.of(
            WarningCode.NAME_INVENTED,
            f"QBO customer {row['Id']} has no name: it is 'QBO customer {row['Id']}' in the source",
        ),
    )
