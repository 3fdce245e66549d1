"""The remaining time of the current invocation, published by handlers for work that must not be cut off."""

from __future__ import annotations

from typing import Any

from qbosync.invocation import remaining_time_provider, tracks_remaining_time


class Context:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


@tracks_remaining_time
def handler(event: dict[str, Any], context: Any, extra: str = "default") -> tuple[float | None, str]:
    provider = remaining_time_provider()
    return (provider() if provider is not None else None), extra


def test_given_a_tracked_handler_when_it_runs_then_its_context_clock_is_published_and_withdrawn() -> None:
    context = Context(12_500)

    seen, extra = handler({}, context, extra="passed")

    assert seen == 12.5 and extra == "passed"
    assert remaining_time_provider() is None


def test_given_a_context_without_a_clock_when_the_handler_runs_then_there_is_no_limit() -> None:
    assert handler({}, object()) == (None, "default")
