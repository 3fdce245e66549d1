"""Preflight: is this tenant ready to sync? Each check says pass, fail or warn, why, and how to fix it.

Over 400 lines on purpose: one module a check list, each check a short function, read top to bottom as
the report an admin sees.

The checks follow the seeds' prerequisites: a healthy connection made by a QBO admin, accrual basis,
a zero-rate tax code, mappings whose targets still exist, the defaults each enabled flow needs, and
source codes that nothing maps yet. A check that cannot run reports why instead of failing the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from qbosync.errors import QbosyncError
from qbosync.observability import logger
from qbosync.source.errors import SourceNotFound
from qbosync.source.models import Page, SourceAccount, SourceInvoice, SourceProduct
from qbosync.sync.configuration import (
    SOURCE_DEFAULT_LISTS,
    MappingKind,
    MappingRejected,
    MappingRow,
    MappingRowInput,
    SettingsRejected,
    TenantSettings,
    reference_kind_for,
    validate_mapping_rows,
    validate_settings_targets,
)
from qbosync.sync.records.items import ItemMappingGap, find_mapping_problem
from qbosync.sync.reference import (
    CONNECTED,
    ConnectionView,
    ReferenceCatalog,
    ReferenceKind,
    ReferenceReader,
    unusable_connection_sentence,
)
from qbosync.sync.source_reference import INCOME_ACCOUNT_TYPES, SourceReferenceKind, SourceReferenceReader

CheckStatus = Literal["pass", "fail", "warn"]


class SourceCode(Protocol):
    @property
    def code(self) -> str: ...


class SourceAccountCode(SourceCode, Protocol):
    @property
    def account_type(self) -> str: ...


# Preflight answers within API Gateway's 29 s; products beyond these pages are left to the sync's own
# reporting of unmapped codes.
PRODUCT_PAGES_CHECKED = 5
PRODUCT_PAGE_SIZE = 200
# The source's account type of the bank and clearing accounts a payment can name as its deposit account.
SOURCE_DEPOSIT_ACCOUNT_TYPE = "asset"


class PreflightCheck(BaseModel):
    id: str
    status: CheckStatus
    reason: str
    fix: str


class PreflightReport(BaseModel):
    """``ok`` is true when no check failed (warnings do not block a sync)."""

    ok: bool
    checks: list[PreflightCheck]


def _check(check_id: str, status: CheckStatus, reason: str, fix: str = "") -> PreflightCheck:
    return PreflightCheck(id=check_id, status=status, reason=reason, fix=fix)


def _unwrap(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    inner = document.get(key)
    return inner if isinstance(inner, Mapping) else document


def run_preflight(
    settings: TenantSettings,
    mappings: Mapping[MappingKind, list[MappingRow]],
    connection: ConnectionView | None,
    qbo: Callable[[], tuple[ReferenceReader, ReferenceCatalog]],
    source: Callable[[], SourceReferenceReader],
) -> PreflightReport:
    """Every check, in the order an admin fixes them. ``qbo`` and ``source`` are called lazily."""
    checks = [_connection_check(connection)]
    if connection is not None and connection.status == CONNECTED:
        checks += _qbo_checks(settings, mappings, qbo)
    else:
        checks += _not_checked(
            "there is no usable QuickBooks Online connection",
            "connect QuickBooks Online, then run preflight again",
        )
    lists = _read_source_lists(source)
    checks += _required_defaults_checks(settings, lists)
    checks += _source_checks(settings, mappings, lists)
    checks.append(_go_live_check(settings))
    if connection is not None and connection.status == CONNECTED:
        checks.append(_currency_check(settings, qbo, source))
    return PreflightReport(ok=all(check.status != "fail" for check in checks), checks=checks)


def _go_live_check(settings: TenantSettings) -> PreflightCheck:
    """Pushes need the go-live date; the initial sync of customers and products does not, so a missing
    one warns here and fails each document push with ``go_live_not_set``."""
    sync = settings.sync
    go_live = settings.onboarding.go_live_date
    if go_live is not None:
        return _check("go_live_date", "pass", f"documents dated before {go_live} are matched, never created")
    if not (sync.invoices or sync.payments or sync.credit_notes):
        return _check("go_live_date", "pass", "no document flow is on")
    return _check(
        "go_live_date",
        "warn",
        "onboarding.go_live_date is not set: no invoice, payment or credit note is pushed until it is",
        "set onboarding.go_live_date in the settings (documents dated before it already exist in QBO)",
    )


QBO_CHECK_IDS = (
    "qbo_admin_access",
    "accrual_basis",
    "zero_rate_tax_code",
    "mapping_targets",
    "settings_targets",
)


def _not_checked(why: str, fix: str) -> list[PreflightCheck]:
    return [_check(check_id, "warn", f"not checked: {why}", fix) for check_id in QBO_CHECK_IDS]


def _qbo_checks(
    settings: TenantSettings,
    mappings: Mapping[MappingKind, list[MappingRow]],
    qbo: Callable[[], tuple[ReferenceReader, ReferenceCatalog]],
) -> list[PreflightCheck]:
    try:
        reader, catalog = qbo()
    except QbosyncError as error:
        return _not_checked(error.message, "reconnect QuickBooks Online, or try again shortly")
    checks = [_admin_access_check(reader), _accrual_basis_check(reader), _zero_rate_tax_code_check(reader)]
    target_checks: list[tuple[str, Callable[[], PreflightCheck]]] = [
        ("mapping_targets", lambda: _mapping_drift_check(mappings, catalog)),
        ("settings_targets", lambda: _settings_targets_check(settings, catalog)),
    ]
    for check_id, run in target_checks:
        try:
            checks.append(run())
        except QbosyncError as error:  # QBO's lists could not be read: say so instead of failing the call
            checks.append(
                _check(check_id, "warn", f"not checked: {error.message}", "run preflight again shortly")
            )
    return checks


def connection_prerequisites(tenant_id: str, realm_id: str, reader: ReferenceReader) -> list[dict[str, Any]]:
    """The QBO-side prerequisites checked right after a company is connected (admin access, accrual
    basis, a zero-rate tax code), as plain dicts for the connection record; ``reader`` reads the
    company just connected."""
    checks = [_admin_access_check(reader), _accrual_basis_check(reader), _zero_rate_tax_code_check(reader)]
    logger.info(
        "connection prerequisites checked",
        extra={
            "tenant_id": tenant_id,
            "realm_id": realm_id,
            "failed": [c.id for c in checks if c.status == "fail"],
        },
    )
    return [check.model_dump() for check in checks]


def _connection_check(connection: ConnectionView | None) -> PreflightCheck:
    if connection is None:
        return _check(
            "connection",
            "fail",
            "QuickBooks Online is not connected",
            "connect QuickBooks Online with an administrator (ideally a dedicated service account)",
        )
    if connection.status != CONNECTED:
        return _check(
            "connection",
            "fail",
            f"{unusable_connection_sentence(connection.status)} (status {connection.status})",
            "reconnect QuickBooks Online with an administrator account",
        )
    name = connection.company_name or connection.realm_id
    return _check("connection", "pass", f"connected to {name}")


def _admin_access_check(reader: ReferenceReader) -> PreflightCheck:
    """QBO has no API naming the connecting user's role. Only company administrators may connect apps,
    and company settings (CompanyInfo, Preferences) are readable only with that grant, so both being
    readable with the stored tokens is the evidence; no write is attempted to probe."""
    try:
        reader.company_info()
        reader.preferences()
    except Exception as error:  # any failure is the finding this check reports
        logger.warning(
            "preflight could not read company settings", extra={"error_type": type(error).__name__}
        )
        return _check(
            "qbo_admin_access",
            "fail",
            f"company settings are not readable with this connection ({type(error).__name__})",
            "reconnect QuickBooks Online signed in as a company administrator",
        )
    return _check(
        "qbo_admin_access",
        "pass",
        "company info and preferences are readable; only QBO company administrators can connect apps",
    )


def _accrual_basis_check(reader: ReferenceReader) -> PreflightCheck:
    try:
        preferences = _unwrap(reader.preferences(), "Preferences")
    except Exception as error:  # reported as the finding, not raised
        return _check(
            "accrual_basis",
            "fail",
            f"preferences are not readable ({type(error).__name__})",
            "reconnect QuickBooks Online signed in as a company administrator",
        )
    report_prefs = preferences.get("ReportPrefs") or {}
    basis = report_prefs.get("ReportBasis") if isinstance(report_prefs, Mapping) else None
    if basis == "Accrual":
        return _check("accrual_basis", "pass", "reports use the accrual basis")
    return _check(
        "accrual_basis",
        "fail",
        f"the company's accounting method is {basis or 'not set'}, not Accrual; invoices are posted "
        "when created, not when paid",
        "in QuickBooks Online: Settings > Account and settings > Advanced > Accounting method: Accrual",
    )


def _zero_rate_tax_code_check(reader: ReferenceReader) -> PreflightCheck:
    fix = "create a 0% sales tax rate and a tax code using it in QuickBooks Online (Taxes > Sales tax)"
    try:
        tax_codes = reader.query_all("TaxCode")
        rates = {str(rate["Id"]): rate for rate in reader.query_all("TaxRate")}
    except Exception as error:  # reported as the finding, not raised
        return _check(
            "zero_rate_tax_code", "fail", f"tax codes are not readable ({type(error).__name__})", fix
        )
    for code in tax_codes:
        if not code.get("Active", True):
            continue
        if str(code.get("Id")) == "NON":
            return _check("zero_rate_tax_code", "pass", "the non-taxable code NON is available")
        if _is_zero_rate(code, rates):
            return _check("zero_rate_tax_code", "pass", f"tax code {code.get('Name')!r} charges 0%")
    return _check("zero_rate_tax_code", "fail", "no active tax code charges 0% sales tax", fix)


def _is_zero_rate(code: Mapping[str, Any], rates: Mapping[str, Mapping[str, Any]]) -> bool:
    rate_list = code.get("SalesTaxRateList") or {}
    details = rate_list.get("TaxRateDetail") or [] if isinstance(rate_list, Mapping) else []
    if not details:
        return False
    for detail in details:
        rate = rates.get(str((detail.get("TaxRateRef") or {}).get("value")))
        if rate is None:
            return False
        try:
            if Decimal(str(rate.get("RateValue", "0"))) != 0:
                return False
        except InvalidOperation:
            return False
    return True


def _mapping_drift_check(
    mappings: Mapping[MappingKind, list[MappingRow]], catalog: ReferenceCatalog
) -> PreflightCheck:
    drifted: list[dict[str, Any]] = []
    for kind, rows in mappings.items():
        reference_kind = reference_kind_for(kind)
        if not rows:
            continue
        live = catalog.live(reference_kind) if reference_kind is not None else []
        try:
            validate_mapping_rows(
                kind, [MappingRowInput(source_key=r.source_key, qbo_id=r.qbo_id) for r in rows], live
            )
        except MappingRejected as rejected:
            drifted += [{"kind": kind.value, **detail} for detail in rejected.details]
    if not drifted:
        return _check(
            "mapping_targets", "pass", "every mapping points at an active QBO entry of the right type"
        )
    described = "; ".join(f"{d['kind']} {d['source_key']!r}: {d['message']}" for d in drifted)
    return _check(
        "mapping_targets",
        "fail",
        f"{len(drifted)} mapping row(s) no longer valid: {described}",
        "remap those rows to active QBO entries, or reactivate the entries in QuickBooks Online",
    )


def _settings_targets_check(settings: TenantSettings, catalog: ReferenceCatalog) -> PreflightCheck:
    def live(kind: ReferenceKind) -> list[Any]:
        return catalog.live(kind)

    try:
        validate_settings_targets(settings, live)
    except SettingsRejected as rejected:
        described = "; ".join(f"{d['field']}: {d['message']}" for d in rejected.details)
        return _check(
            "settings_targets",
            "fail",
            described,
            "choose active QBO entries for those settings, or reactivate them in QuickBooks Online",
        )
    return _check("settings_targets", "pass", "every QBO entry named in the settings is usable")


def _required_defaults_checks(settings: TenantSettings, lists: SourceLists | str) -> list[PreflightCheck]:
    qbo, source = settings.qbo_defaults, settings.source_defaults
    needs: list[tuple[str, bool, bool, CheckStatus, str, str]] = [
        (
            "invoice_tax_code",
            settings.sync.invoices,
            qbo.invoice_tax_code_id is not None,
            "fail",
            "invoices are synced but no QBO tax code is set for invoice lines",
            "set qbo_defaults.invoice_tax_code_id",
        ),
        (
            "unmatched_one_time_item",
            settings.sync.invoices,
            qbo.unmatched_one_time_item_id is not None,
            "fail",
            "invoices are synced but no QBO item is set for unmatched one-time products",
            "set qbo_defaults.unmatched_one_time_item_id",
        ),
        (
            "unmatched_recurring_item",
            settings.sync.invoices,
            qbo.unmatched_recurring_item_id is not None,
            "fail",
            "invoices are synced but no QBO item is set for unmatched recurring products",
            "set qbo_defaults.unmatched_recurring_item_id",
        ),
        (
            "new_customer_bill_profile",
            settings.sync.qbo_to_source_customers,
            source.new_customer_bill_profile_id is not None,
            "fail",
            "customers from QBO are created in the source but no bill profile is set",
            "set source_defaults.new_customer_bill_profile_id",
        ),
        (
            "unmatched_qbo_item_product",
            settings.sync.products,
            source.unmatched_qbo_item_product_id is not None,
            "warn",
            "products are synced but QBO items without a match have no source product to fall back to",
            "set source_defaults.unmatched_qbo_item_product_id",
        ),
        (
            "qbo_payment_method",
            settings.sync.qbo_to_source_payments,
            source.qbo_payment_method_code is not None,
            "warn",
            "QBO payments are recorded in the source, but one whose QBO payment method no payment-method"
            " mapping names has no source method to fall back to, and will fail",
            "set source_defaults.qbo_payment_method_code",
        ),
    ]
    source_fields = {
        "new_customer_bill_profile": "new_customer_bill_profile_id",
        "unmatched_qbo_item_product": "unmatched_qbo_item_product_id",
        "qbo_payment_method": "qbo_payment_method_code",
    }
    checks = []
    for check_id, needed, present, status_if_missing, reason, fix in needs:
        if not needed:
            checks.append(_check(check_id, "pass", "not needed: the flow that uses it is off"))
        elif not present:
            checks.append(_check(check_id, status_if_missing, reason, fix))
        elif check_id in source_fields:
            checks.append(_source_default_check(check_id, source_fields[check_id], settings, lists))
        else:
            checks.append(_check(check_id, "pass", "set"))
    return checks


def _source_default_check(
    check_id: str, field: str, settings: TenantSettings, lists: SourceLists | str
) -> PreflightCheck:
    """A source default passes only when the source has what it names: "set" is not enough."""
    value = str(getattr(settings.source_defaults, field))
    kind = SOURCE_DEFAULT_LISTS[field]
    fix = (
        f"choose a value from GET /tenants/{{tenant}}/source/reference/{kind.value} "
        f"for source_defaults.{field}"
    )
    if isinstance(lists, str):
        return _check(check_id, "warn", f"set to {value!r}, but not checked: {lists}", fix)
    if lists.is_empty(kind):
        return _check(
            check_id, "warn", f"set to {value!r}, but the source lists no {kind.value} to check it", fix
        )
    if not lists.has(kind, value):
        return _check(check_id, "fail", f"the source has no {kind.value} entry {value!r}", fix)
    return _check(check_id, "pass", f"set to {value!r}, which the source has")


class SourceLists:
    """The source's reference lists and its first pages of active products, read once for preflight."""

    def __init__(self, reader: SourceReferenceReader) -> None:
        self._reader = reader
        accounts = list(reader.list_accounts())
        self.seen: dict[MappingKind, list[SourceCode]] = {
            MappingKind.PAYMENT_METHODS: list(reader.list_payment_methods()),
            MappingKind.GL_CODES: list(reader.list_gl_codes()),
            MappingKind.PRODUCT_TYPES: list(reader.list_product_types()),
            MappingKind.INCOME_ACCOUNTS: [a for a in accounts if a.account_type in INCOME_ACCOUNT_TYPES],
            MappingKind.GL_ACCOUNTS: [a for a in accounts if a.account_type not in INCOME_ACCOUNT_TYPES],
            MappingKind.TAX_CODES: list(reader.list_tax_codes()),
        }
        self.deposit_accounts: list[SourceAccount] = [
            a for a in accounts if a.account_type == SOURCE_DEPOSIT_ACCOUNT_TYPE and a.active
        ]
        self.bill_profiles = {entry.code for entry in reader.list_bill_profiles()}
        self.products, self.all_products_read = _active_products(reader)

    def is_empty(self, kind: SourceReferenceKind) -> bool:
        """Whether the source offers no list of this kind (products are checked one by one instead)."""
        if kind is SourceReferenceKind.PRODUCTS:
            return False
        if kind is SourceReferenceKind.BILL_PROFILES:
            return not self.bill_profiles
        return not self.seen[MappingKind(kind.value)]

    def has(self, kind: SourceReferenceKind, value: str) -> bool:
        if kind is SourceReferenceKind.BILL_PROFILES:
            return value in self.bill_profiles
        if kind is SourceReferenceKind.PRODUCTS:
            if any(product.id == value for product in self.products):
                return True
            if self.all_products_read:
                return False
            try:
                return not self._reader.get_product(value).deleted
            except SourceNotFound:
                return False
        return value in {entry.code for entry in self.seen[MappingKind(kind.value)]}


