"""Cold start: how long importing each handler takes, as Lambda loads it, against ``import boto3`` alone.

    .venv/bin/python bench/cold_start.py [--samples 9] [--layer DIR] [--seed 7] [--record FILE.json]

Each sample is a fresh interpreter (``python -I -S``, so nothing from this shell's PYTHONPATH or the
virtualenv leaks in) whose ``sys.path`` starts as Lambda's python runtime builds it: the function's code
directory (``LAMBDA_TASK_ROOT``), then the layer (``/opt/python``; here ``layers/common``, or the built layer
given with ``--layer``, e.g. ``.aws-sam/build/CommonLayer/python``), then the runtime's packages (see
"Packages" below). The environment is Lambda's own
variables (function name, memory, region, ``AWS_EXECUTION_ENV``, ``_HANDLER``, X-Ray daemon address...)
plus the function's variables from ``template.yaml`` with placeholder values for the resources. The
sample times imports only: interpreter start-up is the same for every handler and for the baseline, so
it is left out of both.

Byte code: one unmeasured import per target first writes ``__pycache__``, as a layer shipped with
``.pyc`` files (the makefile build adds them when a python3.13, or pyenv's, is present) would have it.

Samples of all targets are interleaved in a shuffled order each round, so a busy neighbour on a shared
machine slows them alike; each figure is the median. Figures per handler:

- ``import``: what Lambda's init phase does, ``import app``.
- ``first_request``: the import plus every module a real first invocation loads. Handlers, the composition
  root (``qbosync.sync.wiring``) and the admin API's resolver import what they use on first use, so reading
  the handler's source would miss most of it; instead the bench records it. Before timing, it starts the
  local runtime in this process (moto, the QBO and source sandboxes, the template's tables, queues and
  secrets), connects each tenant the samples name to its own QBO sandbox company through the OAuth flow and
  gives it a go-live date, and then, for each sample event of ``events/`` (``EVENTS`` says which function
  takes which; the scheduled worker's is built), a fresh interpreter set up as above (plus
  ``AWS_ENDPOINT_URL`` and the runtime's resource names) imports the handler, invokes it once with the
  event, and reports every import in the order it started. Webhook samples are signed with the runtime's
  secrets and sent now, and a sample's QBO company id becomes the connected one (``SAMPLE_REALMS``), so they
  go as far as a real delivery. A function's first-request modules are those of its sample that loads the
  most (the worst first request); the sample, its outcome (HTTP status and error code, records done, or
  the error) and the CPU time of that whole first invocation are printed, so a probe that stopped early
  shows. Each timed sample imports the handler and then, in the recorded order, every one of those modules
  not loaded yet. The issue's target: at most 2x boto3's import.
- ``CPU``: the same first request in the process's CPU time. Another engineer's tests slow the elapsed
  figures of one run more than another's; CPU time hardly moves, so compare runs by it.

Packages: only what Lambda would have. The fresh interpreters run without ``site`` and see, after the
function and layer directories, links to the layer's requirements and the runtime's boto3 with their
dependencies (``runtime_packages``), not the virtualenv, where test tools would be imported by libraries
that look for them (httpx imports click and rich when installed, httpcore trio).

What the import figures leave out is the request's own work (network calls, botocore reading its JSON
service models, pydantic building a deferred model's validators, Powertools validating the request); the
probe's ``ms CPU in all`` includes it. A last table splits each first request's import time by family
(boto3 with botocore and urllib3, pydantic, Powertools with the X-Ray SDK, httpx with httpcore and anyio,
qbosync, the standard library), from one ``-X importtime`` run each: a rough split.

Ratios are handler median / boto3 median. Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 2.0
BASELINE = "import boto3"
# Which sample events of ``events/`` each function takes (the scheduled worker's is built: see below).
EVENTS = {
    "ApiFunction": "api_*.json",
    "BulkSyncTaskFunction": "bulk_sync_*.json",
    "PullWorkerFunction": "pull_worker_*.json",
    "PushWorkerFunction": "push_worker_*.json",
    "QboWebhookFunction": "qbo_webhook_*.json",
    "ScheduleDispatcherFunction": "schedule_*.json",
    "SourceWebhookFunction": "source_webhook_*.json",
}
# The QBO company the samples' changes come from, and the tenant whose connected company stands for it.
SAMPLE_REALMS = {"9341453050108822": "acme"}
GO_LIVE_DATE = "2026-01-01"
# Isolated (no PYTHONPATH, no user site) and without ``site``: no virtualenv packages on the path but
# those ``runtime_packages`` links, as in Lambda.
INTERPRETER_FLAGS = ("-I", "-S")
_SAMPLE = """
import importlib, json, sys, time
sys.path[0:0] = {path!r}
started, started_cpu = time.perf_counter(), time.process_time()
importlib.import_module({module!r})
imported = time.perf_counter()
failed = []
for name in {modules!r}:
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
print(json.dumps({{"import": imported - started, "first_request": time.perf_counter() - started,
                  "first_request_cpu": time.process_time() - started_cpu, "failed": failed}}))
