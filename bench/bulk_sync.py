"""Benchmark the initial bulk sync against the QBO sandbox's limits, and against a naive loop.

    .venv/bin/python bench/bulk_sync.py [--customers 1500 --products 300 --window-seconds 2 ...]

The QBO sandbox runs as its own process (a fixed, compressed rate window and per-call latency); the
source sandbox runs in this process. The bulk path drives the page-sync services directly
(``sync_customer_page`` / ``sync_product_page``) from a thread pool the size of the state machine's Map
concurrency, through the real ``QboClient`` and ``RealmGovernor``; Step Functions and DynamoDB are left
out (links are kept in memory), so the figures are QBO-bound, which is what the limits decide. The naive
path is python-quickbooks, sequential, one query and one create per record, on a second company.

Last line: ``RESULT {json}``; its ``entities_per_s`` counts every fixed rate window the run touched in
full (the conservative figure to hold against the ceiling); the wall-clock rate is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers" / "common"), str(REPO)]

import httpx  # noqa: E402

from local.source_sandbox.app import build_app as build_source_app  # noqa: E402
from local.source_sandbox.config import SandboxConfig as SourceSandboxConfig  # noqa: E402
from local.source_sandbox.inprocess import in_process_client  # noqa: E402
from qbosync.qbo.client import QboClient  # noqa: E402
from qbosync.qbo.governor import InMemoryGovernorStore, RealmGovernor  # noqa: E402
from qbosync.settings import QboLimits  # noqa: E402
from qbosync.source.http import HttpSourceAdapter  # noqa: E402
from qbosync.store.links import Link, LinkRepository  # noqa: E402
from qbosync.store.table import Page  # noqa: E402
from qbosync.sync.bulk.common import Tally  # noqa: E402
from qbosync.sync.bulk.customers import sync_customer_page  # noqa: E402
from qbosync.sync.bulk.models import PageDescriptor, RunConfig  # noqa: E402
from qbosync.sync.bulk.page_context import PageContext  # noqa: E402
from qbosync.sync.bulk.products import sync_product_page  # noqa: E402
from qbosync.sync.configuration import SyncToggles, TenantSettings  # noqa: E402
from tests.support.bulk_harness import SEEDED_GL_CODES, SEEDED_PRODUCT_TYPES  # noqa: E402
from tests.support.fakes import StaticToken  # noqa: E402

TENANT = "bench"
API_KEY = "sk_bench_source_key"
CLIENT_ID = "ABbenchClientId00000000000000000000000000000000"
CLIENT_SECRET = "bench-client-secret-000000000000"  # noqa: S105 - a loopback sandbox's local app
REDIRECT_URI = "http://127.0.0.1:9/callback"
BATCH_ITEMS = 30
PRODUCT_TYPES = {**SEEDED_PRODUCT_TYPES, "discount": "Service"}
GL_CODES = list(SEEDED_GL_CODES)


class InMemoryLinks(LinkRepository):
    """Links kept in a dict: the bench measures QBO throughput, not DynamoDB (or moto)."""

    def __init__(self) -> None:
        super().__init__()
        self._links: dict[tuple[str, str, str], Link] = {}

    def get(self, tenant_id: str, entity: str, source_id: str) -> Link | None:
        return self._links.get((tenant_id, entity, source_id))

    def put_many(self, links: Sequence[Link]) -> None:
        for link in links:
            self._links[(link.tenant_id, link.entity, link.source_id)] = link

    def list(self, tenant_id: str, entity: str, *, limit: int = 100, cursor: str | None = None) -> Page[Link]:
        return Page(items=[v for k, v in self._links.items() if k[:2] == (tenant_id, entity)], cursor=None)


@dataclass
class QboSandboxProcess:
    process: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"]).rstrip("/")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base_url}/_sandbox/stats", timeout=10).json())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_qbo_sandbox(args: argparse.Namespace) -> QboSandboxProcess:
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "auto_consent": True,
        "realm_count": 2,
        "rate_window_seconds": args.window_seconds,
        "rate_window_mode": args.window_mode,
        "requests_per_window": args.requests_per_window,
        "batch_requests_per_window": args.batch_requests_per_window,
        "max_concurrent": args.max_concurrent,
        "faults": {"latency_ms": args.latency_ms},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "common"), str(REPO)])}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.qbo_sandbox", "--port", "0", "--config", handle.name],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("READY "):
            os.unlink(handle.name)
            return QboSandboxProcess(process, json.loads(line[len("READY ") :]))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit("the QBO sandbox did not start")


def access_token(sandbox: QboSandboxProcess, realm_id: str) -> str:
    """The OAuth code flow against the sandbox (auto-consent), as an app would run it."""
    authorize = httpx.get(
        f"{sandbox.base_url}/connect/oauth2",
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT_URI,
            "state": "bench",
            "realm_id": realm_id,
        },
        timeout=10,
    )
    code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
    grant = httpx.post(
        f"{sandbox.base_url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    return str(grant.json()["access_token"])


class CompressedJitter(random.Random):
    """The governor's jitter, scaled like the window (its waits add up to 0.25 s meant for 60 s windows)."""

    def __init__(self, compression: float) -> None:
        super().__init__()
        self._compression = compression

    def uniform(self, a: float, b: float) -> float:
        return super().uniform(a * self._compression, b * self._compression)


