"""What an admin configures: tenant settings and mappings, and the rules that keep them valid.

Over 400 lines on purpose: the settings document, every mapping kind and the validation rules that tie
them to QBO reference data are one contract, read and changed together.

Both seeds' configuration screens land here. ``TenantSettings`` is the versioned document (toggles,
number prefixes, defaults for unmatched items, policies); ``MappingKind`` names every mapping of the
seeds. Validation against live QBO reference data is pure: it takes the reference entries and reports
every bad row at once, so an admin can fix a whole screen in one go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from qbosync.errors import NotFound, ValidationFailed
from qbosync.store.config import (
    AuditRecord,
    AuditRepository,
    MappingRepository,
    SettingsRepository,
    VersionConflict,
)
from qbosync.sync.reference import QboReference, ReferenceCatalog, ReferenceKind

# QBO's DocNumber holds 21 characters; a 10-character prefix leaves 11 for the source's number.
MAX_PREFIX_LENGTH = 10
QBO_DOC_NUMBER_LENGTH = 21

SourceKey = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
QboId = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
PrefixValue = Annotated[str, StringConstraints(max_length=MAX_PREFIX_LENGTH, pattern=r"^[A-Za-z0-9#/_.-]*$")]


class _Strict(BaseModel):
    """Admin input: unknown fields are mistakes, reported rather than dropped."""

    model_config = ConfigDict(extra="forbid")


class SyncToggles(_Strict):
    """Which flows run. The two flows that write into the billing system are off by default, so an
    admin turns them on deliberately: creating source customers from QBO (it needs a bill profile
    chosen first) and recording in the source the payments entered in QBO against synced invoices."""

    customers: bool = True
    products: bool = True
    invoices: bool = True
    payments: bool = True
    credit_notes: bool = True
    qbo_to_source_customers: bool = False
    qbo_to_source_payments: bool = False


class NumberPrefix(_Strict):
    """A prefix put before the source's document number, so synced documents are recognisable in QBO."""

    enabled: bool
    value: PrefixValue

    @model_validator(mode="after")
    def _enabled_prefix_has_a_value(self) -> NumberPrefix:
        if self.enabled and not self.value:
            raise ValueError("an enabled prefix needs a value")
        return self

    def apply(self, number: str) -> str:
        """The QBO DocNumber for a source document number."""
        return f"{self.value}{number}" if self.enabled else number


class NumberPrefixes(_Strict):
    """Both seeds recommend prefixes; credit notes and write-offs get distinct ones so QBO can filter."""

    invoice: NumberPrefix = NumberPrefix(enabled=True, value="INV-")
    payment: NumberPrefix = NumberPrefix(enabled=True, value="PMT-")
    credit_note: NumberPrefix = NumberPrefix(enabled=True, value="CN-")
    write_off: NumberPrefix = NumberPrefix(enabled=True, value="WO-")

    @model_validator(mode="after")
    def _credit_and_write_off_differ(self) -> NumberPrefixes:
        if (
            self.credit_note.enabled
            and self.write_off.enabled
            and self.credit_note.value.casefold() == self.write_off.value.casefold()
        ):
            raise ValueError("credit note and write-off prefixes must differ, or QBO cannot tell them apart")
        return self


class QboDefaults(_Strict):
    """QBO targets used when the source says nothing more specific (first seed's unmatched-items screen)."""

    invoice_tax_code_id: QboId | None = None
    invoice_class_id: QboId | None = None
    unmatched_one_time_item_id: QboId | None = None
    unmatched_recurring_item_id: QboId | None = None


class SourceDefaults(_Strict):
    """Source targets for records that start in QBO."""

    unmatched_qbo_item_product_id: SourceKey | None = None
    new_customer_bill_profile_id: SourceKey | None = None
    qbo_payment_method_code: SourceKey | None = None
    """Source payment method for a QBO payment whose method no payment-method mapping names."""


FieldOwner = Literal["origin", "source", "qbo"]
"""Whose edits win for a group of fields: ``origin`` is the system the record started in."""
CustomerFieldGroup = Literal["name", "contact", "billing_address", "active"]