def _read_source_lists(source: Callable[[], SourceReferenceReader]) -> SourceLists | str:
    """The source's lists, or why they could not be read."""
    try:
        return SourceLists(source())
    except Exception as error:  # reported as the finding, not raised
        logger.warning(
            "preflight could not read source reference data", extra={"error_type": type(error).__name__}
        )
        return f"the source's reference lists could not be read ({type(error).__name__})"


def _source_checks(
    settings: TenantSettings,
    mappings: Mapping[MappingKind, list[MappingRow]],
    lists: SourceLists | str,
) -> list[PreflightCheck]:
    if isinstance(lists, str):
        fix = "check the source connection settings, then run preflight again"
        return [
            _check("mapping_source_keys", "warn", f"not checked: {lists}", fix),
            _check("unmapped_source_codes", "warn", lists, fix),
            _check("product_mappings_in_use", "warn", f"not checked: {lists}", fix),
            _check("deposit_account_mappings", "warn", f"not checked: {lists}", fix),
        ]
    return [
        _mapping_source_keys_check(mappings, lists),
        _unmapped_source_codes_check(mappings, lists.seen, lists.products, lists.all_products_read),
        _product_mappings_in_use_check(settings, mappings, lists.products, lists.all_products_read),
        _deposit_account_mappings_check(settings, mappings, lists.deposit_accounts),
    ]


