"""How long the current Lambda invocation has left, for work that must not be cut off half-way.

A handler decorated with ``tracks_remaining_time`` publishes its context's clock for the duration of the
call; the token vault reads it before starting a refresh (an Intuit answer whose rotated refresh token is
never stored strands the connection). Outside a handler (tests, scripts) there is no limit.

Work registered with ``at_invocation_end`` runs when a tracked handler returns or raises (the read
budget adds its pending counts to the shared counter there, so a frozen container holds none back); a
failure there is logged, never turned into the handler's failure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, cast

from qbosync.observability import logger

_at_end: dict[str, Callable[[], None]] = {}
_remaining_seconds: ContextVar[Callable[[], float] | None] = ContextVar("remaining_seconds", default=None)

Handler = TypeVar("Handler", bound=Callable[..., Any])


class _TimedContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def remaining_time_provider() -> Callable[[], float] | None:
    """Seconds left in the current invocation, as a callable; ``None`` outside a tracked handler."""
    return _remaining_seconds.get()


def at_invocation_end(name: str, work: Callable[[], None]) -> None:
    """Run ``work`` at the end of every tracked invocation; registering ``name`` again replaces it."""
    _at_end[name] = work


def forget_end_work() -> None:
    """Unregister all end-of-invocation work (``wiring.reset()``: the services it belonged to are gone)."""
    _at_end.clear()


def _run_end_work() -> None:
    for name, work in list(_at_end.items()):
        try:
            work()
        except Exception:
            logger.exception("end-of-invocation work failed", extra={"work": name})


def tracks_remaining_time(handler: Handler) -> Handler:
    """Publish the Lambda context's remaining time while ``handler(event, context, ...)`` runs."""

    @functools.wraps(handler)
    def tracked(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        clock = getattr(context, "get_remaining_time_in_millis", None)
        timed = cast(_TimedContext, context)
        provider = (lambda: timed.get_remaining_time_in_millis() / 1000.0) if callable(clock) else None
        published = _remaining_seconds.set(provider)
        try:
            return handler(event, context, *args, **kwargs)
        finally:
            _remaining_seconds.reset(published)
            _run_end_work()

    return cast(Handler, tracked)
