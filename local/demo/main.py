"""``python -m local.demo`` (``make demo``): start the whole service locally and show it working.

The runtime runs in this process, so the handlers' own logs (which go to stdout, as on Lambda) are sent
to a log file instead of the screen; the narration owns the terminal. The first failing step stops the
demo with its reason and a non-zero exit; the runtime is always stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from local.demo.narration import Narrator, StepFailed, StepRecord
from local.demo.scenario import DemoScenario, Endpoints

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_TENANT = "acme-psa"
DEFAULT_CUSTOMERS = 300
DEFAULT_PRODUCTS = 100
NARROW_OUTPUT_WIDTH = 150


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="customers in the source")
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS, help="products in the source")
    parser.add_argument("--tenant", default=DEMO_TENANT, help="the tenant the demo plays")
    parser.add_argument(
        "--source",
        choices=("sandbox", "revio"),
        default="sandbox",
        help="the tenant's source: the source sandbox, or Rev.io billing (its emulator behind the adapter)",
    )
    parser.add_argument("--summary-json", type=Path, default=None, help="also write the summary here as JSON")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="after the steps, keep the runtime running (Ctrl-C stops it) to click through the admin console",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="write the runtime's and handlers' logs here (default: a temporary file, removed on success)",
    )
    return parser.parse_args(argv)


def _console(stream: IO[str]) -> Console:
    console = Console(file=stream, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, NARROW_OUTPUT_WIDTH)  # captured output: wide enough for tables
    return console


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    for path in (REPO_ROOT / "layers" / "common", REPO_ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    console = _console(sys.stdout)
    temporary_log = arguments.log_file is None
    log_path = arguments.log_file or Path(tempfile.mkdtemp(prefix="qbosync-demo-")) / "runtime.log"
    with log_path.open("w", encoding="utf-8") as log_stream:
        saved_streams = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log_stream  # before the handlers' loggers exist: they bind to stdout
        logging.basicConfig(
            level=logging.INFO, stream=log_stream, format="%(asctime)s %(name)s %(message)s", force=True
        )
        try:
            outcome = _run(arguments, console)
        finally:
            sys.stdout, sys.stderr = saved_streams
    if outcome == 0 and temporary_log:
        shutil.rmtree(log_path.parent, ignore_errors=True)
    else:
        console.print(f"[dim]runtime and handler logs: {log_path}[/]")
    return outcome


def _run(arguments: argparse.Namespace, console: Console) -> int:
    from local.runtime.runtime import LocalRuntime, RuntimeOptions

    started = time.monotonic()
    narrator = Narrator(console)
    _welcome(console)
    runtime = LocalRuntime(
        RuntimeOptions(
            tenants=(arguments.tenant,),
            source_customers=arguments.customers,
            source_products=arguments.products,
        )
    )
    scenario: DemoScenario | None = None
    outcome = 1
    console_url = ""
    summarised = False
    try:
        with _spinner(console, "starting the local runtime"):
            info = runtime.start()
        tenant = next(t for t in info.tenants if t.id == arguments.tenant)
        console_url = tenant.console_url
        console.print(
            f"  [green]✔[/] runtime ready in {time.monotonic() - started:.1f} s: "
            f"front door {info.front_door_url} (API docs {info.front_door_url}/docs), "
            f"QBO sandbox {info.qbo_sandbox_url}, source sandbox {info.source_sandbox_url}; "
            f"tenant [bold]{tenant.id}[/] with {arguments.customers} customers "
            f"and {arguments.products} products"
        )
        scenario = _scenario(console, narrator, info, tenant, arguments)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Connect to QuickBooks Online", scenario.connect),
            ("Configure mappings and settings", scenario.configure),
            ("Preflight", scenario.preflight),
            ("Dry run: what the initial sync will do", scenario.dry_run),
            ("Initial bulk sync", scenario.initial_sync),
            ("Push: source documents to QBO", scenario.push),
            ("Pull: a QBO customer to the source", scenario.pull),
            ("Pull: a QBO payment to the source", scenario.pull_payment),
        ]
        outcome = _run_steps(narrator, steps)
        if arguments.keep:
            _summarise(console, narrator, scenario, outcome=outcome, elapsed=time.monotonic() - started)
            summarised = True
            _keep_running(console, console_url)
    except StepFailed:
        outcome = 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        outcome = 130
    except Exception as error:  # the runtime itself failed to start or stop: say so, never a traceback only
        console.print(Panel(f"{type(error).__name__}: {error}", title="demo failed", border_style="red"))
        logging.getLogger("local.demo").exception("the demo failed")
        outcome = 1
    finally:
        if scenario is not None:
            scenario.close()
        with _spinner(console, "stopping the local runtime"):
            try:
                runtime.stop()
            except Exception as error:
                console.print(f"[red]stopping the runtime failed: {type(error).__name__}: {error}[/]")
                outcome = outcome or 1
    elapsed = time.monotonic() - started
    if not summarised:
        _summarise(console, narrator, scenario, outcome=outcome, elapsed=elapsed)
        if console_url:
            console.print(
                "[bold]Admin console[/]: [bold]make demo DEMO_ARGS=--keep[/] keeps the runtime up "
                "afterwards and prints a signed-in console URL to click through what the demo did"
            )
    if arguments.summary_json is not None:
        arguments.summary_json.write_text(
            json.dumps(_summary_document(narrator, scenario, outcome, elapsed), indent=2)
        )
    return outcome


def _welcome(console: Console) -> None:
    console.print(
        Panel(
            "qbosync keeps a billing system (the source) in sync with QuickBooks Online.\n"
            "This demo starts the whole service on this machine (moto for AWS, the QBO and source\n"
            "sandboxes, the front door, queues, Step Functions) and walks the first product seed's set-up\n"
            "as a tenant admin, then shows documents flowing to QBO and a customer flowing back.\n"
            "Every step checks what really happened.",
            title="qbosync demo",
            border_style="cyan",
        )
    )


def _scenario(
    console: Console, narrator: Narrator, info: Any, tenant: Any, arguments: argparse.Namespace
) -> DemoScenario:
    """The demo's story for the tenant, with the source sandbox or (``--source revio``) Rev.io billing."""
    endpoints = Endpoints(
        front_door_url=info.front_door_url,
        qbo_sandbox_url=info.qbo_sandbox_url,
        qbo_discovery_url=info.qbo_discovery_url,
        source_sandbox_url=info.source_sandbox_url,
        aws_endpoint_url=info.aws_endpoint_url,
    )
    if arguments.source != "revio":
        return DemoScenario(narrator, endpoints, tenant.id, tenant.admin_token)
    from local.demo.clients import OperatorSecrets
    from local.demo.revio import RevioDemoSource
    from qbosync.operator.fleet import FleetOperator

    revio = RevioDemoSource(
        info.front_door_url, tenant.id, customers=arguments.customers, products=arguments.products
    )
    api_key = OperatorSecrets(info.aws_endpoint_url).source_api_key(tenant.id)
    try:
        endpoints.source_sandbox_url = revio.start(api_key, FleetOperator().webhook_secret(tenant.id))
    except BaseException:
        revio.stop()
        raise
    console.print(
        f"  [green]✔[/] source: Rev.io billing, its emulator behind the Rev.io adapter, served as the "
        f"source contract at {endpoints.source_sandbox_url}; its webhook receiver registered "
        f"(X-Hook-Secret handshake passed); tenant {tenant.id}'s source config points there"
    )
    return DemoScenario(
        narrator,
        endpoints,
        tenant.id,
        tenant.admin_token,
        source_factory=revio.source_system,
        on_close=revio.stop,
    )