"""
# One real invocation in a fresh interpreter: which modules the import loads, and which the invocation.
_PROBE = """
import importlib, json, sys, time
before = set(sys.modules)
started_cpu = time.process_time()


class StartedImports:
    # Every import as it starts: the order to replay them in (sys.modules's own order is not that).

    names = []

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        cls.names.append(name)
        return None


def loaded(names):
    return [name for name in dict.fromkeys(names) if name in sys.modules and name not in before]


sys.meta_path.insert(0, StartedImports)
sys.path[0:0] = {path!r}
handler_module = importlib.import_module({module!r})
imported = loaded(StartedImports.names)


class Context:
    function_name = {function_name!r}
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + {function_name!r}
    memory_limit_in_mb = {memory!r}
    aws_request_id = "cold-start-probe"
    log_group_name = "/aws/lambda/" + {function_name!r}
    log_stream_name = "cold-start-probe"

    def get_remaining_time_in_millis(self):
        return 60_000


event = json.loads({event!r})
try:
    reply = getattr(handler_module, {handler!r})(event, Context())
    if isinstance(reply, dict) and "statusCode" in reply:
        outcome = "HTTP " + str(reply["statusCode"])
        try:
            outcome += " " + json.loads(reply.get("body") or "{{}}")["error"]["code"]
        except (ValueError, KeyError, TypeError):
            pass
    elif isinstance(reply, dict) and "batchItemFailures" in reply:
        records = len(event.get("Records", []))
        outcome = str(records - len(reply["batchItemFailures"])) + "/" + str(records) + " records done"
    else:
        outcome = "returned " + type(reply).__name__
except Exception as error:
    outcome = "raised " + type(error).__name__ + ": " + str(error)[:80]
invocation_cpu = time.process_time() - started_cpu
sys.meta_path.remove(StartedImports)
print(json.dumps({{"import": imported, "first_request": loaded(StartedImports.names), "outcome": outcome,
                  "cpu": invocation_cpu}}))
