"""Why a bulk run skipped a record: a code per cause, with what it means and what the admin can do.

Every skip a page records carries one of these codes; the run counts skips by code and keeps a few
skipped records of each as a sample, so the run view can say "60 products: no product-types mapping".
"""

from __future__ import annotations

from enum import StrEnum

from qbosync.store.events import WarningCode
from qbosync.sync.records.items import ItemMappingGap


class SkipReason(StrEnum):
    INACTIVE_IN_SOURCE = "inactive_in_source"
    ALREADY_LINKED = "already_linked"
    AMBIGUOUS_MATCH = "ambiguous_match"
    SKIPPED_BY_ADMIN = "skipped_by_admin"
    NO_DOCUMENT_MATCH = "no_document_match"
    PLAN_CHANGED = "plan_changed"
    EMAIL_MISMATCH = "email_mismatch"
    NAME_TAKEN = "name_taken"
    SUFFIXED_NAME_TAKEN = "suffixed_name_taken"
    NO_PRODUCT_TYPE_MAPPING = "no_product_type_mapping"
    ITEM_TYPE_NEEDS_INVENTORY = "item_type_needs_inventory"
    NO_GL_CODE_ON_PRODUCT = "no_gl_code_on_product"
    NO_GL_CODE_MAPPING = "no_gl_code_mapping"

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self]

    @property
    def warns(self) -> bool:
        """True when the skip needs the admin's attention (the run ends SUCCEEDED_WITH_WARNINGS).

        A record already linked is in sync, and an inactive one is left out on purpose: counted and
        listed, but no warning, or every re-run would warn about what nobody has to fix.
        """
        return self not in (
            SkipReason.ALREADY_LINKED,
            SkipReason.INACTIVE_IN_SOURCE,
            SkipReason.SKIPPED_BY_ADMIN,
        )

    @classmethod
    def for_mapping_gap(cls, gap: ItemMappingGap) -> SkipReason:
        """The same code: each mapping gap is a skip reason of its own."""
        return cls(gap.value)


EXPLANATIONS: dict[SkipReason, str] = {
    SkipReason.INACTIVE_IN_SOURCE: (
        "Inactive or deleted in the source system, so it is not copied to QuickBooks."
    ),
    SkipReason.ALREADY_LINKED: (
        "Linked to a QuickBooks record before this run (an earlier sync or a webhook); nothing to do."
    ),
    SkipReason.AMBIGUOUS_MATCH: (
        "Several QuickBooks customers have this e-mail (or display name), so qbosync cannot tell which "
        "one it is. It is listed under GET /tenants/{t}/suggestions with its candidates: confirm one, "
        "or choose create or skip, then run the sync again."
    ),
    SkipReason.PLAN_CHANGED: (
        "The run follows a dry run's plan, and this record would now be handled differently (it changed in "
        "the source or QuickBooks since). Make a new dry run, review it, and run from the new plan."
    ),
    SkipReason.NO_DOCUMENT_MATCH: (
        "Document matching found no single QuickBooks document with this number (with or without the "
        "prefix), customer and date. Import its link (POST /tenants/{t}/links/import) if it is there."
    ),
    SkipReason.SKIPPED_BY_ADMIN: (
        "An admin rejected every QuickBooks candidate for this record and chose to skip it."
    ),
    SkipReason.EMAIL_MISMATCH: (
        "A QuickBooks customer has this display name but another e-mail (matching rule: both). "
        "Correct the e-mail on one side, then run the sync again."
    ),
    SkipReason.NAME_TAKEN: (
        "Another QuickBooks record (perhaps inactive, a vendor or an employee) already uses this name. "
        "Rename one of them, or set the name-collision policy to suffix, then run the sync again."
    ),
    SkipReason.SUFFIXED_NAME_TAKEN: (
        "The name and its suffixed form are both taken in QuickBooks. "
        "Rename one record, then run the sync again."
    ),
    SkipReason.NO_PRODUCT_TYPE_MAPPING: (
        "The product's type has no product-types mapping, so qbosync does not know which QuickBooks item "
        "type to create. Map it on the Product types step, then run the sync again."
    ),
    SkipReason.ITEM_TYPE_NEEDS_INVENTORY: (
        "The product type maps to an Inventory item, which needs inventory accounts qbosync does not set. "
        "Map the type to Service or NonInventory, or create the item in QuickBooks and run again to match it."
    ),
    SkipReason.NO_GL_CODE_ON_PRODUCT: (
        "The product has no GL code in the source, so it has no QuickBooks income account. "
        "Give it a GL code in the source, then run the sync again."
    ),
    SkipReason.NO_GL_CODE_MAPPING: (
        "The product's GL code has no gl-codes mapping to a QuickBooks income account. "
        "Map it on the GL codes step, then run the sync again."
    ),
}


# What the run view says of records the bulk sync created with an improvisation (counted as warnings).
WARNING_EXPLANATIONS: dict[WarningCode, str] = {
    WarningCode.NAME_SUFFIXED: (
        "QuickBooks already had the name (a vendor, an employee or an inactive record), so the record was "
        "created under the suffixed name (name-collision policy: suffix). Rename one of them if that matters."
    ),
    WarningCode.NAME_TRUNCATED: (
        "The name was longer than QuickBooks holds, or had ':' (its sub-item separator), so it was "
        "shortened in QuickBooks. The source keeps the full name."
    ),
    WarningCode.FIELD_TRUNCATED: (
        "A field (company or person name, phone) was longer than QuickBooks holds and was cut there. "
        "The source keeps the full value."
    ),
}
