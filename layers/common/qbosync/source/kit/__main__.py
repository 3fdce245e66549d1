"""``python -m qbosync.source.kit --base-url … --tenant … --api-key … --webhook-secret …``

Prints pass/fail per contract rule with its evidence and exits 1 if any rule fails. The kit starts a
webhook receiver on ``--listen`` (default 127.0.0.1:8899); point the source's webhook URL for the
tenant at ``http://<listen>/webhooks/source/{tenant_id}`` before running, or pass ``--no-webhooks``.
It creates only records marked ``qbosync contract kit <run id>`` (a customer and a voided payment).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from qbosync.source.kit.checks import KitOptions, run_kit
from qbosync.source.kit.inbox import WebhookInbox


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m qbosync.source.kit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base-url", required=True, help="the source API's base URL (before /tenants/...)")
    parser.add_argument("--tenant", default="demo", help="the tenant id to check (default: demo)")
    parser.add_argument("--api-key", required=True, help="that tenant's API key")
    parser.add_argument("--webhook-secret", help="that tenant's webhook signing secret")
    parser.add_argument("--listen", default="127.0.0.1:8899", help="host:port of the kit's webhook receiver")
    parser.add_argument("--no-webhooks", action="store_true", help="skip the webhook rules")
    parser.add_argument("--webhook-timeout", type=float, default=10.0, help="seconds to wait for webhooks")
    parser.add_argument(
        "--webhook-grace",
        type=float,
        default=2.0,
        help="seconds to keep listening after the expected webhooks, to catch extra ones",
    )
    parser.add_argument("--page-limit", type=int, default=50)
    parser.add_argument("--max-pages", type=int, default=100)
    parser.add_argument(
        "--journal",
        type=Path,
        help="a JSON file of the idempotency keys the kit used; keys older than 24 h are replayed",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    inbox: WebhookInbox | None = None
    server = None
    if not args.no_webhooks:
        if not args.webhook_secret:
            print("--webhook-secret is required unless --no-webhooks", file=sys.stderr)
            return 2
        host, _, port = args.listen.rpartition(":")
        inbox = WebhookInbox(args.webhook_secret)
        server, url = inbox.serve_on(host or "127.0.0.1", int(port))
        print(f"listening for webhooks at {url}/webhooks/source/{args.tenant}", file=sys.stderr)
    options = KitOptions(
        tenant_id=args.tenant,
        api_key=args.api_key,
        inbox=inbox,
        page_limit=args.page_limit,
        max_pages=args.max_pages,
        webhook_timeout_seconds=args.webhook_timeout,
        webhook_grace_seconds=args.webhook_grace,
        journal=args.journal,
    )
    try:
        with httpx.Client(base_url=args.base_url.rstrip("/"), timeout=30.0) as http:
            report = run_kit(http, options)
    finally:
        if server is not None:
            server.shutdown()
    print(json.dumps(report.to_json(), indent=1) if args.json else report.render())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
