"""``LocalRuntime``: the whole service on one machine, with no AWS account.

Start-up order matters and is fixed here: the front door's socket is bound first (its URL goes into
the sandboxes' webhook settings and the OAuth redirect URI), then moto starts, the sandboxes start,
the template's parameters get local values, its resources are created in moto, the handlers'
environment is set, the app and tenant secrets are provisioned, and only then do the front door, the
SQS poller and the schedule ticker begin to serve.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvicorn

from local.jwt_issuer import LOCAL_ISSUER, JwtIssuer
from local.lambda_invoker import (
    LambdaInvoker,
    LocalFunction,
    install_moto_lambda_patch,
    merged_environment,
    uninstall_moto_lambda_patch,
)
from local.runtime.aws_resources import (
    CreatedResources,
    MotoService,
    ResourceProvisioner,
    local_function_name,
    plan_resource_map,
)
from local.runtime.front_door import AuthorizerCheck, FrontDoor, RouteTable
from local.runtime.persistence import (
    QBO_SNAPSHOT_FILE,
    SOURCE_SNAPSHOT_FILE,
    AwsStateStore,
    LocalCredentials,
)
from local.runtime.sandboxes import SandboxProcess
from local.runtime.schedules import ScheduleTicker
from local.runtime.sqs_poller import SqsPoller, SqsSubscription
from local.template_model import (
    Intrinsic,
    IntrinsicResolver,
    LocalResourceMap,
    TemplateError,
    TemplateModel,
    load_template,
    resolve_environment,
)

LOGGER = logging.getLogger("local.runtime")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TENANTS = ("acme-psa", "lawfirm-co")
LOCAL_STAGE = "local"
ADMIN_TOKEN_TTL_SECONDS = 12 * 3600


@dataclass(frozen=True)
class RuntimeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    persist_dir: Path | None = None
    schedule_speedup: float = 1.0
    tenants: tuple[str, ...] = DEFAULT_TENANTS
    source_customers: int | None = None
    source_products: int | None = None
    template_path: Path = REPO_ROOT / "template.yaml"
    startup_timeout: float = 45.0


@dataclass(frozen=True)
class TenantInfo:
    id: str
    admin_token: str
    console_url: str


@dataclass(frozen=True)
class RuntimeInfo:
    """What ``READY`` announces."""

    front_door_url: str
    qbo_sandbox_url: str
    qbo_discovery_url: str
    source_sandbox_url: str
    aws_endpoint_url: str
    jwt_issuer: str
    jwt_audience: str
    tenants: list[TenantInfo]
    realms: list[Any] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def bind_socket(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    return listener


class UvicornThread:
    """uvicorn serving an app on an already bound socket, in a thread of its own."""

    def __init__(self, app: Any, listener: socket.socket) -> None:
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, name="front-door", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._listener]))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)


class LocalRuntime:
    """Start with ``start()`` (returns ``RuntimeInfo``), always end with ``stop()``."""

    def __init__(self, options: RuntimeOptions | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.info: RuntimeInfo | None = None
        self.invoker: LambdaInvoker | None = None
        self.moto = MotoService()
        self.created = CreatedResources()
        self._sandboxes: list[SandboxProcess] = []
        self._front_door: UvicornThread | None = None
        self._listener: socket.socket | None = None
        self._poller: SqsPoller | None = None
        self._ticker: ScheduleTicker | None = None
        self._saved_environment: dict[str, str | None] = {}
        self.issuer: JwtIssuer | None = None

    # -------------------------------------------------------------- lifecycle

    _running_in_process: LocalRuntime | None = None

    def start(self) -> RuntimeInfo:
        """Start everything; one runtime per process (it owns os.environ, moto and moto's Lambda patch)."""
        if LocalRuntime._running_in_process is not None:
            raise RuntimeError("a LocalRuntime is already running in this process: stop it first")
        LocalRuntime._running_in_process = self
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> RuntimeInfo:
        options = self.options
        template = load_template(options.template_path)
        if template.state_machines:
            threading.Thread(target=_warm_up_step_functions, name="sfn-warm-up", daemon=True).start()
        self._listener = bind_socket(options.host, options.port)
        host, port = self._listener.getsockname()[:2]
        front_door_url = f"http://{host}:{port}"

        aws_endpoint_url = self.moto.start()
        self._set_environment(
            {
                "AWS_ENDPOINT_URL": aws_endpoint_url,
                "MOTO_PORT": str(self.moto.port),
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                "POWERTOOLS_TRACE_DISABLED": "1",
                # EMF metric lines are for CloudWatch; locally they would bury the runtime's own output.
                "POWERTOOLS_METRICS_DISABLED": "1",
            }
        )

        credentials = LocalCredentials.load_or_generate(options.persist_dir)
        qbo_ready, source_ready = self._start_sandboxes(front_door_url, credentials)

        resources = LocalResourceMap(
            parameters={
                "Stage": LOCAL_STAGE,
                "JwtIssuer": LOCAL_ISSUER,
                "IntuitDiscoveryUrl": str(qbo_ready["discovery_url"]),
                "QboBaseUrl": str(qbo_ready["base_url"]),
                "SourceBaseUrl": str(source_ready["base_url"]),
                "AdminReturnUrl": f"{front_door_url}/connected",
            },
            api_base_url=front_door_url,
        )
        resolver = IntrinsicResolver(template, resources)
        plan_resource_map(template, resources, LOCAL_STAGE)
        self.created = ResourceProvisioner(self.moto, template, resolver, resources).create_all()
        if options.persist_dir is not None:
            restored = self._state_store(options.persist_dir).restore(
                self.created.tables, self.created.queue_urls
            )
            LOGGER.info("state %s", "restored" if restored else "starts empty (nothing saved yet)")

        functions = self._local_functions(template, resolver)
        self._set_environment(merged_environment(functions))
        _forget_cached_settings()
        self.invoker = LambdaInvoker(functions)
        install_moto_lambda_patch(self.invoker)

        audience = resolver.resolve_str(Intrinsic("Ref", "JwtAudience"))
        issuer = (
            JwtIssuer.persisted(LOCAL_ISSUER, audience, options.persist_dir)
            if options.persist_dir is not None
            else JwtIssuer(LOCAL_ISSUER, audience)
        )
        tenant_credentials = _tenant_credentials(source_ready, options.tenants, credentials)
        _provision_secrets_and_tenants(credentials, tenant_credentials)

        authorizers = {
            name: AuthorizerCheck(
                issuer=issuer,
                audiences=tuple(resolver.resolve_str(value) for value in authorizer.audience),
                issuer_url=resolver.resolve_str(authorizer.issuer),
            )
            for name, authorizer in template.jwt_authorizers.items()
        }
        for name, check in authorizers.items():
            if check.issuer_url != issuer.issuer:
                raise TemplateError(
                    f"authorizer {name} expects issuer {check.issuer_url}, local is {issuer.issuer}"
                )
        front_door = FrontDoor(RouteTable(template.routes), self.invoker.invoke, authorizers)
        self._front_door = UvicornThread(front_door.app(), self._listener)
        self._front_door.start()

        subscriptions = [
            _subscription(event.function_id, resolver.resolve_str(event.queue), event.batch_size,
                          event.report_batch_item_failures, self.created)
            for event in template.sqs_events
            if event.enabled
        ]  # fmt: skip
        self._poller = SqsPoller(self.moto.client("sqs"), subscriptions, self.invoker.invoke)
        self._poller.start()
        self._ticker = ScheduleTicker(
            [schedule.resolved(resolver) for schedule in template.schedules],
            self._fire_schedule,
            options.schedule_speedup,
        )
        self._ticker.start()

        self.info = RuntimeInfo(
            front_door_url=front_door_url,
            qbo_sandbox_url=str(qbo_ready["base_url"]),
            qbo_discovery_url=str(qbo_ready["discovery_url"]),
            source_sandbox_url=str(source_ready["base_url"]),
            aws_endpoint_url=aws_endpoint_url,
            jwt_issuer=issuer.issuer,
            jwt_audience=audience,
            tenants=[
                signed_in_tenant(
                    front_door_url,
                    tenant_id,
                    issuer.issue_admin_token(f"admin@{tenant_id}", [tenant_id], ADMIN_TOKEN_TTL_SECONDS),
                )
                for tenant_id in options.tenants
            ],
            realms=list(qbo_ready.get("realms", [])),
            queues=dict(self.created.queue_urls),
            state_machines=dict(self.created.state_machine_arns),
            tables=dict(self.created.tables),
        )
        self.issuer = issuer
        return self.info

    def stop(self) -> None:
        """Stop everything that was started, in reverse order; safe to call more than once."""
        for part in (self._ticker, self._poller):
            if part is not None:
                part.request_stop()  # all threads wind down together, not one after another
        for stopper in (
            self._ticker.stop if self._ticker else None,
            self._poller.stop if self._poller else None,
            self._front_door.stop if self._front_door else None,
        ):
            if stopper is not None:
                try:
                    stopper()
                except Exception:
                    LOGGER.exception("stopping a runtime part failed")
        self._ticker = self._poller = self._front_door = None
        if self.options.persist_dir is not None and self.info is not None:
            try:
                self._state_store(self.options.persist_dir).save(self.created.tables, self.created.queue_urls)
            except Exception:
                LOGGER.exception("saving the state to %s failed", self.options.persist_dir)
        self.info = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sandbox in self._sandboxes:
            sandbox.request_stop()
        for sandbox in reversed(self._sandboxes):
            sandbox.stop()
        self._sandboxes.clear()
        uninstall_moto_lambda_patch()
        self.moto.stop()
        self._restore_environment()
        _forget_cached_settings()
        if LocalRuntime._running_in_process is self:
            LocalRuntime._running_in_process = None

    # -------------------------------------------------------------- parts

    def _fire_schedule(self, target_id: str, event: dict[str, Any]) -> Any:
        """A schedule's target is a function (invoked) or a state machine (an execution is started)."""
        if target_id in self.created.state_machine_arns:
            return self.moto.client("stepfunctions").start_execution(
                stateMachineArn=self.created.state_machine_arns[target_id],
                name=f"schedule-{uuid.uuid4().hex}",
                input=json.dumps(event),
            )
        assert self.invoker is not None
        return self.invoker.invoke(target_id, event)

    def _state_store(self, directory: Path) -> AwsStateStore:
        return AwsStateStore(
            directory,
            self.moto.client("dynamodb"),
            self.moto.client("secretsmanager"),
            self.moto.client("sqs"),
        )

    def _start_sandboxes(
        self, front_door_url: str, credentials: LocalCredentials
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The QBO and source sandboxes, configured to call the front door; their READY documents."""
        options = self.options
        qbo_snapshot: list[str] = []
        source_snapshot: list[str] = []
        if options.persist_dir is not None:
            qbo_snapshot = [f"--snapshot={options.persist_dir / QBO_SNAPSHOT_FILE}"]
            source_snapshot = [f"--snapshot={options.persist_dir / SOURCE_SNAPSHOT_FILE}"]
        qbo = self._launch_sandbox(
            "qbo-sandbox",
            "local.qbo_sandbox",
            [
                "--host", options.host, "--port", "0",
                f"--webhook-url={front_door_url}/webhooks/qbo",
                f"--verifier-token={credentials.verifier_token}",
                f"--client-id={credentials.intuit_client_id}",
                f"--client-secret={credentials.intuit_client_secret}",
                f"--redirect-uri={front_door_url}/oauth/callback",
                "--auto-consent",
                *qbo_snapshot,
            ],
        )  # fmt: skip
        source_arguments = [
            "--host", options.host, "--port", "0",
            f"--webhook-url={front_door_url}/webhooks/source/{{tenant_id}}",
            *source_snapshot,
        ]  # fmt: skip
        for tenant_id in options.tenants:
            api_key, webhook_secret = credentials.tenant_source_credentials(tenant_id)
            source_arguments.append(f"--tenant={tenant_id}")
            source_arguments.append(f"--tenant-credentials={tenant_id}:{api_key}:{webhook_secret}")
        if options.source_customers is not None:
            source_arguments.append(f"--customers={options.source_customers}")
        if options.source_products is not None:
            source_arguments.append(f"--products={options.source_products}")
        source = self._launch_sandbox("source-sandbox", "local.source_sandbox", source_arguments)
        return qbo.wait_ready(), source.wait_ready()

    def _launch_sandbox(self, name: str, module: str, arguments: list[str]) -> SandboxProcess:
        """Start a sandbox child (values passed as ``--flag=value``: a secret may begin with ``-``)."""
        sandbox = SandboxProcess(name, module, arguments, REPO_ROOT, self.options.startup_timeout)
        self._sandboxes.append(sandbox)
        sandbox.launch()
        return sandbox

    def _local_functions(self, template: TemplateModel, resolver: IntrinsicResolver) -> list[LocalFunction]:
        for logical_id, function in template.functions.items():
            module = template.root / function.code_uri / (function.handler_module.replace(".", "/") + ".py")
            if not module.is_file():
                LOGGER.warning(
                    "%s has no handler module yet (%s): calls to it will fail", logical_id, module.name
                )
        return [
            LocalFunction(
                logical_id=logical_id,
                function_name=local_function_name(LOCAL_STAGE, logical_id),
                code_dir=template.root / function.code_uri,
                handler=function.handler,
                timeout=function.timeout,
                memory_size=function.memory_size,
                environment=resolve_environment(function, resolver),
            )
            for logical_id, function in template.functions.items()
        ]

    def _set_environment(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()


def _subscription(
    function_id: str, queue_arn: str, batch_size: int, report_failures: bool, created: CreatedResources
) -> SqsSubscription:
    for logical_id, arn in created.queue_arns.items():
        if arn == queue_arn:
            return SqsSubscription(
                function_id, created.queue_urls[logical_id], arn, batch_size, report_failures
            )
    raise TemplateError(f"{function_id}: SQS event queue {queue_arn} is not a queue of the template")


def console_url(front_door_url: str, tenant_id: str, admin_token: str) -> str:
    """The admin console, signed in as the tenant's admin. The session rides in the fragment, which a
    browser never sends to a server, and the console removes it from the address bar once read."""
    fragment = urlencode({"tenant": tenant_id, "session": admin_token})
    return f"{front_door_url}/console#{fragment}"


def signed_in_tenant(front_door_url: str, tenant_id: str, admin_token: str) -> TenantInfo:
    return TenantInfo(tenant_id, admin_token, console_url(front_door_url, tenant_id, admin_token))


def _tenant_credentials(
    source_ready: dict[str, Any], tenant_ids: tuple[str, ...], credentials: LocalCredentials
) -> dict[str, tuple[str, str]]:
    """Each tenant's own source api key and webhook secret: as the source sandbox reports them (a
    restored snapshot keeps its own), else the ones this runtime derived for it."""
    announced: dict[str, tuple[str, str]] = {}
    for entry in source_ready.get("tenants", []) or []:
        if isinstance(entry, dict) and "id" in entry and "api_key" in entry and "webhook_secret" in entry:
            announced[str(entry["id"])] = (str(entry["api_key"]), str(entry["webhook_secret"]))
    return {
        tenant_id: announced.get(tenant_id) or credentials.tenant_source_credentials(tenant_id)
        for tenant_id in tenant_ids
    }


def _provision_secrets_and_tenants(
    credentials: LocalCredentials, tenants: dict[str, tuple[str, str]]
) -> None:
    """The Intuit app, the state signing key, and each tenant with its source credentials."""
    from qbosync.store.app_secrets import AppSecrets, TenantSecrets
    from qbosync.store.tenants import Tenant, TenantRepository

    app_secrets = AppSecrets()
    app_secrets.put_intuit_app(
        credentials.intuit_client_id, credentials.intuit_client_secret, credentials.verifier_token
    )
    app_secrets.put_state_signing_key(credentials.state_signing_key)
    # The source sandbox signs with each tenant's secret derived from this key, as a deployed source would.
    app_secrets.put_source_webhook_key(credentials.source_webhook_secret)
    repository = TenantRepository()
    tenant_secrets = TenantSecrets()
    for tenant_id, (api_key, _webhook_secret) in tenants.items():
        repository.register(Tenant(tenant_id=tenant_id, name=tenant_id.replace("-", " ").title()))
        tenant_secrets.put_source_credentials(tenant_id, api_key)


def _warm_up_step_functions() -> None:
    """Import moto's ASL parser (about 1.5 s) while the sandboxes start, not at the first state machine."""
    try:
        importlib.import_module("moto.stepfunctions.parser.asl.parse.asl_parser")  # moto 5.2.5's module path
    except ImportError:
        LOGGER.debug("moto's ASL parser moved: no warm-up, state machines are created a little slower")


def _forget_cached_settings() -> None:
    """Handlers read settings and clients lazily and cache them: start them from the new environment."""
    from qbosync.settings import get_qbo_limits, get_settings
    from qbosync.store.aws import reset_clients

    get_settings.cache_clear()
    get_qbo_limits.cache_clear()
    reset_clients()
