"""The demo's story, one public method per step, each checking what really happened before saying so.

It follows the first product seed (Rev.io's configuration walk-through): connect to QuickBooks, map
payment methods, GL codes and product types, choose the defaults for unmatched items, the invoice tax
code and class, the bill profile for customers created from QBO and the number prefixes, then finish
(the initial sync); then it watches documents flow to QBO, and a customer and a payment entered in
QBO flow back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from local.demo import choices
from local.demo.clients import AdminApi, Browser, OperatorSecrets, QboCompany, SourceSystem, query_parameters
from local.demo.narration import Narrator, require, wait_until

INITIAL_SYNC_TIMEOUT_SECONDS = 150.0
PUSH_TIMEOUT_SECONDS = 60.0
PULL_TIMEOUT_SECONDS = 150.0
WEBHOOK_FLUSH_EVERY_SECONDS = 3.0
FINISHED_RUN_STATUSES = frozenset(
    {"SUCCEEDED", "SUCCEEDED_WITH_WARNINGS", "SUCCEEDED_WITH_ERRORS", "FAILED", "ABORTED"}
)
COUNT_FIELDS = ("matched", "created", "skipped", "failed")
MAPPED_KINDS = (("payment-methods", "payment-methods"), ("gl-codes", "accounts"), ("product-types", None))
PULLED_CUSTOMER_NAME = "Harbor Lights Bistro"
QBO_PAYMENT_REFERENCE = "QBO-CHK-2001"
QBO_PAYMENT_AMOUNT = Decimal("25.00")
ONE_TIME, RECURRING = "unmatched_one_time_item_id", "unmatched_recurring_item_id"
BILL_PROFILE = "new_customer_bill_profile_id"

Event = tuple[str, str, int]  # (kind, source object id, source version)


@dataclass
class Endpoints:
    """Where everything listens, from the runtime's READY document."""

    front_door_url: str
    qbo_sandbox_url: str
    qbo_discovery_url: str
    source_sandbox_url: str
    aws_endpoint_url: str


@dataclass
class SummaryRow:
    what: str
    where: str
    detail: str
    link: str = ""


@dataclass
class SourceChanges:
    """What the push step changed in the source, and the events the push worker must finish."""

    invoice: dict[str, Any]
    payment: dict[str, Any]
    credit: dict[str, Any]
    edited: dict[str, Any]
    deleted: dict[str, Any]
    events: list[Event]


def _live(console: Any, *columns: Any) -> Progress:
    """A progress display that leaves stdout alone (the handlers' logs are bound to their own stream)."""
    return Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _status_text(status: str, passed: str = "pass", failed: str = "fail") -> str:
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}.get(status, "white")
    label = {"pass": passed, "fail": failed}.get(status, status)
    return f"[{colour}]{label}[/]"


def _event_key(event: dict[str, Any]) -> Event:
    return (str(event["kind"]), str(event["source_object_id"]), int(event["source_version"]))


