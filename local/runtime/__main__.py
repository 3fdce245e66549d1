"""``python -m local.runtime``: start everything, print one ``READY {json}`` line, run until stopped."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.runtime.runtime import DEFAULT_TENANTS, REPO_ROOT, LocalRuntime, RuntimeInfo, RuntimeOptions


def _arguments(argv: list[str] | None) -> RuntimeOptions:
    parser = argparse.ArgumentParser(prog="python -m local.runtime", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve the front door on")
    parser.add_argument("--port", type=int, default=0, help="front door port; 0 picks a free one")
    parser.add_argument(
        "--persist",
        type=Path,
        default=None,
        help="keep state here across restarts (tables, secrets, queued messages, sandboxes, JWT key)",
    )
    parser.add_argument("--schedule-speedup", type=float, default=1.0, help="run schedules N times faster")
    parser.add_argument("--tenants", default=",".join(DEFAULT_TENANTS), help="comma-separated tenant ids")
    parser.add_argument("--source-customers", type=int, default=None, help="customers per source tenant")
    parser.add_argument("--source-products", type=int, default=None, help="products per source tenant")
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    parsed = parser.parse_args(argv)
    tenants = tuple(tenant.strip() for tenant in parsed.tenants.split(",") if tenant.strip())
    if not tenants:
        parser.error("--tenants needs at least one tenant id")
    return RuntimeOptions(
        host=parsed.host,
        port=parsed.port,
        persist_dir=parsed.persist,
        schedule_speedup=parsed.schedule_speedup,
        tenants=tenants,
        source_customers=parsed.source_customers,
        source_products=parsed.source_products,
        template_path=parsed.template,
    )


def _welcome(info: RuntimeInfo) -> str:
    """A summary for the person at the terminal (stderr: stdout stays the READY line alone)."""
    lines = [
        "",
        "qbosync is running locally. Ctrl-C stops everything.",
        f"  admin API and webhooks  {info.front_door_url}",
        f"  API docs (Swagger UI)   {info.front_door_url}/docs",
        f"  OpenAPI document        {info.front_door_url}/openapi.json",
        f"  QuickBooks sandbox      {info.qbo_sandbox_url}   (consent page, /_sandbox/stats)",
        f"  source sandbox          {info.source_sandbox_url}",
        f"  AWS (moto)              {info.aws_endpoint_url}",
        "",
    ]
    for tenant in info.tenants:
        lines.append(f"  tenant {tenant.id}: admin console (signed in), open in a browser:")
        lines.append(f"    {tenant.console_url}")
        lines.append("  or connect with")
        lines.append(f"    curl -i -H 'Authorization: Bearer {tenant.admin_token}' \\")
        lines.append(f"      {info.front_door_url}/tenants/{tenant.id}/qbo/connect")
    lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "botocore", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = _arguments(argv)
    for path in (REPO_ROOT / "layers" / "common", REPO_ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # stdout carries only the READY line; the rest (handlers log to stdout, as on Lambda) goes to stderr.
    ready_stream = sys.stdout
    sys.stdout = sys.stderr
    runtime = LocalRuntime(options)
    try:
        info = runtime.start()
        ready_stream.write("READY " + json.dumps(info.to_json_dict(), separators=(",", ":")) + "\n")
        ready_stream.flush()
        sys.stderr.write(_welcome(info))
        sys.stderr.flush()
        while not stopping.wait(1.0):
            pass
    finally:
        runtime.stop()
        logging.getLogger("local.runtime").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