def _deposit_account_mappings_check(
    settings: TenantSettings,
    mappings: Mapping[MappingKind, list[MappingRow]],
    deposit_accounts: Sequence[SourceAccount],
) -> PreflightCheck:
    """Active source bank/asset accounts no gl-accounts row maps: a payment deposited to one of them
    fails ``missing_mapping`` (one naming no deposit account goes to QBO's Undeposited Funds)."""
    if not settings.sync.payments:
        return _check("deposit_account_mappings", "pass", "payments are not synced")
    mapped = {row.source_key for row in mappings.get(MappingKind.GL_ACCOUNTS, [])}
    unmapped = sorted((a for a in deposit_accounts if a.code not in mapped), key=lambda a: a.code)
    if not unmapped:
        return _check(
            "deposit_account_mappings",
            "pass",
            "every active source bank or asset account has a gl-accounts mapping",
        )
    named = ", ".join(f"{a.code} ({a.name})" for a in unmapped)
    return _check(
        "deposit_account_mappings",
        "warn",
        f"{len(unmapped)} active source bank or asset account(s) have no gl-accounts mapping: {named}; "
        "a payment deposited to one of them fails with missing_mapping",
        "map them under PUT /tenants/{tenant}/mappings/gl-accounts to QBO accounts of type Bank "
        "or Other Current Asset",
    )


