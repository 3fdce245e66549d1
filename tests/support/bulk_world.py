"""The bulk-sync integration world (no tests here): moto with Step Functions execution on, the project's
Lambda invoker running the real task handler, and both sandboxes serving on loopback ports, so the
handler reaches them through the deployed wiring (connection, tokens and source key in moto).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from local.lambda_invoker import (
    LambdaInvoker,
    LocalFunction,
    install_moto_lambda_patch,
    uninstall_moto_lambda_patch,
)
from local.qbo_sandbox import SandboxConfig as QboSandboxConfig
from local.qbo_sandbox import build_app as build_qbo_app
from local.qbo_sandbox.app import Sandbox
from local.runtime.runtime import UvicornThread, bind_socket
from local.source_sandbox.app import build_app as build_source_app
from local.source_sandbox.config import SandboxConfig as SourceSandboxConfig
from local.source_sandbox.state import encode_cursor
from local.template_model import substitute_definition
from qbosync.api.dependencies import ApiDependencies
from qbosync.api.errors import register_error_handlers
from qbosync.api.routes.sync_runs import sync_runs_router
from qbosync.qbo.http import shared_http_client
from qbosync.settings import get_settings
from qbosync.store.app_secrets import AppSecrets, TenantSecrets
from qbosync.store.aws import reset_clients
from qbosync.store.config import AuditRecord, MappingRepository, SettingsRepository
from qbosync.store.connections import Connection, ConnectionRepository
from qbosync.store.links import LinkRepository
from qbosync.store.onboarding import PlanRepository, PlanSummary
from qbosync.store.runs import RunRepository, SyncRun
from qbosync.store.tenants import Tenant, TenantRepository
from qbosync.store.tokens import TokenVault, clear_token_cache
from qbosync.sync import wiring
from qbosync.sync.bulk.models import DEFAULT_PAGE_SIZE
from qbosync.sync.configuration import SyncToggles, TenantSettings
from tests.integration.conftest import create_table_from_template
from tests.support.admin_api import http_event
from tests.support.bulk_harness import (
    GENEROUS_LIMITS,
    SEEDED_GL_CODES,
    SEEDED_PRODUCT_TYPES,
    SOURCE_API_KEY,
    SOURCE_WEBHOOK_SECRET,
    issue_access_token,
)
from tests.support.lambda_context import LambdaContextStub
from tests.support.template import create_source_credentials_key

REPO = Path(__file__).resolve().parents[2]
TABLE = "qbosync-bulk-it"
FUNCTION_NAME = "qbosync-it-BulkSyncTaskFunction"
STATE_MACHINE_NAME = "qbosync-bulk-sync-it"
DRY_RUN_MACHINE_NAME = "qbosync-dry-run-it"
ADMIN = "admin-sub-1"
DEFAULT_PRODUCT = "prd_000001"
BILL_PROFILE = "BP-STD-EMAIL"
PRODUCT_TYPES = SEEDED_PRODUCT_TYPES
GL_CODES = list(SEEDED_GL_CODES)


class RefreshNotExpected:
    """Tokens are fresh for an hour; a refresh during a test would be a defect."""

    def refresh(self, refresh_token: str) -> Any:
        raise AssertionError("no token refresh was expected")


class PageFault:
    """ASGI wrapper of the source sandbox failing one page's reads after ListPages has read it once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.failing_cursor: str | None = None
        self.seen: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.failing_cursor and scope["path"].endswith("/products"):
            query = scope.get("query_string", b"").decode()
            if f"cursor={self.failing_cursor}" in query:
                self.seen[self.failing_cursor] += 1
                if self.seen[self.failing_cursor] > 1:
                    await _reply_400(send)
                    return
        await self.app(scope, receive, send)


