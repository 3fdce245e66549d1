"""Background loops shared by the SQS poller and the schedule ticker: one daemon thread per item."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

Item = TypeVar("Item")


class BackgroundLoops:
    """Runs ``loop(item)`` in its own daemon thread for each item; every loop watches ``_stopping``."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def _start_loops(
        self, loop: Callable[[Item], None], items: Iterable[Item], name: Callable[[Item], str]
    ) -> None:
        for item in items:
            thread = threading.Thread(target=loop, args=(item,), name=name(item), daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_stop(self) -> None:
        """Ask the loops to finish; ``stop()`` then waits for them."""
        self._stopping.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