def page_descriptors(source: HttpSourceAdapter, entity: str, limit: int) -> list[PageDescriptor]:
    pages: list[PageDescriptor] = []
    cursor: str | None = None
    while True:
        page = (
            source.list_customers(cursor, limit)
            if entity == "customers"
            else source.list_products(cursor, limit)
        )
        if page.items:
            pages.append(PageDescriptor(entity=entity, page_no=len(pages) + 1, cursor=cursor, limit=limit))  # type: ignore[arg-type]
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return pages


def run_bulk(
    args: argparse.Namespace, sandbox: QboSandboxProcess, realm_id: str, source: HttpSourceAdapter
) -> dict[str, Any]:
    limits = QboLimits(
        requests_per_window=args.requests_per_window,
        window_seconds=args.window_seconds,
        max_concurrent=args.max_concurrent,
        batch_requests_per_window=args.batch_requests_per_window,
    )
    # Every time constant of the governor shrinks with the window, as the window was shrunk from QBO's
    # 60 s: the penalty after a 429 (10 s of 60) and the jitter added to waits (up to 0.25 s of 60).
    compression = args.window_seconds / 60.0
    governor = RealmGovernor(
        InMemoryGovernorStore(),
        limits,
        default_penalty_seconds=10.0 * compression,
        rng=CompressedJitter(compression),
    )
    http = httpx.Client(timeout=60)
    qbo = QboClient(
        realm_id,
        StaticToken(access_token(sandbox, realm_id)),
        governor,
        sandbox.info["api_base_url"][: -len("/v3")],
        http=http,
    )
    accounts = [str(row["Id"]) for row in qbo.query_all("Account", "AccountType = 'Income'")]
    config = RunConfig(
        settings=TenantSettings(sync=SyncToggles(invoices=False, payments=False, credit_notes=False)),
        product_types=PRODUCT_TYPES,
        gl_codes={code: accounts[i % len(accounts)] for i, code in enumerate(GL_CODES)},
        run_started_at=datetime.now(UTC),
        page_size=args.page_size,
    )
    context = PageContext(
        TENANT, "bench-run", config, qbo, source, InMemoryLinks(), lambda: datetime.now(UTC)
    )
    customer_pages = page_descriptors(source, "customers", args.page_size)
    product_pages = page_descriptors(source, "products", args.page_size)
    before = sandbox.stats()
    failures: list[str] = []

    def one(page: PageDescriptor) -> Tally:
        try:
            if page.entity == "customers":
                return sync_customer_page(context, page)
            return sync_product_page(context, page)
        except Exception as exc:  # a page that would go to MarkPageFailed
            failures.append(f"{page.entity} {page.page_no}: {type(exc).__name__}: {exc}")
            return Tally()

    started, started_wall = time.perf_counter(), time.time()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        tallies = list(pool.map(one, customer_pages))
        tallies += list(pool.map(one, product_pages))
    elapsed, ended_wall = time.perf_counter() - started, time.time()
    after = sandbox.stats()
    windows_touched = int(ended_wall // args.window_seconds) - int(started_wall // args.window_seconds) + 1
    requests = after["requests_by_realm"].get(realm_id, 0) - before["requests_by_realm"].get(realm_id, 0)
    throttled = after["throttled_by_realm"].get(realm_id, 0) - before["throttled_by_realm"].get(realm_id, 0)
    return {
        "created": sum(t.created for t in tallies),
        "matched": sum(t.matched for t in tallies),
        "skipped": sum(t.skipped for t in tallies),
        "failed_records": sum(t.failed for t in tallies),
        "failed_pages": failures,
        "elapsed_s": elapsed,
        "requests": requests,
        "throttled": throttled,
        "pages": len(customer_pages) + len(product_pages),
        "windows_touched": windows_touched,
    }


def run_naive(
    sandbox: QboSandboxProcess,
    realm_id: str,
    source: HttpSourceAdapter,
    config_accounts: list[str],
    records: int,
) -> dict[str, Any]:
    """python-quickbooks as a first integration would use it: per record, look it up, then create it."""
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks
    from quickbooks.exceptions import QuickbooksException
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.item import Item

    # requests-oauthlib refuses plain http; the sandbox is on loopback, which has no TLS.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, environment=sandbox.info["discovery_url"])
    auth.access_token = access_token(sandbox, realm_id)
    client = QuickBooks(
        auth_client=auth,
        refresh_token="unused",  # noqa: S106 - never refreshed: the token is fresh
        company_id=realm_id,
        minorversion=75,
    )
    client.api_url_v3 = f"{sandbox.base_url}/v3"
    customers = [c for c in _all(source, "customers") if c.active and not c.deleted]
    products = [p for p in _all(source, "products") if p.active and not p.deleted]
    if records:
        # The same load's records, in the same proportion of customers to products.
        share = len(customers) / max(1, len(customers) + len(products))
        customers, products = (
            customers[: round(records * share)],
            products[: records - round(records * share)],
        )
    throttled = 0

    def call(operation: Any) -> Any:
        nonlocal throttled
        while True:
            try:
                return operation()
            except QuickbooksException as exc:
                if "429" not in str(exc) and "Throttle" not in str(exc):
                    raise
                throttled += 1
                time.sleep(1.0)

    created = 0
    started = time.perf_counter()
    for customer in customers:
        found = call(lambda c=customer: Customer.filter(DisplayName=c.display_name, qb=client))
        if not found:
            record = Customer()
            record.DisplayName = customer.display_name
            call(lambda r=record: r.save(qb=client))
            created += 1
    for index, product in enumerate(products):
        found = call(lambda p=product: Item.filter(Name=p.name.replace(":", "-")[:100], qb=client))
        if not found:
            item = Item()
            item.Name = product.name.replace(":", "-")[:100]
            item.Type = PRODUCT_TYPES[product.product_type]
            item.IncomeAccountRef = {"value": config_accounts[index % len(config_accounts)]}
            call(lambda i=item: i.save(qb=client))
            created += 1
    elapsed = time.perf_counter() - started
    return {"created": created, "elapsed_s": elapsed, "throttled_retries": throttled}


def _all(source: HttpSourceAdapter, entity: str) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    while True:
        if entity == "customers":
            page: Any = source.list_customers(cursor, 500)
        else:
            page = source.list_products(cursor, 500)
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument(
        "--window-seconds", type=float, default=2.0, help="the sandbox's (compressed) rate window"
    )
    parser.add_argument(
        "--window-mode",
        choices=["fixed", "sliding"],
        default="fixed",
        help="sliding: the sandbox counts a sliding window, the governor fixed ones (429s follow)",
    )
    parser.add_argument("--requests-per-window", type=int, default=200)
    parser.add_argument("--batch-requests-per-window", type=int, default=16)
    parser.add_argument("--max-concurrent", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=5, help="added by the sandbox to every call")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="pages at a time (the Map's MaxConcurrency)"
    )
    parser.add_argument("--page-size", type=int, default=120)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--naive-records",
        type=int,
        default=300,
        help="records of the same load the naive loop syncs (0 = all; it is ~30x slower)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # The library's logger already exists (imported above): one INFO line per QBO call would bury the figures.
    from qbosync.observability import logger

    logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "1")  # EMF lines would bury the figures

    sandbox = start_qbo_sandbox(args)
    try:
        bulk_realm, naive_realm = sandbox.info["realms"][:2]
        source_app = build_source_app(
            SourceSandboxConfig.for_tenants(
                [TENANT],
                api_key=API_KEY,
                webhook_secret="whsec_bench_secret",  # noqa: S106 - loopback sandbox
                customers=args.customers,
                products=args.products,
                invoices=0,
            )
        )
        with in_process_client(source_app, base_url="http://source-sandbox") as source_http:
            source = HttpSourceAdapter("http://source-sandbox", TENANT, API_KEY, http=source_http)
            bulk = run_bulk(args, sandbox, bulk_realm, source)
            naive = None
            if not args.skip_naive:
                naive_accounts = _income_accounts(sandbox, naive_realm)
                naive = run_naive(sandbox, naive_realm, source, naive_accounts, args.naive_records)
    finally:
        sandbox.stop()

    result = report(args, bulk, naive)
    print("RESULT " + json.dumps(result))
    return 0