def _mapping_source_keys_check(
    mappings: Mapping[MappingKind, list[MappingRow]], lists: SourceLists
) -> PreflightCheck:
    """Mapping rows whose source key the source no longer has (deleted or renamed there)."""
    unknown = [
        f"{kind.value} {row.source_key!r}"
        for kind, rows in mappings.items()
        for row in rows
        if not lists.is_empty(SourceReferenceKind(kind.value))
        and not lists.has(SourceReferenceKind(kind.value), row.source_key)
    ]
    if not unknown:
        return _check("mapping_source_keys", "pass", "every mapping's source key exists in the source")
    return _check(
        "mapping_source_keys",
        "fail",
        f"{len(unknown)} mapping row(s) name source codes the source does not have: {', '.join(unknown)}",
        "remove those rows, or map the codes the source lists under GET /source/reference/{kind}",
    )


def _products_scope(all_products_read: bool) -> str:
    return (
        "" if all_products_read else f" (products: first {PRODUCT_PAGES_CHECKED * PRODUCT_PAGE_SIZE} checked)"
    )


def _unmapped_source_codes_check(
    mappings: Mapping[MappingKind, list[MappingRow]],
    seen: Mapping[MappingKind, Iterable[SourceCode]],
    products: Sequence[SourceProduct],
    all_products_read: bool,
) -> PreflightCheck:
    products_in_use = _codes_used_by_products(products)
    unmapped: list[str] = []
    for kind, codes in seen.items():
        mapped = {row.source_key for row in mappings.get(kind, [])}
        missing = sorted(({code.code for code in codes} | products_in_use.get(kind, set())) - mapped)
        if missing:
            unmapped.append(f"{kind.value}: {', '.join(missing)}")
    scope = _products_scope(all_products_read)
    if not unmapped:
        return _check("unmapped_source_codes", "pass", "every source code in use has a mapping" + scope)
    return _check(
        "unmapped_source_codes",
        "warn",
        "source codes without a mapping: " + "; ".join(unmapped) + scope,
        "add mappings for them, or leave them to the defaults for unmatched items",
    )