class CustomerFieldOwnership(_Strict):
    """Which system owns each group of a linked customer's fields; the owner's edits are copied to the
    other side, the other side's edits are left alone (and overwritten by the owner's next change).

    Groups: ``name`` (display, company, given and family names), ``contact`` (e-mail, phone),
    ``billing_address``, ``active`` (deactivating, deleting or merging away). The default, ``origin``,
    gives every field to the system the customer started in: the source for customers the source
    created or the initial sync matched, QBO for customers created in QBO.
    """

    name: FieldOwner = "origin"
    contact: FieldOwner = "origin"
    billing_address: FieldOwner = "origin"
    active: FieldOwner = "origin"

    def owner(self, group: CustomerFieldGroup, started_in_qbo: bool) -> Literal["source", "qbo"]:
        """The system whose edits win for ``group`` on one customer."""
        chosen: FieldOwner = getattr(self, group)
        if chosen != "origin":
            return chosen
        return "qbo" if started_in_qbo else "source"

    def groups_owned_by(
        self, side: Literal["source", "qbo"], started_in_qbo: bool
    ) -> tuple[CustomerFieldGroup, ...]:
        groups: tuple[CustomerFieldGroup, ...] = ("name", "contact", "billing_address", "active")
        return tuple(group for group in groups if self.owner(group, started_in_qbo) == side)


class FieldOwnership(_Strict):
    """Field ownership per record kind. Products and documents always belong to the source (QBO edits
    to them are reported as drift, or healed); customers are the records both sides edit."""

    customers: CustomerFieldOwnership = CustomerFieldOwnership()


class MoneySettings(_Strict):
    """Currencies and variance: the source's home currency, which preflight compares with QBO's; and
    whether a push QBO totals differently from the source (``done_with_variance``) pauses the tenant's
    further pushes until an admin accepts it (``pause``) or is only reported (``report``, default)."""

    source_home_currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    variance_policy: Literal["report", "pause"] = "report"


class TenantSettings(_Strict):
    """One tenant's configuration document.

    Defaults: every flow on except the two that write QBO's records into the source; customers matched
    by display name (unique in QBO); deletions in the source void in QBO (keeps the audit trail); a
    QBO name collision (fault 6240) is reported rather than worked around, so nothing is duplicated
    silently; each customer's fields owned by the system it started in; drift of pushed documents
    (edited or deleted in QBO) reported for an admin rather than overwritten (``heal`` pushes the
    source's version again).
    """

    schema_version: Literal[1] = 1
    sync: SyncToggles = SyncToggles()
    prefixes: NumberPrefixes = NumberPrefixes()
    qbo_defaults: QboDefaults = QboDefaults()
    source_defaults: SourceDefaults = SourceDefaults()
    customer_matching: Literal["display_name", "email", "both"] = "display_name"
    deletion_policy: Literal["delete", "void"] = "void"
    name_collision_policy: Literal["suffix", "report"] = "report"
    field_ownership: FieldOwnership = FieldOwnership()
    drift_policy: Literal["report", "heal"] = "report"
    money: MoneySettings = MoneySettings()


class MappingKind(StrEnum):
    """Every mapping of both seeds, by the path segment the API uses."""

    PAYMENT_METHODS = "payment-methods"
    GL_CODES = "gl-codes"
    PRODUCT_TYPES = "product-types"
    INCOME_ACCOUNTS = "income-accounts"
    GL_ACCOUNTS = "gl-accounts"
    TAX_CODES = "tax-codes"


QBO_ITEM_TYPES_FOR_PRODUCTS = ("Service", "NonInventory", "Inventory")
INVOICE_LINE_ITEM_TYPES = frozenset(QBO_ITEM_TYPES_FOR_PRODUCTS)


@dataclass(frozen=True)
class MappingTarget:
    """What a mapping kind points at in QBO, and which entries of it are acceptable."""

    reference_kind: ReferenceKind | None
    description: str
    acceptable: Callable[[QboReference], bool] = lambda _entry: True
    wrong_type_message: str = ""


MAPPING_TARGETS: dict[MappingKind, MappingTarget] = {
    MappingKind.PAYMENT_METHODS: MappingTarget(ReferenceKind.PAYMENT_METHODS, "source payment method"),
    MappingKind.GL_CODES: MappingTarget(
        ReferenceKind.ACCOUNTS,
        "source GL code -> QBO income account",
        acceptable=lambda entry: entry.type == "Income",
        wrong_type_message="GL codes map to QBO accounts of type Income",
    ),
    MappingKind.PRODUCT_TYPES: MappingTarget(None, "source product type -> QBO item type"),
    MappingKind.INCOME_ACCOUNTS: MappingTarget(
        ReferenceKind.ITEMS,
        "source income or expense account -> QBO product/service",
        acceptable=lambda entry: entry.type in INVOICE_LINE_ITEM_TYPES,
        wrong_type_message="income accounts map to QBO items of type Service, NonInventory or Inventory",
    ),
    MappingKind.GL_ACCOUNTS: MappingTarget(ReferenceKind.ACCOUNTS, "source GL account -> QBO account"),
    MappingKind.TAX_CODES: MappingTarget(ReferenceKind.TAX_CODES, "source tax code -> QBO tax code"),
}


