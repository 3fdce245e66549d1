"""``python -m local.source_sandbox``: serve the source sandbox and print one ``READY {json}`` line.

Port 0 picks a free port; the READY line names it, with the tenants and their credentials, so a
parent process (a test, the local runtime, the demo) can read one line and start talking.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

import uvicorn

from local.source_sandbox.app import build_app
from local.source_sandbox.config import SandboxConfig, WebhookConfig
from qbosync.source.kit.rules import ContractRule


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.source_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="0 picks a free port")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--invoices", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tenant", action="append", dest="tenants", help="repeatable; default: demo")
    parser.add_argument("--api-key", help="one API key for every tenant (default: sk_sandbox_<tenant>)")
    parser.add_argument("--webhook-url", help="where to POST change webhooks; may contain {tenant_id}")
    parser.add_argument("--webhook-secret", help="one signing secret for every tenant")
    parser.add_argument(
        "--tenant-credentials",
        action="append",
        default=[],
        metavar="ID:API_KEY:WEBHOOK_SECRET",
        help="one tenant's own API key and signing secret (over --api-key/--webhook-secret); repeatable",
    )
    parser.add_argument("--webhook-mode", choices=["immediate", "hold"], default="immediate")
    parser.add_argument("--webhook-copies", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--snapshot", type=Path, help="load state from / save state to this JSON file")
    parser.add_argument(
        "--break",
        dest="broken_rule",
        choices=[rule.value for rule in ContractRule],
        help="break this one contract rule on purpose (for the contract kit's own tests)",
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    config = _shared_config(args)
    own: dict[str, dict[str, str]] = {}
    for value in args.tenant_credentials:
        tenant_id, api_key, webhook_secret = value.split(":", 2)
        own[tenant_id] = {"api_key": api_key, "webhook_secret": webhook_secret}
    if not own:
        return config
    tenants = [tenant.model_copy(update=own.get(tenant.id, {})) for tenant in config.tenants]
    return config.model_copy(update={"tenants": tenants})


def _shared_config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig.for_tenants(
        args.tenants or ["demo"],
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        customers=args.customers,
        products=args.products,
        invoices=args.invoices,
        seed=args.seed,
        webhooks=WebhookConfig(url=args.webhook_url, mode=args.webhook_mode, copies=args.webhook_copies),
        snapshot_path=args.snapshot,
        broken_rule=ContractRule(args.broken_rule) if args.broken_rule else None,
    )


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the READY line once it is accepting connections."""

    def __init__(self, config: uvicorn.Config, announcement: dict[str, object]) -> None:
        super().__init__(config)
        self._announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print("READY " + json.dumps(self._announcement), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = config_from_args(args)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    host, port = listener.getsockname()[:2]
    base_url = f"http://{host}:{port}"
    announcement: dict[str, object] = {
        "base_url": base_url,
        "control_url": f"{base_url}/_sandbox",
        "api_key": config.tenants[0].api_key,
        "tenants": [
            {"id": t.id, "api_key": t.api_key, "webhook_secret": t.webhook_secret} for t in config.tenants
        ],
        "webhook_url": config.webhooks.url,
        "customers": config.customers,
        "products": config.products,
    }
    server = _AnnouncingServer(
        uvicorn.Config(build_app(config), log_level="warning", access_log=False, lifespan="on"), announcement
    )
    server.run(sockets=[listener])
    sys.exit(0 if server.started else 1)


if __name__ == "__main__":
    main()
