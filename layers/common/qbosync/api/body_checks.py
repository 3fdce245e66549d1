"""Request-body checks every HTTP entry point shares, run before Powertools reads the body.

Powertools' validation middleware runs before any middleware a resolver registers, and it parses the
body itself: a body that is not JSON-typed, or bytes that are not UTF-8, would reach it and fail as an
unexpected error (500). So the checks run in ``resolve``, cheapest first: size (413), media type (415),
UTF-8 (400 ``malformed_json``). Routes then see a body they can parse, and services never re-check.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from qbosync.api.errors import error_reply
from qbosync.errors import BadRequest, PayloadTooLarge, QbosyncError, UnsupportedMediaType

JSON = "application/json"


@dataclass(frozen=True)
class BodyRules:
    """What a request body may be: at most ``max_bytes``, one of ``media_types`` (``+json`` suffixes
    too when ``json_suffixes``); a missing content type counts as ``assumed_media_type``."""

    max_bytes: int
    media_types: frozenset[str] = frozenset({JSON})
    json_suffixes: bool = False
    assumed_media_type: str | None = None

    def accepts(self, media_type: str) -> bool:
        return media_type in self.media_types or (self.json_suffixes and media_type.endswith("+json"))

    def check(self, event: Mapping[str, Any]) -> bytes:
        """The body's bytes, or the ``QbosyncError`` (4xx) that refuses it."""
        raw = event.get("body")
        if not raw:
            return b""
        body = _bytes_of(str(raw), bool(event.get("isBase64Encoded")))
        if len(body) > self.max_bytes:
            raise PayloadTooLarge(f"the body is at most {self.max_bytes} bytes")
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        content_type = headers.get("content-type", self.assumed_media_type or "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if not self.accepts(media_type):
            accepted = " or ".join(sorted(self.media_types))
            raise UnsupportedMediaType(f"send the body as {accepted}")
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                "the request body is not valid JSON (not UTF-8)", code="malformed_json"
            ) from None
        return body


def _bytes_of(raw: str, is_base64: bool) -> bytes:
    if not is_base64:
        return raw.encode("utf-8")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the request body is not valid base64", code="malformed_body") from None


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body exactly as the client sent it (API Gateway base64-encodes binary bodies)."""
    raw = event.get("body") or ""
    return _bytes_of(str(raw), bool(event.get("isBase64Encoded")))


class CheckedBodyResolver(APIGatewayHttpResolver):
    """An HTTP API resolver that applies ``BodyRules`` to every request before routing it."""

    def __init__(self, body_rules: BodyRules, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body_rules = body_rules

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            self.body_rules.check(event)
        except QbosyncError as refusal:
            return error_reply(refusal)
        reply: dict[str, Any] = super().resolve(_as_plain_json(event), context)
        return reply


def _as_plain_json(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """Powertools parses only ``application/json`` bodies; a ``+json`` type already accepted by the
    rules (``application/merge-patch+json`` for PATCH) is handed on as plain JSON."""
    headers = dict(event.get("headers") or {})
    name = next((key for key in headers if str(key).lower() == "content-type"), None)
    if name is None or not str(headers[name]).split(";", 1)[0].strip().lower().endswith("+json"):
        return event
    headers[name] = JSON
    return {**event, "headers": headers}