def _product_mappings_in_use_check(
    settings: TenantSettings,
    mappings: Mapping[MappingKind, list[MappingRow]],
    products: Sequence[SourceProduct],
    all_products_read: bool,
) -> PreflightCheck:
    """Which active products the initial sync would skip for want of a product-type or GL-code mapping.

    Bulk product creation has no default item type or income account, so an unmapped product type or
    GL code in use means skipped products (unless QBO already has an item of the same name to match).
    """
    if not settings.sync.products:
        return _check("product_mappings_in_use", "pass", "products are not synced")
    product_types = {row.source_key: row.qbo_id for row in mappings.get(MappingKind.PRODUCT_TYPES, [])}
    gl_codes = {row.source_key: row.qbo_id for row in mappings.get(MappingKind.GL_CODES, [])}
    skipped: dict[ItemMappingGap, int] = {}
    codes: dict[ItemMappingGap, set[str]] = {}
    for product in products:
        problem = find_mapping_problem(product, product_types, gl_codes)
        if problem is None:
            continue
        skipped[problem.gap] = skipped.get(problem.gap, 0) + 1
        code = product.gl_code if problem.gap is ItemMappingGap.NO_GL_CODE_MAPPING else product.product_type
        codes.setdefault(problem.gap, set()).add(str(code))
    scope = _products_scope(all_products_read)
    if not skipped:
        return _check(
            "product_mappings_in_use",
            "pass",
            "every active source product has the product-type and GL-code mappings the initial sync needs"
            + scope,
        )
    findings = "; ".join(
        f"{gap.value}: {count} ({', '.join(sorted(codes[gap]))})"
        for gap, count in sorted(skipped.items(), key=lambda entry: -entry[1])
    )
    return _check(
        "product_mappings_in_use",
        "warn",
        f"the initial sync would skip {sum(skipped.values())} of {len(products)} active products "
        f"(unless QBO has an item of the same name): {findings}{scope}",
        "map these product types (to Service or NonInventory) and GL codes (to an income account); "
        "products skipped anyway are listed by reason on the run",
    )


