"""Reading the source's answers: a 2xx body into its model, an error body into the typed error.

A body that breaks the contract is ``SourceInvalidResponse`` (the pydantic errors in the project's
detail shape, without the input values, which can hold customer data); a 404 is ``SourceNotFound``;
any other refusal is ``SourceRejected`` with the contract's ``code``, ``message`` and ``details``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from qbosync.errors import validation_details
from qbosync.source.errors import SourceInvalidResponse, SourceNotFound, SourceRejected

if TYPE_CHECKING:
    import httpx

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_answer(response: httpx.Response, model: type[ModelT]) -> ModelT:
    """A 2xx body as ``model``; ``SourceInvalidResponse`` when it breaks the contract."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise invalid_answer(response, exc) from exc


def invalid_answer(response: httpx.Response, exc: ValidationError) -> SourceInvalidResponse:
    """The error for a body that failed validation: at most ten problems, never their input values."""
    problems = validation_details(exc.errors(include_input=False, include_url=False)[:10])
    return SourceInvalidResponse(
        f"the source's answer to {response.request.url.path} does not follow the contract", details=problems
    )


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """The ``code``, ``message`` and ``details`` of a contract error body, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return None, None, []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, []
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    details = error.get("details")
    safe_details = [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    return code, message, safe_details


def rejection(method: str, path: str, response: httpx.Response) -> SourceNotFound | SourceRejected:
    """The error for a 4xx the source answered (retryable statuses never get here)."""
    code, message, details = _error_fields(response)
    if response.status_code == 404:
        return SourceNotFound(
            message or f"the source has nothing at {path}",
            details=[{"path": path, "source_code": code}],
        )
    return SourceRejected(
        f"the source refused {method} {path} with {response.status_code}"
        + (f" ({code}): {message}" if code and message else ""),
        source_status=response.status_code,
        source_code=code,
        details=details,
    )
