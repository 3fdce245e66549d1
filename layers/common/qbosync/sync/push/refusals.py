"""The one refusal every push module raises: a change QBO cannot take as the source has it."""

from __future__ import annotations

from qbosync.store.events import ReasonCode


class Refused(Exception):
    """The change cannot be applied as the source has it; retrying will not help."""

    def __init__(self, code: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