def _active_products(reader: SourceReferenceReader) -> tuple[list[SourceProduct], bool]:
    """Active source products of the first pages, and whether every page was read."""
    products: list[SourceProduct] = []
    cursor: str | None = None
    for _page in range(PRODUCT_PAGES_CHECKED):
        page = reader.list_products(cursor=cursor, limit=PRODUCT_PAGE_SIZE)
        products += [product for product in page.items if product.active and not product.deleted]
        cursor = page.next_cursor
        if cursor is None:
            return products, True
    return products, False


def _codes_used_by_products(products: Sequence[SourceProduct]) -> dict[MappingKind, set[str]]:
    """The codes these source products refer to, by mapping kind."""
    used: dict[MappingKind, set[str]] = {kind: set() for kind in MappingKind}
    for product in products:
        used[MappingKind.PRODUCT_TYPES].add(product.product_type)
        for kind, code in (
            (MappingKind.GL_CODES, product.gl_code),
            (MappingKind.TAX_CODES, product.tax_code),
            (MappingKind.INCOME_ACCOUNTS, product.income_account),
        ):
            if code:
                used[kind].add(code)
    return used


@runtime_checkable
class SourceInvoiceReader(Protocol):
    """The source's invoices, which say which currencies the source bills in."""

    def list_invoices(self, cursor: str | None = None, limit: int = ...) -> Page[SourceInvoice]: ...