@dataclass
class NotificationWatch:
    """Flushes the QBO sandbox's batched notifications every few seconds and follows the delivery that
    carries one record's change, as its control plane reports it."""

    entity: str
    entity_id: str
    flushes: int = 0
    last_flush: float = 0.0
    delivered: bool = False
    attempts: list[Any] = field(default_factory=list)
    backlog_events: int = 0

    def flush_now_and_then(self, qbo: QboCompany, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_flush < WEBHOOK_FLUSH_EVERY_SECONDS:
            return
        described = qbo.flush_webhooks()
        self.flushes, self.last_flush = self.flushes + 1, time.monotonic()
        deliveries = described.get("deliveries", [])
        self.backlog_events = sum(int(d.get("event_count", 0)) for d in deliveries)
        carrying = [d for d in deliveries if self._carries_record(d.get("body"))]
        if carrying:
            self.delivered = any(d.get("delivered") for d in carrying)
            self.attempts = [
                a.get("status_code") or a.get("error") for d in carrying for a in d.get("attempts", [])
            ]

    def _carries_record(self, body: Any) -> bool:
        """Whether a legacy-format notification names the record."""
        for notification in (body or {}).get("eventNotifications", []):
            for entity in notification.get("dataChangeEvent", {}).get("entities", []):
                if entity.get("name") == self.entity and str(entity.get("id")) == self.entity_id:
                    return True
        return False

    def __str__(self) -> str:
        state = "acknowledged" if self.delivered else "not acknowledged yet"
        tried = f", attempts {self.attempts}" if self.attempts else ""
        return (
            f"notification of {self.entity.lower()} {self.entity_id} {state}{tried} "
            f"({self.backlog_events} change events queued or sent by QBO, {self.flushes} flushes)"
        )


@dataclass
class DemoScenario:
    """One tenant's admin, its source system and its QBO company, walked through the whole flow."""

    narrator: Narrator
    endpoints: Endpoints
    tenant_id: str
    admin_token: str
    rows: list[SummaryRow] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    plan_id: str | None = None
    admin: AdminApi = field(init=False)
    browser: Browser = field(init=False)
    _source: SourceSystem | None = None
    _qbo: QboCompany | None = None
    source_factory: Callable[[str], SourceSystem] | None = None
    """Builds the source client from the tenant's API key (``make demo SOURCE=revio``); None: the sandbox."""
    on_close: Callable[[], None] | None = None
    """Stops what the source needed (the Rev.io emulator and its contract front)."""

    def __post_init__(self) -> None:
        self.admin = AdminApi(self.endpoints.front_door_url, self.tenant_id, self.admin_token)
        self.browser = Browser()

    def close(self) -> None:
        for client in (self.admin, self.browser, self._source, self._qbo):
            if client is not None:
                client.close()
        if self.on_close is not None:
            self.on_close()

    @property
    def source(self) -> SourceSystem:
        require(self._source is not None, "the source system has not been reached yet (configure first)")
        assert self._source is not None
        return self._source

    @property
    def qbo(self) -> QboCompany:
        require(self._qbo is not None, "the QBO company has not been opened yet (connect first)")
        assert self._qbo is not None
        return self._qbo

    def _api_link(self, suffix: str) -> str:
        return f"{self.endpoints.front_door_url}{self.admin.path(suffix)}"

    # ------------------------------------------------------------------ 1. connect

    def connect(self) -> None:
        """The admin's browser goes to Intuit and back; the connection then shows its prerequisites."""
        n, endpoints = self.narrator, self.endpoints
        authorize_url = self.admin.redirect_from("/qbo/connect")
        require(
            authorize_url.startswith(endpoints.qbo_sandbox_url),
            f"/qbo/connect redirected to {authorize_url}, not to the QBO sandbox's authorize URL",
        )
        n.ok("GET /qbo/connect → 302 to Intuit's authorize URL (the QBO sandbox), with a signed state")
        self.browser.http.cookies.update(self.admin.http.cookies)  # one browser: the connect set its cookie
        visited = self.browser.follow(authorize_url, stop_at=f"{endpoints.front_door_url}/connected")
        require(any("/oauth/callback" in url for url in visited), "the browser never passed /oauth/callback")
        answer = query_parameters(visited[-1])
        require(
            answer.get("qbo_connection") == "connected",
            f"the admin came back with {answer} instead of qbo_connection=connected",
        )
        n.ok("auto-consent → /oauth/callback → 302 to the admin page with qbo_connection=connected")

        connection = self.admin.get("/qbo/connection")
        require(connection.get("status") == "connected", f"connection status is {connection.get('status')}")
        realm_id, company = str(connection["realm_id"]), connection.get("company_name")
        n.ok(f"connected to [bold]{company}[/] (realm {realm_id}) by {connection.get('connected_by')}")
        table = Table("prerequisite", "status", "reason", title="QBO prerequisites")
        for check in connection.get("prerequisites", []):
            table.add_row(check["id"], _status_text(check["status"]), check.get("reason", ""))
        n.show(table)
        failing = [c["id"] for c in connection.get("prerequisites", []) if c["status"] == "fail"]
        require(not failing, f"QBO prerequisites fail: {failing}")

        intuit_app = OperatorSecrets(endpoints.aws_endpoint_url).read("/app/intuit")
        self._qbo = QboCompany.authorize(
            endpoints.qbo_discovery_url,
            endpoints.qbo_sandbox_url,
            realm_id,
            (str(intuit_app["client_id"]), str(intuit_app["client_secret"])),
            f"{endpoints.front_door_url}/oauth/callback",
        )
        n.say("[dim]the demo took a token of its own from the QBO sandbox, to look into QBO from here on[/]")
        self.facts.update(realm_id=realm_id, company_name=company)
        self.rows.append(
            SummaryRow(
                "QBO connection", "qbosync", f"{company} ({realm_id})", self._api_link("/qbo/connection")
            )
        )

    # ------------------------------------------------------------------ 2. configure

    def configure(self) -> None:
        """Map from the source's lists to live QBO entries, save the settings, show what is now mapped."""
        n, endpoints = self.narrator, self.endpoints
        api_key = OperatorSecrets(endpoints.aws_endpoint_url).source_api_key(self.tenant_id)
        if self.source_factory is not None:
            self._source = self.source_factory(api_key)
        else:
            self._source = SourceSystem(endpoints.source_sandbox_url, self.tenant_id, api_key)
        # The source's lists come through the admin API, as the console's dropdowns get them: the admin
        # never needs the source's own API key to configure.
        source_lists = {
            kind: [
                entry
                for entry in self.admin.get(f"/source/reference/{kind}", refresh="true")["entries"]
                if entry.get("active", True)
            ]
            for kind in ("payment-methods", "gl-codes", "product-types", "bill-profiles", "products")
        }
        qbo = choices.QboLists(
            {
                kind: self.admin.get(f"/qbo/reference/{kind}", refresh="true")["entries"]
                for kind in ("payment-methods", "accounts", "items", "tax-codes", "classes")
            }
        )
        n.ok(
            "read the source's lists through the admin API ("
            + ", ".join(f"{len(v)} {k}" for k, v in source_lists.items())
            + ") and QBO's live reference data ("
            + ", ".join(f"{len(v)} {k}" for k, v in qbo.entries.items())
            + ")"
        )
        stored = {
            kind: self._replace_mapping(kind, rows)
            for kind, rows in (
                ("payment-methods", choices.payment_method_rows(source_lists["payment-methods"], qbo)),
                ("gl-codes", choices.gl_code_rows(source_lists["gl-codes"], qbo)),
                ("product-types", choices.product_type_rows(source_lists["product-types"])),
            )
        }
        fallback_product = choices.unmatched_qbo_item_product(
            source_lists["products"], source_lists["product-types"]
        )
        current, etag = self.admin.get_versioned("/settings")
        settings = choices.configured_settings(current["settings"], qbo, source_lists, fallback_product)
        saved = self.admin.put_versioned("/settings", settings, etag)
        require(saved["settings"] == settings, "the stored settings differ from what was sent")
        n.ok(f"PUT /settings with If-Match {etag}: now version {saved['version']}")
        n.show(self._settings_table(settings, qbo, fallback_product))
        self._show_mapped(stored)
        self.facts.update(settings=settings, unmatched_product=fallback_product["code"])
        rows = sum(len(kind_rows) for kind_rows in stored.values())
        self.rows.append(
            SummaryRow(
                "mappings, settings", "qbosync", f"{rows} rows in 3 kinds", self._api_link("/settings")
            )
        )

    def _replace_mapping(self, kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        _current, etag = self.admin.get_versioned(f"/mappings/{kind}")
        saved = self.admin.put_versioned(f"/mappings/{kind}", {"rows": rows}, etag)
        require(len(saved["rows"]) == len(rows), f"{kind}: stored {len(saved['rows'])} of {len(rows)} rows")
        self.narrator.ok(
            f"PUT /mappings/{kind} with If-Match {etag}: {len(rows)} rows, version {saved['version']}"
        )
        return list(saved["rows"])

    @staticmethod
    def _settings_table(settings: dict[str, Any], qbo: choices.QboLists, product: dict[str, Any]) -> Table:
        defaults = settings["qbo_defaults"]
        table = Table(
            "setting", "value", title="Settings (the seed's invoice, payment and unmatched-items screens)"
        )
        for label, value in (
            ("QBO item for unmatched one-time products", qbo.name_of("items", defaults[ONE_TIME])),
            ("QBO item for unmatched recurring products", qbo.name_of("items", defaults[RECURRING])),
            ("source product for unmatched QBO items", f"{product['name']} ({product['code']})"),
            ("QBO tax code for invoices", qbo.name_of("tax-codes", defaults["invoice_tax_code_id"])),
            ("QBO class for invoice lines", qbo.name_of("classes", defaults["invoice_class_id"])),
            ("bill profile for customers created from QBO", settings["source_defaults"][BILL_PROFILE]),
            ("prefixes: invoice, payment, credit, write-off", ", ".join(choices.PREFIXES.values())),
            ("create source customers from QBO", "on"),
            (
                "record QBO payments in the source",
                f"on (method {settings['source_defaults']['qbo_payment_method_code']} when unmapped)",
            ),
            ("customer field ownership", "the side each customer started in"),
            ("drift of pushed documents", settings["drift_policy"]),
            ("source deletions", "deleted in QBO (voided when payments are linked)"),
        ):
            table.add_row(label, value)
        return table

    def _show_mapped(self, stored: dict[str, list[dict[str, Any]]]) -> None:
        """The mapping rows, each with whether its QBO reference entry is now marked ``mapped``."""
        marks = {
            reference: {
                str(entry["id"]): bool(entry.get("mapped"))
                for entry in self.admin.get(f"/qbo/reference/{reference}")["entries"]
            }
            for _kind, reference in MAPPED_KINDS
            if reference is not None
        }
        table = Table("mapping", "source", "→ QBO", "QBO reference entry", title="Mappings")
        unmarked: list[str] = []
        for kind, reference in MAPPED_KINDS:
            for row in stored[kind]:
                marked = marks[reference].get(row["qbo_id"]) if reference else None
                if marked is False:
                    unmarked.append(f"{kind}:{row['source_key']}")
                shown = (
                    "[dim]QBO item type[/]"
                    if marked is None
                    else _status_text("pass" if marked else "fail", "mapped")
                )
                table.add_row(kind, row["source_key"], row.get("qbo_name") or row["qbo_id"], shown)
        self.narrator.show(table)
        require(not unmarked, f"QBO reference entries not marked mapped: {unmarked}")
        self.narrator.ok("every mapped QBO payment method and income account is now marked [bold]mapped[/]")

    # ------------------------------------------------------------------ 3. preflight

    def preflight(self) -> None:
        """Every check shown; warnings are allowed, a failure is not."""
        report = self.admin.get("/preflight")
        table = Table("check", "status", "reason", title="Preflight")
        for check in report.get("checks", []):
            table.add_row(check["id"], _status_text(check["status"]), check.get("reason", ""))
        self.narrator.show(table)
        failing = [f"{c['id']}: {c.get('reason')}" for c in report.get("checks", []) if c["status"] == "fail"]
        require(report.get("ok") is True and not failing, f"preflight does not pass: {failing}")
        warned = sum(1 for c in report["checks"] if c["status"] == "warn")
        self.narrator.ok(f"preflight passes ({len(report['checks'])} checks, {warned} warnings)")

    # ------------------------------------------------------------------ 4. initial bulk sync

    def dry_run(self) -> None:
        """Plan the initial sync without writing anything, and show what the run will do."""
        n = self.narrator
        qbo_customers = self.qbo.count("Customer")
        started = self.admin.post("/sync/initial", 202, {"dry_run": True})
        plan_id = str(started.get("plan_id", ""))
        require(bool(plan_id), f"the dry run answered without a plan id: {started}")
        n.ok(f"POST /sync/initial {{dry_run: true}} → 202, plan [bold]{plan_id}[/] (a Step Functions run)")
        latest: dict[str, Any] = {}

        def planned() -> dict[str, Any] | None:
            latest.update(self.admin.get(f"/sync/plans/{plan_id}", limit=1)["plan"])
            return dict(latest) if latest.get("status") != "running" else None

        plan = wait_until(
            f"plan {plan_id} to be ready",
            planned,
            INITIAL_SYNC_TIMEOUT_SECONDS,
            last_seen=lambda: str(latest.get("status")),
        )
        require(plan["status"] == "ready", f"the dry run failed: {plan.get('failure')}")
        n.ok(f"plan {plan_id} is ready: nothing written to QBO or the source")
        actions = ("match", "create", "skip", "suggestion")
        table = Table("entity", *actions, title=f"Plan {plan_id}")
        for entity, counts in sorted(plan.get("counts", {}).items()):
            table.add_row(entity, *(str(counts.get(action, 0)) for action in actions))
        n.show(table)
        n.say(f"the real run will read QBO [bold]{plan['qbo_reads']}[/] times (plus its writes)")
        require(self.qbo.count("Customer") == qbo_customers, "the dry run changed QBO's customers")
        self.plan_id = plan_id
        self.facts["dry_run"] = {
            "plan_id": plan_id,
            "counts": plan.get("counts"),
            "qbo_reads": plan["qbo_reads"],
        }
        self.rows.append(
            SummaryRow(
                "dry run",
                "plan only",
                f"{plan['entries']} records planned",
                self._api_link(f"/sync/plans/{plan_id}"),
            )
        )

    def initial_sync(self) -> None:
        """Finish: start the run (from the dry run's plan), follow it live, and check the counts against
        both systems."""
        n, source, qbo = self.narrator, self.source, self.qbo
        source_customers = len(source.list_all("customers"))
        n.say(
            f"before: the source has {source_customers} customers and {len(source.list_all('products'))} "
            f"products; QBO has {qbo.count('Customer')} customers and {qbo.count('Item')} items"
        )
        started = self.admin.post("/sync/initial", 202, {"plan_id": self.plan_id} if self.plan_id else None)
        run_id = str(started.get("run_id", ""))
        require(bool(run_id), f"POST /sync/initial answered 202 without a run id: {started}")
        n.ok(
            f"POST /sync/initial → 202, run [bold]{run_id}[/]"
            + (f" from plan {self.plan_id}" if self.plan_id else "")
        )
        run = self._follow_run(run_id)
        table = Table("entity", *COUNT_FIELDS, title=f"Run {run_id}: {run['status']}")
        for entity, counts in sorted(run.get("counts", {}).items()):
            table.add_row(entity, *(str(counts.get(k, 0)) for k in COUNT_FIELDS))
        totals = run.get("totals", {})
        table.add_row("[bold]total", *(f"[bold]{totals.get(k, 0)}" for k in COUNT_FIELDS))
        n.show(table)
        for skips in run.get("skips", []):
            n.say(f"skipped {skips['count']} {skips['entity']}: [bold]{skips['code']}[/]")
            n.say(f"[dim]{skips['explanation']}[/]")
        require(
            run["status"] in {"SUCCEEDED", "SUCCEEDED_WITH_WARNINGS"},
            f"run ended {run['status']}; failed pages: {run.get('failed_pages')}",
        )
        require(totals.get("failed", 0) == 0, f"the run reports {totals.get('failed')} failed records")
        qbo_customers = qbo.count("Customer")
        require(
            qbo_customers >= source_customers,
            f"QBO has {qbo_customers} customers after the sync, fewer than the source's {source_customers}",
        )
        n.ok(
            f"after: QBO has {qbo_customers} customers and {qbo.count('Item')} items; "
            f"the source has {len(source.list_all('customers'))} customers"
        )
        qbo.flush_webhooks()
        n.say(
            "[dim]QBO now notifies qbosync of every record the sync wrote; the pull worker recognises each "
            "as qbosync's own and leaves it be[/]"
        )
        self.facts["initial_sync"] = {"run_id": run_id, "status": run["status"], "totals": totals}
        detail = ", ".join(f"{k} {totals.get(k, 0)}" for k in COUNT_FIELDS)
        self.rows.append(
            SummaryRow("initial sync", "QBO ⇄ source", detail, self._api_link(f"/sync/runs/{run_id}"))
        )

    def _follow_run(self, run_id: str) -> dict[str, Any]:
        latest: dict[str, Any] = {}
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        with _live(self.narrator.console, *columns) as progress:
            task = progress.add_task("initial sync", total=100.0, detail="")

            def finished() -> dict[str, Any] | None:
                latest.clear()
                latest.update(self.admin.get(f"/sync/runs/{run_id}"))
                totals = latest.get("totals", {})
                progress.update(
                    task,
                    completed=float(latest.get("percentage", 0.0)),
                    description=f"initial sync · {latest.get('phase', '?')}",
                    detail=f"pages {latest.get('done_pages', 0)}/{latest.get('total_pages', 0)} · "
                    + " ".join(f"{k} {totals.get(k, 0)}" for k in COUNT_FIELDS),
                )
                return dict(latest) if latest.get("status") in FINISHED_RUN_STATUSES else None

            return wait_until(
                f"run {run_id} to finish",
                finished,
                INITIAL_SYNC_TIMEOUT_SECONDS,
                last_seen=lambda: (
                    f"{latest.get('status')}, {latest.get('phase')}, {latest.get('percentage')}%"
                ),
            )

    # ------------------------------------------------------------------ 5. push

    def push(self) -> None:
        """Source documents change through the source's control API (signed webhooks follow); check QBO."""
        changes = self._change_source_documents()
        self._wait_for_push(changes.events)
        self._check_qbo_documents(changes)

    def _change_source_documents(self) -> SourceChanges:
        n, source = self.narrator, self.source
        customers = [
            c for c in source.list_all("customers") if c.get("active", True) and not c.get("deleted")
        ]
        products = [p for p in source.list_all("products") if p.get("active", True) and not p.get("deleted")]
        one_time = next((p for p in products if p.get("billing") == "one_time"), None)
        recurring = next((p for p in products if p.get("billing") == "recurring"), None)
        if not source.bills_one_time_products:  # every product is recurring: the invoice takes two of them
            one_time = next((p for p in products if p is not recurring), None)
        require(bool(customers), "the source has no active customer to invoice")
        require(
            one_time is not None and recurring is not None, "the source lacks a one-time or recurring product"
        )
        assert one_time is not None and recurring is not None
        customer = customers[0]

        def line(product: dict[str, Any], quantity: str, unit_price: str | None = None) -> dict[str, Any]:
            body = {"product_id": product["id"], "quantity": quantity}
            return body | ({"unit_price": unit_price} if unit_price else {})

        def versioned(document: dict[str, Any], kind: str) -> Event:
            return (kind, str(document["id"]), int(document["version"]))

        invoice = source.create(
            "invoices", {"customer_id": customer["id"], "lines": [line(one_time, "2"), line(recurring, "1")]}
        )
        n.ok(f"source: invoice {invoice['number']} for {customer['display_name']}, total {invoice['total']}")
        half = (Decimal(invoice["total"]) / 2).quantize(Decimal("0.01"))
        payment = source.create(
            "payments",
            {
                "customer_id": customer["id"],
                "amount": str(half),
                "method": source.card_method,
                "applied_to": [{"invoice_id": invoice["id"], "amount": str(half)}],
            },
        )
        n.ok(
            f"source: payment {payment['number']} of {payment['amount']} by {source.card_label} "
            f"on {invoice['number']}"
        )
        credit = source.create(
            "credit-notes",
            {"kind": "credit", "customer_id": customer["id"], "lines": [line(one_time, "1", "10.00")]},
        )
        n.ok(f"source: credit note {credit['number']} of {credit['total']}")
        edited = source.change(
            "invoices", invoice["id"], {"lines": [line(one_time, "3"), line(recurring, "1")]}
        )
        require(edited["total"] != invoice["total"], "editing the invoice did not change its total")
        n.ok(
            f"source: invoice {edited['number']} edited (quantity 2 → 3): "
            f"total {invoice['total']} → {edited['total']}"
        )
        doomed = source.create("invoices", {"customer_id": customer["id"], "lines": [line(one_time, "1")]})
        deleted = source.delete("invoices", doomed["id"])
        n.ok(f"source: invoice {doomed['number']} created, then deleted")
        events = [
            versioned(invoice, "invoice"),
            versioned(payment, "payment"),
            versioned(credit, "credit_note"),
            versioned(edited, "invoice"),
            versioned(doomed, "invoice"),
            versioned(deleted, "invoice"),
        ]
        return SourceChanges(invoice, payment, credit, edited, deleted, events)

    def _wait_for_push(self, expected: list[Event]) -> None:
        pending = set(expected)
        stuck: list[str] = []
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
        )
        with _live(self.narrator.console, *columns) as progress:
            task = progress.add_task("source webhooks → push queue → push worker → QBO", total=len(expected))

            def all_done() -> bool | None:
                pending.difference_update(_event_key(event) for event in self._events("done"))
                progress.update(task, completed=len(expected) - len(pending))
                stuck[:] = [
                    f"{' '.join(map(str, _event_key(event)))} {status}: {event.get('reason')}"
                    for status in ("failed", "parked")
                    for event in self._events(status)
                    if _event_key(event) in pending
                ]
                return True if not pending else None

            wait_until(
                "the push events to be done",
                all_done,
                PUSH_TIMEOUT_SECONDS,
                last_seen=lambda: f"pending {sorted(pending)}; failed or parked: {stuck}",
            )
        self.narrator.ok(f"GET /sync/events?status=done lists all {len(expected)} changes")

    def _events(self, status: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"status": status, "limit": 100} | ({"cursor": cursor} if cursor else {})
            page = self.admin.get("/sync/events", **params)
            items.extend(page.get("items", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def _check_qbo_documents(self, changes: SourceChanges) -> None:
        n, qbo = self.narrator, self.qbo
        prefixes = {name: prefix["value"] for name, prefix in self.facts["settings"]["prefixes"].items()}
        class_id = self.facts["settings"]["qbo_defaults"]["invoice_class_id"]
        edited = changes.edited

        invoice_number = prefixes["invoice"] + edited["number"]
        found = qbo.find("Invoice", "DocNumber", invoice_number)
        require(len(found) == 1, f"QBO has {len(found)} invoices numbered {invoice_number}, not one")
        invoice = found[0]
        require(
            _money(invoice["TotalAmt"]) == Decimal(edited["total"]),
            f"QBO invoice {invoice_number} totals {invoice['TotalAmt']}, the edited one {edited['total']}",
        )
        lines = [line for line in invoice.get("Line", []) if line.get("DetailType") == "SalesItemLineDetail"]
        classes = {line["SalesItemLineDetail"].get("ClassRef", {}).get("value") for line in lines}
        require(classes == {class_id}, f"QBO invoice lines carry classes {classes}, not {class_id}")
        n.ok(
            f"QBO: invoice [bold]{invoice_number}[/] (Id {invoice['Id']}) totals {invoice['TotalAmt']} "
            f"after the edit; {len(lines)} lines in class {choices.INVOICE_CLASS}"
        )

        payment_number = prefixes["payment"] + changes.payment["number"]
        payments = qbo.find("Payment", "PaymentRefNum", payment_number)
        require(len(payments) == 1, f"QBO has {len(payments)} payments numbered {payment_number}, not one")
        payment = payments[0]
        linked = {txn.get("TxnId") for line in payment.get("Line", []) for txn in line.get("LinkedTxn", [])}
        require(
            invoice["Id"] in linked, f"QBO payment {payment_number} is not applied to invoice {invoice['Id']}"
        )
        paid = Decimal(changes.payment["amount"])
        require(_money(payment["TotalAmt"]) == paid, f"QBO payment totals {payment['TotalAmt']}, not {paid}")
        balance = Decimal(edited["total"]) - paid
        require(
            _money(invoice["Balance"]) == balance, f"QBO invoice balance {invoice['Balance']}, not {balance}"
        )
        n.ok(
            f"QBO: payment [bold]{payment_number}[/] of {payment['TotalAmt']} applied; "
            f"invoice balance {invoice['Balance']}"
        )

        credit_number = prefixes["credit_note"] + changes.credit["number"]
        memos = qbo.find("CreditMemo", "DocNumber", credit_number)
        require(len(memos) == 1, f"QBO has {len(memos)} credit memos numbered {credit_number}, not one")
        require(
            _money(memos[0]["TotalAmt"]) == Decimal(changes.credit["total"]),
            f"QBO credit memo totals {memos[0]['TotalAmt']}, not {changes.credit['total']}",
        )
        n.ok(f"QBO: credit memo [bold]{credit_number}[/] of {memos[0]['TotalAmt']}")

        deleted_number = prefixes["invoice"] + changes.deleted["number"]
        remaining = qbo.find("Invoice", "DocNumber", deleted_number)
        require(not remaining, f"QBO still has invoice {deleted_number} after its deletion in the source")
        n.ok(f"QBO: invoice {deleted_number} was created, then deleted, as in the source")

        self.facts["push"] = {
            "invoice": invoice_number,
            "invoice_source_id": edited["id"],
            "payment": payment_number,
            "credit_memo": credit_number,
            "deleted_invoice": deleted_number,
            "events_done": len(changes.events),
        }
        company = f"{self.endpoints.qbo_sandbox_url}/v3/company/{qbo.realm_id}"
        self.rows += [
            SummaryRow(
                "invoice (created, edited)",
                "source → QBO",
                f"{edited['number']} → {invoice_number}, total {invoice['TotalAmt']}",
                f"{company}/invoice/{invoice['Id']}",
            ),
            SummaryRow(
                "payment",
                "source → QBO",
                f"{changes.payment['number']} → {payment_number}, applied",
                f"{company}/payment/{payment['Id']}",
            ),
            SummaryRow(
                "credit note",
                "source → QBO",
                f"{changes.credit['number']} → {credit_number}",
                f"{company}/creditmemo/{memos[0]['Id']}",
            ),
            SummaryRow(
                "invoice (deleted)",
                "source → QBO",
                f"{changes.deleted['number']} → {deleted_number}, deleted in QBO",
            ),
        ]

    # ------------------------------------------------------------------ 6. pull

    def pull(self) -> None:
        """A customer created in QBO reaches the source once, with the configured bill profile."""
        n, source, qbo = self.narrator, self.source, self.qbo
        named = PULLED_CUSTOMER_NAME

        def in_source() -> list[dict[str, Any]]:
            return [c for c in source.list_all("customers") if c.get("display_name") == named]

        require(not in_source(), f"the source already has a customer named {named}")
        created = qbo.create(
            "Customer",
            {
                "DisplayName": named,
                "CompanyName": named,
                "GivenName": "Marina",
                "FamilyName": "Okafor",
                "PrimaryEmailAddr": {"Address": "accounts@harborlights.example"},
                "BillAddr": {"Line1": "12 Pier Road", "City": "Monterey", "CountrySubDivisionCode": "CA"},
            },
        )
        n.ok(f"QBO: customer [bold]{named}[/] created (Id {created['Id']}) through the Accounting API")
        n.say(
            "[dim]the QBO sandbox batches notifications for 60 s, as Intuit does, so the demo asks it to "
            "send them now; the pull worker first works through the notifications of everything the initial "
            "sync wrote (each recognised as qbosync's own), then reaches this one[/]"
        )
        delivery = NotificationWatch("Customer", str(created["Id"]))
        pulled = self._wait_for_pull(delivery, f"{named} to appear in the source", in_source)
        delivery.flush_now_and_then(qbo, force=True)
        if delivery.delivered:
            n.ok(f"QBO → front door: {delivery}")
        else:  # the change arrived anyway (e.g. queued by a handler that answered too late): say so
            n.warn(f"QBO → front door: {delivery}; QBO will send it again")
        copies = in_source()
        require(len(copies) == 1, f"the source has {len(copies)} customers named {named}, not one")
        profile = pulled.get("bill_profile_id")
        chosen = self.facts["settings"]["source_defaults"]["new_customer_bill_profile_id"]
        require(profile == chosen, f"the source customer has bill profile {profile}, not {chosen}")
        n.ok(f"source: customer [bold]{named}[/] ({pulled['id']}) with bill profile {profile}")
        self.facts["pull"] = {
            "qbo_customer_id": created["Id"],
            "source_customer_id": pulled["id"],
            "bill_profile_id": profile,
        }
        link = f"{self.endpoints.source_sandbox_url}/tenants/{self.tenant_id}/customers/{pulled['id']}"
        detail = f"{named}: QBO {created['Id']} → {pulled['id']}, bill profile {profile}"
        self.rows.append(SummaryRow("customer", "QBO → source", detail, link))

    # ------------------------------------------------------------------ 7. pull a payment

    def pull_payment(self) -> None:
        """A payment an accountant enters in QBO against the pushed invoice is recorded in the source
        once, and the source's webhook for it writes nothing back to QBO."""
        n, source, qbo = self.narrator, self.source, self.qbo
        require("push" in self.facts, "the push step did not finish, so there is no synced invoice to pay")
        pushed = self.facts["push"]
        reference, amount = QBO_PAYMENT_REFERENCE, QBO_PAYMENT_AMOUNT

        def recorded() -> list[dict[str, Any]]:
            return [p for p in source.list_all("payments") if p.get("reference") == reference]

        require(not recorded(), f"the source already has a payment with reference {reference}")
        [invoice] = qbo.find("Invoice", "DocNumber", pushed["invoice"])
        created = qbo.create(
            "Payment",
            {
                "CustomerRef": invoice["CustomerRef"],
                "TotalAmt": float(amount),
                "PaymentRefNum": reference,
                "Line": [
                    {"Amount": float(amount), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
                ],
            },
        )
        n.ok(
            f"QBO: payment {reference} of {amount} (Id {created['Id']}) entered against invoice "
            f"{pushed['invoice']}, as an accountant would"
        )
        delivery = NotificationWatch("Payment", str(created["Id"]))
        payment = self._wait_for_pull(delivery, f"payment {reference} to be recorded in the source", recorded)
        applied = [(a["invoice_id"], _money(a["amount"])) for a in payment.get("applied_to", [])]
        expected = [(pushed["invoice_source_id"], amount)]
        require(applied == expected, f"the source payment applies {applied}, not {expected}")
        method = self.facts["settings"]["source_defaults"]["qbo_payment_method_code"]
        require(payment.get("method") == method, f"the source payment's method is {payment.get('method')}")
        n.ok(
            f"source: payment [bold]{payment['number']}[/] ({payment['id']}) of {payment['amount']} by "
            f"{method} on invoice {pushed['invoice_source_id']}"
        )
        self._wait_for_push([("payment", str(payment["id"]), int(payment["version"]))])
        echoes = qbo.find("Payment", "PaymentRefNum", self._prefix("payment") + str(payment["number"]))
        require(not echoes, f"the push wrote the QBO payment back to QBO as {len(echoes)} new payment(s)")
        require(len(recorded()) == 1, f"the source has {len(recorded())} payments {reference}, not one")
        n.ok("the source's webhook for it was pushed and recognised: QBO received no second payment")
        self.facts["pull_payment"] = {
            "qbo_payment_id": created["Id"],
            "source_payment_id": payment["id"],
            "applied_to": pushed["invoice_source_id"],
        }
        link = f"{self.endpoints.source_sandbox_url}/tenants/{self.tenant_id}/payments/{payment['id']}"
        detail = f"{reference} of {amount}: QBO {created['Id']} → {payment['id']}, applied"
        self.rows.append(SummaryRow("payment (entered in QBO)", "QBO → source", detail, link))

    def _wait_for_pull(
        self, delivery: NotificationWatch, what: str, found: Callable[[], list[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Flush QBO's notifications now and then until the pulled record is found in the source."""
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with _live(self.narrator.console, *columns) as progress:
            task = progress.add_task(
                "QBO webhook → front door → pull queue → pull worker → source", total=None
            )

            def arrived() -> dict[str, Any] | None:
                delivery.flush_now_and_then(self.qbo)
                progress.update(task, description=f"QBO webhook → pull worker → source · {delivery}")
                return next(iter(found()), None)

            return wait_until(
                what, arrived, PULL_TIMEOUT_SECONDS, last_seen=lambda: f"{delivery}; not in the source yet"
            )

    def _prefix(self, document: str) -> str:
        prefix = self.facts["settings"]["prefixes"][document]
        return str(prefix["value"]) if prefix["enabled"] else ""
