"""A synchronous ``httpx.Client`` wired straight to a sandbox app, with no socket in between.

``httpx.ASGITransport`` is async-only, while ``HttpSourceAdapter`` (like the Lambda code) is sync.
This runs the app on an event loop in a helper thread (an anyio blocking portal) and bridges each
request to it, with the app's lifespan running around the whole session, so background webhook
delivery keeps working between requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.applications import Starlette


class _PortalTransport(httpx.BaseTransport):
    def __init__(self, portal: BlockingPortal, app: Starlette) -> None:
        self._portal = portal
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._handle, request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        async_request = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        response = await self._asgi.handle_async_request(async_request)
        content = await response.aread()
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )


@contextmanager
def in_process_client(app: Starlette, base_url: str = "http://source-sandbox") -> Iterator[httpx.Client]:
    """A client for ``app`` that needs no network; the app's lifespan spans the ``with`` block."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
        httpx.Client(transport=_PortalTransport(portal, app), base_url=base_url) as client,
    ):
        yield client
