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
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from qbosync.errors import NotFound, PreconditionFailed, ValidationFailed, validation_details
from qbosync.store.config import (
    AuditRecord,
    AuditRepository,
    MappingRepository,
    SettingsRepository,
    VersionConflict,
)
from qbosync.sync.reference import QboReference, ReferenceCatalog, ReferenceKind
from qbosync.sync.source_reference import SourceCatalog, SourceReferenceKind, unknown_source_value_problem

# QBO's DocNumber holds 21 characters; a 10-character prefix leaves 11 for the source's number.
MAX_PREFIX_LENGTH = 10
QBO_DOC_NUMBER_LENGTH = 21

SourceKey = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
QboId = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
# A mapping row's keys may arrive empty: that is reported as the row's problem, next to every other bad
# row, instead of failing the whole body's validation on the first empty one.
RowSourceKey = Annotated[str, StringConstraints(max_length=64, strip_whitespace=True)]
RowQboId = Annotated[str, StringConstraints(max_length=64, strip_whitespace=True)]
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
    """Source payment method for a QBO payment whose method no payment-method mapping names (and,
    among several source methods mapped to one QBO method, the one chosen when it is one of them)."""
    qbo_payment_method_choices: dict[QboId, SourceKey] = Field(default_factory=dict, max_length=100)
    """Per QBO payment method id: the source method a payment entered in QBO with it is recorded
    with; the explicit choice when several source methods map to that QBO method."""


SOURCE_DEFAULT_LISTS: dict[str, SourceReferenceKind] = {
    "unmatched_qbo_item_product_id": SourceReferenceKind.PRODUCTS,
    "new_customer_bill_profile_id": SourceReferenceKind.BILL_PROFILES,
    "qbo_payment_method_code": SourceReferenceKind.PAYMENT_METHODS,
}
"""The source list each source default must name an entry of."""


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


class OnboardingSettings(_Strict):
    """Turning qbosync on for a tenant whose books already exist in QBO.

    ``go_live_date`` is required before the first push: a document dated before it is never created
    in QBO; when it changes or is paid in the source it is matched to the QBO document that already
    exists and linked, or refused with a reason code. ``match_documents_from``: the initial sync also
    matches and links the invoices, payments and credit notes dated from then (up to the go-live
    date) to the QBO documents that already exist, so later edits update them.
    """

    go_live_date: date | None = None
    match_documents_from: date | None = None

    @model_validator(mode="after")
    def _match_window_ends_at_go_live(self) -> OnboardingSettings:
        if (
            self.match_documents_from is not None
            and self.go_live_date is not None
            and self.match_documents_from > self.go_live_date
        ):
            raise ValueError("match_documents_from must not be after go_live_date")
        return self


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
    onboarding: OnboardingSettings = OnboardingSettings()
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
# A QBO Payment's DepositToAccountRef must name an account that can hold money received.
DEPOSIT_ACCOUNT_TYPES = ("Bank", "Other Current Asset")


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
    MappingKind.GL_ACCOUNTS: MappingTarget(
        ReferenceKind.ACCOUNTS,
        "source GL account -> QBO account",
        acceptable=lambda entry: entry.type in DEPOSIT_ACCOUNT_TYPES,
        wrong_type_message="GL accounts map to QBO deposit accounts, of type Bank or Other Current Asset",
    ),
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
    """One row as an admin sends it: which source key maps to which QBO id (an empty one is refused
    as that row's problem)."""

    source_key: RowSourceKey
    qbo_id: RowQboId


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
    reason: Literal[
        "not_found", "inactive", "wrong_type", "duplicate_source_key", "empty", "unknown_source_value"
    ]
    message: str
    field: Literal["source_key", "qbo_id"] = "qbo_id"


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
    kind: MappingKind,
    rows: Sequence[MappingRowInput],
    reference: Iterable[QboReference],
    source_codes: Collection[str] | None = None,
) -> list[MappingRow]:
    """Rows ready to store, or ``MappingRejected`` naming every bad row and why.

    ``reference`` is the live QBO list for the kind (ignored for product types, whose targets are
    QBO's fixed item types); ``source_codes`` the codes of the source list of the same name (None:
    the source side is not checked).
    """
    target = MAPPING_TARGETS[kind]
    entries = _product_type_reference() if target.reference_kind is None else list(reference)
    by_id = {entry.id: entry for entry in entries}
    key_counts = Counter(row.source_key for row in rows)
    problems: list[MappingRowProblem] = []
    accepted: list[MappingRow] = []
    for row in rows:
        row_problems = _source_key_problems(kind, row, key_counts[row.source_key], source_codes)
        qbo_problem = _row_problem(kind, target, row, by_id.get(row.qbo_id))
        row_problems += [qbo_problem] if qbo_problem is not None else []
        if row_problems:
            problems += row_problems
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


