"""``HttpSourceAdapter``: the ``SourcePort`` over the JSON source contract.

httpx retries nothing but connection setup, so retrying is done here, by tenacity: 429, 5xx and
transport errors are retried after the shared ``BackoffPolicy`` (exponential, capped, full jitter;
``Retry-After`` honoured up to the cap); 404 becomes ``SourceNotFound``; any other 4xx is
``SourceRejected`` at once. ``sleep`` and ``rng`` are injectable so tests never wait and fix every
wait. Creates carry an ``Idempotency-Key``, which is what makes retrying a POST safe; a customer
patch and a payment void are idempotent by nature (repeating one changes nothing more), so they are
retried the same way without a key. Each attempt is a ``## source`` tracing subsegment.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter, ValidationError

from qbosync.backoff import BackoffPolicy
from qbosync.observability import logger, tracer
from qbosync.source.answers import invalid_answer, parse_answer, rejection
from qbosync.source.errors import SourceInvalidResponse, SourceUnavailable
from qbosync.source.models import (
    MAX_PAGE_LIMIT,
    NewSourceCustomer,
    NewSourcePayment,
    NewSourceProduct,
    Page,
    ReferenceEntry,
    ReferenceKind,
    SourceAccount,
    SourceCreditNote,
    SourceCustomer,
    SourceCustomerUpdate,
    SourceInvoice,
    SourcePayment,
    SourceProduct,
    SourceTaxCode,
)
from qbosync.source.port import DEFAULT_PAGE_LIMIT

if TYPE_CHECKING:
    import httpx
    from tenacity import RetryCallState

ModelT = TypeVar("ModelT", bound=BaseModel)

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_REFERENCE_PAGES = 100


class HttpSourceAdapter:
    """One tenant of a source system, reached over HTTPS with that tenant's API key."""

    def __init__(
        self,
        base_url: str,
        tenant_id: str,
        api_key: str,
        http: httpx.Client | None = None,
        *,
        timeout_seconds: float | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 0.25,
        max_backoff_seconds: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._tenant_root = f"{base_url.rstrip('/')}/tenants/{quote(tenant_id, safe='')}"
        self._tenant_id = tenant_id
        self._api_key = api_key
        self._http = http
        self._owns_http = http is None
        self._timeout_seconds = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff = BackoffPolicy(backoff_seconds, max_backoff_seconds, rng or random.Random())  # noqa: S311
        self._sleep = sleep

    def __repr__(self) -> str:  # the API key stays out of reprs, and so out of tracebacks and logs
        return f"HttpSourceAdapter(tenant_id={self._tenant_id!r})"

    # -- paged lists -------------------------------------------------------------------------

    def list_customers(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceCustomer]:
        """One page of (not deleted) customers in the source's stable order."""
        return self._page("/customers", Page[SourceCustomer], cursor, limit, updated_since)

    def list_products(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceProduct]:
        """One page of (not deleted) products in the source's stable order."""
        return self._page("/products", Page[SourceProduct], cursor, limit, updated_since)

    def list_invoices(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceInvoice]:
        """One page of invoices, optionally only those changed since a time (for reconciliation)."""
        return self._page("/invoices", Page[SourceInvoice], cursor, limit, updated_since)

    def list_payments(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourcePayment]:
        """One page of payments, optionally only those changed since a time."""
        return self._page("/payments", Page[SourcePayment], cursor, limit, updated_since)

    def list_credit_notes(
        self,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
        updated_since: datetime | None = None,
    ) -> Page[SourceCreditNote]:
        """One page of credit notes, optionally only those changed since a time."""
        return self._page("/credit-notes", Page[SourceCreditNote], cursor, limit, updated_since)

    # -- single reads ------------------------------------------------------------------------

    def get_customer(self, customer_id: str) -> SourceCustomer:
        """The customer as the source has it now (deleted ones included, flagged)."""
        return self._get_one("customers", customer_id, SourceCustomer)

    def get_product(self, product_id: str) -> SourceProduct:
        """The product as the source has it now."""
        return self._get_one("products", product_id, SourceProduct)

    def get_invoice(self, invoice_id: str) -> SourceInvoice:
        """The invoice as the source has it now; void and deleted ones are returned with that status."""
        return self._get_one("invoices", invoice_id, SourceInvoice)

    def get_payment(self, payment_id: str) -> SourcePayment:
        """The payment as the source has it now."""
        return self._get_one("payments", payment_id, SourcePayment)

    def get_credit_note(self, credit_note_id: str) -> SourceCreditNote:
        """The credit note as the source has it now."""
        return self._get_one("credit-notes", credit_note_id, SourceCreditNote)

    # -- writing (QBO -> source) -------------------------------------------------------------

    def create_customer(self, customer: NewSourceCustomer, idempotency_key: str) -> SourceCustomer:
        """Create a customer; the same key returns the same customer instead of a duplicate."""
        return self._create("/customers", customer, idempotency_key, SourceCustomer)

    def create_product(self, product: NewSourceProduct, idempotency_key: str) -> SourceProduct:
        """Create a product; the same key returns the same product instead of a duplicate."""
        return self._create("/products", product, idempotency_key, SourceProduct)

    def update_customer(self, customer_id: str, changes: SourceCustomerUpdate) -> SourceCustomer:
        """Change the fields set in ``changes`` (and only those); a patch that changes nothing
        returns the customer as it is, so a retried or repeated patch is harmless."""
        body = changes.model_dump(mode="json", exclude_unset=True)
        if not body:
            raise ValueError("a customer update must set at least one field")
        response = self._request("PATCH", f"/customers/{quote(customer_id, safe='')}", json=body)
        return parse_answer(response, SourceCustomer)

    def create_payment(self, payment: NewSourcePayment, idempotency_key: str) -> SourcePayment:
        """Record a payment entered in QBO; the same key returns the same payment instead of a duplicate."""
        return self._create("/payments", payment, idempotency_key, SourcePayment)

    def void_payment(self, payment_id: str) -> SourcePayment:
        """Void a payment (voided in QBO); voiding a void payment returns it unchanged."""
        response = self._request("POST", f"/payments/{quote(payment_id, safe='')}/void")
        return parse_answer(response, SourcePayment)

    # -- reference lists the admin maps from -------------------------------------------------

    def list_payment_methods(self) -> list[ReferenceEntry]:
        return self._reference("payment-methods", ReferenceEntry)

    def list_gl_codes(self) -> list[ReferenceEntry]:
        return self._reference("gl-codes", ReferenceEntry)

    def list_product_types(self) -> list[ReferenceEntry]:
        return self._reference("product-types", ReferenceEntry)

    def list_accounts(self) -> list[SourceAccount]:
        return self._reference("accounts", SourceAccount)

    def list_tax_codes(self) -> list[SourceTaxCode]:
        return self._reference("tax-codes", SourceTaxCode)

    def list_bill_profiles(self) -> list[ReferenceEntry]:
        return self._reference("bill-profiles", ReferenceEntry)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_http and self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> HttpSourceAdapter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        import httpx  # on the first call, not at import: most cold starts never call the source

        if self._http is None:
            timeout = self._timeout_seconds
            if timeout is None:
                from qbosync.settings import get_settings

                timeout = get_settings().http_timeout_seconds
            self._http = httpx.Client(timeout=timeout)
        return self._http

    def _page(
        self,
        path: str,
        page_type: type[ModelT],
        cursor: str | None,
        limit: int,
        updated_since: datetime | None = None,
    ) -> ModelT:
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_LIMIT}")
        params: dict[str, str] = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        response = self._request("GET", path, params=params)
        return parse_answer(response, page_type)

    def _get_one(self, collection: str, object_id: str, model: type[ModelT]) -> ModelT:
        response = self._request("GET", f"/{collection}/{quote(object_id, safe='')}")
        return parse_answer(response, model)

    def _create(self, path: str, body: BaseModel, idempotency_key: str, model: type[ModelT]) -> ModelT:
        if not idempotency_key:
            raise ValueError("an idempotency key is required to create objects in the source")
        response = self._request(
            "POST",
            path,
            json=body.model_dump(mode="json", exclude_none=True),
            headers={"Idempotency-Key": idempotency_key},
        )
        return parse_answer(response, model)

    def _reference(self, kind: ReferenceKind, model: type[ModelT]) -> list[ModelT]:
        page_adapter = TypeAdapter(Page[model])  # type: ignore[valid-type]
        entries: list[ModelT] = []
        cursor: str | None = None
        for _ in range(_MAX_REFERENCE_PAGES):
            params = {"cursor": cursor} if cursor else None
            response = self._request("GET", f"/{kind}", params=params)
            try:
                page = page_adapter.validate_json(response.content)
            except ValidationError as exc:
                raise invalid_answer(response, exc) from exc
            entries.extend(page.items)
            if not page.next_cursor or page.next_cursor == cursor:
                return entries
            cursor = page.next_cursor
        raise SourceInvalidResponse(
            f"the source's {kind} list did not end within {_MAX_REFERENCE_PAGES} pages"
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        # on the first call, not at import: most cold starts never call the source
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        url = self._tenant_root + path
        request_headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        request_headers.update(headers or {})
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableFailure),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(method, path, state),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._attempt(
                        method, url=url, path=path, params=params, json=json, headers=request_headers
                    )
                    number = attempt.retry_state.attempt_number
                    if response.status_code in _RETRYABLE_STATUSES:
                        raise _RetryableFailure(
                            SourceUnavailable(
                                f"the source answered {response.status_code} after {number} attempts",
                                details=[{"method": method, "path": path, "status": response.status_code}],
                            ),
                            reason=str(response.status_code),
                            retry_after=_seconds(response.headers.get("Retry-After")),
                        )
                    if not response.is_success:
                        raise rejection(method, path, response)
                    return response
        except _RetryableFailure as exhausted:
            raise exhausted.error from exhausted.__cause__
        raise AssertionError("unreachable: tenacity returns or re-raises on the last attempt")

    def _attempt(
        self,
        method: str,
        *,
        url: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        import httpx  # on the first call, not at import: most cold starts never call the source

        with tracer.subsegment("source", tenant_id=self._tenant_id, method=method):
            try:
                return self._client().request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                raise _RetryableFailure(
                    SourceUnavailable(
                        "the source could not be reached",
                        details=[{"method": method, "path": path, "reason": type(exc).__name__}],
                    ),
                    reason=type(exc).__name__,
                    retry_after=None,
                ) from exc

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        retry_after = failure.retry_after if isinstance(failure, _RetryableFailure) else None
        return self._backoff.delay(state.attempt_number, at_least=retry_after)

    def _log_retry(self, method: str, path: str, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "retrying source request",
            extra={
                "tenant_id": self._tenant_id,
                "method": method,
                "path": path,
                "attempt": state.attempt_number,
                "reason": failure.reason if isinstance(failure, _RetryableFailure) else None,
                "delay_seconds": state.upcoming_sleep,
            },
        )


class _RetryableFailure(Exception):
    """One failed attempt worth retrying; ``error`` is what the caller gets if it was the last."""

    def __init__(self, error: SourceUnavailable, *, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.retry_after = retry_after


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is not used by the source contract)."""
    if retry_after is None or not retry_after.strip().isdigit():
        return None
    return float(retry_after.strip())
