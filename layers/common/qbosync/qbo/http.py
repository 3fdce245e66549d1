"""The one ``httpx.Client`` per container that QBO and Intuit OAuth calls share by default."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from qbosync.settings import get_settings

if TYPE_CHECKING:
    import httpx


@lru_cache(maxsize=1)
def shared_http_client() -> httpx.Client:
    """Created on first use (never at import), then reused so warm invocations keep their connections."""
    import httpx  # on the first call, not at import: most cold starts never call out

    return httpx.Client(timeout=get_settings().http_timeout_seconds)
