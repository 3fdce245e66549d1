"""Typed failures at the source boundary, classified by HTTP status and error code, never by text."""

from __future__ import annotations

from typing import Any

from qbosync.errors import NotFound, QbosyncError, Unauthorized, UpstreamUnavailable


class SourceNotFound(NotFound):
    """The source has no such object (or no such tenant)."""

    code = "source_not_found"


class SourceUnavailable(UpstreamUnavailable):
    """The source failed in a way worth retrying later (429, 5xx, connection or timeout)."""

    code = "source_unavailable"


class SourceRejected(QbosyncError):
    """The source refused the request (bad API key, invalid body, idempotency conflict...).

    Retrying the same request will not help; ``source_status`` and ``source_code`` say why.
    """

    status = 502
    code = "source_rejected"

    def __init__(
        self,
        message: str,
        *,
        source_status: int,
        source_code: str | None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.source_status = source_status
        self.source_code = source_code


class SignatureInvalid(Unauthorized):
    """A source webhook whose signature is missing, malformed or does not match."""

    code = "signature_invalid"


class TimestampOutOfWindow(Unauthorized):
    """A source webhook signed too long ago (a replay) or too far in the future."""

    code = "timestamp_out_of_window"


class SourceInvalidResponse(QbosyncError):
    """The source answered 2xx with a body that does not follow the contract (a source-side bug)."""

    status = 502
    code = "source_invalid_response"