def mapping_kind(value: str) -> MappingKind:
    """The mapping kind named in a path, or a 404 naming the kinds that exist."""
    try:
        return MappingKind(value)
    except ValueError:
        raise NotFound(
            f"unknown mapping kind {value!r}",
            code="unknown_mapping_kind",
            details=[{"allowed": [kind.value for kind in MappingKind]}],
        ) from None


class MappingRowInput(_Strict):
    """One row as an admin sends it: which source key maps to which QBO id."""

    source_key: SourceKey
    qbo_id: QboId


class MappingRow(BaseModel):
    """One stored row, with the QBO name as it was when the row was validated."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source_key: str
    qbo_id: str
    qbo_name: str


class MappingRowProblem(BaseModel):
    """Why one row was refused."""

    source_key: str
    qbo_id: str
    reason: Literal["not_found", "inactive", "wrong_type", "duplicate_source_key"]
    message: str


class MappingRejected(ValidationFailed):
    """At least one row of a mapping is not acceptable; ``details`` names every one of them."""

    code = "invalid_mapping"


class SettingsRejected(ValidationFailed):
    """A QBO target named in the settings does not exist, is inactive or of the wrong kind."""

    code = "invalid_settings"


def _product_type_reference() -> list[QboReference]:
    return [QboReference(id=name, name=name, type=name, active=True) for name in QBO_ITEM_TYPES_FOR_PRODUCTS]


def reference_kind_for(kind: MappingKind) -> ReferenceKind | None:
    """The QBO reference list a mapping kind validates against (None: a fixed set, no live data)."""
    return MAPPING_TARGETS[kind].reference_kind


def validate_mapping_rows(
    kind: MappingKind, rows: Sequence[MappingRowInput], reference: Iterable[QboReference]
) -> list[MappingRow]:
    """Rows ready to store, or ``MappingRejected`` naming every bad row and why.

    ``reference`` is the live QBO list for the kind (ignored for product types, whose targets are
    QBO's fixed item types).
    """
    target = MAPPING_TARGETS[kind]
    entries = _product_type_reference() if target.reference_kind is None else list(reference)
    by_id = {entry.id: entry for entry in entries}
    key_counts = Counter(row.source_key for row in rows)
    problems: list[MappingRowProblem] = []
    accepted: list[MappingRow] = []
    for row in rows:
        problem = _row_problem(kind, target, row, by_id.get(row.qbo_id), key_counts[row.source_key])
        if problem is not None:
            problems.append(problem)
        else:
            accepted.append(
                MappingRow(source_key=row.source_key, qbo_id=row.qbo_id, qbo_name=by_id[row.qbo_id].name)
            )
    if problems:
        raise MappingRejected(
            f"{len(problems)} {kind.value} mapping row(s) refused; nothing was changed",
            details=[problem.model_dump() for problem in problems],
        )
    return sorted(accepted, key=lambda row: row.source_key)


def _row_problem(
    kind: MappingKind,
    target: MappingTarget,
    row: MappingRowInput,
    entry: QboReference | None,
    times_source_key_appears: int,
) -> MappingRowProblem | None:
    def problem(reason: Any, message: str) -> MappingRowProblem:
        return MappingRowProblem(source_key=row.source_key, qbo_id=row.qbo_id, reason=reason, message=message)

    if times_source_key_appears > 1:
        return problem(
            "duplicate_source_key",
            f"{row.source_key!r} appears {times_source_key_appears} times; a source key maps to one target",
        )
    if entry is None:
        if target.reference_kind is None:
            allowed = ", ".join(QBO_ITEM_TYPES_FOR_PRODUCTS)
            return problem("wrong_type", f"{row.qbo_id!r} is not a QBO item type; use one of {allowed}")
        return problem("not_found", f"no QBO {target.reference_kind.value} entry with id {row.qbo_id!r}")
    if not entry.active:
        return problem("inactive", f"QBO {target.reference_kind or kind.value} {entry.name!r} is inactive")
    if not target.acceptable(entry):
        return problem("wrong_type", f"{target.wrong_type_message}; {entry.name!r} is {entry.type}")
    return None


@dataclass(frozen=True)
class SettingsTarget:
    """One QBO id the settings refer to, and what it must be."""

    field: str
    reference_kind: ReferenceKind
    acceptable: Callable[[QboReference], bool] = lambda _entry: True
    requirement: str = ""


SETTINGS_TARGETS = (
    SettingsTarget("qbo_defaults.invoice_tax_code_id", ReferenceKind.TAX_CODES),
    SettingsTarget("qbo_defaults.invoice_class_id", ReferenceKind.CLASSES),
    SettingsTarget(
        "qbo_defaults.unmatched_one_time_item_id",
        ReferenceKind.ITEMS,
        lambda entry: entry.type in INVOICE_LINE_ITEM_TYPES,
        "an item of type Service, NonInventory or Inventory",
    ),
    SettingsTarget(
        "qbo_defaults.unmatched_recurring_item_id",
        ReferenceKind.ITEMS,
        lambda entry: entry.type in INVOICE_LINE_ITEM_TYPES,
        "an item of type Service, NonInventory or Inventory",
    ),
)


def referenced_qbo_targets(settings: TenantSettings) -> list[tuple[SettingsTarget, str]]:
    """The QBO ids the settings name, with the rule each must satisfy."""
    defaults = settings.qbo_defaults.model_dump()
    found = []
    for target in SETTINGS_TARGETS:
        value = defaults[target.field.removeprefix("qbo_defaults.")]
        if value is not None:
            found.append((target, str(value)))
    return found


def validate_settings_targets(
    settings: TenantSettings, reference: Callable[[ReferenceKind], Sequence[QboReference]]
) -> None:
    """Raise ``SettingsRejected`` naming every QBO target in the settings that is missing or unusable."""
    problems: list[dict[str, Any]] = []
    for target, qbo_id in referenced_qbo_targets(settings):
        entry = next((e for e in reference(target.reference_kind) if e.id == qbo_id), None)
        if entry is None:
            reason, message = "not_found", f"no QBO {target.reference_kind.value} entry with id {qbo_id!r}"
        elif not entry.active:
            reason, message = "inactive", f"QBO {target.reference_kind.value} {entry.name!r} is inactive"
        elif not target.acceptable(entry):
            reason, message = "wrong_type", f"needs {target.requirement}; {entry.name!r} is {entry.type}"
        else:
            continue
        problems.append({"field": target.field, "qbo_id": qbo_id, "reason": reason, "message": message})
    if problems:
        raise SettingsRejected(
            f"{len(problems)} QBO target(s) in the settings refused; nothing was changed", details=problems
        )


class AuditAction(StrEnum):
    SETTINGS_REPLACED = "settings.replaced"
    MAPPINGS_REPLACED = "mappings.replaced"
    MAPPING_DELETED = "mappings.row_deleted"


class AuditEntryView(BaseModel):
    """One change as the audit trail shows it: who, when, what, before and after."""

    id: str
    at: datetime
    actor: str
    action: str
    target: str
    version: int
    before: Any = None
    after: Any = None
    summary: dict[str, Any] | None = None
    """Set when before/after were too large to keep: they hold a bounded diff, this the full counts."""


class ConfigurationService:
    """Reads and changes one tenant's settings and mappings: validated, versioned, audited."""

    def __init__(
        self,
        settings: SettingsRepository,
        mappings: MappingRepository,
        audit: AuditRepository,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._mappings = mappings
        self._audit = audit
        self._clock = clock

    def read_settings(self, tenant_id: str) -> tuple[TenantSettings, int]:
        """The tenant's settings and their version (defaults at version 0 before the first save)."""
        stored = self._settings.get(tenant_id)
        if stored is None:
            return TenantSettings(), 0
        return TenantSettings.model_validate(stored.document), stored.version

    def replace_settings(
        self,
        tenant_id: str,
        actor: str,
        settings: TenantSettings,
        expected_version: int,
        catalog: Callable[[], ReferenceCatalog],
    ) -> tuple[TenantSettings, int]:
        """Store new settings if every QBO target they name is usable and nobody changed them meanwhile.

        ``catalog`` is called only when the settings name QBO targets (it needs a connected tenant).
        """
        before, current_version = self.read_settings(tenant_id)
        _require_current(current_version, expected_version, "settings")
        if referenced_qbo_targets(settings):
            validate_settings_targets(settings, catalog().live)
        version = self._settings.replace(
            tenant_id,
            settings.model_dump(mode="json"),
            expected_version,
            self._audit_record(
                actor,
                AuditAction.SETTINGS_REPLACED,
                "settings",
                before.model_dump(mode="json"),
                settings.model_dump(mode="json"),
            ),
        )
        return settings, version

    def read_mapping(self, tenant_id: str, kind: MappingKind) -> tuple[list[MappingRow], int]:
        """The rows of one mapping kind and their version (no rows at version 0 before the first save)."""
        stored = self._mappings.get(tenant_id, kind.value)
        if stored is None:
            return [], 0
        return [MappingRow.model_validate(row) for row in stored.document], stored.version

    def replace_mapping(
        self,
        tenant_id: str,
        actor: str,
        kind: MappingKind,
        *,
        rows: Sequence[MappingRowInput],
        expected_version: int,
        catalog: Callable[[], ReferenceCatalog],
    ) -> tuple[list[MappingRow], int]:
        """Replace every row of ``kind``: all rows valid against live QBO data, or nothing changes."""
        before, current_version = self.read_mapping(tenant_id, kind)
        _require_current(current_version, expected_version, f"mappings/{kind.value}")
        reference_kind = reference_kind_for(kind)
        live = catalog().live(reference_kind) if reference_kind is not None and rows else []
        accepted = validate_mapping_rows(kind, rows, live)
        version = self._store_rows(
            tenant_id,
            actor,
            kind,
            before=before,
            after=accepted,
            expected_version=expected_version,
            action=AuditAction.MAPPINGS_REPLACED,
        )
        return accepted, version

    def delete_mapping_row(
        self, tenant_id: str, actor: str, kind: MappingKind, source_key: str, expected_version: int
    ) -> tuple[list[MappingRow], int]:
        """Remove the row for ``source_key``; a 404 if there is none."""
        before, current_version = self.read_mapping(tenant_id, kind)
        _require_current(current_version, expected_version, f"mappings/{kind.value}")
        remaining = [row for row in before if row.source_key != source_key]
        if len(remaining) == len(before):
            raise NotFound(
                f"no {kind.value} mapping for source key {source_key!r}",
                code="mapping_not_found",
                details=[{"kind": kind.value, "source_key": source_key}],
            )
        version = self._store_rows(
            tenant_id,
            actor,
            kind,
            before=before,
            after=remaining,
            expected_version=expected_version,
            action=AuditAction.MAPPING_DELETED,
        )
        return remaining, version

    def all_mappings(self, tenant_id: str) -> dict[MappingKind, list[MappingRow]]:
        """Every mapping kind's rows (empty lists for kinds never configured)."""
        return {kind: self.read_mapping(tenant_id, kind)[0] for kind in MappingKind}

    def mapped_sources_by_qbo_id(self, tenant_id: str, reference_kind: ReferenceKind) -> dict[str, list[str]]:
        """For one QBO list, which source keys point at each entry (across every kind using that list)."""
        mapped: dict[str, list[str]] = {}
        for kind, rows in self.all_mappings(tenant_id).items():
            if reference_kind_for(kind) is reference_kind:
                for row in rows:
                    mapped.setdefault(row.qbo_id, []).append(row.source_key)
        return mapped

    def audit_trail(
        self, tenant_id: str, limit: int, cursor: str | None
    ) -> tuple[list[AuditEntryView], str | None]:
        """Audit entries, newest first, and the cursor of the next page."""
        entries, next_cursor = self._audit.list(tenant_id, limit, cursor)
        return [AuditEntryView(**vars(entry)) for entry in entries], next_cursor

    def _store_rows(
        self,
        tenant_id: str,
        actor: str,
        kind: MappingKind,
        *,
        before: list[MappingRow],
        after: list[MappingRow],
        expected_version: int,
        action: AuditAction,
    ) -> int:
        dumped_before = [row.model_dump() for row in before]
        dumped_after = [row.model_dump() for row in after]
        record = self._audit_record(actor, action, f"mappings/{kind.value}", dumped_before, dumped_after)
        return self._mappings.replace(tenant_id, kind.value, dumped_after, expected_version, record)

    def _audit_record(
        self, actor: str, action: AuditAction, target: str, before: Any, after: Any
    ) -> AuditRecord:
        return AuditRecord(
            actor=actor, action=action.value, target=target, before=before, after=after, at=self._clock()
        )


def _require_current(current_version: int, expected_version: int, target: str) -> None:
    """Refuse early when the admin edited an old copy (the conditional write catches races after this)."""
    if current_version != expected_version:
        raise VersionConflict(
            f"{target} is at version {current_version}, not {expected_version}; read it again and reapply",
            details=[
                {"target": target, "expected_version": expected_version, "current_version": current_version}
            ],
        )
