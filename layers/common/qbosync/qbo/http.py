"""The one ``httpx.Client`` per container that QBO and Intuit OAuth calls share by default."""

from __future__ import annotations

from functools import lru_cache

import httpx

from qbosync.settings import get_settings


@lru_cache(maxsize=1)
def shared_http_client() -> httpx.Client:
    """Created on first use (never at import), then reused so warm invocations keep their connections."""
    return httpx.Client(timeout=get_settings().http_timeout_seconds)
