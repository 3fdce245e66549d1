"""The source-contract checks: drive one tenant of a live source API and judge every rule.

Over 400 lines on purpose: one rule a short method, in the order of the source contract, so the kit
reads top to bottom as the contract does and a rule is found where the contract puts it.

The kit reads freely but writes only records it marks as its own: one customer named
``qbosync contract kit <run id> (test record, safe to delete)`` and one unapplied payment of 1.00
on that customer, referenced ``QBOSYNC-KIT-<run id>``, which it voids; at the end it deactivates
the customer. Requests meant to be refused (a payment over an invoice's open amount, a customer
with an unknown bill profile, a create without a key) create nothing on a source that keeps the
contract; if one is created anyway the kit says so in the evidence.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from qbosync.source.kit.inbox import ReceivedWebhook, WebhookInbox, describe
from qbosync.source.kit.rules import RULE_TEXT, ContractRule
from qbosync.source.models import (
    ReferenceEntry,
    SourceAccount,
    SourceCreditNote,
    SourceCustomer,
    SourceInvoice,
    SourcePayment,
    SourceProduct,
    SourceTaxCode,
)

KEY_RETENTION = timedelta(hours=24)
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_MONEY_FIELDS = ("unit_price", "amount", "total")
_LIST_MODELS: dict[str, type[BaseModel]] = {
    "customers": SourceCustomer,
    "products": SourceProduct,
    "invoices": SourceInvoice,
    "payments": SourcePayment,
    "credit-notes": SourceCreditNote,
}
_REFERENCE_MODELS: dict[str, type[BaseModel]] = {
    "payment-methods": ReferenceEntry,
    "gl-codes": ReferenceEntry,
    "product-types": ReferenceEntry,
    "accounts": SourceAccount,
    "tax-codes": SourceTaxCode,
    "bill-profiles": ReferenceEntry,
}
_NO_SUCH_TENANT = "qbosync-kit-no-such-tenant"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass
class RuleResult:
    rule: ContractRule
    verdict: Verdict = Verdict.SKIP
    evidence: list[str] = field(default_factory=list)
    skip_reason: str | None = None


@dataclass
class KitReport:
    """Every rule's verdict with its evidence; ``failed`` is what makes the CLI exit non-zero."""

    run_id: str
    results: dict[ContractRule, RuleResult]
    created: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[ContractRule]:
        return [rule for rule, result in self.results.items() if result.verdict is Verdict.FAIL]

    def render(self) -> str:
        lines = [f"qbosync source-contract kit, run {self.run_id}"]
        for rule in ContractRule:
            result = self.results[rule]
            lines.append(f"{result.verdict.value.upper():4} {rule.value}: {RULE_TEXT[rule]}")
            if result.skip_reason:
                lines.append(f"       skipped: {result.skip_reason}")
            lines.extend(f"       {line}" for line in result.evidence)
        lines.append(
            "records the kit created (marked as test records): " + (", ".join(self.created) or "none")
        )
        passed = sum(r.verdict is Verdict.PASS for r in self.results.values())
        skipped = sum(r.verdict is Verdict.SKIP for r in self.results.values())
        lines.append(f"{passed} passed, {len(self.failed)} failed, {skipped} skipped")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "created": self.created,
            "rules": {
                rule.value: {"verdict": r.verdict.value, "evidence": r.evidence, "skipped": r.skip_reason}
                for rule, r in self.results.items()
            },
        }


@dataclass(frozen=True)
class KitOptions:
    """What to check and how; ``inbox`` None skips the webhook rules."""

    tenant_id: str
    api_key: str
    inbox: WebhookInbox | None = None
    page_limit: int = 50
    max_pages: int = 100
    webhook_timeout_seconds: float = 10.0
    webhook_grace_seconds: float = 2.0
    journal: Path | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    run_id: str | None = None


class _Recorder:
    def __init__(self) -> None:
        self.results = {rule: RuleResult(rule) for rule in ContractRule}

    def check(self, rule: ContractRule, ok: bool, evidence: str) -> bool:
        result = self.results[rule]
        result.evidence.append(("ok    " if ok else "WRONG ") + evidence)
        if not ok:
            result.verdict = Verdict.FAIL
        elif result.verdict is Verdict.SKIP:
            result.verdict = Verdict.PASS
            result.skip_reason = None
        return ok

    def skip(self, rule: ContractRule, reason: str) -> None:
        if self.results[rule].verdict is Verdict.SKIP:
            self.results[rule].skip_reason = reason

    def blocked(self, rules: list[ContractRule], reason: str) -> None:
        for rule in rules:
            self.check(rule, False, f"could not be checked: {reason}")


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _detail_types(response: httpx.Response) -> list[tuple[str, str]]:
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return []
    return [(str(d.get("loc")), str(d.get("type"))) for d in details if isinstance(d, dict)]


