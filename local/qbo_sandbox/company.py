"""One QBO company: its records and the rules QBO enforces when they are written.

Every write goes through `Company` so that the rules (unique names, SyncToken, references, totals and
balances, void and delete) hold however the write arrives (single request or batch), and so that every
change lands in the change log (for CDC) and reaches the listeners (for webhooks).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from local.qbo_sandbox.always_sent import (
    ADDRESSED_FORMS,
    CURRENCY_ENTITIES,
    CURRENCY_NAMES,
    DEFAULTS,
    KEPT_ON_FULL_UPDATE,
    LINKED_FORMS,
    currency_ref,
)
from local.qbo_sandbox.currency import (
    BALANCE_TRANSACTIONS,
    CURRENCY_TRANSACTIONS,
    ExchangeRateTable,
    checked_code,
    currency_change,
    currency_mismatch,
    multi_currency_off,
    rate_of,
    to_cent,
)
from local.qbo_sandbox.entities import (
    ACCOUNT_CLASSIFICATION,
    ACCOUNT_TYPE_BY_SUBTYPE,
    ENTITY_SPECS,
    ESTIMATE_STATUSES,
    ITEM_TYPES,
    NAME_LIST,
    PAYMENT_METHOD_TYPES,
    REFERENCE,
    SETTINGS,
    TERM_TYPES,
    TRANSACTION,
    EntitySpec,
    business_fault,
    check_name_characters,
    clean_body,
    display_name_from_parts,
    invalid_id,
    invalid_property,
    money,
    number_out,
    price_sales_lines,
    required_missing,
    too_long,
)
from local.qbo_sandbox.faultbody import COMPANY_TIMEZONE, QboFaultError
from local.qbo_sandbox.index import LINKED_TXN_INDEX, UNIQUE_NAME_INDEX, RecordIndex, index_key
from local.qbo_sandbox.query import Query, evaluate_query, invalid_query, parse_query
from local.qbo_sandbox.sales_tax import (
    AST_RATES,
    NO_TAX_STATE,
    AstTaxCode,
    TaxComponent,
    ast_code_name,
    tax_detail,
)

logger = logging.getLogger(__name__)

CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_PER_ENTITY = 1000
REQUEST_ID_LIMIT = 50
REQUEST_CACHE_SIZE = 20_000
FIRST_DOC_NUMBER = 1001
SNAPSHOT_VERSION = 1
NAME_NAMESPACES = {"names": ("Customer", "Vendor", "Employee")}
NOT_FOUND_DETAIL = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
STALE_DETAIL = (
    "Stale Object Error : You and root were working on this at the same time. "
    "root finished before you did, so your work was not saved."
)
# The members a reference may name, and which member of the target QBO copies into `name`.
REF_NAME_MEMBER = {
    "Customer": "DisplayName",
    "Item": "Name",
    "Account": "Name",
    "Class": "Name",
    "PaymentMethod": "Name",
    "Term": "Name",
}
PSEUDO_TAX_CODES = ("TAX", "NON")
# The transactions that share QBO's automatic DocNumber sequence.
DOC_NUMBERED = ("Invoice", "CreditMemo", "SalesReceipt", "Estimate")


@dataclass(frozen=True)
class ChangeEvent:
    """One change to one record, as QBO's webhooks and CDC report it."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str  # "Create" | "Update" | "Delete" | "Merge" | "Void"
    last_updated: datetime
    deleted_id: str | None = None