async def _reply_400(send: Any) -> None:
    body = json.dumps(
        {"error": {"code": "page_unreadable", "message": "this page cannot be read now", "details": []}}
    ).encode()
    await send(
        {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class BulkWorld:
    qbo: Sandbox
    source_app: Any
    page_fault: PageFault
    machine_arn: str
    realm_by_tenant: dict[str, str] = field(default_factory=dict)

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions", region_name="us-east-1")

    def api(self, method: str, path: str, tenants: str) -> tuple[int, Any]:
        from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

        deps = ApiDependencies(source_reader_for=wiring.source_for_tenant)
        app = APIGatewayHttpResolver(enable_validation=True)
        register_error_handlers(app)
        app.include_router(sync_runs_router(deps))
        reply = app.resolve(http_event(method, path, tenants=tenants, sub=ADMIN), LambdaContextStub())
        return int(reply["statusCode"]), json.loads(reply.get("body") or "null")

    def executions(self) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.machine_arn)["executions"])

    def wait_until_planned(self, tenant_id: str, plan_id: str) -> PlanSummary:
        """Polls the dry run's execution (named after its plan) until it ends; the plan as it is then."""
        arn = self.machine_arn.replace(":stateMachine:", ":execution:").replace(
            STATE_MACHINE_NAME, DRY_RUN_MACHINE_NAME
        )
        self.wait_for(
            lambda: self.sfn.describe_execution(executionArn=f"{arn}:{plan_id}")["status"] != "RUNNING",
            f"the dry run of plan {plan_id} to end",
        )
        found = PlanRepository().get(tenant_id, plan_id)
        assert found is not None
        return found

    def run(self, tenant_id: str, run_id: str) -> SyncRun:
        found = RunRepository().get(tenant_id, run_id)
        assert found is not None
        return found

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_until_finished(self, tenant_id: str, run_id: str) -> SyncRun:
        """Polls the execution (not the run item, which the tasks are writing meanwhile)."""
        arn = self.run(tenant_id, run_id).execution_arn
        assert arn is not None
        self.wait_for(
            lambda: self.sfn.describe_execution(executionArn=arn)["status"] != "RUNNING",
            f"the execution of run {run_id} to end",
        )
        return self.run(tenant_id, run_id)

    def source_customers(self, tenant_id: str) -> list[Any]:
        return list(self.source_app.state.sandbox.iter_objects(tenant_id, "customers"))

    def source_products(self, tenant_id: str) -> list[Any]:
        return list(self.source_app.state.sandbox.iter_objects(tenant_id, "products"))

    def qbo_rows(self, tenant_id: str, entity: str) -> list[dict[str, Any]]:
        return list(self.qbo.companies[self.realm_by_tenant[tenant_id]].records[entity].values())

    def links(self, tenant_id: str, entity: str) -> list[Any]:
        repository = LinkRepository()
        found, cursor = [], None
        while True:
            page = repository.list(tenant_id, entity, limit=500, cursor=cursor)
            found += page.items
            cursor = page.cursor
            if cursor is None:
                return found

    def fail_product_page(self, page_no: int, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        """Make product page ``page_no`` unreadable for the page task (ListPages still reads it)."""
        self.page_fault.failing_cursor = encode_cursor("products", f"prd_{(page_no - 1) * page_size:06d}")
        self.page_fault.seen.clear()

    def heal_product_pages(self) -> None:
        self.page_fault.failing_cursor = None


def audit_record(target: str) -> AuditRecord:
    return AuditRecord(
        actor=ADMIN, action="test.seed", target=target, before=None, after=None, at=datetime.now(UTC)
    )


def provision_tenant(
    world: BulkWorld, tenant_id: str, realm_id: str, *, connected: bool = True, **settings: Any
) -> None:
    """Register the tenant, connect it to ``realm_id`` (tokens in moto), store its source key and config."""
    TenantRepository().register(Tenant(tenant_id=tenant_id, name=f"Tenant {tenant_id}"))
    TenantSecrets().put_source_credentials(tenant_id, SOURCE_API_KEY)
    world.realm_by_tenant[tenant_id] = realm_id
    if connected:
        ConnectionRepository().record_connected(
            Connection(
                tenant_id=tenant_id,
                realm_id=realm_id,
                company_name=world.qbo.companies[realm_id].company_name,
                connected_by=ADMIN,
                connected_at=datetime.now(UTC),
            )
        )
        TokenVault(tenant_id, refresher=RefreshNotExpected()).store_initial(
            realm_id, issue_access_token(world.qbo, realm_id)
        )
    document = TenantSettings(
        sync=SyncToggles(invoices=False, payments=False, credit_notes=False, qbo_to_source_customers=True),
        source_defaults={
            "new_customer_bill_profile_id": BILL_PROFILE,
            "unmatched_qbo_item_product_id": DEFAULT_PRODUCT,
        },
        name_collision_policy="suffix",
    ).model_dump(mode="json")
    document.update(settings)
    SettingsRepository().replace(tenant_id, document, 0, audit_record("settings"))
    income = [
        row
        for row in world.qbo.companies[realm_id].records["Account"].values()
        if row.get("AccountType") == "Income" and row.get("Active", True)
    ]
    MappingRepository().replace(
        tenant_id,
        "gl-codes",
        [
            {
                "source_key": code,
                "qbo_id": income[i % len(income)]["Id"],
                "qbo_name": income[i % len(income)]["Name"],
            }
            for i, code in enumerate(GL_CODES)
        ],
        0,
        audit_record("mappings/gl-codes"),
    )
    MappingRepository().replace(
        tenant_id,
        "product-types",
        [{"source_key": key, "qbo_id": value, "qbo_name": value} for key, value in PRODUCT_TYPES.items()],
        0,
        audit_record("mappings/product-types"),
    )


def _set_environment(monkeypatch: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    shared_http_client.cache_clear()
    reset_clients()
    wiring.reset()
    clear_token_cache()


@contextmanager
def bulk_world(
    monkeypatch: Any,
    tenant_ids: list[str],
    customers: int,
    products: int,
    *,
    execute: bool = True,
    invoices: int = 0,
) -> Iterator[BulkWorld]:
    """Everything running; ``execute=False`` leaves executions RUNNING (routes tests start nothing real);
    ``invoices`` source invoices for the document matching's tests."""
    qbo_app = build_qbo_app(QboSandboxConfig(**GENEROUS_LIMITS, realm_count=3))
    source_app = build_source_app(
        SourceSandboxConfig.for_tenants(
            tenant_ids,
            api_key=SOURCE_API_KEY,
            webhook_secret=SOURCE_WEBHOOK_SECRET,
            customers=customers,
            products=products,
            invoices=invoices,
        )
    )
    page_fault = PageFault(source_app)
    qbo_listener, source_listener = bind_socket("127.0.0.1", 0), bind_socket("127.0.0.1", 0)
    servers = [UvicornThread(qbo_app, qbo_listener), UvicornThread(page_fault, source_listener)]
    for server in servers:
        server.start()
    config = {"stepfunctions": {"execute_state_machine": execute}}
    try:
        with mock_aws(config=config):  # type: ignore[arg-type]
            _set_environment(
                monkeypatch,
                {
                    "TABLE_NAME": TABLE,
                    "SECRET_PREFIX": "qbosync/it",
                    "QBO_BASE_URL": f"http://127.0.0.1:{qbo_listener.getsockname()[1]}",
                    "SOURCE_BASE_URL": f"http://127.0.0.1:{source_listener.getsockname()[1]}",
                    "QBOSYNC_STAGE": "it",
                },
            )
            create_table_from_template("MainTable", TABLE)
            create_source_credentials_key()
            sandbox_config = qbo_app.state.sandbox.config
            AppSecrets().put_intuit_app(
                sandbox_config.client_id, sandbox_config.client_secret, sandbox_config.verifier_token
            )
            machine_arn, dry_run_arn = _create_state_machines()
            monkeypatch.setenv("BULK_SYNC_STATE_MACHINE_ARN", machine_arn)
            monkeypatch.setenv("DRY_RUN_STATE_MACHINE_ARN", dry_run_arn)
            get_settings.cache_clear()
            install_moto_lambda_patch(
                LambdaInvoker(
                    [
                        LocalFunction(
                            logical_id="BulkSyncTaskFunction",
                            function_name=FUNCTION_NAME,
                            code_dir=REPO / "functions" / "bulk_sync_task",
                            handler="app.lambda_handler",
                            timeout=900,
                            memory_size=512,
                            environment={},
                        )
                    ]
                )
            )
            try:
                yield BulkWorld(qbo_app.state.sandbox, source_app, page_fault, machine_arn)
            finally:
                uninstall_moto_lambda_patch()
    finally:
        for server in servers:
            server.stop()
        wiring.reset()
        shared_http_client.cache_clear()


def _create_state_machines() -> tuple[str, str]:
    """The bulk sync's and the dry run's machines, both running the one task function."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(
        RoleName="bulk-sync-it",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            }
        ),
    )["Role"]["Arn"]
    function_arn = boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName=FUNCTION_NAME,
        Runtime="python3.11",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Timeout=900,
    )["FunctionArn"]
    arns = []
    for name, file in ((STATE_MACHINE_NAME, "bulk_sync"), (DRY_RUN_MACHINE_NAME, "dry_run")):
        text = (REPO / "statemachines" / f"{file}.asl.json").read_text(encoding="utf-8")
        definition = substitute_definition(text, {"BulkSyncTaskFunctionArn": function_arn})
        machine = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
            name=name, definition=definition, roleArn=role
        )
        arns.append(str(machine["stateMachineArn"]))
    return arns[0], arns[1]