"""


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=9, help="fresh interpreters per target")
    parser.add_argument(
        "--layer", type=Path, default=REPO / "layers" / "common", help="the layer's python directory"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--record", type=Path, default=None, help="write every probe (event, outcome, modules) here as JSON"
    )
    return parser.parse_args(argv)


def lambda_environment(function: Any, environment: dict[str, str], runtime: str) -> dict[str, str]:
    """What Lambda's python runtime sets before it imports the handler, plus the template's variables."""
    name = f"qbosync-bench-{function.logical_id}"
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "LAMBDA_TASK_ROOT": str(REPO / function.code_uri),
        "_HANDLER": function.handler,
        **environment,
    }


class Target(NamedTuple):
    path: list[str]
    module: str
    handler: str
    environment: dict[str, str]
    memory_size: int


class Probe(NamedTuple):
    """What one real invocation of a handler with one sample event loaded."""

    event: str
    import_modules: list[str]
    first_request_modules: list[str]  # in the order they started loading
    outcome: str
    # CPU seconds of the import and the whole invocation: its imports and its own work (pydantic building
    # deferred validators, botocore reading service models, Powertools' request validation); waits for
    # moto or the sandboxes are not CPU time of this process.
    cpu: float


def runtime_packages(directory: Path, requirements: Path) -> Path:
    """A directory of links to the packages Lambda would find beside the layer's own code: the layer's
    requirements (``requirements``) and the runtime's boto3, with their dependencies, as installed in
    this virtualenv; none of its other packages. The virtualenv also holds test tools and CLIs, and some
    libraries import what they find installed (httpx loads click and rich for its command line, httpcore
    trio), which would make a first request here slower than it is in Lambda."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    wanted = [
        Requirement(line.strip())
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ] + [Requirement("boto3")]
    seen: set[tuple[str, frozenset[str]]] = set()
    while wanted:
        requirement = wanted.pop()
        found = distribution(requirement.name)
        key = (found.metadata["Name"].lower(), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for declared in found.requires or []:
            dependency = Requirement(declared)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                wanted.append(dependency)
        for top in {Path(str(path)).parts[0] for path in found.files or []}:
            link = directory / top
            if top in ("..", "__pycache__", "bin") or link.exists():
                continue
            link.symlink_to(Path(str(found.locate_file(top))))
    return directory


def template_targets(layer: str, packages: str) -> tuple[str, dict[str, Target]]:
    """The deployed runtime and, per function, how Lambda would load it."""
    sys.path[0:0] = [str(REPO)]
    from local.template_model import IntrinsicResolver, LocalResourceMap, load_template

    template = load_template(REPO / "template.yaml")
    resources = LocalResourceMap(
        refs={logical_id: f"bench-{logical_id}" for logical_id in template.resources},
        attributes={
            (logical_id, attribute): f"arn:aws:bench:us-east-1:123456789012:{logical_id}"
            for logical_id in template.resources
            for attribute in ("Arn", "QueueName", "QueueUrl")
        },
        parameters={
            name: str(declared.get("Default", f"https://{name.lower()}.bench.invalid"))
            for name, declared in template.parameters.items()
        },
        api_base_url="https://api.bench.invalid",
    )
    resolver = IntrinsicResolver(template, resources)
    runtimes = {function.runtime for function in template.functions.values()}
    runtime = runtimes.pop() if len(runtimes) == 1 else "python3"
    targets: dict[str, Target] = {}
    for function in template.functions.values():
        environment = {key: resolver.resolve_str(value) for key, value in function.environment.items()}
        targets[function.logical_id] = Target(
            [str(REPO / function.code_uri), layer, packages],
            function.handler_module,
            function.handler.rsplit(".", 1)[1],
            lambda_environment(function, environment, runtime),
            function.memory_size,
        )
    return runtime, targets


def heaviest(probes: list[Probe]) -> Probe:
    """The probe whose first request loaded the most modules (ties: the first sample by name)."""
    return max(
        sorted(probes, key=lambda probe: probe.event), key=lambda probe: len(probe.first_request_modules)
    )


def _scheduled_worker_event() -> dict[str, Any]:
    """An SQS batch of one scheduled-work message, as the dispatcher queues it (no sample file has one)."""
    body = json.dumps({"job": "reconcile", "tenant_id": "acme", "slot": "2026-11-22T04:00:00Z"})
    return {
        "Records": [
            {
                "messageId": "cold-start-probe-1",
                "receiptHandle": "cold-start-probe",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795147200000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:qbosync-local-ScheduledWorkQueue",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _for_runtime(name: str, sample: dict[str, Any], realms: dict[str, str]) -> dict[str, Any]:
    """The sample as the running local runtime would receive it: its QBO company ids replaced by those
    the bench connected (``realms``: sample realm id to connected realm id), and a webhook sample signed
    with the runtime's secrets, sent now."""
    from qbosync.source.signing import sign
    from qbosync.store.app_secrets import AppSecrets
    from qbosync.store.tenants import TenantRepository
    from qbosync.sync.pull.receiver import expected_signature

    text = json.dumps(sample)
    for sample_realm, realm_id in realms.items():
        text = text.replace(sample_realm, realm_id)
    event: dict[str, Any] = json.loads(text)
    for record in event.get("Records", []):
        # A queued QBO change happened now: one dated before the tenant's links would be taken for an
        # echo of qbosync's own write and never read (a lighter first request than a real change's).
        message = json.loads(record["body"])
        if isinstance(message.get("change"), dict):
            message["change"]["last_updated"] = datetime.now(UTC).isoformat()
            record["body"] = json.dumps(message)
    body = str(event.get("body", "")).encode()
    headers = event.get("headers", {})
    if name.startswith("qbo_webhook_"):
        verifier = AppSecrets().webhook_verifier_token().get_secret_value()
        headers["intuit-signature"] = expected_signature(verifier, body)
    elif name.startswith("source_webhook_"):
        tenant_id = str(event["pathParameters"]["tenant_id"])
        version = TenantRepository().get(tenant_id).webhook_secret_version
        secret = AppSecrets().source_webhook_secret(tenant_id, version).get_secret_value()
        timestamp = int(time.time())
        headers["x-source-timestamp"] = str(timestamp)
        headers["x-source-signature"] = sign(secret, timestamp, body)
    return event


def _deletes(event: dict[str, Any]) -> bool:
    return str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper() == "DELETE"


def sample_events() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Per function, its sample events by file name; a DELETE last, so the samples before it find what it
    removes (a disconnect would leave the other admin samples answering ``not_connected``)."""
    events = {
        function: sorted(
            (
                (path.name, json.loads(path.read_text(encoding="utf-8")))
                for path in (REPO / "events").glob(pattern)
            ),
            key=lambda named: (_deletes(named[1]), named[0]),
        )
        for function, pattern in EVENTS.items()
    }
    events["ScheduledWorkerFunction"] = [("(built) scheduled work: reconcile", _scheduled_worker_event())]
    return events


def _tenants_of(events: dict[str, list[tuple[str, dict[str, Any]]]]) -> tuple[str, ...]:
    """Every tenant id the samples name (in a path, a body or an SQS message)."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            tenant = value.get("tenant_id")
            if isinstance(tenant, str):
                found.add(tenant)
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, str) and value.startswith("{"):
            try:
                visit(json.loads(value))
            except ValueError:
                return

    for samples in events.values():
        for _name, event in samples:
            visit(event)
    return tuple(sorted(found))


def probe(target: Target, environment: dict[str, str], name: str, event: dict[str, Any]) -> Probe:
    """Invoke the handler once with ``event`` in a fresh interpreter; what it loaded."""
    script = _PROBE.format(
        path=target.path,
        module=target.module,
        handler=target.handler,
        function_name=environment.get("AWS_LAMBDA_FUNCTION_NAME", target.module),
        memory=target.memory_size,
        event=json.dumps(event),
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, *INTERPRETER_FLAGS, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"probing {target.module} with {name} failed:\n{completed.stderr}")
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    return Probe(
        name, list(found["import"]), list(found["first_request"]), str(found["outcome"]), float(found["cpu"])
    )


def record_first_requests(targets: dict[str, Target]) -> dict[str, list[Probe]]:
    """Per function, what a real first invocation loads with each of its sample events."""
    sys.path[0:0] = [str(REPO / "layers" / "common")]  # the runtime runs the handlers' library here too
    from local.demo.clients import AdminApi, Browser
    from local.runtime.runtime import LocalRuntime, RuntimeOptions

    events = sample_events()
    runtime = LocalRuntime(RuntimeOptions(tenants=_tenants_of(events)))
    info = runtime.start()
    try:
        if len(info.realms) < len(info.tenants):
            raise SystemExit(
                f"the QBO sandbox has {len(info.realms)} companies for {len(info.tenants)} tenants"
            )
        connected = dict(zip((tenant.id for tenant in info.tenants), info.realms, strict=False))
        realms = {sample: connected[tenant] for sample, tenant in SAMPLE_REALMS.items()}
        for tenant, realm_id in zip(info.tenants, info.realms, strict=False):
            # Each tenant connects its own QBO company through the OAuth flow, as its admin would.
            admin, browser = AdminApi(info.front_door_url, tenant.id, tenant.admin_token), Browser()
            authorize_url = f"{admin.redirect_from('/qbo/connect')}&realm_id={realm_id}"
            browser.http.cookies.update(admin.http.cookies)
            browser.follow(authorize_url, stop_at=f"{info.front_door_url}/connected")
            # A go-live date, without which every push is parked before it reads anything.
            current, etag = admin.get_versioned("/settings")
            onboarding = {**current["settings"].get("onboarding", {}), "go_live_date": GO_LIVE_DATE}
            admin.put_versioned("/settings", {**current["settings"], "onboarding": onboarding}, etag)
            admin.close()
            browser.close()
        assert runtime.invoker is not None
        recorded: dict[str, list[Probe]] = {}
        for function, samples in events.items():
            target = targets[function]
            environment = {
                **target.environment,
                **runtime.invoker.function(function).environment,
                "AWS_ENDPOINT_URL": info.aws_endpoint_url,
            }
            recorded[function] = [
                probe(target, environment, name, _for_runtime(name, event, realms)) for name, event in samples
            ]
        return recorded
    finally:
        runtime.stop()


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 to /dev/null for a while (loggers hold their own reference to stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


class Sample(NamedTuple):
    """Seconds one fresh interpreter spends importing the handler, and with its first request's modules
    (elapsed, and the process's CPU time); the modules that could not be imported by name."""

    imported: float
    first_request: float
    first_request_cpu: float
    failed: list[str]


def sample(target: Target, modules: list[str]) -> Sample:
    """One fresh interpreter's figures for ``target`` with its first request's ``modules``."""
    script = _SAMPLE.format(path=target.path, module=target.module, modules=modules)
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, *INTERPRETER_FLAGS, "-c", script],
        env=target.environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"importing {target.module} failed:\n{completed.stderr}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return Sample(
        float(figures["import"]),
        float(figures["first_request"]),
        float(figures["first_request_cpu"]),
        list(figures["failed"]),
    )


# Where a first request's import time goes, by the distributions each top-level package belongs to.
FAMILIES = {
    "boto3": ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath", "six"),
    "pydantic": ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions"),
    "powertools": ("aws_lambda_powertools", "aws_xray_sdk", "wrapt"),
    "httpx": ("httpx", "httpcore", "h11", "anyio", "sniffio", "certifi", "idna", "tenacity"),
    "qbosync": ("qbosync",),
}
_IMPORT_TIME = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def family_of(module: str) -> str:
    top = module.split(".", 1)[0]
    return next((family for family, tops in FAMILIES.items() if top in tops), "stdlib")


def breakdown(target: Target, modules: list[str]) -> dict[str, float]:
    """Milliseconds of one first request's imports (``-X importtime``'s own time of each module) per
    family; one interpreter, so a rough split, not a figure to compare across runs."""
    script = _SAMPLE.format(path=target.path, module=target.module, modules=modules)
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, *INTERPRETER_FLAGS, "-X", "importtime", "-c", script],
        env=target.environment,
        capture_output=True,
        text=True,
        check=False,
    )
    totals = dict.fromkeys([*FAMILIES, "stdlib"], 0.0)
    for line in completed.stderr.splitlines():
        match = _IMPORT_TIME.match(line)
        if match:
            totals[family_of(match[2])] += int(match[1]) / 1000
    return totals


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    layer = str(args.layer.resolve())
    packages = Path(tempfile.mkdtemp(prefix="cold-start-packages-"))
    try:
        return _measure(args, layer, str(runtime_packages(packages, REPO / "layers/common/requirements.txt")))
    finally:
        shutil.rmtree(packages)


