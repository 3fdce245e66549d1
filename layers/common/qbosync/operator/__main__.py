"""``python -m qbosync.operator``: the operator's command line for a deployed stack.

It acts with the caller's AWS credentials on the stack named by the environment (``TABLE_NAME``,
``SECRET_PREFIX``, ``INTUIT_DISCOVERY_URL``: the stack's ``OperatorEnvironment`` output). Secrets are read
from standard input (one per line) or prompted for, never taken as arguments, so they stay out of shell
history. Results are JSON on standard output; a refused command exits 2 with its reason on standard error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError

from qbosync.errors import QbosyncError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qbosync.operator", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    intuit = commands.add_parser("intuit-app", help="set the Intuit app's credentials (stdin: secret, token)")
    intuit.add_argument("--client-id", required=True)

    register = commands.add_parser("register", help="register a tenant (again: rename it)")
    register.add_argument("tenant_id")
    register.add_argument("--name", required=True)

    source = commands.add_parser(
        "source-credentials", help="provision or replace a tenant's source API key (stdin) and webhook secret"
    )
    source.add_argument("tenant_id")
    source.add_argument(
        "--webhook-secret-from-stdin",
        action="store_true",
        help="read the webhook secret as a second line instead of generating one",
    )

    rotate = commands.add_parser("rotate-webhook-secret", help="a new webhook signing secret, same API key")
    rotate.add_argument("tenant_id")

    commands.add_parser("fleet", help="every tenant: connection, checkpoints, failed and parked events")
    commands.add_parser(
        "index-connected", help="once after upgrading: put connected tenants in the schedules' index"
    )

    offboard = commands.add_parser("offboard", help="revoke at Intuit, delete secrets, purge data later")
    offboard.add_argument("tenant_id")
    offboard.add_argument("--operator", required=True, help="who offboards (kept in the connection trail)")
    offboard.add_argument("--retention-days", type=int, default=30)

    purge = commands.add_parser("purge", help="delete the data of offboarded tenants past their retention")
    purge.add_argument("--tenant", dest="tenant_id")
    return parser


def _secret_reader(stdin: TextIO) -> Callable[[str], str]:
    """Secrets one per line from piped input, or prompted for on a terminal; read only when asked for."""
    lines: list[str] = []
    piped = not stdin.isatty()

    def read(prompt: str) -> str:
        if not piped:
            return getpass.getpass(f"{prompt}: ")
        if not lines:
            lines.extend(reversed(stdin.read().splitlines()) or [""])
        return lines.pop() if lines else ""

    return read


def _dump(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list):
        return json.dumps([json.loads(item.model_dump_json()) for item in value], indent=1)
    return json.dumps(value)


def run(argv: Sequence[str] | None = None, *, operator: Any = None, stdin: TextIO = sys.stdin) -> int:
    """Run one command; ``operator`` lets tests pass a ``FleetOperator`` over moto."""
    args = _parser().parse_args(argv)
    from qbosync.operator.fleet import FleetOperator

    fleet = operator or FleetOperator()
    read_secret = _secret_reader(stdin)
    result: Any
    try:
        if args.command == "intuit-app":
            fleet.set_intuit_app(args.client_id, read_secret("client secret"), read_secret("verifier token"))
            result = {"intuit_app": "stored"}
        elif args.command == "register":
            result = fleet.register(args.tenant_id, args.name)
        elif args.command == "source-credentials":
            api_key = read_secret("source API key")
            given = read_secret("webhook secret") if args.webhook_secret_from_stdin else None
            secret = fleet.provision_source(args.tenant_id, api_key, given)
            result = {"tenant_id": args.tenant_id, "webhook_secret": None if given else secret}
        elif args.command == "rotate-webhook-secret":
            rotated = fleet.rotate_webhook_secret(args.tenant_id)
            result = {"tenant_id": args.tenant_id, "webhook_secret": rotated}
        elif args.command == "fleet":
            result = fleet.list_fleet()
        elif args.command == "index-connected":
            result = fleet.index_connected()
        elif args.command == "offboard":
            result = fleet.offboard(args.tenant_id, args.operator, args.retention_days)
        else:
            result = fleet.purge(args.tenant_id)
    except (QbosyncError, ValidationError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(_dump(result))
    return 0


if __name__ == "__main__":
    sys.exit(run())
