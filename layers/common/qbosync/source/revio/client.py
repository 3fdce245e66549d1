"""Rev.io's REST API over HTTPS: authentication, retries on throttling, and its list envelope.

Every request carries HTTP Basic auth as ``username@clientcode:password`` and the client's
``Ocp-Apim-Subscription-Key`` (developers.rev.io/docs/basic-authentication, /docs/api-management).
A ``429`` waits ``Retry-After`` seconds when Rev.io sends one, else the shared exponential backoff;
``5xx`` and transport errors are retried the same way; ``404`` is ``SourceNotFound``; any other ``4xx``
is ``SourceRejected`` at once. ``sleep`` and ``rng`` are injected so tests never wait.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from qbosync.backoff import BackoffPolicy
from qbosync.observability import logger, tracer
from qbosync.source.answers import invalid_answer, rejection
from qbosync.source.errors import SourceUnavailable

if TYPE_CHECKING:
    import httpx

ModelT = TypeVar("ModelT", bound=BaseModel)

DEFAULT_BASE_URL = "https://restapi.rev.io/v1"
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RevioCredentials:
    """A Rev.io API user of one client: the client code is part of the Basic-auth user name."""

    username: str
    client_code: str
    password: str
    subscription_key: str

    def __repr__(self) -> str:  # secrets stay out of reprs, tracebacks and logs
        return f"RevioCredentials(username={self.username!r}, client_code={self.client_code!r})"

    def authorization(self) -> str:
        token = f"{self.username}@{self.client_code}:{self.password}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")


class RevioClient:
    """One Rev.io client (tenant), with retries; counts its requests for the source-load figures."""

    def __init__(
        self,
        credentials: RevioCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.Client | None = None,
        timeout_seconds: float = 10.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.25,
        max_backoff_seconds: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._owns_http = http is None
        self._timeout_seconds = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff = BackoffPolicy(backoff_seconds, max_backoff_seconds, rng or random.Random())  # noqa: S311
        self._sleep = sleep
        self.requests_sent = 0
        """Every HTTP request sent to Rev.io, retries included (the source load this adapter causes)."""

    def __repr__(self) -> str:
        return f"RevioClient(client_code={self._credentials.client_code!r})"

    def get(self, path: str, model: type[ModelT], params: Mapping[str, str] | None = None) -> ModelT:
        return _parse(self.request("GET", path, params=params), model)

    def send(
        self,
        method: str,
        path: str,
        model: type[ModelT],
        *,
        json: Any = None,
        content_type: str | None = None,
    ) -> ModelT:
        return _parse(self.request(method, path, json=json, content_type=content_type), model)

    def close(self) -> None:
        if self._owns_http and self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        """One call with retries; the response when it is a 2xx."""
        import httpx  # on the first call, not at import: most cold starts never call the source

        headers = {
            "Authorization": self._credentials.authorization(),
            "Ocp-Apim-Subscription-Key": self._credentials.subscription_key,
            "Accept": "application/json",
        }
        if json is not None:
            headers["Content-Type"] = content_type or "application/json"
        content = None if json is None else _json_bytes(json)
        failure: SourceUnavailable | None = None
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                self.requests_sent += 1
                with tracer.subsegment("source", method=method, adapter="revio"):
                    response = self._client().request(
                        method, self._base_url + path, params=params, content=content, headers=headers
                    )
            except httpx.TransportError as exc:
                failure = SourceUnavailable(
                    "Rev.io could not be reached",
                    details=[{"method": method, "path": path, "reason": type(exc).__name__}],
                )
            else:
                if response.is_success:
                    return response
                if response.status_code not in _RETRYABLE_STATUSES:
                    raise rejection(method, path, response)
                failure = SourceUnavailable(
                    f"Rev.io answered {response.status_code} after {attempt} attempts",
                    details=[{"method": method, "path": path, "status": response.status_code}],
                )
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt < self._max_attempts:
                delay = self._backoff.delay(attempt, at_least=retry_after)
                logger.warning(
                    "retrying Rev.io request",
                    extra={"method": method, "path": path, "attempt": attempt, "delay_seconds": delay},
                )
                self._sleep(delay)
        assert failure is not None
        raise failure

    def _client(self) -> httpx.Client:
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=self._timeout_seconds)
        return self._http


def _json_bytes(body: Any) -> bytes:
    import json

    return json.dumps(body, separators=(",", ":"), default=str).encode()


def _parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise invalid_answer(response, exc) from exc


def _seconds(retry_after: str | None) -> float | None:
    """``Retry-After`` in seconds; the HTTP-date form is not documented for Rev.io and is ignored."""
    if retry_after is None or not retry_after.strip().isdigit():
        return None
    return float(retry_after.strip())
