"""One place for logging, tracing and metrics.

Log with keys, never f-strings: ``logger.info("pushed invoice", extra={"invoice_id": ...})``.
Values under keys that look like secrets are masked before they are written, as a second line of
defence; the first is never passing a secret to the logger at all.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "qbosync"
METRICS_NAMESPACE = "qbosync"

# An OAuth authorization code is a secret too, but "fault_code" or "status_code" are not.
_SECRET_EXACT_KEYS = frozenset({"code", "auth_code", "authorization_code"})
_SECRET_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "signature",
    "authorization",
    "verifier",
    "api_key",
)
MASK = "***"


def is_secret_key(key: str) -> bool:
    """True for a log key whose value must never be written (``access_token``, ``intuit-signature``...)."""
    lowered = key.lower()
    return lowered in _SECRET_EXACT_KEYS or any(part in lowered for part in _SECRET_KEY_PARTS)


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced by a mask."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) else mask_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


class _SecretMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if is_secret_key(key) and key not in {"exc_info", "exc_text"}:
                setattr(record, key, MASK)
        return True


HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
# The clients whose calls become X-Ray subsegments (patching all Powertools knows costs start-up time).
TRACED_MODULES = ("botocore", "httpx")


class LazyTracer:
    """Powertools' ``Tracer``, built at a handler's first invocation instead of at import.

    Building a ``Tracer`` imports the X-Ray SDK, whose recorder builds a botocore X-Ray client for sampling,
    and patches clients: about half a second here, more than the rest of a handler's imports. So it is built
    at a handler's first invocation, and not at all when ``POWERTOOLS_TRACE_DISABLED`` is set (the template's
    default: ``XRaySdkTracing=off`` keeps Lambda's own active tracing, without client subsegments). Handlers
    decorate with ``capture_lambda_handler`` exactly as with ``Tracer``.
    """

    def __init__(
        self,
        service: str,
        patch_modules: tuple[str, ...] = TRACED_MODULES,
        *,
        build: Callable[[], Tracer] | None = None,
    ) -> None:
        self._service = service
        self._patch_modules = patch_modules
        self._build = build or self._build_xray_tracer
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the X-Ray tracer exists yet (false until a traced handler first runs)."""
        return self._tracer is not None

    def tracer(self) -> Tracer:
        """The Powertools tracer, built (and the traced clients patched) on first use."""
        with self._lock:
            if self._tracer is None:
                self._tracer = self._build()
            return self._tracer

    def _build_xray_tracer(self) -> Tracer:
        from aws_lambda_powertools import Tracer

        return Tracer(service=self._service, patch_modules=list(self._patch_modules))

    def subsegment(self, name: str, **annotations: str) -> AbstractContextManager[Any]:
        """An X-Ray subsegment around one outbound call, annotated with ``annotations``.

        Free when tracing is off: until a traced handler has built the tracer (never, while
        ``POWERTOOLS_TRACE_DISABLED`` is set) this is a no-op context. Annotations are indexed and
        searchable, so callers pass only identifiers (realm, tenant, entity, method), never amounts,
        names or bodies.
        """
        tracer = self._tracer
        if tracer is None or tracer.disabled:
            return nullcontext()
        return _annotated(tracer, name, annotations)

    @staticmethod
    def sdk_disabled() -> bool:
        # Lambda's active tracing still records every invocation; the SDK only adds client subsegments.
        from qbosync.settings import get_settings

        return get_settings().trace_disabled

    def capture_lambda_handler(
        self, *, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[HandlerT], HandlerT]:
        """Trace a handler as ``Tracer.capture_lambda_handler`` does, building the tracer on its first run."""

        def decorate(handler: HandlerT) -> HandlerT:
            traced: list[Callable[..., Any]] = []

            @functools.wraps(handler)
            def run(event: Any, context: Any, **kwargs: Any) -> Any:
                if self.sdk_disabled():
                    return handler(event, context, **kwargs)
                if not traced:
                    traced.append(
                        self.tracer().capture_lambda_handler(
                            handler, capture_response=capture_response, capture_error=capture_error
                        )
                    )
                return traced[0](event, context, **kwargs)

            return cast(HandlerT, run)

        return decorate


@contextmanager
def _annotated(tracer: Tracer, name: str, annotations: dict[str, str]) -> Iterator[Any]:
    with tracer.provider.in_subsegment(f"## {name}") as subsegment:
        for key, value in annotations.items():
            subsegment.put_annotation(key, value)
        yield subsegment


logger = Logger(service=SERVICE)
logger.addFilter(_SecretMaskingFilter())
tracer = LazyTracer(SERVICE)
metrics = Metrics(service=SERVICE, namespace=METRICS_NAMESPACE)