def _income_accounts(sandbox: QboSandboxProcess, realm_id: str) -> list[str]:
    answer = httpx.get(
        f"{sandbox.base_url}/v3/company/{realm_id}/query",
        params={"query": "SELECT * FROM Account WHERE AccountType = 'Income'", "minorversion": "75"},
        headers={"Authorization": f"Bearer {access_token(sandbox, realm_id)}", "Accept": "application/json"},
        timeout=10,
    )
    return [str(row["Id"]) for row in answer.json()["QueryResponse"]["Account"]]


def report(args: argparse.Namespace, bulk: dict[str, Any], naive: dict[str, Any] | None) -> dict[str, Any]:
    """Print the figures with their derivation; the RESULT fields."""
    window = args.window_seconds
    batch_bound = args.batch_requests_per_window * BATCH_ITEMS / window
    per_entity_requests = 1 / BATCH_ITEMS + 1 / args.page_size  # a full batch each 30, one match query a page
    request_bound = args.requests_per_window / window / per_entity_requests
    ceiling = min(batch_bound, request_bound)
    entities_per_s = bulk["created"] / bulk["elapsed_s"] if bulk["elapsed_s"] else 0.0
    requests_per_entity = bulk["requests"] / bulk["created"] if bulk["created"] else float("inf")
    unabsorbed = sum(1 for failure in bulk["failed_pages"] if "Throttled" in failure or "Governor" in failure)
    print("bulk sync benchmark (page services driven by a thread pool = the Map's concurrency; no moto)")
    print(
        f"  load: {args.customers} customers + {args.products} products, pages of {args.page_size}, "
        f"{args.concurrency} pages at a time"
    )
    print(
        f"  sandbox: window {window:g} s ({args.window_mode}), {args.requests_per_window} requests and "
        f"{args.batch_requests_per_window} batch calls per window, {args.max_concurrent} concurrent, "
        f"+{args.latency_ms} ms a call"
    )
    print(
        f"  bulk: created {bulk['created']} (matched {bulk['matched']}, skipped {bulk['skipped']}, "
        f"failed {bulk['failed_records']}) in {bulk['elapsed_s']:.2f} s over {bulk['pages']} pages"
    )
    aligned = bulk["created"] / (bulk["windows_touched"] * window)
    print(
        f"  entities/s: {entities_per_s:.1f} wall clock; "
        f"{aligned:.1f} counting every rate window touched in full"
    )
    print(
        f"  ({bulk['windows_touched']} fixed windows touched: a run that starts mid-window gets that "
        "window's whole budget, so the wall-clock rate can pass the ceiling; the aligned rate cannot)"
    )
    print(
        f"  ceiling: min(batch calls {args.batch_requests_per_window}/window x {BATCH_ITEMS} items "
        f"/ {window:g} s = {batch_bound:.1f}/s, requests {args.requests_per_window}/window / {window:g} s / "
        f"{per_entity_requests:.4f} requests an entity = {request_bound:.1f}/s) = {ceiling:.1f} entities/s"
    )
    print(
        f"  share of ceiling: {100 * entities_per_s / ceiling:.1f}% wall clock, "
        f"{100 * aligned / ceiling:.1f}% window-aligned"
    )
    print(f"  QBO requests: {bulk['requests']} = {requests_per_entity:.4f} per created entity")
    print(f"  429s seen and absorbed: {bulk['throttled']}; pages failed: {len(bulk['failed_pages'])}")
    for failure in bulk["failed_pages"][:5]:
        print(f"    {failure}")
    result: dict[str, Any] = {
        "entities_per_s": round(aligned, 1),
        "ceiling_entities_per_s": round(ceiling, 1),
        "share_of_ceiling": round(aligned / ceiling, 3),
        "wall_clock_entities_per_s": round(entities_per_s, 1),
        "requests_per_entity": round(requests_per_entity, 4),
        "throttled_429_absorbed": bulk["throttled"],
        "unabsorbed_429": unabsorbed,
        "created": bulk["created"],
    }
    if naive is not None:
        naive_rate = naive["created"] / naive["elapsed_s"] if naive["elapsed_s"] else 0.0
        print(
            "  naive (python-quickbooks, sequential, query + create per record, "
            f"the first {naive['created']} records of the same load): "
            f"{naive['elapsed_s']:.2f} s = {naive_rate:.1f} entities/s, "
            f"{naive['throttled_retries']} 429 retries"
        )
        print(f"  bulk (window-aligned) / naive: {aligned / naive_rate:.1f}x")
        result["naive_entities_per_s"] = round(naive_rate, 1)
        result["speedup"] = round(aligned / naive_rate, 1)
    return result


if __name__ == "__main__":
    sys.exit(main())