CURRENCY_PAGES_CHECKED = 5


def _currency_check(
    settings: TenantSettings,
    qbo: Callable[[], tuple[ReferenceReader, ReferenceCatalog]],
    source: Callable[[], SourceReferenceReader],
) -> PreflightCheck:
    """QBO's home currency is the source's, and multi-currency is on when the source bills in others."""
    try:
        preferences = _unwrap(qbo()[0].preferences(), "Preferences")
        reader = source()
        currencies = _source_currencies(reader) if isinstance(reader, SourceInvoiceReader) else set()
    except Exception as error:  # reported as the finding, not raised
        return _check(
            "currencies", "warn", f"not checked: {type(error).__name__}", "run preflight again shortly"
        )
    prefs = preferences.get("CurrencyPrefs") or {}
    qbo_home = str((prefs.get("HomeCurrency") or {}).get("value") or "USD")
    source_home = settings.money.source_home_currency
    if qbo_home != source_home:
        return _check(
            "currencies",
            "fail",
            f"QBO's home currency is {qbo_home}, the source's is {source_home}: every amount would be"
            " booked in the wrong currency",
            "connect the QBO company whose home currency is the source's (QBO cannot change it once the"
            " company has transactions), or correct money.source_home_currency in the settings",
        )
    foreign = sorted(currencies - {qbo_home})
    if not foreign:
        return _check("currencies", "pass", f"QBO and the source both keep their books in {qbo_home}")
    if prefs.get("MultiCurrencyEnabled") is not True:
        return _check(
            "currencies",
            "fail",
            f"the source bills in {', '.join(foreign)} but QBO's multi-currency is off: those documents"
            " would fail with currency_not_enabled",
            "in QuickBooks Online: Settings > Account and settings > Advanced > Currency > Multicurrency"
            " on (it can never be switched off again)",
        )
    return _check(
        "currencies",
        "pass",
        f"home currency {qbo_home} on both sides; multi-currency is on for {', '.join(foreign)}",
    )


def _source_currencies(reader: SourceInvoiceReader) -> set[str]:
    """The currencies of the source's first invoices (a few pages: enough to see foreign billing)."""
    currencies: set[str] = set()
    cursor: str | None = None
    for _page in range(CURRENCY_PAGES_CHECKED):
        page = reader.list_invoices(cursor=cursor, limit=PRODUCT_PAGE_SIZE)
        currencies.update(invoice.currency for invoice in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return currencies
