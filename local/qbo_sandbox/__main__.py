"""`python -m local.qbo_sandbox`: serve the sandbox with uvicorn on loopback.

Prints exactly one line `READY {json}` on stdout once it accepts connections (port 0 = a free port),
and shuts down cleanly on SIGINT/SIGTERM, writing the snapshot when one is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import socket
import sys
from typing import Any

from pydantic import ValidationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local.qbo_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--config", metavar="FILE.json", help="the same options as JSON; flags override")
    parser.add_argument("--client-id", dest="client_id")
    parser.add_argument("--client-secret", dest="client_secret")
    parser.add_argument("--redirect-uri", dest="redirect_uris", action="append", help="repeatable")
    parser.add_argument("--webhook-url", dest="webhook_url")
    parser.add_argument("--verifier-token", dest="verifier_token")
    parser.add_argument("--webhook-format", dest="webhook_format", choices=["legacy", "cloudevents"])
    parser.add_argument("--webhook-batch-seconds", dest="webhook_batch_window_seconds", type=float)
    parser.add_argument("--webhook-retry-compression", dest="webhook_retry_compression", type=float)
    parser.add_argument("--auto-consent", dest="auto_consent", action="store_true", default=None)
    parser.add_argument(
        "--strict-refresh-rotation",
        dest="strict_refresh_rotation",
        action="store_true",
        default=None,
        help="a new refresh token on every refresh, the old one refused at once",
    )
    parser.add_argument("--rate-window-seconds", dest="rate_window_seconds", type=float)
    parser.add_argument("--requests-per-window", dest="requests_per_window", type=int)
    parser.add_argument("--max-concurrent", dest="max_concurrent", type=int)
    parser.add_argument("--latency-ms", dest="latency_ms", type=int)
    parser.add_argument("--fault-error-rate", dest="error_rate", type=float)
    parser.add_argument("--fault-drop-rate", dest="drop_after_commit_rate", type=float)
    parser.add_argument("--seed", dest="seed", type=int)
    parser.add_argument(
        "--home-currency", dest="home_currency", help="ISO code of every company's home currency"
    )
    parser.add_argument(
        "--multi-currency",
        dest="multi_currency",
        action="store_true",
        default=None,
        help="companies use currencies",
    )
    parser.add_argument(
        "--automated-sales-tax",
        dest="automated_sales_tax",
        action="store_true",
        default=None,
        help="companies run Automated Sales Tax (PartnerTaxEnabled: QBO computes the tax)",
    )
    parser.add_argument("--snapshot", dest="snapshot_path", metavar="FILE")
    parser.add_argument("--log-level", default="warning")
    return parser


class _QuietDrops(logging.Filter):
    """uvicorn logs every injected connection drop as a crash; one warning line says it better."""

    def filter(self, record: logging.LogRecord) -> bool:
        from local.qbo_sandbox.guard import ConnectionDropped

        if record.exc_info and isinstance(record.exc_info[1], ConnectionDropped):
            record.msg, record.args, record.exc_info = (
                "injected fault: connection dropped after commit",
                (),
                None,
            )
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_FAULT_FLAGS = ("latency_ms", "error_rate", "drop_after_commit_rate")
_FEATURE_FLAGS = ("home_currency", "multi_currency", "automated_sales_tax")
_SERVER_FLAGS = ("host", "port", "config", "log_level")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (faults nested), leaving out flags not given."""
    given = {k: v for k, v in vars(args).items() if v is not None and k not in _SERVER_FLAGS}
    faults = {k: given.pop(k) for k in _FAULT_FLAGS if k in given}
    if faults:
        given["faults"] = faults
    features = {k: given.pop(k) for k in _FEATURE_FLAGS if k in given}
    if features:
        given["company_features"] = features
    return given


async def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from local.qbo_sandbox.app import build_app
    from local.qbo_sandbox.config import load_config

    try:
        config = load_config(args.config, overrides_from(args))
    except (ValidationError, ValueError, OSError) as exc:
        print(f"qbo_sandbox: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        app = build_app(config)
    except (ValueError, OSError) as exc:  # e.g. an unreadable or foreign snapshot file
        print(f"qbo_sandbox: cannot start: {exc}", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"qbo_sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level=args.log_level, lifespan="on", access_log=False, timeout_graceful_shutdown=5
        )
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if serving.done():
        await serving
        return 1
    host = f"[{args.host}]" if ":" in args.host else args.host
    info = app.state.sandbox.ready_info(f"http://{host}:{port}")
    print("READY " + json.dumps(info), flush=True)
    await serving
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # uvicorn re-raises the signal it caught after shutting down; these handlers make that a clean exit.
    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, lambda signum, frame: None)
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
