"""Work registered for the end of an invocation (the read budget's flush) runs after every tracked handler."""

from __future__ import annotations

from typing import Any

import pytest

from qbosync.invocation import at_invocation_end, forget_end_work, tracks_remaining_time
from qbosync.qbo.read_budget import (
    InMemoryReadBudgetStore,
    ReadBudget,
    ReadBudgetPolicy,
    ReadKind,
    ReadPurpose,
)
from tests.support.lambda_context import LambdaContextStub


@pytest.fixture(autouse=True)
def _no_end_work() -> Any:
    forget_end_work()
    yield
    forget_end_work()


def test_given_reads_pending_when_a_tracked_handler_returns_then_they_are_added_to_the_shared_counter() -> (
    None
):
    store = InMemoryReadBudgetStore()
    budget = ReadBudget(ReadBudgetPolicy(1_000, 100), store, clock=lambda: 1_796_000_000.0, flush_every=100)
    at_invocation_end("read_budget", budget.flush)

    @tracks_remaining_time
    def handler(event: dict[str, Any], context: Any) -> str:
        budget.draw("t1", ReadPurpose.PULL, ReadKind.READ)
        return "ok"

    assert handler({}, LambdaContextStub()) == "ok"
    assert store.records == 1


def test_given_end_work_that_fails_when_the_handler_raises_then_the_handlers_error_is_what_surfaces() -> None:
    def broken() -> None:
        raise RuntimeError("DynamoDB is down")

    at_invocation_end("broken", broken)

    @tracks_remaining_time
    def handler(event: dict[str, Any], context: Any) -> str:
        raise ValueError("the handler's own failure")

    with pytest.raises(ValueError, match="the handler's own failure"):
        handler({}, LambdaContextStub())


def test_given_end_work_that_fails_when_the_handler_returns_then_its_answer_stands() -> None:
    def broken() -> None:
        raise RuntimeError("DynamoDB is down")

    at_invocation_end("broken", broken)

    @tracks_remaining_time
    def handler(event: dict[str, Any], context: Any) -> str:
        return "answered"

    assert handler({}, LambdaContextStub()) == "answered"
