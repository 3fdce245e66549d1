"""Benchmark the push flow: 1,000 source changes of every kind through the webhook receiver and the
push worker, with QBO failing on purpose and workers dying mid-write, then check QBO against the source
exactly.

    .venv/bin/python bench/push.py [--changes 1000 --per-round 50 --seed 7 --error-rate 0.05 --drop-rate 0.02
                                    --crash-rate 0.02 --requestid-window-seconds 3600 --foreign-share 0.2]
    .venv/bin/python bench/push.py --runtime [...]
    .venv/bin/python bench/push.py --no-faults [...]

Mode ``--runtime``: ``python -m local.runtime`` is started as a process; the tenant is connected through
its front door (OAuth against its QBO sandbox), mappings are put through the admin API, webhooks are
POSTed to the front door, and the runtime's SQS poller feeds the push worker (a failed record waits for
the queue's visibility timeout, as in AWS).

Default mode: the real handlers (``functions/source_webhook`` and ``functions/push_worker``) run in this
process against moto (main table, idempotency table and the FIFO push queue, as template.yaml declares
them) and the two sandboxes behind socket-free clients; the local runtime is not used. Changes are made
in rounds through the source sandbox's control API; each round's webhooks are POSTed 1-3 times each in
shuffled order, then the worker drains the queue (a failed record is made visible again at once,
where Lambda would wait for the visibility timeout).

The crash fault (default mode only): for ``--crash-rate`` of the QBO writes (seeded by ``--seed``) the
worker dies at a random point between the write's intent and its outcome: after the intent is stored
and before the HTTP call, after QBO committed and before the answer is read, or after the answer and
before the link and the intent's settlement are stored (``tests.support.push_world.WorkerCrashes``).
SQS then delivers the change again, and the write ledger resolves the open intent.

Figures: throughput (changes per second, end to end), latency from a webhook's first POST to its
event being done (p50, p99: includes waiting behind the rest of its round), QBO requests per change
(every request QBO saw, retries included) and the same split by kind: **reads** are every ``GET``
(an entity by id, ``query`` (also when POSTed), ``cdc``, ``companyinfo``, ``preferences``,
``exchangerate``, reports: what Intuit meters as CorePlus), **writes** every ``POST`` to an entity
(create, full and sparse update, ``operation=void``, ``operation=delete``), and a ``POST batch`` is
counted apart (it can hold both; the push sends none), each kind with its retries; the QBO reads
and writes made while resolving open intents (what the ledger costs in QBO), DynamoDB calls per
change by operation (default mode), and the load the push puts on the source per synced change,
per adapter (default mode): the source port calls the push worker made, which are the contract
adapter's HTTP requests one for one, and what the same calls cost through the Rev.io adapter, each
call kind measured once against the Rev.io emulator. Last line: ``RESULT {json}``.

Faults off: ``--no-faults`` sets the 5xx, commit-then-drop and crash rates to 0, for what a change costs
when nothing fails.

Currencies: ``--foreign-share`` (default 0.2) of new invoices are billed in EUR to customers kept for
EUR, with their payments and credit notes in EUR too; QBO has multi-currency on and a EUR rate. The final
check compares every document in both currencies: its own amount, its currency, its rate and its
home-currency amount (``--foreign-share 0`` leaves multi-currency off, as before).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--per-round", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--drop-rate", type=float, default=0.02)
    parser.add_argument(
        "--foreign-share", type=float, default=0.2, help="share of new invoices billed in EUR (0: none)"
    )
    parser.add_argument("--foreign-rate", default="1.0825", help="home (USD) units per EUR")
    parser.add_argument(
        "--crash-rate", type=float, default=0.02, help="share of QBO writes the worker dies in (default mode)"
    )
    parser.add_argument(
        "--requestid-window-seconds",
        type=float,
        default=3600,
        help="how long QBO is trusted to replay a requestid (0: every open create is looked up)",
    )
    parser.add_argument(
        "--no-faults", action="store_true", help="no 5xx, no commit-then-drop, no worker crashes"
    )
    parser.add_argument("--runtime", action="store_true", help="go through python -m local.runtime")
    parser.add_argument(
        "--qbo-requests-per-minute", type=int, default=500, help="QBO's per-realm limit (Intuit: 500)"
    )
    return parser.parse_args(argv)


def _environment(table_name: str, endpoint: str | None = None) -> None:
    """Offline AWS and quiet logs; set before anything reads them."""
    for path in (str(REPO), str(REPO / "layers" / "common")):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": table_name,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",  # EMF lines would bury the figures
            "POWERTOOLS_METRICS_NAMESPACE": "qbosync",
        }
    )
    if endpoint is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = endpoint


def _in_process(options: argparse.Namespace) -> Outcome:
    _environment("qbosync-bench")
    from datetime import timedelta

    from moto import mock_aws

    with mock_aws():
        from qbosync.store.aws import dynamodb_client
        from tests.integration.conftest import create_table_from_template
        from tests.support.push_world import Storm, WorkerCrashes, push_world
        from tests.support.template import create_source_credentials_key

        create_table_from_template("MainTable", "qbosync-bench")
        create_source_credentials_key()  # the stack's key that seals each tenant's source credentials
        crashes = WorkerCrashes(rate=options.crash_rate, seed=options.seed)
        with push_world(
            customers=options.customers,
            products=options.products,
            qbo_requests_per_minute=options.qbo_requests_per_minute,
            crashes=crashes,
            requestid_window=timedelta(seconds=options.requestid_window_seconds),
        ) as world:
            world.configure()
            _multi_currency(world.qbo_http, "", world.realm_id, options)
            world.qbo_faults(error_rate=options.error_rate, drop_after_commit_rate=options.drop_rate)
            storm = _storm(Storm, world, options)
            dynamodb_calls: Counter[str] = Counter()
            dynamodb_client().meta.events.register(
                "before-call.dynamodb", lambda model, **_: dynamodb_calls.update([model.name])
            )
            # Count the port calls the push worker makes (not the storm's own reads of the source).
            source_calls: Counter[str] = Counter()
            world.service._deps.source_for = lambda _tenant: _CountingPort(world.source, source_calls)
            report = storm.run(changes=options.changes, per_round=options.per_round)
            return Outcome(
                mode="in-process handlers (source_webhook, push_worker), moto, in-process sandboxes; "
                f"QBO limit {options.qbo_requests_per_minute}/min/realm behind the RealmGovernor",
                storm=storm,
                report=report,
                faults=world.qbo_stats()["faults_injected"],
                unfinished=_unfinished(world.events, world.tenant_id),
                crashes=crashes,
                dynamodb_calls=dynamodb_calls,
                open_writes=len(list(world.ledger.ambiguous(world.tenant_id))),
                source_calls=source_calls,
            )


def _through_runtime(options: argparse.Namespace) -> Outcome:
    import subprocess

    tenant = "acme"
    command = [sys.executable, "-m", "local.runtime", "--port", "0", "--tenants", tenant]
    command += ["--source-customers", str(options.customers), "--source-products", str(options.products)]
    process = subprocess.Popen(  # noqa: S603 - our own runtime, from this repository
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        ready = _wait_for_ready(process)
        _environment(str(ready["tables"]["MainTable"]), str(ready["aws_endpoint_url"]))
        from tests.support.push_world import Storm

        world = RuntimeWorld(ready, tenant)
        world.connect_and_configure()
        _multi_currency(world.http, world.qbo_url, world.realm_id, options)
        world.qbo_faults(error_rate=options.error_rate, drop_after_commit_rate=options.drop_rate)
        storm = _storm(Storm, world, options)
        report = storm.run(changes=options.changes, per_round=options.per_round)
        return Outcome(
            mode="python -m local.runtime (front door, SQS poller, moto server, sandbox processes)",
            storm=storm,
            report=report,
            faults=world.qbo_stats()["faults_injected"],
            unfinished=_unfinished(world.events, tenant),
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _multi_currency(http: Any, base_url: str, realm_id: str, options: argparse.Namespace) -> None:
    """With foreign-currency documents, QBO gets multi-currency and a EUR rate (as its UI would)."""
    if options.foreign_share <= 0:
        return
    answer = http.post(
        f"{base_url}/_sandbox/realms/{realm_id}/preferences",
        json={"multi_currency": True, "exchange_rates": {"EUR": options.foreign_rate}},
    )
    answer.raise_for_status()


def _storm(storm_type: Any, world: Any, options: argparse.Namespace) -> Any:
    return storm_type(
        world, seed=options.seed, foreign_share=options.foreign_share, foreign_rate=options.foreign_rate
    )


def _wait_for_ready(process: Any, seconds: float = 90.0) -> dict[str, Any]:
    import queue
    import threading
    import time

    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line.startswith("READY "):
            ready: dict[str, Any] = json.loads(line[len("READY ") :])
            return ready
    raise RuntimeError("the local runtime printed no READY line in time")


class RuntimeWorld:
    """What the storm needs, over the running runtime: HTTP to its front door and sandboxes, and its
    moto server for the event table and the push queue."""

    def __init__(self, ready: dict[str, Any], tenant_id: str) -> None:
        import httpx

        from qbosync.settings import get_settings
        from qbosync.store.events import EventRepository

        get_settings.cache_clear()
        self.ready = ready
        self.tenant_id = tenant_id
        self.front_door = str(ready["front_door_url"])
        self.source_url = str(ready["source_sandbox_url"])
        self.qbo_url = str(ready["qbo_sandbox_url"])
        self.http = httpx.Client(timeout=60)
        token = next(t["admin_token"] for t in ready["tenants"] if t["id"] == tenant_id)
        self.admin = {"Authorization": f"Bearer {token}"}
        self.events = EventRepository()
        self.received_at: dict[str, float] = {}
        self.taken: set[str] = set()
        self.queue_url = str(ready["queues"]["PushQueue"])
        self.qbo: Any = None
        self.source: Any = None
        self.realm_id = ""
        self.webhook_secret = ""

    # Set-up through the product's own doors

    def connect_and_configure(self) -> None:
        from qbosync.qbo.client import QboClient
        from qbosync.settings import get_settings
        from qbosync.source.http import HttpSourceAdapter
        from qbosync.store.app_secrets import SecretBox

        location = self.http.get(
            f"{self.front_door}/tenants/{self.tenant_id}/qbo/connect", headers=self.admin
        )
        next_url = location.headers.get("location")
        while next_url and not next_url.startswith(f"{self.front_door}/connected"):
            next_url = self.http.get(next_url).headers.get("location")
        connection = self.http.get(
            f"{self.front_door}/tenants/{self.tenant_id}/qbo/connection", headers=self.admin
        )
        connection.raise_for_status()
        self.realm_id = str(connection.json()["realm_id"])
        box = SecretBox()
        settings = get_settings()
        # As the operator reads them: the source key from the tenant's sealed item, the webhook secret
        # derived from the app's source webhook key.
        from qbosync.operator.fleet import FleetOperator
        from qbosync.store.app_secrets import TenantSecrets

        self.webhook_secret = FleetOperator().webhook_secret(self.tenant_id)
        api_key = TenantSecrets().source_credentials(self.tenant_id).api_key.get_secret_value()
        self.source = HttpSourceAdapter(self.source_url, self.tenant_id, api_key)
        self._go_live_long_ago()
        tokens = box.read(settings.tenant_token_secret_name(self.tenant_id), fresh=True)
        from tests.support.fakes import StaticToken

        self.qbo = QboClient(self.realm_id, StaticToken(str(tokens["access_token"])), None, self.qbo_url)
        self.http.put(f"{self.source_url}/_sandbox/webhooks/config", json={"mode": "hold"}).raise_for_status()
        accounts = self._reference("accounts")
        income = next(
            entry["id"] for entry in accounts if entry.get("type") == "Income" and entry.get("active")
        )
        method = self._reference("payment-methods")[0]["id"]
        self._map("product-types", {entry.code: "Service" for entry in self.source.list_product_types()})
        self._map("gl-codes", {entry.code: income for entry in self.source.list_gl_codes()})
        self._map("payment-methods", {entry.code: method for entry in self.source.list_payment_methods()})

    def _reference(self, kind: str) -> list[dict[str, Any]]:
        url = f"{self.front_door}/tenants/{self.tenant_id}/qbo/reference/{kind}"
        response = self.http.get(url, headers=self.admin)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

    def _go_live_long_ago(self) -> None:
        """Every push needs a go-live date; one long past keeps every storm document after it."""
        url = f"{self.front_door}/tenants/{self.tenant_id}/settings"
        current = self.http.get(url, headers=self.admin)
        current.raise_for_status()
        answer = self.http.patch(
            url,
            json={"onboarding": {"go_live_date": "2000-01-01"}},
            headers={**self.admin, "If-Match": current.headers["etag"]},
        )
        answer.raise_for_status()

    def _map(self, kind: str, rows: dict[str, str]) -> None:
        url = f"{self.front_door}/tenants/{self.tenant_id}/mappings/{kind}"
        version = self.http.get(url, headers=self.admin).json()["version"]
        body = {"rows": [{"source_key": key, "qbo_id": value} for key, value in rows.items()]}
        answer = self.http.put(url, json=body, headers={**self.admin, "If-Match": f'"{version}"'})
        answer.raise_for_status()

    # What the storm calls

    def change(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(
            method, f"{self.source_url}/_sandbox/tenants/{self.tenant_id}/{path}", json=body
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def product_ids(self) -> list[str]:
        return [product.id for product in self.source.list_products(limit=50).items]

    def held_webhooks(self) -> list[dict[str, Any]]:
        params = {"status": "held", "tenant_id": self.tenant_id}
        items = self.http.get(f"{self.source_url}/_sandbox/webhooks", params=params).json()["items"]
        fresh = [item for item in items if item["delivery_id"] not in self.taken]
        self.taken.update(item["delivery_id"] for item in fresh)
        return [item["event"] for item in fresh]

    def post_webhook(self, event: dict[str, Any]) -> Any:
        import time

        from qbosync.source.signing import sign

        body = json.dumps(event, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Source-Timestamp": str(timestamp),
            "X-Source-Signature": sign(self.webhook_secret, timestamp, body),
        }
        self.received_at.setdefault(str(event["event_id"]), time.time())
        answer = self.http.post(
            f"{self.front_door}/webhooks/source/{self.tenant_id}", content=body, headers=headers
        )
        return _Delivery(answer.status_code)

    def drain(self) -> int:
        """Wait until the runtime's poller has emptied the push queue (seen empty three times running)."""
        import time

        from qbosync.store.aws import sqs_client

        quiet = 0
        deadline = time.monotonic() + 900
        while quiet < 3:
            if time.monotonic() > deadline:
                raise RuntimeError("the push queue did not drain in 15 minutes")
            attributes = sqs_client().get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            pending = int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
            quiet = quiet + 1 if pending == 0 else 0
            time.sleep(0.3)
        return 0

    def qbo_rows(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.qbo.query_all(entity, where)
        return rows

    def qbo_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get(f"{self.qbo_url}/_sandbox/stats").json()
        return stats

    def qbo_requests(self) -> int:
        return int(self.qbo_stats()["requests_by_realm"].get(self.realm_id, 0))

    def qbo_faults(self, **faults: Any) -> None:
        self.http.post(f"{self.qbo_url}/_sandbox/faults", json=faults).raise_for_status()


@dataclass
class _Delivery:
    status: int


def _unfinished(events: Any, tenant_id: str) -> dict[str, int]:
    """Events left failed or parked, by flow and reason (the runtime also runs the pull flow)."""
    from qbosync.sync.retry.requeue import PUSH_KINDS

    found: dict[str, int] = {}
    for status in ("failed", "parked"):
        cursor = None
        while True:
            page = events.list(tenant_id, status, limit=100, cursor=cursor)
            for event in page.items:
                flow = "push" if event.kind in PUSH_KINDS else "other"
                key = f"{flow}:{status}:{event.reason_code}"
                found[key] = found.get(key, 0) + 1
            cursor = page.cursor
            if cursor is None:
                break
    return found


@dataclass
class Outcome:
    mode: str
    storm: Any
    report: Any
    faults: dict[str, Any]
    unfinished: dict[str, int]
    crashes: Any = None
    """``WorkerCrashes`` of the run (default mode only)."""
    dynamodb_calls: Counter[str] | None = None
    open_writes: int = 0
    source_calls: Counter[str] | None = None
    """Source port calls the push worker made, by method (default mode only)."""


class _CountingPort:
    """A ``SourcePort`` that counts each call by method name, then delegates."""

    def __init__(self, port: Any, calls: Counter[str]) -> None:
        self._port = port
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._port, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            return method(*args, **kwargs)

        return counted


def _revio_request_costs(methods: list[str]) -> dict[str, int]:
    """Rev.io requests per call of each port method, each measured once on a seeded Rev.io emulator."""
    from local.revio_emulator.app import EmulatorConfig, build_app
    from local.source_sandbox.inprocess import in_process_client
    from qbosync.source.revio.adapter import RevioAdapter
    from qbosync.source.revio.client import RevioClient, RevioCredentials

    config = EmulatorConfig(customers=3, products=3, bills=2)
    credentials = RevioCredentials(
        config.username, config.client_code, config.password, config.subscription_key
    )
    sample_ids = {
        "get_customer": "1001",
        "get_product": "2001",
        "get_invoice": "5001",
        "get_payment": "8001",
        "get_credit_note": "9001",
    }
    costs: dict[str, int] = {}
    with in_process_client(build_app(config), base_url="http://revio") as http:
        client = RevioClient(credentials, base_url="http://revio/v1", http=http, sleep=lambda _s: None)
        adapter = RevioAdapter("bench", client)
        for method in methods:
            if method not in sample_ids:
                raise RuntimeError(f"no Rev.io cost measured for the push's {method} calls")
            before = adapter.requests_sent
            getattr(adapter, method)(sample_ids[method])
            costs[method] = adapter.requests_sent - before
    return costs


def _source_load(outcome: Outcome, changes: int) -> dict[str, Any]:
    """Source requests per synced change, per adapter, from the port calls the push worker made."""
    calls = outcome.source_calls
    if not calls:
        return {}
    revio = _revio_request_costs(sorted(calls))
    return {
        "source_calls_by_method": dict(sorted(calls.items())),
        "source_requests_per_change": {
            "http_contract": round(sum(calls.values()) / changes, 3),
            "revio": round(sum(count * revio[name] for name, count in calls.items()) / changes, 3),
        },
        "revio_requests_per_call": revio,
    }


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    if options.no_faults:
        options.error_rate = options.drop_rate = options.crash_rate = 0.0
    if options.runtime:
        options.crash_rate = 0.0  # the crash fault reaches into the worker: default mode only
    print(
        f"changes: {options.changes} in rounds of {options.per_round}; webhooks 1-3 copies each, shuffled; "
        f"QBO faults: {options.error_rate:.0%} 5xx, {options.drop_rate:.0%} commit-then-drop; "
        f"worker crashes: {options.crash_rate:.0%} of writes",
        flush=True,
    )
    outcome = _through_runtime(options) if options.runtime else _in_process(options)
    report = outcome.report
    print(f"mode: {outcome.mode}")
    kinds: dict[str, int] = {}
    for doc in outcome.storm.docs.values():
        key = f"{doc.kind}{'(removed)' if doc.removed_round is not None else ''}"
        kinds[key] = kinds.get(key, 0) + 1
    p50, p99 = report.percentile(0.50), report.percentile(0.99)
    per_change = report.qbo_requests / report.changes
    print(f"documents: {json.dumps(kinds, sort_keys=True)}")
    foreign = outcome.storm.foreign_documents()
    print(
        f"foreign-currency documents: {foreign} of {len(outcome.storm.docs)} in EUR at"
        f" {options.foreign_rate} (share of new invoices {options.foreign_share:.0%})"
    )
    print(f"webhook deliveries: {report.deliveries} for {report.changes} changes")
    print(f"QBO faults injected: {outcome.faults}")
    print(f"throughput: {report.changes / report.seconds:.1f} changes/s ({report.seconds:.1f} s)")
    print(f"latency webhook -> QBO commit: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"QBO requests per change: {per_change:.2f} ({report.qbo_requests} requests)")
    kinds_seen = _requests_by_kind(report.qbo_requests_by_endpoint)
    reads_per_change = kinds_seen["read"] / report.changes
    writes_per_change = kinds_seen["write"] / report.changes
    print(
        f"QBO requests per change by kind (retries included): reads {reads_per_change:.3f}, writes"
        f" {writes_per_change:.3f}, batches {kinds_seen['batch'] / report.changes:.3f}; by endpoint"
        f" {json.dumps(report.qbo_requests_by_endpoint, sort_keys=True)}"
    )
    push_unfinished = sum(count for key, count in outcome.unfinished.items() if key.startswith("push:"))
    print(f"push events left failed or parked: {push_unfinished}; all flows: {outcome.unfinished}")
    ledger = _ledger_figures(outcome, report.changes)
    if ledger:
        print(
            f"worker crashes: {ledger['crashes']} of {ledger['writes']} writes {ledger['crash_points']}; "
            f"open intents resolved: {ledger['resolutions']}; left open: {ledger['open_writes']}"
        )
        print(
            f"ledger cost in QBO: {ledger['ledger_reads_per_change']:.3f} reads and "
            f"{ledger['ledger_writes_per_change']:.3f} writes (requestid replays) per change"
        )
        print(
            f"DynamoDB calls per change: {ledger['dynamodb_calls_per_change']:.2f} "
            f"{json.dumps(ledger['dynamodb_calls_per_change_by_operation'], sort_keys=True)}"
        )
    load = _source_load(outcome, report.changes)
    if load:
        per_adapter = load["source_requests_per_change"]
        print(
            f"source load per synced change: {per_adapter['http_contract']:.2f} requests through the "
            f"contract adapter, {per_adapter['revio']:.2f} through the Rev.io adapter (port calls "
            f"{json.dumps(load['source_calls_by_method'], sort_keys=True)}; Rev.io requests per call "
            f"{json.dumps(load['revio_requests_per_call'], sort_keys=True)})"
        )
    equal = not (report.duplicates or report.missing or report.mismatched)
    print(
        f"final check (amounts in both currencies): QBO {'EQUAL' if equal else 'DIFFERENT'} to expected"
        f" (duplicates {report.duplicates}, "
        f"missing {report.missing}, mismatched {report.mismatched})"
    )
    for problem in report.problems[:20]:
        print(f"  - {problem}")
    result = {
        "mode": "runtime" if options.runtime else "in-process",
        "changes": report.changes,
        "deliveries": report.deliveries,
        "duplicates": report.duplicates,
        "missing": report.missing,
        "mismatched": report.mismatched,
        "unfinished_push_events": push_unfinished,
        "throughput_per_s": round(report.changes / report.seconds, 2),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "requests_per_change": round(per_change, 3),
        "qbo_reads_per_change": round(reads_per_change, 4),
        "qbo_writes_per_change": round(writes_per_change, 4),
        "qbo_requests_by_endpoint": report.qbo_requests_by_endpoint,
        "foreign_documents": foreign,
        "crash_rate": options.crash_rate,
        "faults": not options.no_faults,
        **ledger,
        **({"source_requests_per_change": load["source_requests_per_change"]} if load else {}),
    }
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0 if equal and push_unfinished == 0 and not ledger.get("open_writes") else 1


def _requests_by_kind(by_endpoint: dict[str, int]) -> Counter[str]:
    """QBO requests by kind from the sandbox's ``"METHOD resource"`` counts: every GET is a read (by id,
    query, CDC, company info, preferences, exchange rate, reports) and so is a POSTed query; any other POST
    to an entity is a write (create, update, void and delete are all POSTs); a batch is its own kind (it may
    carry both)."""
    kinds: Counter[str] = Counter({"read": 0, "write": 0, "batch": 0})
    for endpoint, count in by_endpoint.items():
        method, _, resource = endpoint.partition(" ")
        if method == "GET" or resource == "query":  # QBO also takes a query as a POST body
            kinds["read"] += count
        elif method == "POST" and resource == "batch":
            kinds["batch"] += count
        elif method == "POST":
            kinds["write"] += count
        else:
            raise ValueError(f"a QBO request of no known kind: {endpoint}")
    return kinds


def _ledger_figures(outcome: Outcome, changes: int) -> dict[str, Any]:
    """Crashes, open intents resolved and what that cost in QBO; DynamoDB calls per change."""
    crashes, calls = outcome.crashes, outcome.dynamodb_calls
    if crashes is None or calls is None:
        return {}
    return {
        "writes": crashes.writes,
        "crashes": crashes.crashes,
        "crash_points": dict(sorted(crashes.by_point.items())),
        "resolutions": crashes.resolutions,
        "open_writes": outcome.open_writes,
        "ledger_reads_per_change": round(crashes.resolution_reads / changes, 4),
        "ledger_writes_per_change": round(crashes.resolution_writes / changes, 4),
        "dynamodb_calls_per_change": round(sum(calls.values()) / changes, 2),
        "dynamodb_calls_per_change_by_operation": {
            name: round(count / changes, 2) for name, count in sorted(calls.items())
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
