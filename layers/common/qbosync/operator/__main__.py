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
from qbosync.source.config import SourceAdapterKind


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qbosync.operator", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    intuit = commands.add_parser("intuit-app", help="set the Intuit app's credentials (stdin: secret, token)")
    intuit.add_argument("--client-id", required=True)

    register = commands.add_parser("register", help="register a tenant (again: rename it)")
    register.add_argument("tenant_id")
    register.add_argument("--name", required=True)

    source = commands.add_parser(
        "source-credentials",
        help="provision or replace a tenant's source API key (stdin); prints its webhook secret",
    )
    source.add_argument("tenant_id")
    source.add_argument(
        "--adapter",
        choices=[kind.value for kind in SourceAdapterKind],
        help="connect through this adapter (revio: stdin gives username, password, subscription key)",
    )
    source.add_argument("--base-url", help="the source API's base URL (revio: Rev.io's REST API by default)")
    source.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="e.g. client_code=<Rev.io client code>",
    )

    receiver = commands.add_parser(
        "revio-receiver", help="register the tenant's Rev.io webhook receiver with Rev.io and subscribe it"
    )
    receiver.add_argument("tenant_id")
    receiver.add_argument("--api-url", required=True, help="the stack's API URL (its ApiUrl output)")

    secret = commands.add_parser("webhook-secret", help="print the tenant's source webhook signing secret")
    secret.add_argument("tenant_id")

    rotate = commands.add_parser("rotate-webhook-secret", help="a new webhook signing secret, same API key")
    rotate.add_argument("tenant_id")

    commands.add_parser("fleet", help="every tenant: connection, checkpoints, failed and parked events")
    commands.add_parser(
        "index-connected", help="once after upgrading: put connected tenants in the schedules' index"
    )
    commands.add_parser(
        "migrate-source-credentials",
        help="once after upgrading: move source credentials from per-tenant secrets into the sealed item",
    )

    pause = commands.add_parser("pause", help="hold a tenant's pushes and pulls (webhooks still accepted)")
    pause.add_argument("tenant_id")
    pause.add_argument("--operator", required=True, help="who pauses (shown in the connection status)")

    resume = commands.add_parser("resume", help="resume a tenant's sync and queue what was held again")
    resume.add_argument("tenant_id")
    resume.add_argument("--operator", required=True, help="who resumes (kept in the log)")

    offboard = commands.add_parser("offboard", help="revoke at Intuit, delete secrets, purge data later")
    offboard.add_argument("tenant_id")
    offboard.add_argument("--operator", required=True, help="who offboards (kept in the connection trail)")
    offboard.add_argument("--retention-days", type=int, default=30)
    offboard.add_argument(
        "--force",
        action="store_true",
        help="disconnect even while QBO writes have no recorded outcome (check those documents in QBO)",
    )

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


def _ambiguous_writes(refusal: QbosyncError) -> str:
    """The disconnect's 409 for a person: each open write on its own line, then what to do."""
    lines = [f"refused: {refusal.code}: {refusal.message}"]
    row = "  {entity} {source_id} version {version}: {operation}, requestid {request_id}, since {started_at}"
    lines += [row.format(**write) for write in refusal.details]
    lines.append("Run offboard again once the push has settled them, or add --force and check them in QBO.")
    return "\n".join(lines)


def _dump(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list):
        return json.dumps([json.loads(item.model_dump_json()) for item in value], indent=1)
    return json.dumps(value)


_SECRET_PROMPTS = {
    "api_key": "source API key",
    "username": "Rev.io API user name",
    "password": "Rev.io API password",
    "subscription_key": "Rev.io subscription key",
}


def _source_credentials(args: argparse.Namespace, fleet: Any, read_secret: Callable[[str], str]) -> Any:
    """``source-credentials``: the API key alone (the contract adapter, as before adapters were chosen);
    with ``--adapter``, that adapter's secrets from stdin in ``SECRETS_NEEDED`` order."""
    if args.adapter is None:
        return {
            "tenant_id": args.tenant_id,
            "webhook_secret": fleet.provision_source(args.tenant_id, read_secret("source API key")),
        }
    from qbosync.source.config import SECRETS_NEEDED, TenantSourceConfig
    from qbosync.store.app_secrets import SourceCredentials

    kind = SourceAdapterKind(args.adapter)
    options = dict(option.partition("=")[::2] for option in args.option)
    source = TenantSourceConfig(adapter=kind, base_url=args.base_url, options=options)
    secrets = {name: read_secret(_SECRET_PROMPTS[name]).strip() for name in SECRETS_NEEDED[kind]}
    credentials = SourceCredentials.model_validate({name: value for name, value in secrets.items() if value})
    return fleet.connect_source(args.tenant_id, source, credentials)


def _command(args: argparse.Namespace, fleet: Any, read_secret: Callable[[str], str]) -> Any:
    """Carry out one parsed command against ``fleet``; what it returns is printed as JSON."""
    tenant_id = getattr(args, "tenant_id", None)
    if args.command == "intuit-app":
        fleet.set_intuit_app(args.client_id, read_secret("client secret"), read_secret("verifier token"))
        return {"intuit_app": "stored"}
    if args.command == "source-credentials":
        return _source_credentials(args, fleet, read_secret)
    if args.command == "webhook-secret":
        return {"tenant_id": tenant_id, "webhook_secret": fleet.webhook_secret(tenant_id)}
    if args.command == "rotate-webhook-secret":
        return {"tenant_id": tenant_id, "webhook_secret": fleet.rotate_webhook_secret(tenant_id)}
    if args.command == "offboard":
        return fleet.offboard(tenant_id, args.operator, args.retention_days, force=args.force)
    simple: dict[str, Callable[[], Any]] = {
        "register": lambda: fleet.register(tenant_id, args.name),
        "revio-receiver": lambda: fleet.register_revio_receiver(tenant_id, args.api_url),
        "fleet": fleet.list_fleet,
        "pause": lambda: fleet.pause(tenant_id, args.operator),
        "resume": lambda: fleet.resume(tenant_id, args.operator),
        "index-connected": fleet.index_connected,
        "migrate-source-credentials": fleet.migrate_source_credentials,
        "purge": lambda: fleet.purge(tenant_id),
    }
    return simple[args.command]()


def run(argv: Sequence[str] | None = None, *, operator: Any = None, stdin: TextIO = sys.stdin) -> int:
    """Run one command; ``operator`` lets tests pass a ``FleetOperator`` over moto."""
    args = _parser().parse_args(argv)
    from qbosync.operator.fleet import FleetOperator
    from qbosync.sync.connection import AmbiguousWrites

    fleet = operator or FleetOperator()
    read_secret = _secret_reader(stdin)
    try:
        result = _command(args, fleet, read_secret)
    except AmbiguousWrites as exc:
        print(_ambiguous_writes(exc), file=sys.stderr)
        return 2
    except (QbosyncError, ValidationError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(_dump(result))
    return 0


if __name__ == "__main__":
    sys.exit(run())
