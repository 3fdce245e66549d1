"""The admin console: ``GET /console`` and its assets, static files shipped inside the layer.

The console is a browser app on the public admin API and nothing else: these routes only hand out its
files, carry no tenant data and need no token (the console sends the admin's bearer token itself).
Serving it from the API function keeps it on the API's origin, so it needs no CORS and no second
deployment; ``embed.js`` lets a vendor's page mount the same console in an iframe.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from qbosync.api.dependencies import ApiDependencies
from qbosync.errors import NotFound

CONSOLE_PACKAGE = "qbosync.console"
INDEX = "index.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The console runs only its own files and talks only to this origin; framing is allowed on purpose
# (it is embeddable), and a framing page gets nothing without a session it must hand over itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class ConsoleAsset:
    media_type: str
    body: str


@lru_cache(maxsize=16)
def console_asset(name: str) -> ConsoleAsset:
    """One file of the console by its plain name (``app.js``); ``NotFound`` for anything else."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    media_type = MEDIA_TYPES.get(suffix)
    package = resources.files(CONSOLE_PACKAGE)
    if media_type is None or "/" in name or "\\" in name or name.startswith("."):
        raise NotFound(f"no console asset {name!r}", code="console_asset_not_found")
    asset = package.joinpath(name)
    if not asset.is_file():
        raise NotFound(f"no console asset {name!r}", code="console_asset_not_found")
    return ConsoleAsset(media_type=media_type, body=asset.read_text(encoding="utf-8"))


def _reply(asset: ConsoleAsset) -> Response[Any]:
    return Response(status_code=200, content_type=asset.media_type, body=asset.body, headers=SECURITY_HEADERS)


def console_router(_deps: ApiDependencies) -> APIGatewayHttpRouter:
    """``GET /console`` (the app) and ``GET /console/{asset}`` (its scripts and styles), public."""
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get("/console", include_in_schema=False)
    def console_page() -> Response[Any]:
        return _reply(console_asset(INDEX))

    @router.get("/console/<asset>", include_in_schema=False)
    def console_file(asset: str) -> Response[Any]:
        return _reply(console_asset(asset))

    return router
