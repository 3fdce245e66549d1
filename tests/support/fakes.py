"""Small fakes shared by tests and benchmarks."""

from __future__ import annotations

import random


class StaticToken:
    """An access token a sandbox issued to the test or benchmark; it never expires there, so a 401 is a
    defect of the test and is raised rather than refreshed."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("the sandbox refused a token it issued")


class TopOfRange(random.Random):
    """A random source whose ``uniform(a, b)`` is always ``b``: every jittered wait is its ceiling, so a
    test can name the exact waits a backoff policy allows."""

    def uniform(self, a: float, b: float) -> float:
        return b