def _source_key_problems(
    kind: MappingKind,
    row: MappingRowInput,
    times_source_key_appears: int,
    source_codes: Collection[str] | None,
) -> list[MappingRowProblem]:
    def problem(reason: Any, message: str) -> MappingRowProblem:
        return MappingRowProblem(
            source_key=row.source_key, qbo_id=row.qbo_id, reason=reason, message=message, field="source_key"
        )

    if not row.source_key:
        return [problem("empty", "source_key is empty; name a source code")]
    if times_source_key_appears > 1:
        return [
            problem(
                "duplicate_source_key",
                f"{row.source_key!r} appears {times_source_key_appears} times; "
                "a source key maps to one target",
            )
        ]
    if source_codes is not None and row.source_key not in source_codes:
        return [problem("unknown_source_value", f"the source has no {kind.value} entry {row.source_key!r}")]
    return []


def _row_problem(
    kind: MappingKind, target: MappingTarget, row: MappingRowInput, entry: QboReference | None
) -> MappingRowProblem | None:
    def problem(reason: Any, message: str) -> MappingRowProblem:
        return MappingRowProblem(source_key=row.source_key, qbo_id=row.qbo_id, reason=reason, message=message)

    if not row.qbo_id:
        return problem("empty", "qbo_id is empty; choose a QBO entry")
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
    problems = settings_target_problems(settings, reference)
    if problems:
        raise SettingsRejected(
            f"{len(problems)} QBO target(s) in the settings refused; nothing was changed", details=problems
        )


def referenced_source_defaults(settings: TenantSettings) -> list[tuple[str, str, SourceReferenceKind]]:
    """The source defaults the settings set: (field, value, the source list it must be in)."""
    defaults = settings.source_defaults.model_dump()
    named = [
        (f"source_defaults.{name}", str(defaults[name]), kind)
        for name, kind in SOURCE_DEFAULT_LISTS.items()
        if defaults[name] is not None
    ]
    chosen = [
        (f"source_defaults.qbo_payment_method_choices.{qbo_id}", code, SourceReferenceKind.PAYMENT_METHODS)
        for qbo_id, code in settings.source_defaults.qbo_payment_method_choices.items()
    ]
    return named + chosen


def source_default_problems(settings: TenantSettings, catalog: SourceCatalog) -> list[dict[str, Any]]:
    """A ``details`` entry for every source default that names something the source does not have."""
    problems = []
    for field, value, kind in referenced_source_defaults(settings):
        if kind is SourceReferenceKind.PRODUCTS:
            known = catalog.has_product(value)
        else:
            listed = catalog.live(kind)
            known = not listed or any(entry.code == value for entry in listed)  # no list: not checkable
        if not known:
            problems.append(unknown_source_value_problem(field, value, kind))
    return problems


def settings_target_problems(
    settings: TenantSettings, reference: Callable[[ReferenceKind], Sequence[QboReference]]
) -> list[dict[str, Any]]:
    """A ``details`` entry for every QBO target in the settings that is missing or unusable."""
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
    problems += _payment_method_choice_problems(settings, reference)
    return problems


