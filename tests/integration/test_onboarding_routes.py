"""Onboarding through the admin API: a dry run, the run from its plan (through the state machine), an
undo of what the run created, a stale plan refused, and a link import with good and bad rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.onboarding import onboarding_router
from qbosync.api.routes.sync_runs import sync_runs_router
from qbosync.settings import get_settings
from qbosync.store.links import LinkRepository
from qbosync.store.runs import RunRepository, SyncRun
from qbosync.store.source_credentials import SourceCredentialsStore
from qbosync.sync import wiring
from qbosync.sync.bulk.plan import PREPARE_READS
from qbosync.sync.bulk.tasks import run_task
from qbosync.sync.records.items import unmatched_item_source_key
from tests.support.admin_api import ADMIN, http_event
from tests.support.bulk_world import BILL_PROFILE, BulkWorld, bulk_world, provision_tenant
from tests.support.lambda_context import LambdaContextStub

TENANT = "books"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[BulkWorld]:
    with bulk_world(monkeypatch, [TENANT], 12, 8) as built:
        # Preflight (run before a sync starts) accepts only an active product as the unmatched-item default.
        active = next(p.id for p in built.source_products(TENANT) if p.active and not p.deleted)
        defaults = {"new_customer_bill_profile_id": BILL_PROFILE, "unmatched_qbo_item_product_id": active}
        provision_tenant(built, TENANT, next(iter(built.qbo.companies)), source_defaults=defaults)
        yield built


def call(
    method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    deps = ApiDependencies(source_reader_for=wiring.source_for_tenant)
    app = APIGatewayHttpResolver(enable_validation=True)
    register_error_handlers(app)
    app.include_router(sync_runs_router(deps))
    app.include_router(onboarding_router(deps))
    event = http_event(method, path, body=body, query=query, tenants=TENANT, sub=ADMIN)
    reply = app.resolve(event, LambdaContextStub())
    headers = {k.lower(): v for k, v in (reply.get("headers") or {}).items()}
    text = reply.get("body") or "null"
    parsed = json.loads(text) if "json" in headers.get("content-type", "") else text
    return int(reply["statusCode"]), parsed, headers


def links_of(entity: str) -> dict[str, Any]:
    return {link.source_id: link for link in LinkRepository().list(TENANT, entity, limit=500).items}


def dry_run(world: BulkWorld) -> dict[str, Any]:
    """Start a dry run, wait for its execution to end, and read the plan as the admin would."""
    status, started, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"dry_run": True})
    assert status == 202 and started["status"] == "running", started
    world.wait_until_planned(TENANT, started["plan_id"])
    status, page, _ = call("GET", started["status_url"], query={"limit": "1"})
    assert status == 200, page
    return {**page["plan"], "plan_url": started["status_url"]}


def test_given_a_dry_run_when_run_from_its_plan_and_undone_then_each_step_does_what_it_said(
    world: BulkWorld,
) -> None:
    plan = dry_run(world)

    assert plan["status"] == "ready" and plan["dry_run_reads"] >= 1
    assert plan["qbo_reads"] == PREPARE_READS + 2 * plan["dry_run_reads"], "Prepare, the re-check, the pages"
    assert plan["counts"]["Customer"] and plan["counts"]["Item"]
    assert sum(plan["counts"]["Customer"].values()) == 12 and sum(plan["counts"]["Item"].values()) == 8
    assert plan["counts"]["qbo_customers"]["create"] and plan["counts"]["qbo_items"]["match"]
    assert links_of("Customer") == {} and links_of("Item") == {}, "a dry run writes nothing"
    status, page, _ = call("GET", plan["plan_url"], query={"limit": "5"})
    assert status == 200 and len(page["entries"]) == 5 and page["cursor"]
    status, text, headers = call("GET", f"{plan['plan_url']}/download", query={"format": "csv"})
    assert status == 200 and headers["content-type"].startswith("text/csv")
    planned = list(csv.DictReader(io.StringIO(text)))
    assert len(planned) == plan["entries"]

    status, started, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"plan_id": plan["plan_id"]})
    assert status == 202, started
    run = world.wait_until_finished(TENANT, started["run_id"])
    assert run.status.startswith("SUCCEEDED")
    assert run.qbo_reads == plan["qbo_reads"], "the plan said what the run reads"
    linked = {**links_of("Customer"), **links_of("Item")}
    by_qbo_id = {(link.entity, link.qbo_id): link for link in linked.values()}
    default_product = next(p.id for p in world.source_products(TENANT) if p.active and not p.deleted)
    for row in planned:
        link = linked.get(row["source_id"])
        if row["entity"] == "qbo_customers":  # the QBO → source step: created in the source
            taken = by_qbo_id[("Customer", row["qbo_id"])]
            assert row["action"] == "create" and taken.origin == "qbo", row
        elif row["entity"] == "qbo_items":  # linked to the default product
            taken = by_qbo_id[("Item", row["qbo_id"])]
            assert row["action"] == "match" and taken.source_id == unmatched_item_source_key(
                default_product, row["qbo_id"]
            )
        elif row["action"] == "create":
            assert link is not None and link.origin == "qbosync" and link.created_by_run == run.run_id
        elif row["action"] == "match":
            assert link is not None and link.qbo_id == row["qbo_id"]
        else:
            assert link is None or link.origin == "qbo", row

    created = [row for row in planned if row["action"] == "create" and row["entity"] == "Customer"]
    kept = linked[created[0]["source_id"]]
    qbo = wiring.qbo_client_for_tenant(TENANT)
    item = next(iter(qbo.query_all("Item", "Type = 'Service'")))
    qbo.create(
        "Invoice",
        {
            "CustomerRef": {"value": kept.qbo_id},
            "Line": [
                {
                    "Amount": 5,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
                }
            ],
        },
        "an-invoice-entered-in-qbo",
    )
    status, rehearsal, _ = call("POST", f"/tenants/{TENANT}/sync/runs/{run.run_id}/undo", {})
    assert status == 200 and rehearsal["dry_run"] is True
    assert links_of("Customer")[kept.source_id].qbo_id == kept.qbo_id, "a dry run of the undo writes nothing"

    status, undone, _ = call("POST", f"/tenants/{TENANT}/sync/runs/{run.run_id}/undo", {"dry_run": False})

    assert status == 200 and undone["entries"] == rehearsal["entries"]
    actions = {(e["entity"], e["source_id"]): e["action"] for e in undone["entries"]}
    assert actions[("Customer", kept.source_id)] == "keep"
    assert (
        undone["deactivated"]
        == sum(1 for row in planned if row["action"] == "create" and row["entity"] in ("Customer", "Item"))
        - 1
    )
    remaining = links_of("Customer")
    assert set(remaining) & {row["source_id"] for row in created} == {kept.source_id}
    gone = next(row for row in created if row["source_id"] != kept.source_id)
    assert qbo.read("Customer", linked[gone["source_id"]].qbo_id)["Active"] is False


def test_given_existing_qbo_documents_when_dry_run_then_run_then_documents_are_linked_as_planned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with bulk_world(monkeypatch, [TENANT], 6, 4, invoices=4) as world:
        provision_tenant(
            world,
            TENANT,
            next(iter(world.qbo.companies)),
            onboarding={"match_documents_from": "2000-01-01"},
        )
        invoice = next(iter(world.source_app.state.sandbox.iter_objects(TENANT, "invoices")))
        customer = next(c for c in world.source_customers(TENANT) if c.id == invoice.customer_id)
        legacy = _legacy_invoice_in_qbo(invoice, customer.display_name)

        plan = dry_run(world)
        planned = {(row["entity"], row["source_id"]): row for row in _entries(plan)}
        status, started, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"plan_id": plan["plan_id"]})
        run = world.wait_until_finished(TENANT, started["run_id"])

        assert status == 202 and run.status.startswith("SUCCEEDED"), run.failed_pages
        assert planned[("Customer", customer.id)]["action"] == "match"
        assert planned[("Invoice", invoice.id)]["action"] == "match"
        assert planned[("Invoice", invoice.id)]["qbo_id"] == str(legacy["Id"])
        invoices = [row for key, row in planned.items() if key[0] == "Invoice"]
        assert len(invoices) == 4 and sum(row["action"] == "skip" for row in invoices) == 3
        linked = links_of("Invoice")
        for row in invoices:
            link = linked.get(row["source_id"])
            if row["action"] == "match":
                assert link is not None and link.qbo_id == row["qbo_id"]
            else:
                assert link is None and row["reason_code"] == "no_document_match", row
        assert run.qbo_reads == plan["qbo_reads"], "the plan said what the run reads"


def _legacy_invoice_in_qbo(invoice: Any, customer_name: str) -> dict[str, Any]:
    """The customer and the invoice as an earlier integration wrote them into QBO, before qbosync."""
    qbo = wiring.qbo_client_for_tenant(TENANT)
    customer = qbo.create("Customer", {"DisplayName": customer_name}, "legacy-customer")
    item = next(iter(qbo.query_all("Item", "Type = 'Service'")))
    return qbo.create(
        "Invoice",
        {
            "DocNumber": invoice.number,
            "TxnDate": invoice.issue_date.isoformat(),
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": str(invoice.total),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
                }
            ],
        },
        "legacy-invoice",
    )


def test_given_a_plan_when_a_customer_changes_before_the_run_then_the_run_stops_plan_stale_writing_nothing(
    world: BulkWorld,
) -> None:
    plan = dry_run(world)
    customer_id = next(row for row in _entries(plan) if row["entity"] == "Customer")["source_id"]
    qbo_customers = len(world.qbo_rows(TENANT, "Customer"))
    with httpx.Client(base_url=get_settings().source_base_url) as source:
        source.put(
            f"/_sandbox/tenants/{TENANT}/customers/{customer_id}", json={"display_name": "Changed Since"}
        ).raise_for_status()

    status, started, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"plan_id": plan["plan_id"]})
    run = world.wait_until_finished(TENANT, started["run_id"])

    assert status == 202 and run.status == "FAILED"
    [failed] = run.failed_pages
    assert failed.reason.startswith("BulkSyncPlanStale: plan_stale: 1 record(s) changed since plan")
    assert failed.reason.endswith(f"Customer {customer_id}")
    assert run.qbo_reads == PREPARE_READS + plan["dry_run_reads"], "the re-check read, counted"
    assert links_of("Customer") == {} and links_of("Item") == {}, "nothing written"
    assert len(world.qbo_rows(TENANT, "Customer")) == qbo_customers
    assert RunRepository().active_run_id(TENANT) is None, "the stopped run released the tenant's run lock"


def test_given_a_plan_when_a_customer_is_deleted_and_a_product_changes_then_the_recheck_names_both_and_stops(
    world: BulkWorld,
) -> None:
    plan = dry_run(world)
    entries = _entries(plan)
    customer_id = next(row for row in entries if row["entity"] == "Customer")["source_id"]
    product_id = next(row for row in entries if row["entity"] == "Item")["source_id"]
    with httpx.Client(base_url=get_settings().source_base_url) as source:
        source.delete(f"/_sandbox/tenants/{TENANT}/customers/{customer_id}").raise_for_status()
        source.put(
            f"/_sandbox/tenants/{TENANT}/products/{product_id}", json={"name": "Changed Since"}
        ).raise_for_status()

    status, started, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"plan_id": plan["plan_id"]})
    run = world.wait_until_finished(TENANT, started["run_id"])

    assert status == 202 and run.status == "FAILED"
    [failed] = run.failed_pages
    assert failed.reason.startswith("BulkSyncPlanStale: plan_stale: 2 record(s) changed since plan")
    assert failed.reason.endswith(f": Customer {customer_id}, Item {product_id}")
    assert links_of("Customer") == {} and links_of("Item") == {}, "nothing written"


def test_given_a_run_from_a_plan_stopped_after_its_recheck_and_a_page_when_resumed_then_no_second_check(
    world: BulkWorld,
) -> None:
    plan = dry_run(world)
    run_id = "from-plan-halfway"
    RunRepository().start(
        SyncRun(
            run_id=run_id,
            tenant_id=TENANT,
            started_at=datetime.now(UTC),
            started_by=ADMIN,
            plan_id=plan["plan_id"],
        )
    )
    # What an execution stopped after its re-check and one page leaves behind (see test_bulk_sync_resume).
    deps = wiring.bulk_sync_dependencies()
    ids = {"tenant_id": TENANT, "run_id": run_id}
    prepared = run_task({"task": "prepare", **ids}, deps)
    assert prepared["check_plan"] is True
    config = {"config": prepared["config"]}
    pages = run_task({"task": "list_pages", **ids, **config}, deps)
    for entity, task in (("customers", "recheck_customer_page"), ("products", "recheck_product_page")):
        for page in pages[entity]:
            run_task({"task": task, **ids, **config, "page": page}, deps)
    run_task({"task": "recheck_after_pages", **ids, **config}, deps)
    run_task({"task": "recheck_finish", **ids, **config}, deps)
    run_task({"task": "sync_customer_page", **ids, **config, "page": pages["customers"][0]}, deps)
    assert links_of("Customer"), "the page wrote its links"

    status, _resumed, _ = call("POST", f"/tenants/{TENANT}/sync/runs/{run_id}/resume")
    run = world.wait_until_finished(TENANT, run_id)

    assert status == 202 and run.status.startswith("SUCCEEDED"), run.failed_pages
    assert run.plan_checked_at is not None
    assert run.qbo_reads == plan["qbo_reads"], "Prepare, the re-check and each page counted once"


def test_given_the_source_unreachable_for_the_tenant_when_dry_run_then_the_plan_fails_with_why_and_cannot_run(
    world: BulkWorld,
) -> None:
    # Its source key gone, the dry run's first step cannot list the source (nothing else runs beside it).
    SourceCredentialsStore().delete(TENANT)
    status, started, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"dry_run": True})
    assert status == 202

    planned = world.wait_until_planned(TENANT, started["plan_id"])

    _then_the_plan_failed_and_cannot_run(world, started, planned)


def _then_the_plan_failed_and_cannot_run(world: BulkWorld, started: dict[str, Any], planned: Any) -> None:
    assert planned.status == "failed" and planned.failure
    assert planned.failure.startswith("BulkSyncPageRejected: ") and "source" in planned.failure, (
        planned.failure
    )
    status, page, _ = call("GET", started["status_url"])
    assert status == 200 and page["plan"]["status"] == "failed" and page["entries"] == []
    status, body, _ = call("GET", f"{started['status_url']}/download")
    assert status == 409 and body["error"]["code"] == "plan_not_ready"
    status, body, _ = call("POST", f"/tenants/{TENANT}/sync/initial", {"plan_id": started["plan_id"]})
    assert status == 409 and body["error"]["code"] == "plan_not_ready"
    assert world.executions() == [], "no run starts from a failed plan"


def _entries(plan: dict[str, Any]) -> list[dict[str, Any]]:
    _status, body, _ = call("GET", f"{plan['plan_url']}/download")
    entries: list[dict[str, Any]] = body["entries"]
    return entries


def test_given_an_import_with_good_and_bad_rows_when_sent_twice_then_same_report_and_nothing_doubled(
    world: BulkWorld,
) -> None:
    realm = world.realm_by_tenant[TENANT]
    records = world.qbo.companies[realm].records
    qbo_customers = [row["Id"] for row in records["Customer"].values()]
    category = next((row["Id"] for row in records["Item"].values() if row.get("Type") == "Category"), None)
    sources = [c.id for c in world.source_app.state.sandbox.iter_objects(TENANT, "customers")]
    rows = [
        {"kind": "customer", "source_id": sources[0], "qbo_id": qbo_customers[0]},
        {"kind": "customer", "source_id": sources[1], "qbo_id": qbo_customers[0]},
        {"kind": "customer", "source_id": sources[2], "qbo_id": "987654"},
        {"kind": "customer", "source_id": "cus_nobody", "qbo_id": qbo_customers[1]},
        {"kind": "invoice", "source_id": "inv_nobody", "qbo_id": "987654"},
    ]
    expected = [
        ("accepted", None),
        ("refused", "duplicate_in_import"),
        ("refused", "qbo_not_found"),
        ("refused", "source_not_found"),
        ("refused", "qbo_not_found"),
    ]
    if category is not None:
        rows.append({"kind": "item", "source_id": "prd_x", "qbo_id": category})
        expected.append(("refused", "qbo_wrong_type"))

    status, first, _ = call("POST", f"/tenants/{TENANT}/links/import", {"rows": rows})
    text = "kind,source_id,qbo_id\n" + "\n".join(f"{r['kind']},{r['source_id']},{r['qbo_id']}" for r in rows)
    again_status, again, _ = call("POST", f"/tenants/{TENANT}/links/import", {"csv": text})

    assert status == again_status == 200
    assert [(r["status"], r["reason_code"]) for r in first["rows"]] == expected
    assert [(r["status"], r["reason_code"]) for r in again["rows"]] == [
        ("already_linked", None),
        *expected[1:],
    ]
    assert (first["accepted"], again["accepted"], again["already_linked"]) == (1, 0, 1)
    assert {s: link.qbo_id for s, link in links_of("Customer").items()} == {sources[0]: qbo_customers[0]}
    status, elsewhere, _ = call(
        "POST",
        f"/tenants/{TENANT}/links/import",
        {"rows": [{"kind": "customer", "source_id": sources[3], "qbo_id": qbo_customers[0]}]},
    )
    assert elsewhere["rows"][0]["reason_code"] == "qbo_linked_elsewhere"
    status, bad, _ = call("POST", f"/tenants/{TENANT}/links/import", {"csv": "who,what\nx,y"})
    assert status == 422 and bad["error"]["code"] == "invalid_csv"


def test_given_no_suggestion_when_one_is_decided_then_404_and_a_confirm_without_a_candidate_is_422(
    world: BulkWorld,
) -> None:
    status, listed, _ = call("GET", f"/tenants/{TENANT}/suggestions")
    missing_status, missing, _ = call(
        "POST", f"/tenants/{TENANT}/suggestions/Customer/cus_1/decision", {"action": "skip"}
    )
    bad_status, bad, _ = call(
        "POST", f"/tenants/{TENANT}/suggestions/Customer/cus_1/decision", {"action": "confirm"}
    )

    assert (status, listed) == (200, {"suggestions": [], "cursor": None})
    assert missing_status == 404 and missing["error"]["code"] == "suggestion_not_found"
    assert bad_status == 422 and bad["error"]["code"] == "invalid_decision"
