"""The project's own exceptions, and the one place their HTTP shape is decided.

Every client mistake becomes ``{"error": {"code", "message", "details"}}`` with a 4xx. Library
boundaries raise these (or subclasses of them); handlers never build error bodies by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class QbosyncError(Exception):
    """Base of every error qbosync raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        """The JSON error body of the HTTP contract."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def validation_details(problems: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as the contract's ``details``: where and what, never the input values
    (they may carry more than the client sent, or a secret). The one place they are formatted."""
    return [
        {
            "loc": ".".join(str(part) for part in problem.get("loc", ())),
            "type": str(problem.get("type", "")),
            "message": str(problem.get("msg", "")),
        }
        for problem in problems
    ]


class BadRequest(QbosyncError):
    status = 400
    code = "bad_request"


class ValidationFailed(QbosyncError):
    status = 422
    code = "validation_failed"


class Unauthorized(QbosyncError):
    status = 401
    code = "unauthorized"


class Forbidden(QbosyncError):
    status = 403
    code = "forbidden"


class NotFound(QbosyncError):
    status = 404
    code = "not_found"


class Conflict(QbosyncError):
    status = 409
    code = "conflict"


class PreconditionFailed(QbosyncError):
    status = 412
    code = "precondition_failed"


class PreconditionRequired(QbosyncError):
    status = 428
    code = "precondition_required"


class PayloadTooLarge(QbosyncError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(QbosyncError):
    status = 415
    code = "unsupported_media_type"


class NotConnected(Conflict):
    """The tenant has no usable QBO connection (never connected, disconnected, or needs re-auth)."""

    code = "not_connected"


class UpstreamUnavailable(QbosyncError):
    """QBO or the source failed in a way the caller may retry later."""

    status = 502
    code = "upstream_unavailable"
