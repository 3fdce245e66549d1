"""How the demo talks to the person watching: numbered steps, tables, and failures that say why.

A step either finishes or raises ``StepFailed``; ``wait_until`` polls a condition against a bounded
deadline (never a fixed sleep) and fails with the last thing it saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule

T = TypeVar("T")
POLL_INTERVAL_SECONDS = 0.25


class StepFailed(Exception):
    """A step found something other than what it needed; ``reason`` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class StepRecord:
    number: int
    title: str
    status: str = "running"
    seconds: float = 0.0
    reason: str = ""


@dataclass
class Narrator:
    """Prints each step with its outcome and keeps the record the summary is built from."""

    console: Console
    steps: list[StepRecord] = field(default_factory=list)

    @contextmanager
    def step(self, title: str) -> Iterator[StepRecord]:
        record = StepRecord(number=len(self.steps) + 1, title=title)
        self.steps.append(record)
        self.console.print()
        self.console.print(Rule(f"[bold]Step {record.number}: {title}", align="left"))
        started = time.monotonic()
        try:
            yield record
        except StepFailed as failure:
            record.status, record.reason = "failed", failure.reason
            raise
        except Exception as error:  # an unexpected error is a failure of this step too, with its cause
            record.status, record.reason = "failed", f"{type(error).__name__}: {error}"
            raise StepFailed(record.reason) from error
        finally:
            record.seconds = time.monotonic() - started
        record.status = "passed"
        self.console.print(f"[green]✔ step {record.number} passed[/] [dim]({record.seconds:.1f} s)[/]")

    def say(self, message: str) -> None:
        self.console.print(f"  {message}")

    def ok(self, message: str) -> None:
        self.console.print(f"  [green]✔[/] {message}")

    def warn(self, message: str) -> None:
        self.console.print(f"  [yellow]![/] {message}")

    def show(self, renderable: Any) -> None:
        self.console.print(renderable)

    def failure(self, record: StepRecord) -> None:
        self.console.print(
            Panel(
                f"[bold]Step {record.number} ({record.title}) failed[/]\n{record.reason}",
                title="demo failed",
                border_style="red",
            )
        )


def require(condition: bool, reason: str) -> None:
    """Fail the current step with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise StepFailed(reason)


def wait_until(
    description: str,
    probe: Callable[[], T | None],
    timeout_seconds: float,
    *,
    last_seen: Callable[[], str] | None = None,
) -> T:
    """``probe()``'s first non-None answer, polled until ``timeout_seconds`` pass; then a clear failure."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            seen = f"; last seen: {last_seen()}" if last_seen is not None else ""
            raise StepFailed(f"timed out after {timeout_seconds:.0f} s waiting for {description}{seen}")
        time.sleep(POLL_INTERVAL_SECONDS)