def _answer(response: httpx.Response) -> str:
    code = _error_code(response)
    return f"{response.status_code}" + (f" {code}" if code else "")


def _field(response: httpx.Response, name: str) -> Any:
    """A field of a 2xx JSON object answer, or None."""
    if not response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None


def _created_id(response: httpx.Response) -> Any:
    return _field(response, "id") if response.status_code == 201 else None


def _is_money(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).as_tuple().exponent >= -2  # type: ignore[operator]
    except InvalidOperation:
        return False


def _zoned(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


class ContractKit:
    """Runs every check against one tenant of a source, through ``http`` (whose base URL is the source's)."""

    def __init__(self, http: httpx.Client, options: KitOptions) -> None:
        self._http = http
        self._options = options
        self._run_id = options.run_id or uuid.uuid4().hex[:12]
        self._root = f"/tenants/{quote(options.tenant_id, safe='')}"
        self._record = _Recorder()
        self._created: list[str] = []
        # (type, object id, version) of every change the kit made, and the ids it watches
        self._expected_events: Counter[tuple[str, str, int]] = Counter()

    # -- plumbing -----------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._options.api_key}",
            "Accept": "application/json",
            **(extra or {}),
        }

    def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return self._http.get(self._root + path, params=params, headers=self._headers())

    def _post(self, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        headers = self._headers({"Idempotency-Key": key} if key else None)
        return self._http.post(self._root + path, json=body, headers=headers)

    def _patch(self, path: str, body: Any) -> httpx.Response:
        return self._http.patch(self._root + path, json=body, headers=self._headers())

    def _expect_event(self, kind: str, action: str, obj: dict[str, Any]) -> None:
        self._expected_events[(f"{kind}.{action}", str(obj["id"]), int(obj["version"]))] += 1

    def _walk(
        self, collection: str, params: dict[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], bool, list[str]]:
        """Every item of a list (up to ``max_pages``), whether the walk reached the end, and problems."""
        items: list[dict[str, Any]] = []
        problems: list[str] = []
        cursor: str | None = None
        limit = self._options.page_limit
        for page_number in range(1, self._options.max_pages + 1):
            query = {"limit": str(limit), **(params or {})}
            if cursor:
                query["cursor"] = cursor
            response = self._get(f"/{collection}", query)
            if response.status_code != 200:
                problems.append(f"page {page_number} answered {_answer(response)}")
                return items, False, problems
            body = response.json()
            page_items, cursor = body.get("items", []), body.get("next_cursor")
            items.extend(page_items)
            if cursor is None:
                return items, True, problems
            if len(page_items) != limit:
                problems.append(
                    f"page {page_number} holds {len(page_items)} items, not {limit}, yet is not the last"
                )
        return items, False, problems

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> KitReport:
        """Check every rule; never raises for a source's misbehaviour, only reports it."""
        record = self._record
        try:
            self._check_auth_and_errors()
            self._check_reading()
            references = self._check_reference_lists()
            self._check_codes_in_use(references)
            self._check_writes(references)
            self._check_retention_journal()
        except httpx.HTTPError as exc:
            self._block_unchecked(f"the source stopped answering ({type(exc).__name__})")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # A 2xx whose body is not the JSON the contract promises: the rules not yet judged cannot be.
            self._block_unchecked(
                f"the source answered with a body the kit could not read ({type(exc).__name__})"
            )
        return KitReport(self._run_id, record.results, self._created)

    def _block_unchecked(self, reason: str) -> None:
        results = self._record.results
        unchecked = [
            rule for rule, res in results.items() if res.verdict is Verdict.SKIP and not res.skip_reason
        ]
        self._record.blocked(unchecked, reason)

    def _check_auth_and_errors(self) -> None:
        record, rule = self._record, ContractRule.AUTH
        path = self._root + "/customers"
        no_key = self._http.get(path, params={"limit": "1"})
        record.check(rule, no_key.status_code == 401, f"no Authorization header -> {_answer(no_key)}")
        wrong = self._http.get(
            path, params={"limit": "1"}, headers={"Authorization": "Bearer qbosync-kit-wrong-key"}
        )
        record.check(rule, wrong.status_code == 401, f"a wrong key -> {_answer(wrong)}")
        unknown = self._http.get(
            f"/tenants/{_NO_SUCH_TENANT}/customers", params={"limit": "1"}, headers=self._headers()
        )
        record.check(
            rule, unknown.status_code == 401, f"an unknown tenant -> {_answer(unknown)} (401, not 404)"
        )
        missing = self._get("/customers/qbosync-kit-no-such-id")
        record.check(rule, missing.status_code == 404, f"GET an unknown customer id -> {_answer(missing)}")
        bad_cursor = self._get("/customers", {"cursor": "qbosync-kit-not-a-cursor"})
        for label, response in (
            ("no key", no_key),
            ("unknown id", missing),
            ("a made-up cursor", bad_cursor),
        ):
            self._check_error_shape(label, response)

    def _check_error_shape(self, label: str, response: httpx.Response) -> None:
        try:
            error = response.json()["error"]
            ok = (
                isinstance(error["code"], str)
                and isinstance(error["message"], str)
                and isinstance(error["details"], list)
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        self._record.check(
            ContractRule.ERROR_SHAPE, ok, f"{label}: {response.status_code} {response.text[:160]}"
        )

    def _check_reading(self) -> None:
        record = self._record
        for collection, model in _LIST_MODELS.items():
            response = self._get(f"/{collection}", {"limit": str(self._options.page_limit)})
            if response.status_code != 200:
                record.check(ContractRule.OBJECT_SHAPE, False, f"GET {collection} -> {_answer(response)}")
                continue
            items = response.json().get("items", [])
            problems = [p for item in items for p in self._object_problems(model, item)]
            record.check(
                ContractRule.OBJECT_SHAPE,
                not problems,
                f"{collection}: {len(items)} objects read" + (f"; {problems[:3]}" if problems else ""),
            )
        for collection in ("customers", "invoices"):
            items, complete, problems = self._walk(collection)
            ids = [str(item.get("id")) for item in items]
            repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
            record.check(
                ContractRule.PAGING_WALK,
                not repeated and not problems,
                f"{collection}: {len(ids)} objects in pages of {self._options.page_limit}"
                + ("" if complete else f" (stopped after {self._options.max_pages} pages)")
                + (f"; seen twice: {repeated[:5]}" if repeated else "")
                + (f"; {problems[:3]}" if problems else ""),
            )
        for raw in ("0", "501", "ten"):
            response = self._get("/customers", {"limit": raw})
            ok = response.status_code == 400 and _error_code(response) == "invalid_limit"
            record.check(ContractRule.PAGING_LIMIT, ok, f"limit={raw} -> {_answer(response)}")
        self._check_cursors()

    def _check_cursors(self) -> None:
        record, rule = self._record, ContractRule.PAGING_CURSOR
        garbage = self._get("/customers", {"cursor": "qbosync-kit-not-a-cursor"})
        record.check(
            rule,
            garbage.status_code == 400 and _error_code(garbage) == "invalid_cursor",
            f"a made-up cursor -> {_answer(garbage)}",
        )
        first = self._get("/customers", {"limit": "1"})
        cursor = first.json().get("next_cursor") if first.status_code == 200 else None
        if not cursor:
            record.check(rule, True, "customers fit in one page of 1, so no foreign cursor to try")
            return
        foreign = self._get("/products", {"cursor": cursor})
        record.check(
            rule,
            foreign.status_code == 400 and _error_code(foreign) == "invalid_cursor",
            f"a customers cursor sent to products -> {_answer(foreign)}",
        )

    def _object_problems(self, model: type[BaseModel], item: Any) -> list[str]:
        if not isinstance(item, dict):
            return ["an item is not an object"]
        label = str(item.get("id"))
        problems = []
        if not isinstance(item.get("id"), str) or not _ID.match(item["id"]):
            problems.append(f"{label}: id is not an opaque id string")
        version = item.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            problems.append(f"{label}: version {version!r} is not a whole number >= 1")
        if not _zoned(item.get("updated_at")):
            problems.append(f"{label}: updated_at {item.get('updated_at')!r} is not RFC 3339 with a zone")
        money = [(name, item.get(name)) for name in _MONEY_FIELDS if name in item]
        money += [
            (f"lines.{n}.{name}", line.get(name))
            for n, line in enumerate(item.get("lines") or [])
            for name in ("unit_price", "amount")
        ]
        problems += [
            f"{label}: {name} {value!r} is not a decimal string"
            for name, value in money
            if not _is_money(value)
        ]
        try:
            model.model_validate(item)
        except ValidationError as exc:
            problems.append(f"{label}: {exc.error_count()} field(s) do not fit the contract")
        return problems

    def _check_reference_lists(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for kind, model in _REFERENCE_MODELS.items():
            items, complete, problems = self._walk(kind)
            try:
                TypeAdapter(list[model]).validate_python(items)  # type: ignore[valid-type]
            except ValidationError as exc:
                problems.append(f"{exc.error_count()} field(s) do not fit {model.__name__}")
            codes = [str(item.get("code")) for item in items if isinstance(item, dict)]
            if len(codes) != len(set(codes)):
                problems.append("codes repeat")
            self._record.check(
                ContractRule.REFERENCE_LISTS,
                complete and not problems,
                f"{kind}: {len(items)} entries" + (f"; {problems}" if problems else ""),
            )
            found[kind] = [i for i in items if isinstance(i, dict)]
        return found

    def _check_codes_in_use(self, references: dict[str, list[dict[str, Any]]]) -> None:
        """The codes the first page of products and of customers name are all in the lists: qbosync
        offers an admin only listed codes and refuses others, so an unlisted code could never be mapped."""
        listed = {kind: {str(item.get("code")) for item in items} for kind, items in references.items()}
        income_or_expense = {
            str(item.get("code"))
            for item in references.get("accounts", [])
            if item.get("account_type") in ("income", "expense")
        }
        limit = {"limit": str(self._options.page_limit)}
        products = self._get("/products", limit).json()["items"]
        customers = self._get("/customers", limit).json()["items"]
        uses = [
            *(
                (f"product {p['id']}", field, p.get(field), listed.get(kind, set()))
                for p in products
                for field, kind in (
                    ("product_type", "product-types"),
                    ("gl_code", "gl-codes"),
                    ("tax_code", "tax-codes"),
                )
            ),
            *(
                (f"product {p['id']}", "income_account", p.get("income_account"), income_or_expense)
                for p in products
            ),
            *(
                (
                    f"customer {c['id']}",
                    "bill_profile_id",
                    c.get("bill_profile_id"),
                    listed.get("bill-profiles", set()),
                )
                for c in customers
            ),
        ]
        unlisted = sorted(
            {
                f"{field} {value!r} ({owner})"
                for owner, field, value, codes in uses
                if value and str(value) not in codes
            }
        )
        checked = sum(1 for _owner, _field, value, _codes in uses if value)
        self._record.check(
            ContractRule.REFERENCE_CODES_IN_USE,
            not unlisted,
            f"{checked} codes on {len(products)} products and {len(customers)} customers"
            + (f"; not in their lists: {unlisted[:5]}" if unlisted else ", each in its list"),
        )

    # -- idempotency keys kept a day, by replaying keys from earlier runs ---------------------

    def _check_retention_journal(self) -> None:
        rule, journal = ContractRule.KEY_RETENTION, self._options.journal
        if self._record.results[ContractRule.CREATE_REPLAY].verdict is not Verdict.PASS:
            self._record.skip(rule, "a replay does not work even at once (see create.replay)")
            return
        if journal is None:
            self._record.skip(
                rule, "no --journal: pass one and run the kit again a day later to replay its keys"
            )
            return
        entries = json.loads(journal.read_text()) if journal.exists() else []
        now = self._options.clock()
        old = [
            e
            for e in entries
            if now - datetime.fromisoformat(e["recorded_at"]) >= KEY_RETENTION
            and e["tenant_id"] == self._options.tenant_id
        ]
        if not old:
            self._record.skip(
                rule,
                f"the journal holds no key used at least 24 hours ago yet ({len(entries)} entries); "
                "run the kit again tomorrow with the same --journal",
            )
            return
        for entry in old:
            age = now - datetime.fromisoformat(entry["recorded_at"])
            response = self._post(f"/{entry['collection']}", entry["body"], entry["key"])
            replayed = response.status_code == 201 and response.json().get("id") == entry["object_id"]
            if response.status_code == 201 and not replayed:
                self._created.append(f"{entry['collection']}/{response.json().get('id')} (a duplicate)")
            self._record.check(
                rule,
                replayed,
                f"key {entry['key']} used {age.total_seconds() / 3600:.1f} h ago -> {_answer(response)}, "
                f"id {_created_id(response)} (first: {entry['object_id']})",
            )

    def _journal_key(self, collection: str, key: str, body: dict[str, Any], object_id: str) -> None:
        journal = self._options.journal
        if journal is None:
            return
        entries = json.loads(journal.read_text()) if journal.exists() else []
        entries.append(
            {
                "tenant_id": self._options.tenant_id,
                "collection": collection,
                "key": key,
                "body": body,
                "object_id": object_id,
                "recorded_at": self._options.clock().isoformat(),
            }
        )
        journal.write_text(json.dumps(entries, indent=1))

    # -- writes on the kit's own records ------------------------------------------------------

    def _check_writes(self, references: dict[str, list[dict[str, Any]]]) -> None:
        record = self._record
        marker = f"qbosync contract kit {self._run_id}"
        bill_profiles = [str(e["code"]) for e in references.get("bill-profiles", []) if e.get("active", True)]
        body: dict[str, Any] = {
            "display_name": f"{marker} (test record, safe to delete)",
            "company_name": "qbosync contract kit",
            "email": f"kit-{self._run_id}@contract-kit.invalid",
            "phone": "+1-555-0100",
        }
        if bill_profiles:
            body["bill_profile_id"] = bill_profiles[0]

        keyless = self._post("/customers", body)
        if keyless.status_code == 201:
            self._created.append(f"customers/{keyless.json().get('id')} (created without a key)")
        record.check(
            ContractRule.CREATE_KEY_REQUIRED,
            keyless.status_code == 428 and _error_code(keyless) == "idempotency_key_required",
            f"POST customers without Idempotency-Key -> {_answer(keyless)}",
        )

        unknown_code = {**body, "bill_profile_id": "qbosync-kit-no-such-bill-profile"}
        refused = self._post("/customers", unknown_code, f"qbosync-kit:{self._run_id}:customer-unknown-code")
        if refused.status_code == 201:
            self._created.append(f"customers/{refused.json().get('id')} (with an unknown bill profile)")
        record.check(
            ContractRule.CREATE_UNKNOWN_REFERENCE,
            refused.status_code == 422 and ("bill_profile_id", "unknown_reference") in _detail_types(refused),
            f"POST customers with an unknown bill_profile_id -> {_answer(refused)} {_detail_types(refused)}",
        )

        self._check_strict_body(body)
        key = f"qbosync-kit:{self._run_id}:customer"
        created = self._post("/customers", body, key)
        if created.status_code != 201:
            record.blocked(
                [
                    ContractRule.CREATE_REPLAY,
                    ContractRule.CREATE_KEY_REUSE,
                    ContractRule.VERSIONS,
                    ContractRule.PATCH,
                    ContractRule.VOID,
                    ContractRule.UPDATED_SINCE,
                    ContractRule.OPEN_AMOUNT,
                    ContractRule.WEBHOOK_EMITTED,
                    ContractRule.WEBHOOK_SIGNATURE,
                    ContractRule.WEBHOOK_NOOP_SILENT,
                ],
                f"creating the kit's test customer answered {_answer(created)}",
            )
            return
        customer = created.json()
        customer_id = str(customer["id"])
        self._created.append(f"customers/{customer_id}")
        self._expect_event("customer", "created", customer)
        self._journal_key("customers", key, body, customer_id)

        replay = self._post("/customers", body, key)
        replay_id = replay.json().get("id") if replay.status_code == 201 else None
        if replay_id is not None and replay_id != customer_id:
            self._created.append(f"customers/{replay_id} (a duplicate made by a replay)")
        record.check(
            ContractRule.CREATE_REPLAY,
            replay_id == customer_id and replay.headers.get("Idempotent-Replayed", "").lower() == "true",
            f"the same key and body again -> {_answer(replay)}, id {replay_id} (first {customer_id}), "
            f"Idempotent-Replayed: {replay.headers.get('Idempotent-Replayed')}",
        )
        reuse = self._post("/customers", {**body, "phone": "+1-555-0199"}, key)
        record.check(
            ContractRule.CREATE_KEY_REUSE,
            reuse.status_code == 409 and _error_code(reuse) == "idempotency_key_reused",
            f"the same key with another phone -> {_answer(reuse)}",
        )

        customer = self._check_patch(customer)
        self._check_updated_since(customer)
        self._check_open_amount(customer_id, references)
        self._check_payment_void(customer_id, references)
        retired = self._patch(f"/customers/{quote(customer_id, safe='')}", {"active": False})
        if retired.status_code == 200:
            self._expect_event("customer", "updated", retired.json())
        record.check(
            ContractRule.PATCH,
            retired.status_code == 200 and retired.json().get("active") is False,
            f"retiring the test customer (active false) -> {_answer(retired)}",
        )
        self._check_webhooks()

    def _check_strict_body(self, body: dict[str, Any]) -> None:
        record, rule = self._record, ContractRule.CREATE_STRICT_BODY
        unknown = self._post(
            "/customers",
            {**body, "qbosync_kit_unknown": 1},
            f"qbosync-kit:{self._run_id}:customer-unknown-field",
        )
        if unknown.status_code == 201:
            self._created.append(f"customers/{_created_id(unknown)} (with an unknown field)")
        record.check(
            rule,
            unknown.status_code == 422
            and ("qbosync_kit_unknown", "extra_forbidden") in _detail_types(unknown),
            f"POST customers with an unknown field -> {_answer(unknown)} {_detail_types(unknown)}",
        )
        headers = self._headers(
            {"Idempotency-Key": f"qbosync-kit:{self._run_id}:customer-text", "Content-Type": "text/plain"}
        )
        text = self._http.post(self._root + "/customers", content=json.dumps(body).encode(), headers=headers)
        if text.status_code == 201:
            self._created.append(f"customers/{_created_id(text)} (sent as text/plain)")
        record.check(rule, text.status_code == 415, f"POST customers as text/plain -> {_answer(text)}")

    def _check_patch(self, customer: dict[str, Any]) -> dict[str, Any]:
        record, path = self._record, f"/customers/{quote(str(customer['id']), safe='')}"
        version = int(customer["version"])
        changed = self._patch(path, {"phone": "+1-555-0101"})
        if changed.status_code != 200:
            record.blocked(
                [ContractRule.PATCH, ContractRule.VERSIONS], f"PATCH phone answered {_answer(changed)}"
            )
            return customer
        after: dict[str, Any] = changed.json()
        self._expect_event("customer", "updated", after)
        kept = all(
            after.get(name) == customer.get(name) for name in ("email", "company_name", "display_name")
        )
        record.check(
            ContractRule.PATCH,
            after.get("phone") == "+1-555-0101" and kept,
            f"PATCH phone -> phone {after.get('phone')!r}; email, company_name, display_name "
            + ("kept" if kept else f"changed to {after.get('email')!r}, {after.get('company_name')!r}"),
        )
        record.check(
            ContractRule.VERSIONS,
            after.get("version") == version + 1,
            f"PATCH that changes the phone: version {version} -> {after.get('version')}",
        )
        record.check(
            ContractRule.VERSIONS,
            str(after.get("updated_at")) >= str(customer.get("updated_at")),
            f"updated_at {customer.get('updated_at')} -> {after.get('updated_at')}",
        )
        again = self._patch(path, {"phone": "+1-555-0101"})
        record.check(
            ContractRule.VERSIONS,
            again.status_code == 200 and again.json().get("version") == after.get("version"),
            f"the same PATCH again -> {_answer(again)}, version {_field(again, 'version')}",
        )
        cleared = self._patch(path, {"email": None})
        if cleared.status_code == 200:
            self._expect_event("customer", "updated", cleared.json())
            after = cleared.json()
        record.check(
            ContractRule.PATCH,
            cleared.status_code == 200 and cleared.json().get("email") is None,
            f"PATCH email null -> {_answer(cleared)}, email {_field(cleared, 'email')!r}",
        )
        for label, bad, expected in (
            ("an unknown field", {"qbosync_kit_unknown": 1}, "extra_forbidden"),
            ("bill_profile_id (not patchable)", {"bill_profile_id": "x"}, "extra_forbidden"),
            ("an empty object", {}, "empty_update"),
            ("display_name null", {"display_name": None}, "not_nullable"),
        ):
            response = self._patch(path, bad)
            types = [t for _, t in _detail_types(response)]
            record.check(
                ContractRule.PATCH,
                response.status_code == 422 and expected in types,
                f"PATCH {label} -> {_answer(response)} {types}",
            )
        return after

    def _check_updated_since(self, customer: dict[str, Any]) -> None:
        record, rule = self._record, ContractRule.UPDATED_SINCE
        since = str(customer["updated_at"])
        items, _, problems = self._walk("customers", {"updated_since": since})
        since_at = datetime.fromisoformat(since)
        older = [
            str(i.get("id"))
            for i in items
            if _zoned(i.get("updated_at")) and datetime.fromisoformat(str(i["updated_at"])) < since_at
        ]
        included = any(i.get("id") == customer["id"] for i in items)
        record.check(
            rule,
            not older and included and not problems,
            f"updated_since={since}: {len(items)} customers, the kit's included: {included}"
            + (f"; older ones returned: {older[:5]}" if older else "")
            + (f"; {problems}" if problems else ""),
        )
        bad = self._get("/customers", {"updated_since": "yesterday"})
        record.check(
            rule,
            bad.status_code == 400 and _error_code(bad) == "invalid_updated_since",
            f"updated_since=yesterday -> {_answer(bad)}",
        )

    def _check_open_amount(self, customer_id: str, references: dict[str, list[dict[str, Any]]]) -> None:
        """A payment by the kit's customer on someone else's invoice, for more than it has open:
        the 422 must list ``exceeds_open_amount`` (the contract asks for every problem, not the first)."""
        record, rule = self._record, ContractRule.OPEN_AMOUNT
        methods = [str(e["code"]) for e in references.get("payment-methods", []) if e.get("active", True)]
        invoices, _, _ = self._walk("invoices")
        open_invoices = [i for i in invoices if i.get("status") == "open"]
        if not open_invoices or not methods:
            record.skip(rule, "the tenant has no open invoice or no payment method to try it with")
            return
        settled: Counter[str] = Counter()
        for collection in ("payments", "credit-notes"):
            documents, _, _ = self._walk(collection)
            for document in documents:
                if document.get("status") in {"void", "deleted"}:
                    continue
                for applied in document.get("applied_to") or []:
                    settled[str(applied.get("invoice_id"))] += Decimal(str(applied.get("amount", "0")))  # type: ignore[assignment]
        # An invoice something already applies to tells the open amount from the total.
        partly = [i for i in open_invoices if Decimal(str(settled[str(i["id"])])) > 0]
        invoice = (partly or open_invoices)[0]
        open_amount = Decimal(str(invoice["total"])) - Decimal(str(settled[str(invoice["id"])]))
        over = open_amount + Decimal("0.01")
        body = {
            "customer_id": customer_id,
            "amount": str(over + 1),
            "method": methods[0],
            "date": self._options.clock().date().isoformat(),
            "reference": f"QBOSYNC-KIT-{self._run_id}-OVER",
            "applied_to": [{"invoice_id": invoice["id"], "amount": str(over)}],
        }
        response = self._post("/payments", body, f"qbosync-kit:{self._run_id}:payment-over")
        if response.status_code == 201:
            self._created.append(f"payments/{response.json().get('id')} (over-applied; void it)")
        record.check(
            rule,
            response.status_code == 422
            and ("applied_to.0.amount", "exceeds_open_amount") in _detail_types(response),
            f"{over} on {invoice['id']} (total {invoice['total']}, open {open_amount}"
            + ("" if partly else "; no open invoice has anything applied, so only the total is tested")
            + f") -> {_answer(response)} {_detail_types(response)}",
        )

    def _check_payment_void(self, customer_id: str, references: dict[str, list[dict[str, Any]]]) -> None:
        record = self._record
        methods = [str(e["code"]) for e in references.get("payment-methods", []) if e.get("active", True)]
        if not methods:
            record.blocked([ContractRule.VOID], "the tenant has no payment method")
            return
        body = {
            "customer_id": customer_id,
            "amount": "1.00",
            "method": methods[0],
            "date": self._options.clock().date().isoformat(),
            "reference": f"QBOSYNC-KIT-{self._run_id}",
            "applied_to": [],
        }
        created = self._post("/payments", body, f"qbosync-kit:{self._run_id}:payment")
        if created.status_code != 201:
            record.blocked(
                [ContractRule.VOID], f"creating the kit's unapplied payment answered {_answer(created)}"
            )
            return
        payment = created.json()
        self._created.append(f"payments/{payment['id']} (voided by the kit)")
        self._expect_event("payment", "created", payment)
        path = f"/payments/{quote(str(payment['id']), safe='')}/void"
        voided = self._post(path)
        if voided.status_code != 200:
            record.blocked([ContractRule.VOID], f"voiding the kit's payment answered {_answer(voided)}")
            return
        first = voided.json()
        self._expect_event("payment", "voided", first)
        record.check(
            ContractRule.VOID, first.get("status") == "void", f"void -> 200, status {first.get('status')!r}"
        )
        record.check(
            ContractRule.VERSIONS,
            first.get("version") == payment.get("version") + 1,
            f"void: version {payment.get('version')} -> {first.get('version')}",
        )
        again = self._post(path)
        again_body = again.json() if again.status_code == 200 else {}
        record.check(
            ContractRule.VOID,
            again.status_code == 200 and again_body.get("status") == "void",
            f"void again -> {_answer(again)}, status {again_body.get('status')!r}",
        )
        if again.status_code == 200:
            record.check(
                ContractRule.VERSIONS,
                again_body.get("version") == first.get("version"),
                f"void again: version {first.get('version')} -> {again_body.get('version')}",
            )

    # -- webhooks -----------------------------------------------------------------------------

    def _check_webhooks(self) -> None:
        record, inbox = self._record, self._options.inbox
        webhook_rules = [
            ContractRule.WEBHOOK_EMITTED,
            ContractRule.WEBHOOK_SIGNATURE,
            ContractRule.WEBHOOK_NOOP_SILENT,
        ]
        if inbox is None:
            for rule in webhook_rules:
                record.skip(rule, "no webhook receiver (--no-webhooks)")
            return
        expected = self._expected_events

        def arrived(received: list[ReceivedWebhook]) -> Counter[tuple[str, str, int]]:
            seen = {w.event.event_id: w.event for w in received if w.event is not None}
            return Counter((e.type, e.object.id, e.object.version) for e in seen.values())

        complete = inbox.wait_until(
            lambda r: not (expected - arrived(r)), self._options.webhook_timeout_seconds
        )
        if complete and self._options.webhook_grace_seconds > 0:
            inbox.wait_until(lambda _: False, self._options.webhook_grace_seconds)
        received = inbox.received()
        got = arrived(received)
        missing = expected - got
        record.check(
            ContractRule.WEBHOOK_EMITTED,
            not missing,
            f"{sum(expected.values())} changes made, {len(received)} deliveries received"
            + (f"; never notified: {sorted(missing)}" if missing else ""),
        )
        foreign = [
            w for w in received if w.event is not None and w.event.tenant_id != self._options.tenant_id
        ]
        malformed = [w.shape_problem for w in received if w.shape_problem]
        record.check(
            ContractRule.WEBHOOK_EMITTED,
            not foreign and not malformed,
            f"events name tenant {self._options.tenant_id} and fit the event schema"
            + (f"; {len(foreign)} name another tenant" if foreign else "")
            + (f"; {malformed[:2]}" if malformed else ""),
        )
        unsigned = [f"{describe(w)}: {w.signature_problem}" for w in received if w.signature_problem]
        if received:
            record.check(
                ContractRule.WEBHOOK_SIGNATURE,
                not unsigned,
                f"{len(received) - len(unsigned)} of {len(received)} deliveries verified"
                + (f"; {unsigned[:3]}" if unsigned else ""),
            )
        else:
            record.check(ContractRule.WEBHOOK_SIGNATURE, False, "no delivery arrived to verify")
        watched = {object_id for _, object_id, _ in expected}
        per_object = Counter(
            e.object.id
            for e in {w.event.event_id: w.event for w in received if w.event}.values()
            if e.object.id in watched
        )
        per_object_expected = Counter({object_id: 0 for object_id in watched})
        for (_, object_id, _), count in expected.items():
            per_object_expected[object_id] += count
        extra = {o: per_object[o] - n for o, n in per_object_expected.items() if per_object[o] > n}
        record.check(
            ContractRule.WEBHOOK_NOOP_SILENT,
            not extra,
            f"distinct events per kit object: {dict(per_object)}, expected {dict(per_object_expected)}",
        )


def run_kit(http: httpx.Client, options: KitOptions) -> KitReport:
    """Check every rule of the source contract against the tenant ``http`` reaches."""
    return ContractKit(http, options).run()