def _keep_running(console: Console, console_url: str) -> None:
    """Leave the runtime up for a person to click through the console, until Ctrl-C or SIGTERM."""
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    console.print()
    console.print("[bold green]Admin console[/], signed in as the tenant's admin (open it in a browser):")
    # One unbroken line, so the URL can be copied whole.
    console.print(console_url, soft_wrap=True, markup=False)
    console.print(
        "It shows the connection, the mappings, the initial sync and the events the demo just made. "
        "The runtime keeps running; Ctrl-C stops it."
    )
    try:
        while not stopping.wait(1.0):
            pass
    except KeyboardInterrupt:
        console.print("[dim]stopping[/]")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_steps(narrator: Narrator, steps: list[tuple[str, Callable[[], None]]]) -> int:
    for title, action in steps:
        try:
            with narrator.step(title):
                action()
        except StepFailed:
            narrator.failure(narrator.steps[-1])
            for remaining_title, _action in steps[len(narrator.steps) :]:
                narrator.steps.append(StepRecord(len(narrator.steps) + 1, remaining_title, "not run"))
            return 1
    return 0


def _spinner(console: Console, description: str) -> Progress:
    progress = Progress(
        SpinnerColumn(),
        TextColumn(description),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    progress.add_task(description, total=None)
    return progress


def _summarise(
    console: Console,
    narrator: Narrator,
    scenario: DemoScenario | None,
    *,
    outcome: int,
    elapsed: float,
) -> None:
    console.print()
    steps = Table("step", "outcome", "time", "why", title="Steps")
    for record in narrator.steps:
        colour = {"passed": "green", "failed": "red"}.get(record.status, "dim")
        steps.add_row(
            f"{record.number}. {record.title}",
            f"[{colour}]{record.status}[/]",
            f"{record.seconds:.1f} s",
            record.reason,
        )
    console.print(steps)
    if scenario is not None and scenario.rows:
        made = Table(
            "what", "where", "detail", Column("link", overflow="fold"), title="What was created where"
        )
        for row in scenario.rows:
            made.add_row(row.what, row.where, row.detail, row.link)
        console.print(made)
    passed = sum(1 for record in narrator.steps if record.status == "passed")
    verdict = "[bold green]DEMO PASSED[/]" if outcome == 0 else "[bold red]DEMO FAILED[/]"
    console.print(f"{verdict}: {passed}/{len(narrator.steps)} steps passed in {elapsed:.1f} s")


def _summary_document(
    narrator: Narrator, scenario: DemoScenario | None, outcome: int, elapsed: float
) -> dict[str, Any]:
    return {
        "passed": outcome == 0,
        "seconds": round(elapsed, 1),
        "steps": [asdict(record) for record in narrator.steps],
        "created": [asdict(row) for row in scenario.rows] if scenario else [],
        "facts": _jsonable(scenario.facts) if scenario else {},
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
