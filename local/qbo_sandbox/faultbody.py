"""QBO's Fault envelope: the one error shape every accounting endpoint answers with.

Clients such as python-quickbooks look for a top-level `Fault` and map its string `code` to an
exception class, so every refusal in the sandbox goes through `QboFaultError` and `fault_response`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import JSONResponse, Response

# Intuit stamps responses with the company's local time; sandbox companies are US Pacific.
COMPANY_TIMEZONE = ZoneInfo("America/Los_Angeles")


class QboFaultError(Exception):
    """Raised anywhere in the sandbox to answer with QBO's Fault envelope."""

    def __init__(  # noqa: PLR0917 (the interface shared with the core app is positional)
        self,
        status: int,
        code: str,
        message: str,
        detail: str = "",
        fault_type: str = "ValidationFault",
        element: str = "",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.fault_type = fault_type
        self.element = element


def response_time(moment: datetime | None = None) -> str:
    """The `time` member of every envelope: ISO 8601 with milliseconds and a local offset."""
    stamp = moment if moment is not None else datetime.now(COMPANY_TIMEZONE)
    return stamp.astimezone(COMPANY_TIMEZONE).isoformat(timespec="milliseconds")


def intuit_tid() -> str:
    """A transaction id in Intuit's shape, `1-<8 hex>-<24 hex>`, for the `intuit_tid` header."""
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


def fault_object(err: QboFaultError) -> dict[str, Any]:
    """The inner `Fault` member, also used on its own inside batch item responses."""
    return {
        "Error": [{"Message": err.message, "Detail": err.detail, "code": err.code, "element": err.element}],
        "type": err.fault_type,
    }


def fault_body(err: QboFaultError, moment: datetime | None = None) -> dict[str, Any]:
    """The whole JSON body for a refused request."""
    return {"Fault": fault_object(err), "time": response_time(moment)}


def fault_response(err: QboFaultError) -> Response:
    """A Starlette response carrying the Fault envelope, its status and an `intuit_tid`."""
    return JSONResponse(fault_body(err), status_code=err.status, headers={"intuit_tid": intuit_tid()})