def _payment_method_choice_problems(
    settings: TenantSettings, reference: Callable[[ReferenceKind], Sequence[QboReference]]
) -> list[dict[str, Any]]:
    """Each key of ``source_defaults.qbo_payment_method_choices`` must be a QBO payment method."""
    choices = settings.source_defaults.qbo_payment_method_choices
    if not choices:
        return []
    known = {entry.id for entry in reference(ReferenceKind.PAYMENT_METHODS)}
    return [
        {
            "field": "source_defaults.qbo_payment_method_choices",
            "qbo_id": qbo_id,
            "reason": "not_found",
            "message": f"no QBO payment method with id {qbo_id!r}",
        }
        for qbo_id in choices
        if qbo_id not in known
    ]


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
        *,
        source_catalog: Callable[[], SourceCatalog] | None = None,
    ) -> tuple[TenantSettings, int]:
        """Store new settings if every QBO target and source default they name exists and is usable,
        and nobody changed them meanwhile.

        ``catalog`` is called only when the settings name QBO targets (it needs a connected tenant);
        ``source_catalog`` only when they set source defaults (None: source defaults are not checked).
        """
        before, current_version = self.read_settings(tenant_id)
        _require_current(current_version, expected_version, "settings")
        problems: list[dict[str, Any]] = []
        if referenced_qbo_targets(settings):
            problems += settings_target_problems(settings, catalog().live)
        if source_catalog is not None and referenced_source_defaults(settings):
            problems += source_default_problems(settings, source_catalog())
        if problems:
            raise SettingsRejected(
                f"{len(problems)} value(s) in the settings refused; nothing was changed", details=problems
            )
        return self._store_settings(tenant_id, actor, before, settings, expected_version)

    def patch_settings(
        self,
        tenant_id: str,
        actor: str,
        patch: dict[str, Any],
        expected_version: int,
        catalog: Callable[[], ReferenceCatalog],
        *,
        source_catalog: Callable[[], SourceCatalog] | None = None,
    ) -> tuple[TenantSettings, int]:
        """Apply a JSON merge patch (RFC 7396) to the stored settings, then store them as
        ``replace_settings`` would: only what the patch names changes."""
        before, current_version = self.read_settings(tenant_id)
        if current_version != expected_version:
            raise PreconditionFailed(
                f"settings are at version {current_version}, not {expected_version}; read them again and "
                "reapply the patch",
                details=[
                    {
                        "target": "settings",
                        "expected_version": expected_version,
                        "current_version": current_version,
                    }
                ],
            )
        merged = merge_patch(before.model_dump(mode="json"), patch)
        try:
            patched = TenantSettings.model_validate(merged)
        except ValidationError as error:
            raise ValidationFailed(
                "the patched settings are not valid; nothing was changed",
                details=validation_details(error.errors()),
            ) from None
        return self.replace_settings(
            tenant_id, actor, patched, expected_version, catalog, source_catalog=source_catalog
        )

    def _store_settings(
        self,
        tenant_id: str,
        actor: str,
        before: TenantSettings,
        settings: TenantSettings,
        expected_version: int,
    ) -> tuple[TenantSettings, int]:
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
        source_catalog: Callable[[], SourceCatalog] | None = None,
    ) -> tuple[list[MappingRow], int]:
        """Replace every row of ``kind``: all rows valid against live QBO data and, with
        ``source_catalog``, every source key an entry of the source's list of the same name; or
        nothing changes."""
        before, current_version = self.read_mapping(tenant_id, kind)
        _require_current(current_version, expected_version, f"mappings/{kind.value}")
        reference_kind = reference_kind_for(kind)
        live = catalog().live(reference_kind) if reference_kind is not None and rows else []
        source_codes = None
        if source_catalog is not None and rows:
            listed = {entry.code for entry in source_catalog().live(SourceReferenceKind(kind.value))}
            # A source that offers no list of this kind (an empty one) cannot be checked against it.
            source_codes = listed or None
        accepted = validate_mapping_rows(kind, rows, live, source_codes)
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


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key, anything else
    replaces what was there."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def sections_left_out(settings: BaseModel, prefix: str = "") -> list[str]:
    """Every field (nested ones by dotted path) a settings body did not send, so a ``PUT`` that
    leaves something out is refused instead of resetting it to its default."""
    missing = []
    for name in type(settings).model_fields:
        if name == "schema_version":
            continue
        path = f"{prefix}{name}"
        if name not in settings.model_fields_set:
            missing.append(path)
            continue
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            missing += sections_left_out(value, f"{path}.")
    return missing


def _require_current(current_version: int, expected_version: int, target: str) -> None:
    """Refuse early when the admin edited an old copy (the conditional write catches races after this)."""
    if current_version != expected_version:
        raise VersionConflict(
            f"{target} is at version {current_version}, not {expected_version}; read it again and reapply",
            details=[
                {"target": target, "expected_version": expected_version, "current_version": current_version}
            ],
        )
