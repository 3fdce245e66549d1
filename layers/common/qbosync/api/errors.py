"""The one place exceptions become HTTP replies: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict

from qbosync.errors import QbosyncError, validation_details
from qbosync.observability import logger


class ErrorDetail(BaseModel):
    # Built when the OpenAPI document is first asked for, not by every function that imports this module.
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorBody(BaseModel):
    """The error shape of every 4xx and 5xx this API returns."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[Any]:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, "details": details or []}},
    )


def error_reply(error: QbosyncError) -> dict[str, Any]:
    """A Lambda proxy reply for an error raised before routing (the resolver's handlers are not in play)."""
    if error.status >= 500:
        logger.error("request failed upstream", extra={"error_code": error.code})
    else:
        logger.info("request refused", extra={"error_code": error.code, "status": error.status})
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps(error.to_body(), separators=(",", ":")),
        "isBase64Encoded": False,
    }


def register_error_handlers(
    app: APIGatewayHttpResolver, allowed_methods: Callable[[str], frozenset[str]] | None = None
) -> None:
    """Map qbosync errors, request validation errors and unknown routes to the contract's error shape.

    ``allowed_methods(path)`` names the methods a known path accepts, so a wrong method gets 405.
    """

    def _qbosync_error(error: QbosyncError) -> Response[Any]:
        if error.status >= 500:
            logger.error("request failed upstream", extra={"error_code": error.code})
        return Response(
            status_code=error.status, content_type=content_types.APPLICATION_JSON, body=error.to_body()
        )

    def _invalid_request(error: RequestValidationError) -> Response[Any]:
        details = validation_details(error.errors())
        if any(d["type"] == "missing" and d["loc"].casefold() == "header.if-match" for d in details):
            # If-Match is a required header in the OpenAPI document; its absence is RFC 6585's 428.
            return error_response(
                HTTPStatus.PRECONDITION_REQUIRED,
                "precondition_required",
                "send If-Match with the ETag from your last read, so a concurrent edit is not overwritten",
            )
        if any(detail["type"] == "json_invalid" for detail in details):
            return error_response(
                HTTPStatus.BAD_REQUEST, "malformed_json", "the request body is not valid JSON"
            )
        return error_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the request does not match the API",
            details,
        )

    def _unknown_route(_error: NotFoundError) -> Response[Any]:
        allowed = allowed_methods(app.current_event.path) if allowed_methods else frozenset()
        if allowed:
            reply = error_response(
                HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept that method"
            )
            reply.headers["Allow"] = ", ".join(sorted(allowed))
            return reply
        return error_response(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")

    def _unsupported_media_type(_error: RequestUnsupportedContentType) -> Response[Any]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as application/json"
        )

    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "an unexpected error occurred"
        )

    app.exception_handler(QbosyncError)(_qbosync_error)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported_media_type)
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(Exception)(_unexpected)
    app.not_found(_unknown_route)


ERROR_DESCRIPTIONS = {
    400: "Malformed request (invalid JSON, If-Match or cursor)",
    401: "No admin identity in the request",
    403: "The token does not grant this tenant",
    404: "Unknown tenant, mapping kind, mapping row or route",
    409: "Version conflict, or QuickBooks Online not connected",
    412: "If-Match names an older version than the stored one",
    415: "The body is not application/json",
    422: "The request or a mapping target is not acceptable",
    428: "If-Match is required",
    429: "The app's QuickBooks read budget is too low for this read; cached data still answers",
    502: "QuickBooks Online or the source failed; retry later",
}


COMMON_ERRORS = (400, 401, 403, 404, 422)


def error_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI response entries for the errors every tenant route can return, plus ``statuses``."""
    return {
        status: {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
        for status in sorted({*COMMON_ERRORS, *statuses})
    }


def versioned_ok(description: str) -> dict[int, OpenAPIResponse]:
    """The OpenAPI 200 entry of a versioned document: its ETag names the version."""
    return {
        200: {
            "description": description,
            "headers": {"ETag": {"description": 'the version, quoted: "3"', "schema": {"type": "string"}}},
        }
    }
