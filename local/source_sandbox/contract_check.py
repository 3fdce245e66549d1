"""``python -m local.source_sandbox.contract_check [--break RULE]``: the contract kit against an
in-process source sandbox (no ports), printing the kit's report; exits 1 if a rule fails.

It is what a vendor's run looks like, without starting two processes; with ``--break`` it shows the
kit catching that one broken rule.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from local.source_sandbox.app import build_app
from local.source_sandbox.config import SandboxConfig, WebhookConfig
from local.source_sandbox.inprocess import in_process_client
from qbosync.source.kit import ContractRule, KitOptions, KitReport, WebhookInbox, run_kit

_TENANT = "demo"


def check_sandbox(broken: ContractRule | None = None, *, webhook_timeout_seconds: float = 10.0) -> KitReport:
    """The kit's report on a fresh sandbox (optionally breaking one rule)."""
    inbox = WebhookInbox(f"whsec_sandbox_{_TENANT}")
    config = SandboxConfig.for_tenants(
        [_TENANT],
        customers=40,
        products=12,
        invoices=12,
        webhooks=WebhookConfig(url="http://contract-kit/webhooks/source/{tenant_id}", backoff_seconds=0),
        broken_rule=broken,
    )
    app = build_app(config, webhook_transport=httpx.ASGITransport(app=inbox.asgi_app()))
    options = KitOptions(
        tenant_id=_TENANT,
        api_key=f"sk_sandbox_{_TENANT}",
        inbox=inbox,
        page_limit=10,
        webhook_timeout_seconds=webhook_timeout_seconds,
        webhook_grace_seconds=0.2,
    )
    with in_process_client(app) as http:
        return run_kit(http, options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.source_sandbox.contract_check", description=__doc__
    )
    parser.add_argument("--break", dest="broken_rule", choices=[rule.value for rule in ContractRule])
    args = parser.parse_args(argv)
    broken = ContractRule(args.broken_rule) if args.broken_rule else None
    report = check_sandbox(broken, webhook_timeout_seconds=2.0 if broken else 10.0)
    print(report.render())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
