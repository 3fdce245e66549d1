"""``python -m local.revio_emulator``: serve the Rev.io emulator and print one ``READY {json}`` line.

The READY line carries the base URL (``…/v1``), the control URL and the credentials, so a parent
process (a test, the demo) reads one line and starts talking.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from datetime import datetime

import uvicorn

from local.revio_emulator.app import EmulatorConfig, build_app
from local.revio_emulator.state import EMULATOR_EPOCH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.revio_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--client-code", default="demo")
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--bills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--clock-start",
        type=datetime.fromisoformat,
        default=EMULATOR_EPOCH,
        help="where the deterministic clock starts, RFC 3339 (default 2026-01-01T00:00:00Z)",
    )
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        client_code=args.client_code,
        customers=args.customers,
        products=args.products,
        bills=args.bills,
        seed=args.seed,
        clock_start=args.clock_start,
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    host, port = listener.getsockname()[:2]
    root = f"http://{host}:{port}"
    ready = {
        "base_url": f"{root}/v1",
        "control_url": f"{root}/_emulator",
        "username": config.username,
        "client_code": config.client_code,
        "password": config.password,
        "subscription_key": config.subscription_key,
    }
    print("READY " + json.dumps(ready), flush=True)
    server = uvicorn.Server(uvicorn.Config(build_app(config), log_level="warning"))
    server.run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
