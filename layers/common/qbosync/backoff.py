"""The one backoff policy every retried remote call follows: exponential, capped, full jitter.

The QBO client (for a failure it may retry) and the source adapter share it, so a burst of callers
that failed together spread their retries apart instead of hitting the recovering service in step.
Full jitter (a uniform wait between zero and the ceiling) is the variant that spreads them most.
The random source is injected, so a test fixes every wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackoffPolicy:
    """Waits before retry 1, 2, 3…: ``uniform(0, min(cap, base * 2 ** (retry - 1)))``."""

    base_seconds: float
    cap_seconds: float
    # Jitter only spreads retries apart; it needs no cryptographic randomness.
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("backoff needs 0 <= base_seconds <= cap_seconds")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 for the first retry)."""
        if retry < 1:
            raise ValueError("retries are counted from 1")
        # Past ~60 doublings the cap has long won; stopping there keeps the power finite.
        return min(self.cap_seconds, self.base_seconds * 2.0 ** min(retry - 1, 60))

    def delay(self, retry: int, *, at_least: float | None = None) -> float:
        """The wait before retry number ``retry``; ``at_least`` (a server's ``Retry-After``) raises it,
        never past the cap."""
        wait = float(self.rng.uniform(0, self.ceiling(retry)))
        if at_least is not None:
            wait = max(wait, min(at_least, self.cap_seconds))
        return wait