def _measure(args: argparse.Namespace, layer: str, packages: str) -> int:
    runtime, functions = template_targets(layer, packages)
    with _quiet_stdout():  # the runtime's handlers log to stdout, where the report goes
        recorded = record_first_requests(functions)
    if args.record is not None:
        args.record.write_text(
            json.dumps(
                {name: [found._asdict() for found in probes] for name, probes in recorded.items()}, indent=1
            ),
            encoding="utf-8",
        )
    probes = {name: heaviest(found) for name, found in recorded.items()}
    # The baseline imports boto3 in the first function's environment, with the layer on the path too.
    first = next(iter(functions.values()))
    targets = {
        "boto3": Target([layer, packages], "boto3", "", first.environment, first.memory_size),
        **functions,
    }
    modules = {name: probes[name].first_request_modules if name in probes else [] for name in targets}

    unimportable: dict[str, list[str]] = {}
    for name, target in targets.items():  # writes __pycache__, unmeasured
        unimportable[name] = sample(target, modules[name]).failed
    rng = random.Random(args.seed)
    samples: dict[str, list[Sample]] = {name: [] for name in targets}
    for _ in range(args.samples):
        order = list(targets)
        rng.shuffle(order)
        for name in order:
            samples[name].append(sample(targets[name], modules[name]))

    def median_ms(name: str, figure: str) -> float:
        return float(statistics.median(float(getattr(found, figure)) for found in samples[name])) * 1000

    import_ms = {name: median_ms(name, "imported") for name in functions}
    first_ms = {name: median_ms(name, "first_request") for name in functions}
    first_cpu_ms = {name: median_ms(name, "first_request_cpu") for name in functions}
    # boto3's first request is its import: the same figure, elapsed and in CPU time.
    baseline, baseline_cpu = median_ms("boto3", "first_request"), median_ms("boto3", "first_request_cpu")
    unimportable.pop("boto3")
    ratio = {name: value / baseline for name, value in import_ms.items()}
    first_ratio = {name: value / baseline for name, value in first_ms.items()}
    cpu_ratio = {name: value / baseline_cpu for name, value in first_cpu_ms.items()}
    print(f"cold start: each handler as Lambda ({runtime}) loads it, vs `{BASELINE}`")
    print(f"python {sys.version.split()[0]} here, {args.samples} fresh interpreters per target, medians")
    print(f"layer on the path: {os.path.relpath(layer, REPO)}")
    print("first request: the modules of each function's heaviest sample event, recorded by invoking it")
    for name in sorted(probes):
        found = probes[name]
        print(
            f"  {name:<28}{found.event:<38}{found.outcome[:46]:<48}"
            f"{len(found.first_request_modules) - len(found.import_modules):>5} modules after the import,"
            f" {found.cpu * 1000:>4.0f} ms CPU in all"
        )
    print(
        f"{'target':<28}{'import ms':>10}{'ratio':>8}{'first request ms':>18}{'ratio':>8}"
        f"{'CPU ms':>9}{'ratio':>8}"
    )
    print(f"{'import boto3':<28}{baseline:>10.1f}{1.0:>8.2f}{'':>26}{baseline_cpu:>9.1f}{1.0:>8.2f}")
    for name in sorted(import_ms, key=first_ratio.__getitem__, reverse=True):
        flag = "" if first_ratio[name] <= TARGET_RATIO else f"  first request > {TARGET_RATIO}x"
        print(
            f"{name:<28}{import_ms[name]:>10.1f}{ratio[name]:>8.2f}"
            f"{first_ms[name]:>18.1f}{first_ratio[name]:>8.2f}"
            f"{first_cpu_ms[name]:>9.1f}{cpu_ratio[name]:>8.2f}{flag}"
        )
    split = {name: breakdown(targets[name], modules[name]) for name in functions}
    print(
        "where the first request's imports go, ms (one -X importtime run each; boto3 includes its urllib3):"
    )
    print(f"{'target':<28}" + "".join(f"{family:>11}" for family in [*FAMILIES, "stdlib"]))
    for name in sorted(split, key=first_ratio.__getitem__, reverse=True):
        print(f"{name:<28}" + "".join(f"{split[name][family]:>11.1f}" for family in [*FAMILIES, "stdlib"]))
    for name, failed in sorted(unimportable.items()):
        if failed:
            print(f"{name}: {len(failed)} recorded modules cannot be imported by name: {', '.join(failed)}")
    worst = max(ratio.values())
    worst_first = max(first_ratio.values())
    print(
        f"worst import ratio {worst:.2f}, worst first request ratio {worst_first:.2f}"
        f" (target <= {TARGET_RATIO})"
    )
    result = {
        "runtime": runtime,
        "python": sys.version.split()[0],
        "samples": args.samples,
        "boto3_import_ms": round(baseline, 1),
        "handler_import_ms": {name: round(value, 1) for name, value in sorted(import_ms.items())},
        "ratio": {name: round(value, 2) for name, value in sorted(ratio.items())},
        "first_request_ms": {name: round(value, 1) for name, value in sorted(first_ms.items())},
        "first_request_ratio": {name: round(value, 2) for name, value in sorted(first_ratio.items())},
        "boto3_import_cpu_ms": round(baseline_cpu, 1),
        "first_request_cpu_ms": {name: round(value, 1) for name, value in sorted(first_cpu_ms.items())},
        "first_request_cpu_ratio": {name: round(value, 2) for name, value in sorted(cpu_ratio.items())},
        "first_request_probe": {
            name: {
                "event": found.event,
                "outcome": found.outcome,
                "modules": len(found.first_request_modules),
                "invocation_cpu_ms": round(found.cpu * 1000, 1),
            }
            for name, found in sorted(probes.items())
        },
        "first_request_split_ms": {
            name: {family: round(ms, 1) for family, ms in figures.items()}
            for name, figures in sorted(split.items())
        },
        "max_ratio": round(worst, 2),
        "max_first_request_ratio": round(worst_first, 2),
        "target_ratio": TARGET_RATIO,
        "all_within_target": worst_first <= TARGET_RATIO,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
