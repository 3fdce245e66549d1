"""Optimistic concurrency over HTTP: ETag carries the version, If-Match must name it."""

from __future__ import annotations

import re

from qbosync.errors import BadRequest, PreconditionRequired

ETAG_PATTERN = r'^(?:W/)?"?(\d{1,12})"?$'
_ETAG = re.compile(ETAG_PATTERN)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """The version an If-Match header names: 428 when missing, 400 when it is not one of our ETags."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "send If-Match with the ETag from your last read, so a concurrent edit is not overwritten",
            code="precondition_required",
        )
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise BadRequest('If-Match must be an ETag this API returned, such as "3"', code="invalid_if_match")
    return int(match.group(1))