class SettingRefusedError(Exception):
    """A company setting QBO would not let anyone change this way (reason code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def object_not_found(element: str = "") -> QboFaultError:
    return QboFaultError(400, "610", "Object Not Found", NOT_FOUND_DETAIL, element=element)


def check_id(spec: EntitySpec, entity_id: str) -> None:
    """QBO ids are numbers (TaxCode's pseudo-codes TAX and NON aside); anything else is 2030."""
    if not entity_id.strip().isdigit() and not (spec.name == "TaxCode" and entity_id in PSEUDO_TAX_CODES):
        raise invalid_id(entity_id)


def unsupported_operation(detail: str) -> QboFaultError:
    return QboFaultError(400, "500", "Unsupported Operation", detail)


def _local_now() -> datetime:
    return datetime.now(COMPANY_TIMEZONE)


class Company:
    """The state of one realm and the only way to change it."""

    def __init__(
        self, realm_id: str, company_name: str, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.realm_id = realm_id
        self.company_name = company_name
        self.clock: Callable[[], datetime] = clock or _local_now
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITY_SPECS}
        self.next_ids: dict[str, int] = {}
        self.voided: dict[str, set[str]] = {}
        self.tombstones: dict[str, dict[str, str]] = {}
        self.change_log: list[dict[str, str]] = []
        self.request_cache: dict[str, dict[str, Any]] = {}
        self.listeners: list[Callable[[ChangeEvent], None]] = []
        self.lock = threading.RLock()
        self.index = RecordIndex(lambda entity, record: self._unique_key(ENTITY_SPECS[entity], record))
        self.doc_number_high = FIRST_DOC_NUMBER - 1
        self.exchange_rates = ExchangeRateTable()

    def _store(self, entity: str, record: dict[str, Any]) -> None:
        """Keep a record and file it in the index (every stored record goes through here)."""
        self.records[entity][record["Id"]] = record
        self.index.put(entity, record)
        doc_number = str(record.get("DocNumber", ""))
        if entity in DOC_NUMBERED and doc_number.isdigit():
            self.doc_number_high = max(self.doc_number_high, int(doc_number))

    def _unstore(self, entity: str, entity_id: str) -> None:
        del self.records[entity][entity_id]
        self.index.drop(entity, entity_id)

    # ----- time, ids, change log -------------------------------------------------------------------

    def now(self) -> datetime:
        """The company's local time, to the second (QBO's MetaData precision)."""
        return self.clock().astimezone(COMPANY_TIMEZONE).replace(microsecond=0)

    def _stamp(self) -> str:
        return self.now().isoformat(timespec="seconds")

    def _new_id(self, entity: str) -> str:
        number = self.next_ids.get(entity, 1)
        self.next_ids[entity] = number + 1
        return str(number)

    def _record_change(self, entity: str, entity_id: str, operation: str, stamp: str) -> None:
        """Log the change for CDC and tell every listener (webhooks); a failing listener is logged."""
        self.change_log.append({"entity": entity, "id": entity_id, "operation": operation, "time": stamp})
        horizon = self.now() - CDC_LOOKBACK - timedelta(days=1)
        if datetime.fromisoformat(self.change_log[0]["time"]) < horizon:
            self.change_log = [e for e in self.change_log if datetime.fromisoformat(e["time"]) >= horizon]
        event = ChangeEvent(self.realm_id, entity, entity_id, operation, datetime.fromisoformat(stamp))
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("change listener failed for %s %s %s", entity, entity_id, operation)

    # ----- reads -----------------------------------------------------------------------------------

    def spec(self, entity: str) -> EntitySpec:
        spec = ENTITY_SPECS.get(entity)
        if spec is None:
            raise unsupported_operation(f"Entity {entity} is not supported.")
        return spec

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        spec = self.spec(entity)
        if spec.name == "CompanyInfo" and entity_id == self.realm_id:
            entity_id = next(iter(self.records["CompanyInfo"]), entity_id)
        check_id(spec, entity_id)
        record = self.records[spec.name].get(entity_id)
        if record is None:
            raise object_not_found()
        return copy.deepcopy(record)

    def settings(self, entity: str) -> dict[str, Any]:
        """CompanyInfo or Preferences: the one record of its kind."""
        record = next(iter(self.records[entity].values()), None)
        if record is None:
            raise object_not_found()
        return copy.deepcopy(record)

    def query(self, text: str) -> dict[str, Any]:
        """The members of `QueryResponse` for a QBO query."""
        parsed = parse_query(text)
        spec = ENTITY_SPECS.get(parsed.entity)
        if spec is None:
            raise invalid_query(f"Invalid context declaration : {parsed.entity}")
        named = [c.field for c in parsed.conditions] + [o.field for o in parsed.order_by]
        if spec.kind != SETTINGS:
            allowed = spec.queryable_members()
            for field_name in named:
                if field_name.split(".")[0].lower() not in allowed:
                    raise invalid_query(f"property '{field_name}' is not queryable")
        records = self._query_candidates(spec.name, parsed)
        if spec.kind in (NAME_LIST, REFERENCE) and not parsed.mentions("Active"):
            records = [record for record in records if record.get("Active", True)]
        return copy.deepcopy(evaluate_query(parsed, records, spec.name))

    def _query_candidates(self, entity: str, parsed: Query) -> list[dict[str, Any]]:
        """The records an `=`/`IN` condition on an indexed member narrows to; all of them otherwise."""
        for condition in parsed.conditions:
            field_name = condition.field.lower()
            if condition.operator not in ("=", "IN") or not self.index.covers(field_name):
                continue
            keys = [index_key(literal) for literal in condition.values]
            if any(key is None for key in keys):
                continue
            ids: set[str] = set()
            for key in keys:
                ids |= self.index.ids(entity, field_name, str(key))
            stored = self.records[entity]
            return [stored[i] for i in ids if i in stored]
        return list(self.records[entity].values())

    def changes_since(self, entities: list[str], since: datetime) -> list[dict[str, Any]]:
        """CDC: per entity, current payloads changed since `since`, then tombstones of deletions."""
        if since < self.now() - CDC_LOOKBACK:
            raise QboFaultError(
                400,
                "2010",
                "Request has invalid or unsupported property",
                "changedSince: the date can not be more than 30 days in the past",
                element="changedSince",
            )
        answers: list[dict[str, Any]] = []
        for entity in entities:
            spec = self.spec(entity)
            if not spec.in_cdc:
                raise unsupported_operation(f"Operation ChangeDataCapture is not supported for {spec.name}.")
            changed: dict[str, str] = {}
            for entry in self.change_log:
                if entry["entity"] == spec.name and datetime.fromisoformat(entry["time"]) >= since:
                    changed[entry["id"]] = entry["time"]
            live = [self.records[spec.name][i] for i in changed if i in self.records[spec.name]]
            live.sort(key=lambda r: (r["MetaData"]["LastUpdatedTime"], int(r["Id"])))
            payloads = []
            for record in live:
                payload = copy.deepcopy(record)
                if record["Id"] in self.voided.get(spec.name, set()):
                    payload["status"] = "Voided"
                payloads.append(payload)
            gone = self.tombstones.get(spec.name, {})
            for entity_id in sorted((i for i in changed if i in gone), key=lambda i: gone[i]):
                payloads.append(
                    {
                        "status": "Deleted",
                        "domain": "QBO",
                        "Id": entity_id,
                        "MetaData": {"LastUpdatedTime": gone[entity_id]},
                    }
                )
            payloads = payloads[:CDC_MAX_PER_ENTITY]
            if payloads:
                answers.append({spec.name: payloads, "startPosition": 1, "maxResults": len(payloads)})
        return answers or [{}]

    # ----- requestid replay ------------------------------------------------------------------------

    def replay(self, request_id: str) -> tuple[int, dict[str, Any]] | None:
        """The original answer to a request with this requestid, if one was already served."""
        cached = self.request_cache.get(request_id)
        return None if cached is None else (int(cached["status"]), copy.deepcopy(cached["body"]))

    def remember(self, request_id: str, status: int, body: dict[str, Any]) -> None:
        self.request_cache[request_id] = {"status": status, "body": copy.deepcopy(body)}
        while len(self.request_cache) > REQUEST_CACHE_SIZE:
            self.request_cache.pop(next(iter(self.request_cache)))

    # ----- writes ----------------------------------------------------------------------------------

    def _writable_spec(self, entity: str, operation: str) -> EntitySpec:
        spec = self.spec(entity)
        if not spec.writable:
            raise unsupported_operation(f"Operation {operation} is not supported for {spec.name}.")
        return spec

    def insert(self, entity: str, record: dict[str, Any], *, stamp: str | None = None) -> dict[str, Any]:
        """Store a record as given (seed data: TaxCode, TaxRate, CompanyInfo, Preferences)."""
        when = stamp or self._stamp()
        stored = copy.deepcopy(record)
        stored.setdefault("Id", self._new_id(entity))
        stored.setdefault("SyncToken", "0")
        stored.setdefault("domain", "QBO")
        stored.setdefault("sparse", False)
        stored.setdefault("MetaData", {"CreateTime": when, "LastUpdatedTime": when})
        number = int(stored["Id"]) if str(stored["Id"]).isdigit() else 0
        self.next_ids[entity] = max(self.next_ids.get(entity, 1), number + 1)
        self._store(entity, stored)
        return copy.deepcopy(stored)

    def create(self, entity: str, body: Any, *, allow_duplicate_doc_number: bool = False) -> dict[str, Any]:
        spec = self._writable_spec(entity, "Create")
        fields = clean_body(spec, body, sparse=False)
        stamp = self._stamp()
        record: dict[str, Any] = {**fields, "domain": "QBO", "sparse": False}
        self._enforce_rules(spec, record, None, allow_duplicate_doc_number)
        record["Id"] = self._new_id(spec.name)
        record["SyncToken"] = "0"
        record["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        self._store(spec.name, record)
        self._record_change(spec.name, record["Id"], "Create", stamp)
        self._after_transaction_change(spec, record, None)
        return copy.deepcopy(self.records[spec.name][record["Id"]])

    def _current_for_write(self, spec: EntitySpec, body: Any) -> dict[str, Any]:
        """The stored record a write names, after the Id and SyncToken checks."""
        if not isinstance(body, dict):
            raise invalid_property(spec.name, body, f"com.intuit.schema.finance.v3.{spec.name}")
        entity_id = body.get("Id")
        if entity_id is None or entity_id == "":
            raise required_missing("Id")
        sync_token = body.get("SyncToken")
        if sync_token is None or sync_token == "":
            raise required_missing("SyncToken")
        check_id(spec, str(entity_id))
        current = self.records[spec.name].get(str(entity_id))
        if current is None:
            raise object_not_found("Id")
        if str(sync_token).strip() != current["SyncToken"]:
            raise QboFaultError(400, "5010", "Stale Object Error", STALE_DETAIL)
        return current

    def update(self, entity: str, body: Any, *, allow_duplicate_doc_number: bool = False) -> dict[str, Any]:
        spec = self._writable_spec(entity, "Update")
        current = self._current_for_write(spec, body)
        if current["Id"] in self.voided.get(spec.name, set()):
            raise business_fault("This transaction has been voided and can not be changed.")
        sparse = body.get("sparse") in (True, "true")
        fields = clean_body(spec, body, sparse=sparse)
        if sparse:
            record = copy.deepcopy(current)
            for member, value in fields.items():
                if value is None:
                    if member not in (spec.name_field, "CustomerRef", "Line"):
                        record.pop(member, None)
                else:
                    record[member] = value
            if self.automated_sales_tax() and "TxnTaxDetail" not in fields:
                record.pop("TxnTaxDetail", None)  # AST recomputes; only a TotalTax sent now is honoured
        else:
            record = {**fields, "domain": "QBO", "sparse": False}
            for member in KEPT_ON_FULL_UPDATE.get(spec.name, ()):
                if member not in record and member in current:
                    record[member] = copy.deepcopy(current[member])
        record["Id"] = current["Id"]
        self._enforce_rules(spec, record, current, allow_duplicate_doc_number)
        stamp = self._stamp()
        record["SyncToken"] = str(int(current["SyncToken"]) + 1)
        record["MetaData"] = {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": stamp}
        self._store(spec.name, record)
        self._record_change(spec.name, record["Id"], "Update", stamp)
        self._after_transaction_change(spec, record, current)
        return copy.deepcopy(self.records[spec.name][record["Id"]])

    def delete(self, entity: str, body: Any) -> dict[str, Any]:
        spec = self.spec(entity)
        if spec.kind != TRANSACTION:
            raise unsupported_operation(
                f"Operation Delete is not supported for {spec.name}. Make it inactive (Active:false) instead."
            )
        current = self._current_for_write(spec, body)
        if spec.name in ("Invoice", "CreditMemo") and self._payments_linking(current["Id"], spec.name):
            raise business_fault(
                f"This {spec.name} has payments linked to it. Remove the linked payments before deleting it."
            )
        stamp = self._stamp()
        self._unstore(spec.name, current["Id"])
        self.voided.get(spec.name, set()).discard(current["Id"])
        self.tombstones.setdefault(spec.name, {})[current["Id"]] = stamp
        self._record_change(spec.name, current["Id"], "Delete", stamp)
        self._after_transaction_change(spec, None, current)
        return {"status": "Deleted", "domain": "QBO", "Id": current["Id"]}

    def void(self, entity: str, body: Any) -> dict[str, Any]:
        spec = self.spec(entity)
        if not spec.voidable:
            raise unsupported_operation(f"Operation Void is not supported for {spec.name}.")
        current = self._current_for_write(spec, body)
        record = copy.deepcopy(current)
        if spec.name in ("Invoice", "SalesReceipt"):
            for payment_id in self._payments_linking(record["Id"], "Invoice"):
                self._unlink_payment(payment_id, record["Id"])
            for line in record.get("Line", []):
                line["Amount"] = 0.0
                if "SalesItemLineDetail" in line:
                    line["SalesItemLineDetail"]["Qty"] = 0.0
            if "TxnTaxDetail" in record:
                record["TxnTaxDetail"]["TotalTax"] = 0.0
            record["Balance"] = 0.0
            if spec.name == "Invoice":
                record["LinkedTxn"] = []
        else:
            record["Line"] = []
            record["UnappliedAmt"] = 0.0
        record["TotalAmt"] = 0.0
        for member in ("HomeTotalAmt", "HomeBalance"):
            if member in record:
                record[member] = 0.0
        record["PrivateNote"] = "Voided"
        stamp = self._stamp()
        record["SyncToken"] = str(int(current["SyncToken"]) + 1)
        record["MetaData"] = {"CreateTime": current["MetaData"]["CreateTime"], "LastUpdatedTime": stamp}
        self._store(spec.name, record)
        self.voided.setdefault(spec.name, set()).add(record["Id"])
        self._record_change(spec.name, record["Id"], "Void", stamp)
        self._after_transaction_change(spec, record, current)
        return copy.deepcopy(record)

    # ----- rules -----------------------------------------------------------------------------------

    def _enforce_rules(
        self,
        spec: EntitySpec,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        allow_duplicate_doc_number: bool,
    ) -> None:
        """Validate and complete a record before it is stored; raises before anything changes."""
        if spec.kind == NAME_LIST:
            self._name_list_rules(spec, record, previous)
        for member, target in spec.refs.items():
            if member in record:
                record[member] = self._resolve_ref(target, record[member], member)
        if spec.name in ADDRESSED_FORMS:
            self._sales_form_rules(spec, record, previous, allow_duplicate_doc_number)
        elif spec.name == "Payment":
            self._payment_rules(record)
        if spec.name in ("Customer", "Vendor"):
            self._name_currency_rules(record, previous)
        elif spec.name in CURRENCY_TRANSACTIONS:
            self._transaction_currency_rules(spec, record, previous)
        self._fill_always_sent(spec, record, previous)

    def _fill_always_sent(
        self, spec: EntitySpec, record: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """The members QBO puts on every record of this type, whatever the request carried."""
        for member, value in DEFAULTS.get(spec.name, {}).items():
            if spec.name == "Item" and record.get("Type") == "Category":
                break
            record.setdefault(member, copy.deepcopy(value))
        if spec.name in CURRENCY_ENTITIES:
            record.setdefault("CurrencyRef", currency_ref(self._home_currency()))
        if spec.name_field == "DisplayName":
            record.setdefault("PrintOnCheckName", record.get("CompanyName") or record["DisplayName"])
        if spec.name in LINKED_FORMS:
            record.setdefault("LinkedTxn", [])
        if spec.name in ADDRESSED_FORMS and previous is None:
            customer = self.records["Customer"].get(record["CustomerRef"]["value"], {})
            for member in ("BillAddr", "ShipAddr"):
                if member not in record and customer.get(member):
                    record[member] = copy.deepcopy(customer[member])

    def _preferences(self) -> dict[str, Any]:
        return next(iter(self.records["Preferences"].values()), {})

    def _home_currency(self) -> str:
        home = self._preferences().get("CurrencyPrefs", {}).get("HomeCurrency", {})
        return str(home.get("value") or "USD") if isinstance(home, dict) else "USD"

    def multi_currency_enabled(self) -> bool:
        return self._preferences().get("CurrencyPrefs", {}).get("MultiCurrencyEnabled") is True

    def automated_sales_tax(self) -> bool:
        """`TaxPrefs.PartnerTaxEnabled: true` is an AST company with AST set up (qbo-api.md §10)."""
        return self._preferences().get("TaxPrefs", {}).get("PartnerTaxEnabled") is True

    # ----- company settings (QBO's UI, the sandbox's control plane) ---------------------------------

    def configure(
        self,
        *,
        home_currency: str | None = None,
        multi_currency: bool | None = None,
        automated_sales_tax: bool | None = None,
    ) -> dict[str, Any]:
        """Change what QBO's UI would: multi-currency on (never off), AST on or off; the home currency
        only while the company has no transactions. Returns the new Preferences."""
        preferences = self._preferences()
        currency_prefs = preferences.setdefault("CurrencyPrefs", {})
        if home_currency is not None and home_currency != self._home_currency():
            checked_code(home_currency, "HomeCurrency")
            if any(self.records[entity] for entity in CURRENCY_TRANSACTIONS):
                raise SettingRefusedError(
                    "home_currency_fixed",
                    "the home currency can not change once the company has transactions",
                )
            currency_prefs["HomeCurrency"] = {"value": home_currency}
            for entity in ("Customer", "Vendor", "Account"):
                for record in self.records[entity].values():
                    record["CurrencyRef"] = currency_ref(home_currency)
        if multi_currency is False and self.multi_currency_enabled():
            raise SettingRefusedError(
                "multi_currency_permanent", "multi-currency can not be switched off once it is on"
            )
        if multi_currency and not self.multi_currency_enabled():
            currency_prefs["MultiCurrencyEnabled"] = True
            self._book_existing_at_home_rate()
        if automated_sales_tax is not None:
            tax_prefs = preferences.setdefault("TaxPrefs", {"UsingSalesTax": True})
            if automated_sales_tax:
                tax_prefs["PartnerTaxEnabled"] = True
            else:
                tax_prefs.pop("PartnerTaxEnabled", None)
        return copy.deepcopy(preferences)

    def _book_existing_at_home_rate(self) -> None:
        """Switching multi-currency on leaves every existing transaction in the home currency at rate 1."""
        for entity in CURRENCY_TRANSACTIONS:
            for record in self.records[entity].values():
                record.setdefault("ExchangeRate", 1.0)
                record.setdefault("HomeTotalAmt", record.get("TotalAmt", 0.0))
                if entity in BALANCE_TRANSACTIONS:
                    record.setdefault("HomeBalance", record.get("Balance", 0.0))

    def add_currency(self, body: Any) -> dict[str, Any]:
        """POST /companycurrency {"Code": "EUR"}: make a foreign currency usable (or return it if it is)."""
        if not isinstance(body, dict) or not body.get("Code"):
            raise required_missing("Code")
        code = checked_code(str(body["Code"]).strip().upper(), "Code")
        if not self.multi_currency_enabled():
            raise multi_currency_off(code, self._home_currency(), "Code")
        if code == self._home_currency():
            raise business_fault(f"{code} is the home currency.", "Code")
        return copy.deepcopy(self._company_currency(code))

    def _company_currency(self, code: str) -> dict[str, Any]:
        """The CompanyCurrency record of a foreign currency, added the first time it is used."""
        for record in self.records["CompanyCurrency"].values():
            if record.get("Code") == code:
                return record
        added = self.insert("CompanyCurrency", {"Code": code, "Name": CURRENCY_NAMES[code], "Active": True})
        return self.records["CompanyCurrency"][added["Id"]]

    def set_exchange_rate(self, code: str, as_of: date, rate: Any) -> dict[str, Any]:
        """Record a rate (home units per one `code` unit) in force from `as_of`; QBO's ExchangeRate shape."""
        if not self.multi_currency_enabled():
            raise multi_currency_off(code, self._home_currency(), "SourceCurrencyCode")
        checked_code(code, "SourceCurrencyCode")
        if code == self._home_currency():
            raise business_fault("The home currency has no exchange rate.", "SourceCurrencyCode")
        self.exchange_rates.set(code, as_of, rate_of(rate, "Rate"))
        self._company_currency(code)
        return self.exchange_rate(code, as_of)

    def exchange_rate(self, code: str, as_of: date) -> dict[str, Any]:
        """QBO's ExchangeRate object for `code` on `as_of` (rate 1 when none has been set)."""
        if not self.multi_currency_enabled():
            raise multi_currency_off(code, self._home_currency(), "sourcecurrencycode")
        checked_code(code, "sourcecurrencycode")
        found = self.exchange_rates.find(code, as_of)
        day, rate = found if found is not None else (as_of, Decimal(1))
        return {
            "SourceCurrencyCode": code,
            "TargetCurrencyCode": self._home_currency(),
            "Rate": number_out(rate),
            "AsOfDate": day.isoformat(),
            "MetaData": {"LastUpdatedTime": self._stamp()},
        }

    # ----- currency rules ---------------------------------------------------------------------------

    def _name_currency_rules(self, record: dict[str, Any], previous: dict[str, Any] | None) -> None:
        """A customer's or vendor's currency is chosen at creation and never changes."""
        home = self._home_currency()
        requested = (record.get("CurrencyRef") or {}).get("value")
        if previous is not None:
            was = (previous.get("CurrencyRef") or {}).get("value", home)
            if requested is not None and requested != was:
                raise currency_change(requested, was)
            record["CurrencyRef"] = currency_ref(was)
            return
        code = checked_code(requested or home, "CurrencyRef")
        if code != home and not self.multi_currency_enabled():
            raise multi_currency_off(code, home, "CurrencyRef")
        if code != home:
            self._company_currency(code)
        record["CurrencyRef"] = currency_ref(code)

    def _transaction_currency_rules(
        self, spec: EntitySpec, record: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """The currency is the customer's; the rate is the request's, else 1 for payments and the
        company's exchange-rate table (else 1) for sales forms; home amounts follow from it."""
        home = self._home_currency()
        customer = self.records["Customer"].get(record["CustomerRef"]["value"], {})
        customer_code = (customer.get("CurrencyRef") or {}).get("value", home)
        requested = (record.get("CurrencyRef") or {}).get("value")
        code = checked_code(requested or customer_code, "CurrencyRef")
        if code != home and not self.multi_currency_enabled():
            raise multi_currency_off(code, home, "CurrencyRef")
        if code != customer_code:
            raise currency_mismatch(code, customer_code)
        record["CurrencyRef"] = currency_ref(code)
        if not self.multi_currency_enabled():
            record.pop("ExchangeRate", None)  # a single-currency company has no rates
            return
        if code == home:
            rate = Decimal(1)
        elif record.get("ExchangeRate") is not None:
            rate = rate_of(record["ExchangeRate"])
        elif spec.name == "Payment":
            rate = Decimal(1)  # Intuit books a payment sent without a rate at 1 (qbo-api.md §10)
        else:
            txn_date = date.fromisoformat(str(record.get("TxnDate") or self.now().date().isoformat()))
            found = self.exchange_rates.find(code, txn_date)
            rate = found[1] if found is not None else Decimal(1)
        record["ExchangeRate"] = number_out(rate)
        self._home_amounts(spec.name, record)

    @staticmethod
    def _home_amounts(entity: str, record: dict[str, Any]) -> None:
        rate = Decimal(str(record.get("ExchangeRate", 1)))
        record["HomeTotalAmt"] = number_out(to_cent(money(record.get("TotalAmt", 0)) * rate))
        if entity in BALANCE_TRANSACTIONS:
            record["HomeBalance"] = number_out(to_cent(money(record.get("Balance", 0)) * rate))

    # ----- automated sales tax ----------------------------------------------------------------------

    def _ast_line_codes(self, lines: list[dict[str, Any]]) -> None:
        """AST lines are TAX or NON; a line without a tax code is TAX (Intuit, 2018-08-10)."""
        for index, line in enumerate(lines):
            detail = line.get("SalesItemLineDetail")
            if not isinstance(detail, dict):
                continue
            detail.setdefault("TaxCodeRef", {"value": "TAX"})
            if detail["TaxCodeRef"].get("value") not in PSEUDO_TAX_CODES:
                raise business_fault(
                    "With Automated Sales Tax a line's TaxCodeRef must be TAX or NON; "
                    "the transaction's tax code is chosen by QuickBooks.",
                    f"Line[{index}].SalesItemLineDetail.TaxCodeRef",
                )

    def _ship_to_state(self, record: dict[str, Any]) -> str:
        """The state AST taxes in: the form's ship-to, else the customer's, else the company's address."""
        customer = self.records["Customer"].get(record["CustomerRef"]["value"], {})
        company_info = next(iter(self.records["CompanyInfo"].values()), {})
        for address in (record.get("ShipAddr"), customer.get("ShipAddr"), company_info.get("CompanyAddr")):
            if isinstance(address, dict) and address.get("CountrySubDivisionCode"):
                state = str(address["CountrySubDivisionCode"]).strip().upper()
                return state if state in AST_RATES else NO_TAX_STATE
        return NO_TAX_STATE

    def _ast_code(self, state: str) -> AstTaxCode:
        """The tax code AST uses for a state, created (with its rates) the first time it is needed."""
        name = ast_code_name(state)
        stored = next((c for c in self.records["TaxCode"].values() if c.get("Name") == name), None)
        if stored is None:
            parts = AST_RATES.get(state, (Decimal(0),))
            details = []
            for label, percent in zip(("state", "local"), parts, strict=False):
                rate = self.insert(
                    "TaxRate",
                    {
                        "Name": f"{name} {label}",
                        "Description": "Automated Sales Tax",
                        "Active": True,
                        "RateValue": number_out(percent),
                        "AgencyRef": {"value": "1"},
                        "SpecialTaxType": "NONE",
                        "DisplayType": "ReadOnly",
                    },
                )
                details.append(
                    {
                        "TaxRateRef": {"value": rate["Id"], "name": rate["Name"]},
                        "TaxTypeApplicable": "TaxOnAmount",
                        "TaxOrder": 0,
                    }
                )
            stored = self.insert(
                "TaxCode",
                {
                    "Name": name,
                    "Description": name,
                    "Active": True,
                    "Hidden": False,
                    "Taxable": True,
                    "TaxGroup": True,
                    "SalesTaxRateList": {"TaxRateDetail": details},
                    "PurchaseTaxRateList": {"TaxRateDetail": []},
                },
            )
        components = []
        for detail in stored["SalesTaxRateList"]["TaxRateDetail"]:
            rate_record = self.records["TaxRate"][detail["TaxRateRef"]["value"]]
            components.append(
                TaxComponent(rate_record["Id"], rate_record["Name"], Decimal(str(rate_record["RateValue"])))
            )
        return AstTaxCode(stored["Id"], name, tuple(components))

    def _ast_tax(self, record: dict[str, Any], subtotal: Decimal, discount: Decimal) -> Decimal:
        """Set the AST `TxnTaxDetail` (computed, or the request's TotalTax prorated) and return TotalTax."""
        taxable = sum(
            (
                money(line["Amount"])
                for line in record["Line"]
                if line.get("DetailType") == "SalesItemLineDetail"
                and line["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value") == "TAX"
            ),
            Decimal(0),
        )
        if record.get("ApplyTaxAfterDiscount") and discount and subtotal > 0:
            taxable = to_cent(taxable * (subtotal - discount) / subtotal)
        customer = self.records["Customer"].get(record["CustomerRef"]["value"], {})
        if customer.get("Taxable") is False:
            taxable = Decimal(0)  # a tax-exempt customer (Taxable false) is charged no tax
        requested = (record.get("TxnTaxDetail") or {}).get("TotalTax")
        requested_total = money(requested) if requested is not None else None
        code = self._ast_code(self._ship_to_state(record))
        total, detail = tax_detail(code, taxable, requested_total)
        record["TxnTaxDetail"] = detail
        return total

    def _name_list_rules(  # noqa: PLR0912 (one branch per name-list entity)
        self, spec: EntitySpec, record: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        if spec.name_field == "DisplayName" and not record.get("DisplayName"):
            built = display_name_from_parts(record)
            if not built:
                raise required_missing("DisplayName")
            record["DisplayName"] = built
        if not record.get(spec.name_field):
            raise required_missing(spec.name_field)
        check_name_characters(spec, record)
        record.setdefault("Active", True)
        if spec.name == "Customer":
            self._customer_rules(record, previous)
        elif spec.name == "Item":
            self._item_rules(record)
        elif spec.name == "Account":
            self._account_rules(record, previous)
        elif spec.name == "Class":
            record["FullyQualifiedName"] = self._qualified_name("Class", record, "SubClass")
        elif spec.name == "PaymentMethod":
            if len(record["Name"]) > 31:
                raise too_long("Name", 31, len(record["Name"]))
            record.setdefault("Type", "NON_CREDIT_CARD")
            if record["Type"] not in PAYMENT_METHOD_TYPES:
                raise invalid_property("Type", record["Type"], "PaymentTypeEnum")
        elif spec.name == "Term":
            record.setdefault("Type", "STANDARD")
            if record["Type"] not in TERM_TYPES:
                raise invalid_property("Type", record["Type"], "TermTypeEnum")
        elif spec.name == "Vendor":
            record["Balance"] = previous.get("Balance", 0.0) if previous else 0.0
        self._check_unique_name(spec, record)

    def _check_unique_name(self, spec: EntitySpec, record: dict[str, Any]) -> None:
        """DisplayName is unique across Customer, Vendor and Employee; other lists within themselves."""
        wanted = self._unique_key(spec, record)
        for entity in NAME_NAMESPACES.get(spec.name_namespace, (spec.name,)):
            for other_id in self.index.ids(entity, UNIQUE_NAME_INDEX, wanted):
                if entity == spec.name and other_id == record.get("Id"):
                    continue
                raise QboFaultError(
                    400,
                    "6240",
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : {spec.unique_detail}",
                    element=spec.name_field,
                )

    @staticmethod
    def _unique_key(spec: EntitySpec, record: dict[str, Any]) -> str:
        """Names compare without case; sub-items and sub-accounts by their full Parent:Child name."""
        if spec.name_namespace == "names":
            return str(record.get("DisplayName", "")).strip().lower()
        return str(record.get("FullyQualifiedName") or record.get(spec.name_field, "")).strip().lower()

    def _qualified_name(self, entity: str, record: dict[str, Any], sub_flag: str) -> str:
        """Parent:Child names for sub-customers, sub-items, sub-accounts and sub-classes."""
        name_member = "DisplayName" if entity == "Customer" else "Name"
        parent_ref = record.get("ParentRef")
        if not parent_ref:
            record[sub_flag] = False
            record.pop("ParentRef", None)
            return str(record[name_member])
        parent = self.records[entity].get(parent_ref["value"])
        if parent is None or parent_ref["value"] == record.get("Id"):
            raise QboFaultError(
                400, "2500", "Invalid Reference Id", f"Invalid Reference Id : ParentRef {parent_ref['value']}"
            )
        record[sub_flag] = True
        return f"{parent.get('FullyQualifiedName', parent[name_member])}:{record[name_member]}"

    def _customer_rules(self, record: dict[str, Any], previous: dict[str, Any] | None) -> None:
        record["FullyQualifiedName"] = self._qualified_name("Customer", record, "Job")
        level = 0
        if record.get("ParentRef"):
            parent = self.records["Customer"][record["ParentRef"]["value"]]
            level = int(parent.get("Level", 0)) + 1
            if level > 4:
                raise business_fault("Sub-customers can be nested at most 5 levels deep.", "ParentRef")
            record.setdefault("BillWithParent", False)
        record["Level"] = level
        record["Balance"] = previous.get("Balance", 0.0) if previous else 0.0
        record["BalanceWithJobs"] = previous.get("BalanceWithJobs", 0.0) if previous else 0.0
        # Deactivating is how a customer is "deleted"; QBO refuses it while the customer owes or is owed
        # money (error-codes page: 6220 Delete Entity Has Balance Error; wording as QBO sends it).
        deactivating = previous is not None and previous.get("Active", True) and record.get("Active") is False
        if deactivating and money(record["Balance"]) != 0:
            raise QboFaultError(
                400,
                "6220",
                "Delete List Has Balance Error",
                "The entity you are trying to delete has an open balance. : "
                "This customer cannot be deleted because it has a non-zero balance",
                element="Active",
            )

    def _item_rules(self, record: dict[str, Any]) -> None:
        item_type = record.get("Type")
        if not item_type:
            raise required_missing("Type")
        if item_type not in ITEM_TYPES:
            raise invalid_property("Type", item_type, "ItemTypeEnum")
        record["FullyQualifiedName"] = self._qualified_name("Item", record, "SubItem")
        record["Level"] = record["FullyQualifiedName"].count(":")
        accounts = ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef")
        if item_type == "Category":
            if any(record.get(a) for a in accounts) or record.get("UnitPrice"):
                raise business_fault("A Category can not have accounts or a price.")
            record.pop("UnitPrice", None)
            return
        if not record.get("IncomeAccountRef"):
            raise required_missing("IncomeAccountRef")
        self._require_account_classification(record["IncomeAccountRef"], ("Revenue",), "IncomeAccountRef")
        if item_type == "Inventory":
            for member in ("AssetAccountRef", "ExpenseAccountRef", "InvStartDate", "QtyOnHand"):
                if record.get(member) is None:
                    raise required_missing(member)
            self._require_account_classification(record["AssetAccountRef"], ("Asset",), "AssetAccountRef")
            record["TrackQtyOnHand"] = True
        record.setdefault("UnitPrice", 0.0)

    def _require_account_classification(
        self, ref: dict[str, Any], allowed: tuple[str, ...], element: str
    ) -> None:
        account = self.records["Account"].get(ref["value"])
        if account is not None and account.get("Classification") not in allowed:
            raise business_fault(
                f"{element} must be an account classified as {' or '.join(allowed)}; "
                f"account {ref['value']} is {account.get('Classification')}.",
                element,
            )

    def _account_rules(self, record: dict[str, Any], previous: dict[str, Any] | None) -> None:
        account_type = record.get("AccountType")
        sub_type = record.get("AccountSubType")
        if not account_type and not sub_type:
            raise QboFaultError(
                400,
                "6010",
                "Invalid account type",
                "Invalid account type : You need to select a different type of account for this transaction.",
                element="AccountType",
            )
        if not account_type:
            account_type = ACCOUNT_TYPE_BY_SUBTYPE.get(str(sub_type))
            if account_type is None:
                raise invalid_property("AccountSubType", sub_type, "AccountSubTypeEnum")
            record["AccountType"] = account_type
        if account_type not in ACCOUNT_CLASSIFICATION:
            raise invalid_property("AccountType", account_type, "AccountTypeEnum")
        record["Classification"] = ACCOUNT_CLASSIFICATION[account_type]
        record["FullyQualifiedName"] = self._qualified_name("Account", record, "SubAccount")
        balance = previous.get("CurrentBalance", 0.0) if previous else 0.0
        record["CurrentBalance"] = balance
        record["CurrentBalanceWithSubAccounts"] = balance

    def _resolve_ref(self, target: str, ref: dict[str, Any], element: str) -> dict[str, Any]:
        """A reference must name an existing, active record; QBO copies the target's name into it."""
        value = ref["value"]
        if target == "TaxCode" and value in PSEUDO_TAX_CODES:
            return {"value": value}
        record = self.records[target].get(value)
        if record is None:
            raise QboFaultError(
                400,
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : {target} {element} value {value} does not exist",
                element=element,
            )
        if not record.get("Active", True):
            raise object_not_found(element)
        resolved: dict[str, Any] = {"value": value}
        name_member = REF_NAME_MEMBER.get(target)
        if name_member and record.get(name_member):
            resolved["name"] = record.get("FullyQualifiedName", record[name_member])
        return resolved

    def _sales_form_rules(
        self,
        spec: EntitySpec,
        record: dict[str, Any],
        previous: dict[str, Any] | None,
        allow_duplicate_doc_number: bool,
    ) -> None:
        if not record.get("CustomerRef"):
            raise required_missing("CustomerRef")
        if not record.get("Line"):
            raise required_missing("Line")
        automated_tax = self.automated_sales_tax()
        if automated_tax:
            self._ast_line_codes(record["Line"])
        for index, line in enumerate(record["Line"]):
            self._resolve_line_refs(line, index)
        priced = price_sales_lines(record["Line"], previous.get("Line", []) if previous else [])
        record["Line"] = priced.lines
        if automated_tax:
            tax = self._ast_tax(record, priced.subtotal, priced.discount)
        else:
            tax = money(record.get("TxnTaxDetail", {}).get("TotalTax", 0))
            record["TxnTaxDetail"] = {**record.get("TxnTaxDetail", {}), "TotalTax": number_out(tax)}
        total = priced.subtotal - priced.discount + tax
        if total < 0:
            raise business_fault("Transaction amount must be 0 or more.", "Line")
        record["TotalAmt"] = number_out(total)
        self._assign_doc_number(spec, record, previous, allow_duplicate_doc_number)
        today = self.now().date()
        record.setdefault("TxnDate", today.isoformat())
        applied = self._applied_to(spec.name, record.get("Id"))
        if applied > total:
            raise business_fault(
                f"The {spec.name} total {total} would be less than the {applied} already applied to it."
            )
        self._sales_form_kind_rules(spec, record, previous, total - applied)

    def _sales_form_kind_rules(
        self, spec: EntitySpec, record: dict[str, Any], previous: dict[str, Any] | None, open_amount: Decimal
    ) -> None:
        """What differs between invoices, credit memos, sales receipts and estimates."""
        if spec.name == "Invoice":
            if "DueDate" not in record:
                record["DueDate"] = self._due_date(record).isoformat()
            record["Balance"] = number_out(open_amount)
            if previous and previous.get("LinkedTxn"):
                record["LinkedTxn"] = previous["LinkedTxn"]
        elif spec.name == "CreditMemo":
            record["RemainingCredit"] = number_out(open_amount)
            record["Balance"] = record["RemainingCredit"]
        elif spec.name == "SalesReceipt":
            record["Balance"] = 0.0  # paid in full when written
            self._default_deposit_account(record)
        else:
            if record.get("TxnStatus", "Pending") not in ESTIMATE_STATUSES:
                raise invalid_property("TxnStatus", record["TxnStatus"], "EstimateStatusEnum")
            if previous and previous.get("LinkedTxn"):
                record["LinkedTxn"] = previous["LinkedTxn"]

    def _resolve_line_refs(self, line: dict[str, Any], index: int) -> None:
        detail = line.get("SalesItemLineDetail")
        if not isinstance(detail, dict):
            return
        for member, target in (("ItemRef", "Item"), ("ClassRef", "Class"), ("TaxCodeRef", "TaxCode")):
            if member in detail:
                detail[member] = self._resolve_ref(target, detail[member], f"Line[{index}].{member}")
        item_ref = detail.get("ItemRef")
        if item_ref:
            item = self.records["Item"][item_ref["value"]]
            if item.get("Type") == "Category":
                raise business_fault("A Category can not be used on a transaction line.", f"Line[{index}]")
            if "ItemAccountRef" not in detail and item.get("IncomeAccountRef"):
                detail["ItemAccountRef"] = dict(item["IncomeAccountRef"])
            if "TaxCodeRef" not in detail:
                # The Invoice page's sample: a non-taxable item's line comes back with TaxCodeRef NON.
                detail["TaxCodeRef"] = {"value": "TAX" if item.get("Taxable") else "NON"}

    def _due_date(self, record: dict[str, Any]) -> Any:
        txn_date = datetime.fromisoformat(record["TxnDate"]).date()
        term_ref = record.get("SalesTermRef")
        if term_ref is None:
            customer = self.records["Customer"].get(record["CustomerRef"]["value"], {})
            term_ref = customer.get("SalesTermRef")
        if term_ref is None:
            preferences = next(iter(self.records["Preferences"].values()), {})
            default_term = preferences.get("SalesFormsPrefs", {}).get("DefaultTerms")
            term_ref = default_term if isinstance(default_term, dict) else None
        term = self.records["Term"].get(term_ref["value"]) if term_ref else None
        days = int(term.get("DueDays", 0)) if term else 0
        return txn_date + timedelta(days=days)

    def _assign_doc_number(
        self, spec: EntitySpec, record: dict[str, Any], previous: dict[str, Any] | None, allow: bool
    ) -> None:
        doc_number = record.get("DocNumber")
        if not doc_number:
            if previous and previous.get("DocNumber"):
                record["DocNumber"] = previous["DocNumber"]
                return
            record["DocNumber"] = str(self.doc_number_high + 1)
            return
        if allow or (previous and previous.get("DocNumber") == doc_number):
            return
        for other_id in sorted(self.index.ids(spec.name, "docnumber", str(index_key(doc_number))), key=int):
            other = self.records[spec.name][other_id]
            if other.get("DocNumber", "").lower() == doc_number.lower() and other["Id"] != record.get("Id"):
                raise QboFaultError(
                    400,
                    "6140",
                    "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={doc_number} is assigned to "
                    f"TxnType={spec.name} with TxnId={other['Id']}",
                    element="DocNumber",
                )

    # ----- payments and balances -------------------------------------------------------------------

    def _payment_applications(self, payment: dict[str, Any]) -> list[tuple[str, str, Decimal]]:
        """(TxnType, TxnId, Amount) for each line of a payment."""
        applications = []
        for line in payment.get("Line", []):
            for linked in line.get("LinkedTxn", []):
                applications.append((linked["TxnType"], linked["TxnId"], money(line.get("Amount", 0))))
        return applications

    def _payments_linking(self, txn_id: str | None, txn_type: str) -> list[str]:
        if txn_id is None:
            return []
        return sorted(self.index.ids("Payment", LINKED_TXN_INDEX, f"{txn_type}:{txn_id}"), key=int)

    def _applied_to(self, txn_type: str, txn_id: str | None, excluding_payment: str | None = None) -> Decimal:
        total = Decimal(0)
        for payment_id in self._payments_linking(txn_id, txn_type):
            payment = self.records["Payment"][payment_id]
            if payment["Id"] == excluding_payment:
                continue
            for kind, linked_id, amount in self._payment_applications(payment):
                if kind == txn_type and linked_id == txn_id:
                    total += amount
        return total

    def _payment_rules(self, record: dict[str, Any]) -> None:
        if not record.get("CustomerRef"):
            raise required_missing("CustomerRef")
        if record.get("TotalAmt") is None:
            raise required_missing("TotalAmt")
        total = money(record["TotalAmt"])
        if total < 0:
            raise business_fault("Payment amount can not be negative.", "TotalAmt")
        record["TotalAmt"] = number_out(total)
        record.setdefault("TxnDate", self.now().date().isoformat())
        self._default_deposit_account(record)
        invoices_total = Decimal(0)
        credits_total = Decimal(0)
        cleaned_lines = []
        for index, line in enumerate(record.get("Line", [])):
            target_type, amount = self._payment_line(record, line, index)
            if target_type == "Invoice":
                invoices_total += amount
            else:
                credits_total += amount
            cleaned_lines.append({**line, "Amount": number_out(amount)})
        record["Line"] = cleaned_lines
        if invoices_total - credits_total > total:
            raise business_fault(
                f"The amount applied ({invoices_total - credits_total}) exceeds the payment ({total}).",
                "Line",
            )
        record["UnappliedAmt"] = number_out(total - (invoices_total - credits_total))

    def _default_deposit_account(self, record: dict[str, Any]) -> None:
        """Payments and sales receipts go to Undeposited Funds unless they name an account."""
        if "DepositToAccountRef" in record:
            return
        undeposited = next(
            (a for a in self.records["Account"].values() if a.get("AccountSubType") == "UndepositedFunds"),
            None,
        )
        if undeposited is not None:
            record["DepositToAccountRef"] = {"value": undeposited["Id"], "name": undeposited["Name"]}

    def _payment_line(self, payment: dict[str, Any], line: dict[str, Any], index: int) -> tuple[str, Decimal]:
        """The kind of transaction a payment line settles and the amount it applies."""
        linked = line.get("LinkedTxn") or []
        if len(linked) != 1:
            raise business_fault("Each payment line must link exactly one transaction.", f"Line[{index}]")
        if line.get("Amount") is None:
            raise required_missing(f"Line[{index}].Amount")
        amount = money(line["Amount"])
        if amount < 0:
            raise business_fault("A payment line amount can not be negative.", f"Line[{index}].Amount")
        target_type, target_id = linked[0].get("TxnType"), linked[0].get("TxnId")
        if target_type not in ("Invoice", "CreditMemo") or not target_id:
            raise invalid_property(f"Line[{index}].LinkedTxn", linked[0], "LinkedTxn")
        self._check_application(payment, target_type, target_id, amount, index)
        return target_type, amount

    def _check_application(
        self, payment: dict[str, Any], txn_type: str, txn_id: str, amount: Decimal, index: int
    ) -> None:
        target = self.records[txn_type].get(str(txn_id))
        element = f"Line[{index}].LinkedTxn"
        if target is None:
            raise QboFaultError(
                400,
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : {txn_type} {txn_id} does not exist",
                element=element,
            )
        if target["CustomerRef"]["value"] != payment["CustomerRef"]["value"]:
            raise business_fault(f"{txn_type} {txn_id} belongs to another customer.", element)
        if str(txn_id) in self.voided.get(txn_type, set()):
            raise business_fault(f"{txn_type} {txn_id} has been voided.", element)
        already = self._applied_to(txn_type, str(txn_id), excluding_payment=payment.get("Id"))
        open_amount = money(target["TotalAmt"]) - already
        if amount > open_amount:
            raise business_fault(
                f"The amount applied to {txn_type} {txn_id} ({amount}) exceeds its balance ({open_amount}).",
                element,
            )

    def _unlink_payment(self, payment_id: str, invoice_id: str) -> None:
        """Voiding an invoice leaves its payments as unapplied credit."""
        payment = self.records["Payment"][payment_id]
        kept = [
            line
            for line in payment.get("Line", [])
            if not any(
                lt["TxnType"] == "Invoice" and lt["TxnId"] == invoice_id for lt in line.get("LinkedTxn", [])
            )
        ]
        payment["Line"] = kept
        applied = sum(
            (
                amount if kind == "Invoice" else -amount
                for kind, _, amount in self._payment_applications(payment)
            ),
            Decimal(0),
        )
        payment["UnappliedAmt"] = number_out(money(payment["TotalAmt"]) - applied)
        self.index.put("Payment", payment)
        self._bump(payment, "Payment")

    def _bump(self, record: dict[str, Any], entity: str) -> None:
        stamp = self._stamp()
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record["MetaData"]["LastUpdatedTime"] = stamp
        self._record_change(entity, record["Id"], "Update", stamp)

    def _after_transaction_change(
        self, spec: EntitySpec, record: dict[str, Any] | None, previous: dict[str, Any] | None
    ) -> None:
        """Settle what a transaction touches: linked invoices and credit memos, customer balances."""
        if spec.kind != TRANSACTION:
            return
        linked: set[tuple[str, str]] = set()
        for payment in (record, previous):
            if spec.name == "Payment" and payment is not None:
                linked |= {(kind, txn_id) for kind, txn_id, _ in self._payment_applications(payment)}
        for kind, txn_id in sorted(linked):
            self._settle(kind, txn_id)
        customers = {r["CustomerRef"]["value"] for r in (record, previous) if r and r.get("CustomerRef")}
        for kind, txn_id in linked:
            target = self.records[kind].get(txn_id)
            if target is not None:
                customers.add(target["CustomerRef"]["value"])
        for customer_id in sorted(customers):
            self._refresh_customer_balance(customer_id)

    def _settle(self, txn_type: str, txn_id: str) -> None:
        """Recompute an invoice's Balance and LinkedTxn (or a credit memo's RemainingCredit)."""
        target = self.records[txn_type].get(txn_id)
        if target is None:
            return
        before = copy.deepcopy(target)
        voided = txn_id in self.voided.get(txn_type, set())
        open_amount = Decimal(0) if voided else money(target["TotalAmt"]) - self._applied_to(txn_type, txn_id)
        if txn_type == "Invoice":
            target["Balance"] = number_out(open_amount)
            links = sorted(self._payments_linking(txn_id, "Invoice"), key=int)
            target["LinkedTxn"] = [{"TxnId": p, "TxnType": "Payment"} for p in links]
        else:
            target["RemainingCredit"] = number_out(open_amount)
            target["Balance"] = target["RemainingCredit"]
        if "HomeBalance" in target:
            self._home_amounts(txn_type, target)
        if target != before:
            self._bump(target, txn_type)

    def _refresh_customer_balance(self, customer_id: str) -> None:
        """Customer.Balance: open invoices minus unused credits; BalanceWithJobs adds sub-customers."""
        customer = self.records["Customer"].get(customer_id)
        if customer is None:
            return
        balance = Decimal(0)
        for invoice in self._owned_by(customer_id, "Invoice"):
            balance += money(invoice.get("Balance", 0))
        for memo in self._owned_by(customer_id, "CreditMemo"):
            balance -= money(memo.get("RemainingCredit", 0))
        for payment in self._owned_by(customer_id, "Payment"):
            balance -= money(payment.get("UnappliedAmt", 0))
        customer["Balance"] = number_out(balance)
        walker: dict[str, Any] | None = customer
        while walker is not None:
            children = [
                self.records["Customer"][i]
                for i in sorted(
                    self.index.ids("Customer", "parentref", str(index_key(walker["Id"]))), key=int
                )
            ]
            walker["BalanceWithJobs"] = number_out(
                money(walker.get("Balance", 0))
                + sum((money(c.get("BalanceWithJobs", 0)) for c in children), Decimal(0))
            )
            parent_ref = walker.get("ParentRef")
            walker = self.records["Customer"].get(parent_ref["value"]) if parent_ref else None

    def _owned_by(self, customer_id: str, entity: str) -> list[dict[str, Any]]:
        """The `entity` transactions whose CustomerRef names this customer."""
        ids = self.index.ids(entity, "customerref", str(index_key(customer_id)))
        return [self.records[entity][i] for i in sorted(ids, key=int)]

    # ----- snapshot --------------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this company: records, counters, change log, requestid cache."""
        with self.lock:
            return copy.deepcopy(
                {
                    "version": SNAPSHOT_VERSION,
                    "realm_id": self.realm_id,
                    "company_name": self.company_name,
                    "records": self.records,
                    "next_ids": self.next_ids,
                    "voided": {entity: sorted(ids) for entity, ids in self.voided.items()},
                    "tombstones": self.tombstones,
                    "change_log": self.change_log,
                    "request_cache": self.request_cache,
                    "exchange_rates": self.exchange_rates.to_snapshot(),
                }
            )

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Company:
        company = cls(str(data["realm_id"]), str(data["company_name"]))
        saved = copy.deepcopy(data)
        for entity, stored in saved.get("records", {}).items():
            company.records.setdefault(entity, {})
            for record in stored.values():
                company._store(entity, record)
        company.next_ids = {k: int(v) for k, v in saved.get("next_ids", {}).items()}
        company.voided = {entity: set(ids) for entity, ids in saved.get("voided", {}).items()}
        company.tombstones = saved.get("tombstones", {})
        company.change_log = saved.get("change_log", [])
        company.request_cache = saved.get("request_cache", {})
        company.exchange_rates = ExchangeRateTable.from_snapshot(saved.get("exchange_rates", {}))
        return company
