"""The sandbox as one ASGI app: OAuth at the root, the guarded accounting API under /v3/company/{realm}.

Routes (Intuit's hosts folded onto one origin):
  /.well-known/openid_configuration (and openid_sandbox_configuration)   discovery document
  /connect/oauth2 (GET consent page or auto-consent; POST the consent form)   authorize
  /oauth2/v1/tokens/bearer   token · /v2/oauth2/tokens/revoke   revoke · /op/v1/jwks · userinfo
  /v3/company/{realm_id}/...   the accounting API behind guard.RealmGuard
  /_sandbox/...   control plane: health, realms, stats, faults, webhooks, clock, snapshot

`build_app(config)` returns a Starlette app whose `state.sandbox` is the `Sandbox` holding all state.
Served by uvicorn the lifespan starts webhook delivery; in-process (httpx.ASGITransport runs no
lifespan) call `await sandbox.webhooks.deliver_due(flush=True)` or POST /_sandbox/webhooks/flush.
Time is the sandbox clock (wall time + an offset moved by POST /_sandbox/clock): token lifetimes,
code expiry, rate windows and webhook retries all follow it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from local.qbo_sandbox.company import Company
from local.qbo_sandbox.config import SandboxConfig
from local.qbo_sandbox.control import SandboxStats, control_routes
from local.qbo_sandbox.faultbody import COMPANY_TIMEZONE, intuit_tid
from local.qbo_sandbox.guard import ASGIApp, RealmGuard, RealmLimiter
from local.qbo_sandbox.oauth import (
    DISCOVERY_PATH,
    IdTokenSigner,
    TokenStore,
    base_url_of,
    oauth_routes,
)
from local.qbo_sandbox.snapshot import capture_snapshot, read_snapshot, write_snapshot
from local.qbo_sandbox.webhooks import WebhookDispatcher


class SandboxClock:
    """Wall time plus an offset that only moves forward, so tests can make tokens and windows expire."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock does not go back")
        self.offset_seconds += seconds


def realm_ids_for(seed: int, count: int) -> list[str]:
    """Sixteen-digit realm ids in the shape of Intuit's sandbox companies, stable for a seed."""
    rng = random.Random(f"realms-{seed}")
    ids: list[str] = []
    while len(ids) < count:
        candidate = f"9341{rng.randrange(10**11, 10**12)}"
        if candidate not in ids:
            ids.append(candidate)
    return ids


class Sandbox:
    """All the state of one sandbox process, shared by the routes through `app.state.sandbox`."""

    def __init__(self, config: SandboxConfig, *, webhook_transport: httpx.AsyncBaseTransport | None = None):
        from local.qbo_sandbox.seed import seed_company

        self.config = config
        self.clock = SandboxClock()
        self.stats = SandboxStats()
        self.faults = config.faults.model_copy()
        self.rng = random.Random(f"faults-{config.seed}")
        self.tokens = TokenStore(
            self.clock.now,
            access_ttl=config.access_token_ttl_seconds,
            refresh_ttl=config.refresh_token_ttl_seconds,
            refresh_hard_ttl=config.refresh_token_hard_ttl_seconds,
            refresh_grace=config.effective_refresh_grace_seconds,
            rotate_every_refresh=config.strict_refresh_rotation,
            rotation_seconds=config.refresh_token_rotation_seconds,
            code_ttl=config.authorization_code_ttl_seconds,
        )
        self.limiter = RealmLimiter(config, self.clock.now)
        self.webhooks = WebhookDispatcher(config, self.clock.now, self.stats, transport=webhook_transport)
        self.companies: dict[str, Company] = {}

        snapshot = read_snapshot(config.snapshot_path) if config.snapshot_path else None
        if snapshot is not None:
            self.clock.offset_seconds = snapshot.clock_offset_seconds
            self.user_sub = snapshot.user_sub
            self.signer = IdTokenSigner(snapshot.signing_key_pem)
            for data in snapshot.companies:
                company = Company.from_snapshot(data)
                self.companies[company.realm_id] = company
            self.tokens.load_snapshot(snapshot.tokens)
            self.webhooks.load_snapshot(snapshot.webhooks)
        else:
            self.user_sub = str(
                uuid.UUID(int=random.Random(f"user-{config.seed}").getrandbits(128), version=4)
            )
            self.signer = IdTokenSigner()
            realm_ids = realm_ids_for(config.seed, config.realm_count)
            for index, (realm_id, name) in enumerate(zip(realm_ids, config.company_names, strict=True)):
                self.companies[realm_id] = seed_company(
                    realm_id, name, config.seed * 1000 + index, features=config.company_features
                )
        for company in self.companies.values():
            # Records are stamped with the sandbox clock, so advancing it ages them (and the CDC window).
            company.clock = self.company_now
            self.webhooks.watch(company)

    def company_now(self) -> datetime:
        """The sandbox clock's time in the company's time zone."""
        return datetime.fromtimestamp(self.clock.now(), COMPANY_TIMEZONE)

    def new_tid(self) -> str:
        return intuit_tid()

    async def start(self) -> None:
        await self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()
        self.save_snapshot()

    def save_snapshot(self) -> None:
        if self.config.snapshot_path:
            write_snapshot(capture_snapshot(self), self.config.snapshot_path)

    def ready_info(self, base_url: str) -> dict[str, Any]:
        """What a launcher needs to talk to this sandbox (printed on the READY line)."""
        base = base_url.rstrip("/")
        return {
            "base_url": base,
            "discovery_url": base + DISCOVERY_PATH,
            "api_base_url": base + "/v3",
            "realms": list(self.companies),
            "companies": {realm: company.company_name for realm, company in self.companies.items()},
            "client_id": self.config.client_id,
            "redirect_uris": self.config.redirect_uris,
            "webhook_url": self.config.webhook_url,
            "webhook_format": self.config.webhook_format,
        }


async def _index(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    return JSONResponse({"service": "qbo-sandbox", **sandbox.ready_info(base_url_of(request))})


def build_app(
    config: SandboxConfig | None = None,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    accounting_app: ASGIApp | None = None,
) -> Starlette:
    """The whole sandbox.

    `webhook_transport` lets tests deliver webhooks to an in-process receiver; `accounting_app` replaces
    the accounting API behind the guard (tests of the guard alone use a tiny app there).
    """
    if accounting_app is None:
        from local.qbo_sandbox.accounting import build_accounting_app

        accounting_app = build_accounting_app()
    sandbox = Sandbox(config or SandboxConfig(), webhook_transport=webhook_transport)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    routes = [
        Route("/", _index, methods=["GET"]),
        *oauth_routes(),
        *control_routes(),
        Mount("/v3/company/{realm_id}", app=RealmGuard(accounting_app, sandbox)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
